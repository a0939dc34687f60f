/**
 * `Roost`, the client, and its resources: each method describes its endpoint once and hands the
 * call to the transport, which sends it (with retries) and returns the answer; list methods
 * return a Pager.
 */

import { Pager } from "./pagination.js";
import { Transport, bodyOf, encodeQuery, segment, type Call, type ClientOptions } from "./transport.js";
import type {
  AccessToken,
  AdminKey,
  AdminKeyCreateParams,
  AuditLogEntry,
  AuditLogListParams,
  BusinessProfile,
  BusinessProfileListParams,
  ClaimParams,
  CreateOptions,
  DeletedObject,
  DeliveryListParams,
  EmbeddedSignupSession,
  EndpointTest,
  Event,
  EventListParams,
  EventResend,
  EventResendParams,
  Funnel,
  FunnelParams,
  ListParams,
  MarkInterruptedParams,
  ModeParams,
  OrganizationSettings,
  PhoneNumber,
  PhoneNumberAddParams,
  PhoneNumberRegisterParams,
  PhoneNumberRequestCodeParams,
  PhoneNumberVerifyCodeParams,
  RecoveredAttempt,
  RecoveredAttemptListParams,
  RecoveryAttempt,
  RecoveryCallbackParams,
  RequestOptions,
  SessionCreateParams,
  SessionEvent,
  SessionListParams,
  SessionSimulateParams,
  SettingsUpdateParams,
  StartAttemptParams,
  WebhookDeliveryAttempt,
  WebhookEndpoint,
  WebhookEndpointCreateParams,
  WebhookEndpointUpdateParams,
  WithResponse,
} from "./types.js";

const SESSIONS = "/v1/organization/embedded-signup/sessions";
const PROFILES = "/v1/organization/whatsapp/business-profiles";
const PHONE_NUMBERS = "/v1/organization/whatsapp/phone-numbers";
const ADMIN_KEYS = "/v1/organization/admin-keys";
const SETTINGS = "/v1/organization/settings";
const WEBHOOKS = "/v1/organization/webhooks";
const EVENTS = "/v1/organization/events";

type Answer<T> = Promise<WithResponse<T>>;

abstract class Resource {
  constructor(protected readonly transport: Transport) {}

  protected request<T>(call: Call, options: RequestOptions = {}): Answer<T> {
    return this.transport.request<T>({
      ...call,
      signal: options.signal,
      timeout: options.timeout,
      maxRetries: options.maxRetries,
    });
  }

  /** A POST that creates: it carries an Idempotency-Key (the caller's, a fresh one, or none). */
  protected createOnce<T>(path: string, params: object | undefined, options: CreateOptions = {}): Answer<T> {
    const call: Call = {
      method: "POST",
      path,
      body: bodyOf(params),
      idempotencyKey: this.transport.idempotencyKey(options.idempotencyKey),
    };
    return this.request<T>(call, options);
  }

  protected paginate<T>(path: string, params: object | undefined, options: RequestOptions = {}): Pager<T> {
    return new Pager<T>(this.transport, { method: "GET", path, query: encodeQuery(params), signal: options.signal,
      timeout: options.timeout, maxRetries: options.maxRetries });
  }
}

/** Embedded signup sessions (docs/api.md). */
export class Sessions extends Resource {
  /** A new session; its `url` is the one-time hosted page link. Sends an Idempotency-Key. */
  async create(params: SessionCreateParams = {}, options?: CreateOptions): Answer<EmbeddedSignupSession> {
    return this.createOnce(SESSIONS, params, options);
  }

  async get(sessionId: string, options?: RequestOptions): Answer<EmbeddedSignupSession> {
    return this.request({ method: "GET", path: `${SESSIONS}/${segment(sessionId, "sessionId")}` }, options);
  }

  /** Sessions, newest first; `metadata: {externalUserId: "u1"}`, `created: {gte: new Date(…)}`. */
  list(params: SessionListParams = {}, options?: RequestOptions): Pager<EmbeddedSignupSession> {
    return this.paginate(SESSIONS, params, options);
  }

  /** Cancel a pending session (409 `session_not_pending` / `session_processing` otherwise). */
  async cancel(sessionId: string, options?: RequestOptions): Answer<EmbeddedSignupSession> {
    return this.request({ method: "DELETE", path: `${SESSIONS}/${segment(sessionId, "sessionId")}` }, options);
  }

