/**
 * Sending one API call: headers, query encoding, timeouts, retries (with the same
 * Idempotency-Key on every try), and turning the answer into an object or an error.
 */

import { randomUUID } from "node:crypto";

import {
  APIConnectionError,
  APITimeoutError,
  RoostError,
  errorFromResponse,
  parseRetryAfter,
} from "./errors.js";
import type { ResponseInfo, TimeValue, WithResponse } from "./types.js";
import { VERSION } from "./version.js";

export const DEFAULT_BASE_URL = "http://127.0.0.1:8000";

export interface ClientOptions {
  /** An admin key (`sk_admin_test_…` / `sk_admin_live_…`); default: ROOST_API_KEY. */
  apiKey?: string;
  /** Your Roost; default: ROOST_BASE_URL, else http://127.0.0.1:8000. */
  baseUrl?: string;
  /** Milliseconds per try before APITimeoutError (default 30,000). */
  timeout?: number;
  /** Retries after the first try (default 2). */
  maxRetries?: number;
  /** Back-off before the first retry, doubled each time, in milliseconds (default 500). */
  initialRetryDelay?: number;
  /** The longest back-off, in milliseconds (default 8,000). */
  maxRetryDelay?: number;
  /** The longest wait for a 429's Retry-After, in milliseconds (default 30,000). */
  maxRetryAfter?: number;
  /** Send a generated Idempotency-Key with every create (default true). */
  autoIdempotency?: boolean;
  /** Headers added to every request. */
  defaultHeaders?: Record<string, string>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

type QueryPairs = Array<[string, string]>;

/** One API call: built once, sent once or more (retries reuse it, Idempotency-Key included). */
export interface Call {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: QueryPairs;
  /** The JSON body; undefined sends none. */
  body?: Record<string, unknown>;
  idempotencyKey?: string | undefined;
  signal?: AbortSignal | undefined;
  timeout?: number | undefined;
  maxRetries?: number | undefined;
}

/** Whether sending it twice cannot do a thing twice: anything but a POST, or a POST with an
 * Idempotency-Key (the server answers the repeat with the first answer). */
function retrySafe(call: Call): boolean {
  return call.method !== "POST" || call.idempotencyKey !== undefined;
}

// Query encoding --------------------------------------------------------------------------------

/** A query value in the API's text form: strings as they are; numbers, booleans and null as JSON
 * writes them (what metadata filters compare with); Dates as the API writes times (ISO 8601 UTC
 * with milliseconds and Z). */
function queryText(value: TimeValue | boolean | null): string {
  if (typeof value === "string") return value;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

/** `{metadata: {k: "v"}}` → `metadata[k]=v`, `{created: {gte: t}}` → `created[gte]=t`, lists
 * repeat the name; undefined and null parameters are not sent. */
export function encodeQuery(params: object | undefined, skip: readonly string[] = []): QueryPairs {
  const query: QueryPairs = [];
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value === undefined || value === null || skip.includes(name)) continue;
    if (Array.isArray(value)) {
      for (const item of value) query.push([name, queryText(item)]);
    } else if (typeof value === "object" && !(value instanceof Date)) {
      for (const [key, item] of Object.entries(value)) {
        if (item !== undefined) query.push([`${name}[${key}]`, queryText(item as TimeValue)]);
      }
    } else {
      query.push([name, queryText(value as TimeValue)]);
    }
  }
  return query;
}

/** An id as one path segment (escaped, so an id can never change the path). */
export function segment(value: string, what: string): string {
  if (typeof value !== "string" || value === "") throw new TypeError(`${what} must be a non-empty string`);
  return encodeURIComponent(value);
}

/** Dates become ISO text in JSON bodies too (Date#toJSON already does), so the body is sent as is. */
export function bodyOf(params: object | undefined, skip: readonly string[] = []): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value !== undefined && !skip.includes(name)) body[name] = value;
  }
  return body;
}

// Sending --------------------------------------------------------------------------------------

function environment(name: string): string | undefined {
  return typeof process === "undefined" ? undefined : process.env[name];
}

// fetch's error causes that mean the request never left this machine: safe to send again.
const NEVER_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);

function causeCode(error: unknown): string | undefined {
  let cause = (error as { cause?: unknown } | null)?.cause;
  // A refused connection to a name with several addresses is an AggregateError of refusals.
  if (cause instanceof AggregateError && cause.errors.length) cause = cause.errors[0];
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener("abort", aborted);
      resolve();
    }
    function aborted(): void {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", aborted, { once: true });
  });
}

function lowerHeaders(headers: Headers): Record<string, string> {
  const values: Record<string, string> = {};
  headers.forEach((value, name) => {
    values[name.toLowerCase()] = value;
  });
  return values;
}

function responseInfo(status: number, headers: Record<string, string>): ResponseInfo {
  return {
    status,
    headers,
    requestId: headers["request-id"],
    idempotentReplayed: headers["idempotent-replayed"] === "true",
  };
}

/** The answer, with `lastResponse` attached (not enumerable, so JSON.stringify leaves it out). */
function withResponse<T>(body: T, info: ResponseInfo): WithResponse<T> {
  const value = (body && typeof body === "object" ? body : {}) as object;
  Object.defineProperty(value, "lastResponse", { value: info, enumerable: false, configurable: true });
  return value as WithResponse<T>;
}

export class Transport {
  readonly apiKey: string;
  readonly baseUrl: string;
  readonly timeout: number;
  readonly maxRetries: number;
  readonly initialRetryDelay: number;
  readonly maxRetryDelay: number;
  readonly maxRetryAfter: number;
  readonly autoIdempotency: boolean;
  readonly defaultHeaders: Record<string, string>;
  private readonly fetch: typeof fetch;

