/**
 * The API's objects and parameters, with the API's own (snake_case) names: an answer is the JSON
 * the server sent, so a field a newer server adds is there too (read it as `obj["new_field"]`
 * after a cast). See docs/api.md for what each field means.
 */

/** What came with the HTTP answer. */
export interface ResponseInfo {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The `Request-Id` header (`req_…`). */
  requestId: string | undefined;
  /** True when the server answered an Idempotency-Key it had seen from its record. */
  idempotentReplayed: boolean;
}

/** An answer: the JSON object, plus `lastResponse` (not enumerable, so JSON.stringify skips it). */
export type WithResponse<T> = T & { readonly lastResponse: ResponseInfo };

export type Metadata = Record<string, unknown>;

// Objects -------------------------------------------------------------------------------------

export interface ErrorDetail {
  code: string | null;
  message: string | null;
  meta_code?: string | null;
}

export interface ProvisioningStep {
  step: string;
  status: string;
  attempts: number;
  error: ErrorDetail | null;
  finished_at: string | null;
}

export type SessionStatus = "pending" | "completed" | "recovered" | "failed" | "cancelled" | "expired";

export interface EmbeddedSignupSession {
  id: string;
  object: "embedded_signup_session";
  /** The one-time hosted page link: in the create and refresh-link answers only. */
  url?: string | null;
  livemode: boolean;
  source: "hosted" | "platform";
  status: SessionStatus;
  created_at: string;
  expires_at: string;
  started_at: string | null;
  code_received_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  redirect_uri: string | null;
  state: string | null;
  metadata: Metadata | null;
  prefill: Record<string, unknown> | null;
  locale: string | null;
  coexistence: boolean;
  waba_id: string | null;
  business_id: string | null;
  phone_number_id: string | null;
  business_profile_id: string | null;
  last_step: string | null;
  error: ErrorDetail | null;
  provisioning: ProvisioningStep[];
}

export interface SessionEvent {
  id: string;
  object: "embedded_signup_session_event";
  type: string;
  created_at: string;
  data: Record<string, unknown>;
}

export interface Funnel {
  created: number;
  opened: number;
  started: number;
  finished_on_meta: number;
  completed: number;
  abandoned_at: Record<string, number>;
  errors: Record<string, number>;
}

/** not_requested | requested | in_progress | completed | declined | failed | expired */
export type SyncStatus =
  | "not_requested" | "requested" | "in_progress" | "completed" | "declined" | "failed" | "expired";

/** A WhatsApp Business app number's contacts sync (docs/coexistence.md). */
export interface ContactsSync {
  status: SyncStatus;
  requested_at: string | null;
  completed_at: string | null;
  error: Record<string, unknown> | null;
}

/** A WhatsApp Business app number's chat history sync: Meta's progress (0-100) and phase (0, 1, 2). */
export interface HistorySync {
  status: SyncStatus;
  progress: number | null;
  phase: number | null;
  requested_at: string | null;
  completed_at: string | null;
  error: Record<string, unknown> | null;
}

export interface Coexistence {
  contacts_sync: ContactsSync;
  history_sync: HistorySync;
}

export interface PhoneNumber {
  id: string;
  object: "phone_number";
  business_profile_id: string;
  phone_number_id: string;
  display_phone_number: string | null;
  verified_name: string | null;
  quality_rating: string | null;
  code_verification_status: string | null;
  cloud_api_registered: boolean;
  registration_error: Record<string, unknown> | null;
  /** null unless a number connected from the WhatsApp Business app. */
  coexistence: Coexistence | null;
  /** The display name's review, as Meta's name_status (APPROVED, PENDING_REVIEW, DECLINED…). */
  name_status: string | null;
  name_rejection_reason: string | null;
  /** Meta's messaging limit (TIER_50 … TIER_UNLIMITED, TIER_NOT_SET). */
  messaging_limit_tier: string | null;
  /** The last phone_number_quality_update event (UPGRADE, DOWNGRADE, FLAGGED…). */
  quality_event: string | null;
}

/** What Meta says of the account (docs/account-health.md). */
export interface Health {
  status: "deleted" | "offboarded" | "disconnected" | "banned" | "restricted" | "in_review" | "ok";
  restrictions: { type: string | null; expires_at: string | null; remediation: string | null }[];
  violation: { type: string | null; at: string | null } | null;
  ban: { state: "DISABLE" | "SCHEDULE_FOR_DISABLE" | "REINSTATE" | null; date: string | null; at: string | null } | null;
  review_status: string | null;
  disconnection: { reason: string | null; meta_reason: string | null; initiated_by: string | null; at: string | null } | null;
  can_send_message: "AVAILABLE" | "LIMITED" | "BLOCKED" | null;
  notices: Record<string, Record<string, unknown>>;
  updated_at: string | null;
}