  /** A fresh `url` for an unstarted pending session (the old link stops working). */
  async refreshLink(sessionId: string, options?: RequestOptions): Answer<EmbeddedSignupSession> {
    return this.request({ method: "POST", path: `${SESSIONS}/${segment(sessionId, "sessionId")}/link` }, options);
  }

  /** The session's timeline, oldest first. */
  events(sessionId: string, params: ListParams = {}, options?: RequestOptions): Pager<SessionEvent> {
    return this.paginate(`${SESSIONS}/${segment(sessionId, "sessionId")}/events`, params, options);
  }

  /** Test helper (test keys only): play an outcome through the Meta simulator, without a browser. */
  async simulate(sessionId: string, params: SessionSimulateParams, options?: RequestOptions): Answer<EmbeddedSignupSession> {
    const path = `${SESSIONS}/${segment(sessionId, "sessionId")}/simulate`;
    return this.request({ method: "POST", path, body: bodyOf(params) }, options);
  }

  /** Conversion counts of hosted sessions. */
  async funnel(params: FunnelParams = {}, options?: RequestOptions): Answer<Funnel> {
    return this.request({ method: "GET", path: "/v1/organization/embedded-signup/funnel", query: encodeQuery(params) },
      options);
  }
}

/** Connected WhatsApp Business Accounts. */
export class BusinessProfiles extends Resource {
  list(params: BusinessProfileListParams = {}, options?: RequestOptions): Pager<BusinessProfile> {
    return this.paginate(PROFILES, params, options);
  }

  async get(profileId: string, options?: RequestOptions): Answer<BusinessProfile> {
    return this.request({ method: "GET", path: `${PROFILES}/${segment(profileId, "profileId")}` }, options);
  }

  /** Disconnect (soft delete): Roost unsubscribes its app from the WABA. */
  async disconnect(profileId: string, options?: RequestOptions): Answer<BusinessProfile> {
    return this.request({ method: "DELETE", path: `${PROFILES}/${segment(profileId, "profileId")}` }, options);
  }

  /** Another name for disconnect. */
  async delete(profileId: string, options?: RequestOptions): Answer<BusinessProfile> {
    return this.disconnect(profileId, options);
  }

  /** Read the WABA and its numbers from Meta again (account health, docs/account-health.md): the
   * profile as it is now. Only reads at Meta, so a retry is safe. */
  async refresh(profileId: string, options?: RequestOptions): Answer<BusinessProfile> {
    return this.request({ method: "POST", path: `${PROFILES}/${segment(profileId, "profileId")}/refresh` }, options);
  }

  /** The business token (live keys only, when the organization allows it; each read is audited). */
  async accessToken(profileId: string, options?: RequestOptions): Answer<AccessToken> {
    return this.request({ method: "GET", path: `${PROFILES}/${segment(profileId, "profileId")}/access-token` },
      options);
  }

  /** Add a number to the profile's WABA (NOT_VERIFIED); then `phoneNumbers.requestCode`,
   * `verifyCode` and `register` (docs/phone-numbers.md). */
  async addPhoneNumber(profileId: string, params: PhoneNumberAddParams, options?: CreateOptions): Answer<PhoneNumber> {
    return this.createOnce(`${PROFILES}/${segment(profileId, "profileId")}/phone-numbers`, params, options);
  }
}

export class PhoneNumbers extends Resource {
  async get(phoneNumberId: string, options?: RequestOptions): Answer<PhoneNumber> {
    return this.request({ method: "GET", path: `${PHONE_NUMBERS}/${segment(phoneNumberId, "phoneNumberId")}` }, options);
  }

  /** One registration attempt (Meta allows 10 per number in 72 h, so it is never retried once it
   * may have reached the server). */
  async register(phoneNumberId: string, params: PhoneNumberRegisterParams = {}, options?: RequestOptions): Answer<PhoneNumber> {
    return this.postOn(phoneNumberId, "register", params, options);
  }

  /** Have Meta send the number its verification code. Not retried: each request sends a message,
   * and Meta limits them. */
  async requestCode(phoneNumberId: string, params: PhoneNumberRequestCodeParams, options?: RequestOptions): Answer<PhoneNumber> {
    return this.postOn(phoneNumberId, "request-code", params, options);
  }

