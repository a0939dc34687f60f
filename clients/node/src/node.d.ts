// The few Node built-ins this package uses, declared here so that building it needs no @types/node
// (its only devDependency is TypeScript). Internal: no public signature mentions these types.

declare module "node:crypto" {
  interface Hmac {
    update(data: string | Uint8Array): Hmac;
    digest(): Uint8Array;
    digest(encoding: "hex" | "base64"): string;
  }
  export function createHmac(algorithm: "sha256", key: string | Uint8Array): Hmac;
  export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
  export function randomUUID(): string;
}

declare module "node:buffer" {
  interface NodeBuffer extends Uint8Array {
    toString(encoding?: "utf8" | "base64" | "hex"): string;
  }
  export const Buffer: {
    from(data: string, encoding: "utf8" | "base64"): NodeBuffer;
    from(data: Uint8Array): NodeBuffer;
    concat(items: readonly Uint8Array[]): NodeBuffer;
  };
}

// process.env, read for ROOST_API_KEY and ROOST_BASE_URL (absent outside Node).
declare var process: { env: Record<string, string | undefined> } | undefined;
