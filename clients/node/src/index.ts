/**
 * roost-client: the TypeScript/JavaScript client for the Roost API.
 *
 *     import { Roost } from "roost-client";
 *     const roost = new Roost({ apiKey: "sk_admin_test_…", baseUrl: "http://127.0.0.1:8000" });
 */

export {
  AdminKeys,
  AuditLog,
  BusinessProfiles,
  Events,
  PhoneNumbers,
  Recovery,
  Roost,
  Sessions,
  Settings,
  WebhookEndpoints,
} from "./client.js";
export {
  APIConnectionError,
  APIError,
  APITimeoutError,
  AuthenticationError,
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  ProviderError,
  RateLimitError,
  RoostError,
} from "./errors.js";
export type { ErrorProblem, ProviderDetails, RoostErrorFields } from "./errors.js";
export { Pager } from "./pagination.js";
export {
  MESSAGE_TYPE,
  RESULT_PARAMETERS,
  RedirectVerificationError,
  signRedirect,
  verifyRedirect,
} from "./redirects.js";
export type { RedirectInput, RedirectResult, RedirectVerifyOptions, ResultStatus } from "./redirects.js";
export type { ClientOptions } from "./transport.js";
export type * from "./types.js";
export { VERSION } from "./version.js";
export { WebhookVerificationError, signWebhook, verifyWebhook } from "./webhooks.js";
export type { WebhookEvent, WebhookHeaders, WebhookSecret, WebhookVerifyOptions } from "./webhooks.js";