  /** Check the code the number received: it comes back VERIFIED. Not retried: Meta counts wrong guesses. */
  async verifyCode(phoneNumberId: string, params: PhoneNumberVerifyCodeParams, options?: RequestOptions): Answer<PhoneNumber> {
    return this.postOn(phoneNumberId, "verify-code", params, options);
  }

  private postOn(phoneNumberId: string, action: string, params: object, options?: RequestOptions): Answer<PhoneNumber> {
    const path = `${PHONE_NUMBERS}/${segment(phoneNumberId, "phoneNumberId")}/${action}`;
    return this.request({ method: "POST", path, body: bodyOf(params) }, options);
  }
}

/** Organization settings, per mode (`mode: "test" | "live"`, default: the key's). */
export class Settings extends Resource {
  async get(params: ModeParams = {}, options?: RequestOptions): Answer<OrganizationSettings> {
    return this.request({ method: "GET", path: SETTINGS, query: encodeQuery(params) }, options);
  }

  /** Change what you pass; null clears a field. `mode` goes in the query. */
  async update(params: SettingsUpdateParams, options?: RequestOptions): Answer<OrganizationSettings> {
    return this.request({ method: "PATCH", path: SETTINGS, query: encodeQuery({ mode: params.mode }),
      body: bodyOf(params, ["mode"]) }, options);
  }

  /** A new `redirect_secret` for the mode; the old one stops signing at once. */
  async rotateRedirectSecret(params: ModeParams = {}, options?: RequestOptions): Answer<OrganizationSettings> {
    return this.request({ method: "POST", path: `${SETTINGS}/redirect-secret/rotate`, query: encodeQuery(params) },
      options);
  }
}

export class AdminKeys extends Resource {
  /** The keys of the calling key's mode (never their secrets). */
  list(params: ListParams = {}, options?: RequestOptions): Pager<AdminKey> {
    return this.paginate(ADMIN_KEYS, params, options);
  }

  /** A key of the caller's mode; `admin_key` holds the full key, shown this once. */
  async create(params: AdminKeyCreateParams = {}, options?: CreateOptions): Answer<AdminKey> {
    return this.createOnce(ADMIN_KEYS, params, options);
  }

  async revoke(keyId: string, options?: RequestOptions): Answer<AdminKey> {
    return this.request({ method: "DELETE", path: `${ADMIN_KEYS}/${segment(keyId, "keyId")}` }, options);
  }
}

/** Where Roost sends signed events. */
export class WebhookEndpoints extends Resource {
  /** The answer carries the endpoint's `secret` (whsec_…), shown this once. */
  async create(params: WebhookEndpointCreateParams, options?: CreateOptions): Answer<WebhookEndpoint> {
    return this.createOnce(WEBHOOKS, params, options);
  }

  list(params: ListParams = {}, options?: RequestOptions): Pager<WebhookEndpoint> {
    return this.paginate(WEBHOOKS, params, options);
  }

  async get(endpointId: string, options?: RequestOptions): Answer<WebhookEndpoint> {
    return this.request({ method: "GET", path: `${WEBHOOKS}/${segment(endpointId, "endpointId")}` }, options);
  }

  async update(endpointId: string, params: WebhookEndpointUpdateParams, options?: RequestOptions): Answer<WebhookEndpoint> {
    return this.request({ method: "PATCH", path: `${WEBHOOKS}/${segment(endpointId, "endpointId")}`,
      body: bodyOf(params) }, options);
  }

  /** Delete the endpoint: `{id, object, deleted: true}`. */
  async delete(endpointId: string, options?: RequestOptions): Answer<DeletedObject> {
    return this.request({ method: "DELETE", path: `${WEBHOOKS}/${segment(endpointId, "endpointId")}` }, options);
  }

  /** A new secret; the old one keeps signing too for 24 hours. */
  async rotateSecret(endpointId: string, options?: RequestOptions): Answer<WebhookEndpoint> {
    return this.request({ method: "POST", path: `${WEBHOOKS}/${segment(endpointId, "endpointId")}/rotate-secret` },
      options);
  }

  /** Queue one `webhook_endpoint.test` event to this endpoint only, signed like any other. */
  async sendTestEvent(endpointId: string, options?: RequestOptions): Answer<EndpointTest> {
    return this.request({ method: "POST", path: `${WEBHOOKS}/${segment(endpointId, "endpointId")}/test` }, options);
  }