  constructor(options: ClientOptions = {}) {
    const apiKey = options.apiKey ?? environment("ROOST_API_KEY");
    if (!apiKey) throw new TypeError("An admin key is required: new Roost({ apiKey: 'sk_admin_test_…' }) or ROOST_API_KEY");
    const maxRetries = options.maxRetries ?? 2;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new TypeError("maxRetries must be an integer, 0 or more");
    const fetchFunction = options.fetch ?? globalThis.fetch;
    if (typeof fetchFunction !== "function") throw new TypeError("No fetch: use Node 18 or newer, or pass options.fetch");
    this.apiKey = apiKey;
    this.baseUrl = (options.baseUrl ?? environment("ROOST_BASE_URL") ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.timeout = options.timeout ?? 30_000;
    this.maxRetries = maxRetries;
    this.initialRetryDelay = options.initialRetryDelay ?? 500;
    this.maxRetryDelay = options.maxRetryDelay ?? 8_000;
    this.maxRetryAfter = options.maxRetryAfter ?? 30_000;
    this.autoIdempotency = options.autoIdempotency ?? true;
    this.defaultHeaders = { ...options.defaultHeaders };
    this.fetch = fetchFunction;
  }

  /** The Idempotency-Key of a create: the caller's, none (null), or a fresh one. */
  idempotencyKey(given: string | null | undefined): string | undefined {
    if (given === null) return undefined;
    if (given !== undefined) return String(given);
    return this.autoIdempotency ? `roost-node-${randomUUID()}` : undefined;
  }

  /** Send the call (retrying as the policy allows) and return the answer's JSON with lastResponse. */
  async request<T>(call: Call): Promise<WithResponse<T>> {
    const maxRetries = call.maxRetries ?? this.maxRetries;
    for (let retries = 0; ; retries += 1) {
      let error: RoostError;
      try {
        return await this.once<T>(call);
      } catch (caught) {
        if (!(caught instanceof RoostError)) throw caught; // the caller's abort
        error = caught;
      }
      if (retries >= maxRetries || !this.shouldRetry(call, error)) throw error;
      await sleep(this.retryDelay(retries, error), call.signal);
    }
  }

  private shouldRetry(call: Call, error: RoostError): boolean {
    if (error instanceof APIConnectionError) return error.neverSent || retrySafe(call);
    const status = error.httpStatus ?? 0;
    if (status === 429) return true; // refused before anything was done
    if (status === 409 && error.code === "idempotency_key_in_use") return true; // our earlier try still runs
    return status >= 500 && retrySafe(call);
  }

  /** Milliseconds before the next try: the server's Retry-After (capped at maxRetryAfter) when
   * it sent one, else exponential back-off with jitter. */
  retryDelay(retriesDone: number, error: RoostError): number {
    const retryAfter = parseRetryAfter(error.headers["retry-after"]);
    if (retryAfter !== undefined) {
      const wait = Math.min(retryAfter * 1000, this.maxRetryAfter);
      return wait + Math.random() * Math.min(250, wait * 0.1);
    }
    const backoff = Math.min(this.maxRetryDelay, this.initialRetryDelay * 2 ** retriesDone);
    return backoff * (0.5 + Math.random() * 0.5);
  }

  url(call: Call): string {
    const query = call.query?.length ? `?${new URLSearchParams(call.query).toString()}` : "";
    return `${this.baseUrl}${call.path}${query}`;
  }

  headers(call: Call): Record<string, string> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.apiKey}`,
      Accept: "application/json",
      "User-Agent": `roost-client-node/${VERSION}`,
      ...this.defaultHeaders,
    };
    if (call.body !== undefined) headers["Content-Type"] = "application/json";
    if (call.idempotencyKey !== undefined) headers["Idempotency-Key"] = call.idempotencyKey;
    return headers;
  }

  /** One try: the answer's JSON, or throws the RoostError it carries (or the caller's abort). */
  private async once<T>(call: Call): Promise<WithResponse<T>> {
    if (call.signal?.aborted) throw call.signal.reason;
    const timeout = call.timeout ?? this.timeout;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    const onAbort = (): void => controller.abort(call.signal?.reason);
    call.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      let response: Response;
      let raw: string;
      try {
        const send = this.fetch; // called unbound: a browser's fetch refuses another `this`
        response = await send(this.url(call), {
          method: call.method,
          headers: this.headers(call),
          body: call.body === undefined ? undefined : JSON.stringify(call.body),
          signal: controller.signal,
          redirect: "manual",
        });
        raw = await response.text();
      } catch (caught) {
        if (call.signal?.aborted) throw call.signal.reason;
        if (timedOut) {
          throw new APITimeoutError(`No answer from Roost within ${timeout} ms`, { cause: caught });
        }
        const code = causeCode(caught);
        const detail = code ?? (caught instanceof Error ? caught.message : String(caught));
        throw new APIConnectionError(`Could not reach Roost: ${detail}`, {
          cause: caught,
          neverSent: code !== undefined && NEVER_SENT.has(code),
        });
      }
      const headers = lowerHeaders(response.headers);
      let body: unknown;
      if (raw) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = undefined;
        }
      }
      if (response.status >= 400) throw errorFromResponse(response.status, body, headers, body === undefined ? raw : "");
      if (response.status >= 300) {
        throw new RoostError(`Unexpected redirect (HTTP ${response.status}) to ${headers["location"] ?? "nowhere"}`, {
          httpStatus: response.status,
          headers,
          requestId: headers["request-id"],
        });
      }
      return withResponse(body as T, responseInfo(response.status, headers));
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener("abort", onAbort);
    }
  }
}
