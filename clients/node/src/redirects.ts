/**
 * Verifying the result Roost's hosted page hands back, by redirect or popup message (SPEC 4.4).
 *
 * signature = "v1=" + hex(HMAC-SHA256(redirect_secret, canonical)), where canonical is every
 * result parameter except `signature`, sorted by name, each `name=value` percent-encoded per
 * RFC 3986 (UTF-8; A-Za-z0-9-._~ left as they are), joined by `&`. `timestamp` (Unix seconds)
 * must be within 10 minutes of now. Your redirect URI's own query parameters are not signed.
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

import { RoostError } from "./errors.js";

const DEFAULT_TOLERANCE_SECONDS = 10 * 60;
/** The `type` of the popup message. */
export const MESSAGE_TYPE = "roost:embedded_signup";
/** The parameters Roost signs. */
export const RESULT_PARAMETERS: readonly string[] = Object.freeze([
  "session_id", "state", "status", "business_profile_id", "waba_id", "phone_number_id", "error",
  "error_description", "timestamp",
]);

/** The result is not authentic or not fresh: do not trust it. */
export class RedirectVerificationError extends RoostError {}

export type ResultStatus = "completed" | "recovered" | "failed" | "cancelled" | "expired" | "pending";

/** The result parameters, all strings as they travel in a URL. */
export interface RedirectResult {
  session_id: string;
  state?: string;
  status: ResultStatus;
  business_profile_id?: string;
  waba_id?: string;
  phone_number_id?: string;
  /** Otherwise than completed: `user_cancelled`, `signup_error`, `code_not_exchanged`, … */
  error?: string;
  error_description?: string;
  /** Unix seconds. */
  timestamp: string;
}

/** A result: the callback URL (or its query string), URLSearchParams, or an object of its
 * parameters such as the popup message (`event.data`) or your framework's parsed query. */
export type RedirectInput = string | URL | URLSearchParams | Record<string, unknown>;

export interface RedirectVerifyOptions {
  /** Seconds the timestamp may be away from now (default 600). */
  tolerance?: number;
  /** Now, in Unix seconds (for tests). */
  now?: number;
}

/** RFC 3986: encodeURIComponent also leaves !'()* as they are, which the signature encodes. */
function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function resultOnly(parameters: Record<string, unknown>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name of RESULT_PARAMETERS) {
    const value = parameters[name];
    if (value !== undefined && value !== null) result[name] = String(value);
  }
  return result;
}

/** The signed text: the result parameters sorted by name, `name=value`, joined by `&`. */
function canonical(parameters: Record<string, string>): string {
  return Object.keys(parameters)
    .sort()
    .map((name) => `${encode(name)}=${encode(parameters[name] as string)}`)
    .join("&");
}

/** The `signature` of result parameters (to test your own callback handler). */
export function signRedirect(parameters: Record<string, unknown>, secret: string): string {
  const text = canonical(resultOnly(parameters));
  return `v1=${createHmac("sha256", secret).update(text).digest("hex")}`;
}

function fromSearch(search: URLSearchParams): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of search) {
    if (name in values && (RESULT_PARAMETERS.includes(name) || name === "signature")) {
      throw new RedirectVerificationError(`The result parameter ${name} appears twice`);
    }
    values[name] = value;
  }
  return values;
}

function parametersOf(result: RedirectInput): Record<string, unknown> {
  if (result instanceof URLSearchParams) return fromSearch(result);
  if (result instanceof URL) return fromSearch(result.searchParams);
  if (typeof result === "string") {
    const mark = result.indexOf("?");
    let query = "";
    if (mark >= 0) query = result.slice(mark + 1);
    else if (!result.includes("://")) query = result;
    return fromSearch(new URLSearchParams(query.split("#")[0]));
  }
  return result;
}

/**
 * Check a result and return its result parameters (`session_id`, `state`, `status`, …). Throws
 * RedirectVerificationError if the signature is missing or wrong, or `timestamp` is more than
 * `tolerance` seconds from now. Then compare `state` with the one you stored, and confirm the
 * outcome with `roost.sessions.get(result.session_id)` or the webhook.
 */
export function verifyRedirect(result: RedirectInput, secret: string, options: RedirectVerifyOptions = {}):
  RedirectResult {
  if (!secret) throw new RedirectVerificationError("No redirect secret given");
  const values = parametersOf(result);
  const given = values["signature"];
  if (typeof given !== "string" || !given) throw new RedirectVerificationError("The result has no signature");
  const parameters = resultOnly(values);
  let expected: string;
  try {
    expected = signRedirect(parameters, secret);
  } catch {
    throw new RedirectVerificationError("The result's parameters cannot be encoded (not valid UTF-16)");
  }
  const a = Buffer.from(expected, "utf8");
  const b = Buffer.from(given, "utf8");
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new RedirectVerificationError("The result's signature does not match");
  }
  const timestampText = parameters["timestamp"] ?? "";
  if (!/^-?\d+$/.test(timestampText)) throw new RedirectVerificationError("The result has no valid timestamp");
  const now = options.now ?? Date.now() / 1000;
  if (Math.abs(now - Number(timestampText)) > (options.tolerance ?? DEFAULT_TOLERANCE_SECONDS)) {
    throw new RedirectVerificationError("The result's timestamp is more than the tolerance away from now");
  }
  return parameters as unknown as RedirectResult;
}