export interface BusinessProfile {
  id: string;
  object: "business_profile";
  livemode: boolean;
  session_id: string | null;
  waba_id: string;
  business_id: string | null;
  business_name: string | null;
  coexistence: boolean;
  token_expires_at: string | null;
  onboarding_completed_at: string | null;
  /** Meta's decision (account_review_update), or the WABA's account_review_status read by refresh. */
  review_status: "APPROVED" | "REJECTED" | "PENDING" | "DEFERRED" | "RESTRICTED" | "LIMIT_REACHED" | null;
  review_decided_at: string | null;
  status: "connected" | "disconnected";
  disconnected_at: string | null;
  health: Health;
  unsubscribe: Record<string, unknown> | null;
  phone_numbers: PhoneNumber[];
  created_at: string;
}

/** A business profile's token (live keys only; each read is audited). */
export interface AccessToken {
  object: "business_token";
  business_profile_id: string;
  access_token: string;
  token_expires_at: string | null;
}

export interface AdminKey {
  id: string;
  object: "admin_key";
  livemode: boolean;
  name: string | null;
  redacted_key: string;
  /** The full key: in the create answer only. */
  admin_key?: string;
  created_at: string;
  revoked_at: string | null;
}

export interface MetaSettings {
  configured: boolean;
  source: string | null;
  app_id: string | null;
  config_id: string | null;
  graph_version: string | null;
  app_secret_set: boolean;
  system_user_token_set: boolean;
  verify_token_set: boolean;
  partner_type: string | null;
  credit_line_id: string | null;
  forward_url: string | null;
}

export interface Branding {
  logo_url: string | null;
  accent_color: string | null;
}

export interface OrganizationSettings {
  object: "organization_settings";
  organization_id: string;
  mode: "test" | "live";
  livemode: boolean;
  name: string;
  branding: Branding | null;
  allowed_origins: string[];
  allowed_redirect_uris: string[];
  redirect_secret: string;
  messages_callback_url: string | null;
  auto_claim: boolean | null;
  token_custody_enabled: boolean | null;
  coexistence: { history_sync: boolean } | null;
  meta: MetaSettings | null;
  updated_at: string;
}

export interface WebhookEndpoint {
  id: string;
  object: "webhook_endpoint";
  livemode: boolean;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  disabled_reason: "api" | "gone" | "failing" | null;
  disabled_at: string | null;
  failing_since: string | null;
  previous_secret_expires_at: string | null;
  /** `whsec_…`: in the create and rotate-secret answers only. */
  secret?: string;
  created_at: string;
  updated_at: string | null;
}

/** One event owed to one endpoint. */
export interface WebhookDelivery {
  id: string;
  object: "webhook_delivery";
  endpoint_id: string;
  event_id: string;
  status: "pending" | "delivered" | "failed";
  next_attempt_at: string | null;
  created_at: string;
}

/** One HTTP request Roost made to an endpoint. */
export interface WebhookDeliveryAttempt {
  id: string;
  object: "webhook_delivery_attempt";
  endpoint_id: string;
  event_id: string;
  event_type: string;
  delivery_id: string;
  attempt: number;
  succeeded: boolean;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  /** The start of the endpoint's answer (its first 1,024 bytes, as text); null when no answer came. */
  response_body: string | null;
  /** true when the answer was longer than `response_body` shows. */
  response_body_truncated: boolean;
  next_attempt_at: string | null;
  created_at: string;
}

export interface Event {
  id: string;
  object: "event";
  type: string;
  livemode: boolean;
  created_at: string;
  data: Record<string, unknown>;
}

export interface EventResend {
  object: "event_resend";
  event_id: string;
  deliveries: WebhookDelivery[];
}

/** A test event's answer: its id (type `webhook_endpoint.test`) and its one delivery. */
export interface EndpointTest {
  object: "webhook_endpoint_test";
  event_id: string;
  delivery: WebhookDelivery;
}

/** start-attempt's answer: a platform-run session (no `url`) with `attempt_id` and `launch`. */
export interface RecoveryAttempt extends EmbeddedSignupSession {
  attempt_id: string;
  /** What FB.login needs on your page. */
  launch: Record<string, unknown>;
}

export interface RecoveredAttempt {
  attempt_id: string;
  object: "recovered_attempt";
  livemode: boolean;
  source: string;
  waba_id: string | null;
  business_id: string | null;
  phone_number_id: string | null;
  metadata: Metadata;
  created_at: string;
  recovered_at: string | null;
  proof_received_at: string | null;
  claim_started_at: string | null;
  claim_running: boolean;
  claim_error: Record<string, unknown> | null;
}

export interface AuditLogEntry {
  id: string;
  object: "audit_log_entry";
  livemode: boolean;
  action: string;
  admin_key_id: string | null;
  console_user_id: string | null;
  resource_id: string | null;
  created_at: string;
}

export interface DeletedObject {
  id: string;
  object: string;
  deleted: true;
}

/** One page of a list. */
export interface Page<T> {
  object: "list";
  data: T[];
  has_more: boolean;
}

// Parameters ------------------------------------------------------------------------------------
// A parameter left out (or undefined) is not sent; null is sent as JSON null.

