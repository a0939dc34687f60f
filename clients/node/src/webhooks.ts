/**
 * Verifying the webhooks Roost sends (Standard Webhooks, https://www.standardwebhooks.com).
 *
 * Roost signs each delivery with the endpoint's secret (`whsec_<base64 key>`):
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{raw body}")>`,
 * several space-separated while a rotated secret still signs too.
 */

import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

import { RoostError } from "./errors.js";

const SECRET_PREFIX = "whsec_";
const DEFAULT_TOLERANCE_SECONDS = 5 * 60;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The delivery is not authentic or not fresh: reject it (answer 400 or 401). */
export class WebhookVerificationError extends RoostError {}

/** Headers as Node's `req.headers`, a fetch `Headers`, or name/value pairs; names in any case. */
export type WebhookHeaders =
  | Headers
  | Record<string, string | string[] | undefined>
  | Iterable<readonly [string, string]>;

/** A secret: `whsec_…` (or its base64 part), or the key's bytes. */
export type WebhookSecret = string | Uint8Array;

/** The body Roost sends: Standard Webhooks' `{type, timestamp, data}` plus `id` (= webhook-id). */
export interface WebhookEvent<D = Record<string, unknown>> {
  id: string;
  type: string;
  timestamp: string;
  data: D;
}

export interface WebhookVerifyOptions {
  /** Seconds the timestamp may be away from now (default 300). */
  tolerance?: number;
  /** Now, in Unix seconds (for tests). */
  now?: number;
}

function decodeBase64(text: string): Uint8Array | undefined {
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  if (!BASE64.test(padded) || padded.length % 4 !== 0) return undefined;
  return Buffer.from(padded, "base64");
}

function keyOf(secret: WebhookSecret): Uint8Array {
  let key: Uint8Array | undefined;
  if (typeof secret === "string") {
    key = decodeBase64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
    if (key === undefined) throw new WebhookVerificationError("The webhook secret is not valid base64 after 'whsec_'");
  } else {
    key = secret;
  }
  if (key.length === 0) throw new WebhookVerificationError("The webhook secret is empty");
  return key;
}

function bytesOf(payload: string | Uint8Array): Uint8Array {
  return typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
}

function lowerHeaders(headers: WebhookHeaders): Map<string, string> {
  const values = new Map<string, string>();
  const entries: Iterable<readonly [string, unknown]> =
    Symbol.iterator in headers ? (headers as Iterable<readonly [string, string]>) : Object.entries(headers);
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    values.set(name.toLowerCase(), Array.isArray(value) ? value.join(" ") : String(value));
  }
  return values;
}

function digest(key: Uint8Array, msgId: string, timestamp: string, body: Uint8Array): Uint8Array {
  return createHmac("sha256", key).update(`${msgId}.${timestamp}.`).update(body).digest();
}

/** The `webhook-signature` value for a payload (to test your own handler). */
export function signWebhook(payload: string | Uint8Array, secret: WebhookSecret, msgId: string, timestamp: number): string {
  const signature = digest(keyOf(secret), msgId, String(timestamp), bytesOf(payload));
  return `v1,${Buffer.from(signature).toString("base64")}`;
}

/**
 * Check a delivery and return its parsed JSON body. Pass the raw body exactly as received (a
 * re-serialised JSON body does not verify), the request's headers, and the endpoint's secret (or
 * several, while you roll a rotation out). Throws WebhookVerificationError when a header is
 * missing, the timestamp is more than `tolerance` seconds from now, or no signature matches.
 */
export function verifyWebhook<D = Record<string, unknown>>(
  rawBody: string | Uint8Array,
  headers: WebhookHeaders,
  secret: WebhookSecret | readonly WebhookSecret[],
  options: WebhookVerifyOptions = {},
): WebhookEvent<D> {
  const body = bytesOf(rawBody);
  const values = lowerHeaders(headers);
  const msgId = values.get("webhook-id");
  const timestampText = values.get("webhook-timestamp");
  const signatures = values.get("webhook-signature");
  if (!msgId || !timestampText || !signatures) {
    throw new WebhookVerificationError("Missing webhook-id, webhook-timestamp or webhook-signature header");
  }
  if (!/^\d+$/.test(timestampText)) throw new WebhookVerificationError("webhook-timestamp is not an integer");
  const timestamp = Number(timestampText);
  const now = options.now ?? Date.now() / 1000;
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE_SECONDS;
  if (timestamp < now - tolerance) throw new WebhookVerificationError("The webhook timestamp is too old");
  if (timestamp > now + tolerance) throw new WebhookVerificationError("The webhook timestamp is in the future");

  const secrets = typeof secret === "string" || secret instanceof Uint8Array ? [secret] : [...secret];
  if (secrets.length === 0) throw new WebhookVerificationError("No webhook secret given");
  const expected = secrets.map((item) => digest(keyOf(item), msgId, timestampText, body));

  let matched = false;
  for (const entry of signatures.split(" ")) {
    const comma = entry.indexOf(",");
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue;
    const given = decodeBase64(entry.slice(comma + 1));
    if (given === undefined || given.length === 0) continue;
    for (const candidate of expected) {
      // no early exit: the time taken does not depend on which signature matched
      matched = (candidate.length === given.length && timingSafeEqual(candidate, given)) || matched;
    }
  }
  if (!matched) throw new WebhookVerificationError("No matching webhook signature");
  try {
    return JSON.parse(Buffer.from(body).toString("utf8")) as WebhookEvent<D>;
  } catch {
    throw new WebhookVerificationError("The webhook body is not JSON");
  }
}