  /** Every HTTP request Roost made to this endpoint, newest first. */
  deliveries(endpointId: string, params: DeliveryListParams = {}, options?: RequestOptions):
    Pager<WebhookDeliveryAttempt> {
    return this.paginate(`${WEBHOOKS}/${segment(endpointId, "endpointId")}/deliveries`, params, options);
  }
}

/** Events sent to webhook endpoints. */
export class Events extends Resource {
  list(params: EventListParams = {}, options?: RequestOptions): Pager<Event> {
    return this.paginate(EVENTS, params, options);
  }

  async get(eventId: string, options?: RequestOptions): Answer<Event> {
    return this.request({ method: "GET", path: `${EVENTS}/${segment(eventId, "eventId")}` }, options);
  }

  /** Queue the event again (same webhook-id) to one endpoint or every subscribed one. */
  async resend(eventId: string, params: EventResendParams = {}, options?: RequestOptions): Answer<EventResend> {
    return this.request({ method: "POST", path: `${EVENTS}/${segment(eventId, "eventId")}/resend`,
      body: bodyOf(params) }, options);
  }
}

/** The platform-run popup flow and recovery: for platforms that call FB.login on their own page. */
export class Recovery extends Resource {
  /** Sends an Idempotency-Key. */
  async startAttempt(params: StartAttemptParams = {}, options?: CreateOptions): Answer<RecoveryAttempt> {
    return this.createOnce(`${PROFILES}/start-attempt`, params, options);
  }

  /** Hand Meta's code over at once (it lives about 30 seconds): the business profile, or (answer
   * 202) the session while a provisioning step backs off. */
  async callback(params: RecoveryCallbackParams, options?: RequestOptions): Answer<BusinessProfile | EmbeddedSignupSession> {
    return this.request({ method: "POST", path: `${PROFILES}/callback`, body: bodyOf(params) }, options);
  }

  /** The user finished Meta's flow but the code was lost: the attempt becomes `recovered`. */
  async markInterrupted(params: MarkInterruptedParams, options?: RequestOptions): Answer<EmbeddedSignupSession> {
    return this.request({ method: "POST", path: `${PROFILES}/mark-interrupted`, body: bodyOf(params) }, options);
  }

  recoveredAttempts(params: RecoveredAttemptListParams = {}, options?: RequestOptions): Pager<RecoveredAttempt> {
    return this.paginate(`${PROFILES}/recovered-attempts`, params, options);
  }

  /** Turn a `recovered` attempt into a connected business profile (or the session, answer 202). */
  async claim(params: ClaimParams, options?: RequestOptions): Answer<BusinessProfile | EmbeddedSignupSession> {
    return this.request({ method: "POST", path: `${PROFILES}/claim`, body: bodyOf(params) }, options);
  }
}

export class AuditLog extends Resource {
  /** Sensitive actions of admin keys (token reads, …), newest first, in the key's mode. */
  list(params: AuditLogListParams = {}, options?: RequestOptions): Pager<AuditLogEntry> {
    return this.paginate("/v1/organization/audit-log", params, options);
  }
}

/**
 * The Roost API client.
 *
 *     const roost = new Roost({ apiKey: "sk_admin_test_…", baseUrl: "https://roost.example.com" });
 *     const session = await roost.sessions.create({ metadata: { externalUserId: "u1" } });
 *
 * Retries network errors, 5xx and 429 (waiting for Retry-After) up to `maxRetries` times with
 * back-off and jitter; a POST without an Idempotency-Key only when the server cannot have acted.
 */
export class Roost {
  readonly sessions: Sessions;
  readonly businessProfiles: BusinessProfiles;
  readonly phoneNumbers: PhoneNumbers;
  readonly settings: Settings;
  readonly adminKeys: AdminKeys;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly events: Events;
  readonly recovery: Recovery;
  readonly auditLog: AuditLog;
  private readonly transport: Transport;

  constructor(options: ClientOptions = {}) {
    const transport = new Transport(options);
    this.transport = transport;
    this.sessions = new Sessions(transport);
    this.businessProfiles = new BusinessProfiles(transport);
    this.phoneNumbers = new PhoneNumbers(transport);
    this.settings = new Settings(transport);
    this.adminKeys = new AdminKeys(transport);
    this.webhookEndpoints = new WebhookEndpoints(transport);
    this.events = new Events(transport);
    this.recovery = new Recovery(transport);
    this.auditLog = new AuditLog(transport);
  }

  get baseUrl(): string {
    return this.transport.baseUrl;
  }
}