/** A time in a query: a Date, Unix seconds, or ISO 8601 text. */
export type TimeValue = Date | number | string;

/** `created: {gte: …, lt: …}` is sent as `created[gte]=…&created[lt]=…`. */
export interface TimeRange {
  gt?: TimeValue;
  gte?: TimeValue;
  lt?: TimeValue;
  lte?: TimeValue;
}

/** `metadata: {externalUserId: "u1", vip: true}` filters on top-level metadata values. */
export type MetadataFilter = Record<string, string | number | boolean | null>;

export interface ListParams {
  /** Page size, 1–100 (the server's default is 20). */
  limit?: number;
  starting_after?: string;
  /** Walk towards newer items from this id. */
  ending_before?: string;
}

export interface SessionCreateParams {
  redirect_uri?: string;
  state?: string;
  metadata?: Metadata;
  prefill?: Record<string, unknown>;
  locale?: string;
  coexistence?: boolean;
  /** A Multi-Partner Solution's id (digits): Meta's flow gets it as `extras.setup.solutionID`. */
  solution_id?: string;
}

export interface SessionListParams extends ListParams {
  status?: SessionStatus;
  source?: "hosted" | "platform";
  metadata?: MetadataFilter;
  created?: TimeRange;
}

export interface SessionSimulateParams {
  outcome: "completed" | "cancelled" | "signup_error" | "recovered";
  variant?: string;
  cancel_step?: string;
  error_code?: string;
  phone_verified?: boolean;
}

export interface FunnelParams {
  created?: TimeRange;
}

export interface BusinessProfileListParams extends ListParams {
  session_id?: string;
  waba_id?: string;
  status?: "connected" | "disconnected";
  metadata?: MetadataFilter;
}

export interface PhoneNumberRegisterParams {
  /** A 6-digit PIN; Roost uses the one it stored when you leave it out. */
  pin?: string;
  /** Meta's local storage: a country code Meta offers it in (docs/phone-numbers.md). */
  data_localization_region?: string;
}

export interface PhoneNumberAddParams {
  /** The country calling code, digits only ("1"). */
  cc: string;
  /** The number without its country code. */
  phone_number: string;
  /** The display name Meta reviews. */
  verified_name: string;
}

export interface PhoneNumberRequestCodeParams {
  method: "sms" | "voice";
  /** The message's language, e.g. "en_US" (Roost's default). */
  language?: string;
}

export interface PhoneNumberVerifyCodeParams {
  code: string;
}

export interface ModeParams {
  /** Which mode's settings (default: the key's). */
  mode?: "test" | "live";
}

export interface SettingsUpdateParams extends ModeParams {
  name?: string;
  allowed_origins?: string[];
  allowed_redirect_uris?: string[];
  branding?: { logo_url?: string | null; accent_color?: string | null };
  meta?: Record<string, unknown>;
  messages_callback_url?: string | null;
  auto_claim?: boolean;
  token_custody_enabled?: boolean;
  /** `{ history_sync: false }`: Business app numbers' chat history is not asked for. */
  coexistence?: { history_sync?: boolean };
}

export interface AdminKeyCreateParams {
  name?: string;
}

export interface WebhookEndpointCreateParams {
  url: string;
  /** Event types, or `["*"]` for every one. */
  events: string[];
  description?: string;
  enabled?: boolean;
}

export interface WebhookEndpointUpdateParams {
  url?: string;
  events?: string[];
  description?: string | null;
  enabled?: boolean;
}

export interface DeliveryListParams extends ListParams {
  event_id?: string;
}

export interface EventListParams extends ListParams {
  type?: string;
}

export interface EventResendParams {
  /** Only to this endpoint (default: every enabled endpoint subscribed to the event's type). */
  endpoint_id?: string;
}

export interface StartAttemptParams {
  metadata?: Metadata;
}

export interface RecoveryCallbackParams {
  attempt_id: string;
  code: string;
  waba_id?: string;
  phone_number_id?: string;
  business_id?: string;
  coexistence?: boolean;
  redirect_uri?: string;
}

export interface MarkInterruptedParams {
  attempt_id: string;
  waba_id: string;
  business_id?: string;
}

export interface RecoveredAttemptListParams extends ListParams {
  metadata?: MetadataFilter;
}

export interface ClaimParams {
  attempt_id: string;
}

export interface AuditLogListParams extends ListParams {
  action?: string;
  resource_id?: string;
}

/** Per-call options. */
export interface RequestOptions {
  /** Abort the call (no retry after an abort). */
  signal?: AbortSignal;
  /** Milliseconds per try (default: the client's `timeout`). */
  timeout?: number;
  /** Retries for this call (default: the client's `maxRetries`). */
  maxRetries?: number;
}

/** Options of a create: also its Idempotency-Key. */
export interface CreateOptions extends RequestOptions {
  /** Your own key (a job id, an order id), or null to send none. Default: a fresh UUID, unless
   * the client was made with `autoIdempotency: false`. The client's retries reuse it. */
  idempotencyKey?: string | null;
}
