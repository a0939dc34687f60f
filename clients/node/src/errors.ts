/**
 * The errors this client throws. Every error answer of the API
 * (`{"error": {type, code, message, param, request_id, errors, ...}}`) becomes a subclass of
 * `RoostError` chosen by HTTP status; a request that got no answer is an `APIConnectionError`.
 */

/** One problem of a validation error (`error.errors[]`). */
export interface ErrorProblem {
  param: string;
  code: string;
  message: string;
}

export interface RoostErrorFields {
  httpStatus?: number | undefined;
  type?: string | undefined;
  code?: string | undefined;
  param?: string | undefined;
  requestId?: string | undefined;
  errors?: ErrorProblem[] | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
  cause?: unknown;
}

/** The base class of every error this client throws. */
export class RoostError extends Error {
  /** The HTTP status of the answer (undefined when there was none). */
  readonly httpStatus: number | undefined;
  /** `invalid_request_error`, `authentication_error`, `provider_error` or `api_error`. */
  readonly type: string | undefined;
  /** What went wrong, e.g. `parameter_missing`, `resource_missing`, `session_not_pending`. */
  readonly code: string | undefined;
  /** The (first) parameter at fault. */
  readonly param: string | undefined;
  /** The answer's `req_…` id: quote it when you ask for help. */
  readonly requestId: string | undefined;
  /** Every problem of a validation error. */
  readonly errors: ErrorProblem[];
  /** The answer's body, parsed (the raw text when it was not JSON). */
  readonly body: unknown;
  /** The answer's headers, with lower-case names. */
  readonly headers: Record<string, string>;

  constructor(message: string, fields: RoostErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.httpStatus = fields.httpStatus;
    this.type = fields.type;
    this.code = fields.code;
    this.param = fields.param;
    this.requestId = fields.requestId;
    this.errors = fields.errors ?? [];
    this.body = fields.body;
    this.headers = fields.headers ?? {};
  }

  /** The `error` object of the answer's body (`{}` when it had none). */
  get error(): Record<string, unknown> {
    const body = this.body as { error?: unknown } | null | undefined;
    const error = body && typeof body === "object" ? body.error : undefined;
    return error && typeof error === "object" ? (error as Record<string, unknown>) : {};
  }

  override toString(): string {
    const head = [this.httpStatus, this.code].filter((part) => part !== undefined && part !== "").join(" ");
    let text = head ? `${head}: ${this.message}` : this.message;
    if (this.param) text += ` (param: ${this.param})`;
    if (this.requestId) text += ` [request_id: ${this.requestId}]`;
    return `${this.name}: ${text}`;
  }
}

/** The server could not be reached, or the connection broke before an answer arrived. */
export class APIConnectionError extends RoostError {
  /** True when the request never left this machine (refused connection, unknown host). */
  readonly neverSent: boolean;

  constructor(message: string, fields: RoostErrorFields & { neverSent?: boolean } = {}) {
    super(message, fields);
    this.neverSent = fields.neverSent ?? false;
  }
}

/** No answer within the client's timeout. */
export class APITimeoutError extends APIConnectionError {}

/** 400, 413, 415: bad, missing or unknown parameters; `param` names the first, `errors` lists each. */
export class InvalidRequestError extends RoostError {}

/** 404 `resource_missing`: no such object for this organization and mode. */
export class NotFoundError extends InvalidRequestError {}

/** 409: the object's state forbids the call (`session_not_pending`, `idempotency_key_reused`, …). */
export class ConflictError extends InvalidRequestError {}

/** 429 `rate_limited`. */
export class RateLimitError extends InvalidRequestError {
  /** The server's Retry-After, in seconds (undefined when it sent none). */
  get retryAfter(): number | undefined {
    return parseRetryAfter(this.headers["retry-after"]);
  }
}

/** 401: the admin key is missing, malformed, unknown or revoked. */
export class AuthenticationError extends RoostError {}

/** 403: the key may not do this (`live_mode_required`, `test_mode_required`, …). */
export class ForbiddenError extends RoostError {}

/** Another name for ForbiddenError. */
export const PermissionDeniedError = ForbiddenError;
export type PermissionDeniedError = ForbiddenError;

/** Meta's own error details on a provider error. */
export interface ProviderDetails {
  code?: number | string;
  message?: string;
  fbtrace_id?: string;
  [name: string]: unknown;
}

/** 402 / 424: Meta refused a valid request; `provider` has Meta's code, message and fbtrace_id. */
export class ProviderError extends RoostError {
  get provider(): ProviderDetails {
    const value = this.error["provider"];
    return value && typeof value === "object" ? (value as ProviderDetails) : {};
  }
}

/** 5xx (`api_error`): an outage at Roost or upstream. */
export class APIError extends RoostError {}

/** Retry-After as seconds: a number, or an HTTP date (seconds from now). */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, (when - now) / 1000);
}

function classFor(status: number): typeof RoostError {
  if (status === 401) return AuthenticationError;
  if (status === 403) return ForbiddenError;
  if (status === 404) return NotFoundError;
  if (status === 409) return ConflictError;
  if (status === 429) return RateLimitError;
  if (status === 402 || status === 424) return ProviderError;
  if (status >= 500) return APIError;
  return InvalidRequestError;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** The error for an HTTP error answer (`headers` with lower-case names, `raw` its body's text). */
export function errorFromResponse(status: number, body: unknown, headers: Record<string, string>, raw = ""): RoostError {
  const found = body && typeof body === "object" ? (body as { error?: unknown }).error : undefined;
  const error = (found && typeof found === "object" ? found : {}) as Record<string, unknown>;
  const message = text(error["message"]) || raw.trim().slice(0, 500) || `HTTP ${status}`;
  const Kind = classFor(status);
  return new Kind(message, {
    httpStatus: status,
    type: text(error["type"]),
    code: text(error["code"]),
    param: text(error["param"]),
    requestId: text(error["request_id"]) ?? headers["request-id"],
    errors: Array.isArray(error["errors"]) ? (error["errors"] as ErrorProblem[]) : undefined,
    body: body === undefined ? raw : body,
    headers,
  });
}
