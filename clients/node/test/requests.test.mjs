// The requests the client builds (method, path, query, body, headers) for every endpoint, and its
// pagination, idempotency keys, retries and error mapping, on a recording loopback HTTP server.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, beforeEach, describe, test } from "node:test";

import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  AuthenticationError,
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  Pager,
  PermissionDeniedError,
  ProviderError,
  RateLimitError,
  Roost,
  RoostError,
  VERSION,
} from "roost-client"; // this package, through its "exports" (dist/esm)
import { recorder as startRecorder } from "./helpers/recorder.mjs";

const KEY = "sk_admin_test_recorded";
const S = "/v1/organization/embedded-signup/sessions";
const P = "/v1/organization/whatsapp/business-profiles";
const W = "/v1/organization/webhooks";
const E = "/v1/organization/events";
const WHEN = new Date(Date.UTC(2024, 0, 15, 12, 30));

let recorder;
before(async () => {
  recorder = await startRecorder();
});
after(() => recorder.close());
beforeEach(() => {
  recorder.requests.length = 0;
  recorder.replies.length = 0;
  recorder.defaultReply = { status: 200, body: { id: "obj_1", object: "thing" } };
});

function client(options = {}) {
  return new Roost({ apiKey: KEY, baseUrl: recorder.baseUrl, initialRetryDelay: 5, maxRetryDelay: 20, ...options });
}

function page(ids, hasMore) {
  return { status: 200, body: { object: "list", data: ids.map((id) => ({ id })), has_more: hasMore } };
}

const error = (status, type, code, extra = {}) => ({
  status, body: { error: { type, code, message: "it went wrong", ...extra } }, headers: extra.headers,
});

// [name, call, method, path, query, body]; body undefined = no body sent
const ENDPOINTS = [
  ["sessions.create", (c) => c.sessions.create({ redirect_uri: "https://example.com/cb", state: "s1",
    metadata: { externalUserId: "u1" }, prefill: { business: { name: "Acme" } }, locale: "pt-BR", coexistence: true }),
  "POST", S, [], { redirect_uri: "https://example.com/cb", state: "s1", metadata: { externalUserId: "u1" },
    prefill: { business: { name: "Acme" } }, locale: "pt-BR", coexistence: true }],
  ["sessions.create empty", (c) => c.sessions.create(), "POST", S, [], {}],
  ["sessions.get", (c) => c.sessions.get("wss_1"), "GET", `${S}/wss_1`, [], undefined],
  ["sessions.list", (c) => c.sessions.list({ status: "pending", source: "hosted",
    metadata: { externalUserId: "u1", n: 5, vip: true, x: null }, created: { gte: WHEN, lt: 1705400000 }, limit: 10 }),
  "GET", S, [["status", "pending"], ["source", "hosted"], ["metadata[externalUserId]", "u1"], ["metadata[n]", "5"],
    ["metadata[vip]", "true"], ["metadata[x]", "null"], ["created[gte]", "2024-01-15T12:30:00.000Z"],
    ["created[lt]", "1705400000"], ["limit", "10"]], undefined],
  ["sessions.cancel", (c) => c.sessions.cancel("wss_1"), "DELETE", `${S}/wss_1`, [], undefined],
  ["sessions.refreshLink", (c) => c.sessions.refreshLink("wss_1"), "POST", `${S}/wss_1/link`, [], undefined],
  ["sessions.events", (c) => c.sessions.events("wss_1"), "GET", `${S}/wss_1/events`, [], undefined],
  ["sessions.simulate", (c) => c.sessions.simulate("wss_1", { outcome: "cancelled", cancel_step: "WABA_PHONE_PROFILE_PICKER" }),
    "POST", `${S}/wss_1/simulate`, [], { outcome: "cancelled", cancel_step: "WABA_PHONE_PROFILE_PICKER" }],
  ["sessions.funnel", (c) => c.sessions.funnel({ created: { gte: "2024-01-01T00:00:00.000Z", lt: 1706000000 } }),
    "GET", "/v1/organization/embedded-signup/funnel",
    [["created[gte]", "2024-01-01T00:00:00.000Z"], ["created[lt]", "1706000000"]], undefined],
  ["businessProfiles.list", (c) => c.businessProfiles.list({ waba_id: "524126980791429", status: "connected",
    metadata: { externalUserId: "u1" } }),
  "GET", P, [["waba_id", "524126980791429"], ["status", "connected"], ["metadata[externalUserId]", "u1"]], undefined],
  ["businessProfiles.get", (c) => c.businessProfiles.get("wabp_1"), "GET", `${P}/wabp_1`, [], undefined],
  ["businessProfiles.disconnect", (c) => c.businessProfiles.disconnect("wabp_1"), "DELETE", `${P}/wabp_1`, [], undefined],
  ["businessProfiles.delete", (c) => c.businessProfiles.delete("wabp_1"), "DELETE", `${P}/wabp_1`, [], undefined],
  ["businessProfiles.refresh", (c) => c.businessProfiles.refresh("wabp_1"), "POST", `${P}/wabp_1/refresh`, [], undefined],
  ["businessProfiles.accessToken", (c) => c.businessProfiles.accessToken("wabp_1"), "GET", `${P}/wabp_1/access-token`,
    [], undefined],
  ["phoneNumbers.register", (c) => c.phoneNumbers.register("wapn_1", { pin: "123456" }), "POST",
    "/v1/organization/whatsapp/phone-numbers/wapn_1/register", [], { pin: "123456" }],
  ["phoneNumbers.register no pin", (c) => c.phoneNumbers.register("wapn_1"), "POST",
    "/v1/organization/whatsapp/phone-numbers/wapn_1/register", [], {}],
  ["phoneNumbers.register with a region", (c) => c.phoneNumbers.register("wapn_1", { data_localization_region: "DE" }),
    "POST", "/v1/organization/whatsapp/phone-numbers/wapn_1/register", [], { data_localization_region: "DE" }],
  ["phoneNumbers.get", (c) => c.phoneNumbers.get("wapn_1"), "GET", "/v1/organization/whatsapp/phone-numbers/wapn_1", [],
    undefined],
  ["phoneNumbers.requestCode", (c) => c.phoneNumbers.requestCode("wapn_1", { method: "sms", language: "es_ES" }), "POST",
    "/v1/organization/whatsapp/phone-numbers/wapn_1/request-code", [], { method: "sms", language: "es_ES" }],
  ["phoneNumbers.verifyCode", (c) => c.phoneNumbers.verifyCode("wapn_1", { code: "123456" }), "POST",
    "/v1/organization/whatsapp/phone-numbers/wapn_1/verify-code", [], { code: "123456" }],
  ["businessProfiles.addPhoneNumber", (c) => c.businessProfiles.addPhoneNumber("wabp_1",
    { cc: "1", phone_number: "5550100", verified_name: "Acme" }), "POST", `${P}/wabp_1/phone-numbers`, [],
  { cc: "1", phone_number: "5550100", verified_name: "Acme" }],
  ["settings.get", (c) => c.settings.get({ mode: "live" }), "GET", "/v1/organization/settings", [["mode", "live"]],
    undefined],
  ["settings.update", (c) => c.settings.update({ mode: "live", name: "Acme", allowed_origins: ["https://app.example.com"],
    branding: { accent_color: "#0A7CFF", logo_url: null }, meta: { partner_type: "solution_partner" },
    messages_callback_url: null, auto_claim: false, token_custody_enabled: true, coexistence: { history_sync: false } }),
  "PATCH", "/v1/organization/settings", [["mode", "live"]],
  { name: "Acme", allowed_origins: ["https://app.example.com"], branding: { accent_color: "#0A7CFF", logo_url: null },
    meta: { partner_type: "solution_partner" }, messages_callback_url: null, auto_claim: false,
    token_custody_enabled: true, coexistence: { history_sync: false } }],
  ["settings.update in the key's mode", (c) => c.settings.update({ name: "Acme" }), "PATCH", "/v1/organization/settings",
    [], { name: "Acme" }],
  ["settings.rotateRedirectSecret", (c) => c.settings.rotateRedirectSecret(), "POST",
    "/v1/organization/settings/redirect-secret/rotate", [], undefined],
  ["adminKeys.list", (c) => c.adminKeys.list(), "GET", "/v1/organization/admin-keys", [], undefined],
  ["adminKeys.create", (c) => c.adminKeys.create({ name: "ci" }), "POST", "/v1/organization/admin-keys", [],
    { name: "ci" }],
  ["adminKeys.revoke", (c) => c.adminKeys.revoke("key_1"), "DELETE", "/v1/organization/admin-keys/key_1", [], undefined],
  ["webhookEndpoints.create", (c) => c.webhookEndpoints.create({ url: "https://example.com/hooks",
    events: ["embedded_signup.session.completed"], description: "prod" }),
  "POST", W, [], { url: "https://example.com/hooks", events: ["embedded_signup.session.completed"],
    description: "prod" }],
  ["webhookEndpoints.list", (c) => c.webhookEndpoints.list({ limit: 5 }), "GET", W, [["limit", "5"]], undefined],
  ["webhookEndpoints.get", (c) => c.webhookEndpoints.get("whk_1"), "GET", `${W}/whk_1`, [], undefined],
  ["webhookEndpoints.update", (c) => c.webhookEndpoints.update("whk_1", { events: ["*"], enabled: false,
    description: null }), "PATCH", `${W}/whk_1`, [], { events: ["*"], enabled: false, description: null }],
  ["webhookEndpoints.delete", (c) => c.webhookEndpoints.delete("whk_1"), "DELETE", `${W}/whk_1`, [], undefined],
  ["webhookEndpoints.rotateSecret", (c) => c.webhookEndpoints.rotateSecret("whk_1"), "POST",
    `${W}/whk_1/rotate-secret`, [], undefined],
  ["webhookEndpoints.sendTestEvent", (c) => c.webhookEndpoints.sendTestEvent("whk_1"), "POST", `${W}/whk_1/test`, [],
    undefined],
  ["webhookEndpoints.deliveries", (c) => c.webhookEndpoints.deliveries("whk_1", { event_id: "evt_1", limit: 3 }), "GET",
    `${W}/whk_1/deliveries`, [["event_id", "evt_1"], ["limit", "3"]], undefined],
  ["events.list", (c) => c.events.list({ type: "whatsapp.business_profile.connected" }), "GET", E,
    [["type", "whatsapp.business_profile.connected"]], undefined],
  ["events.get", (c) => c.events.get("evt_1"), "GET", `${E}/evt_1`, [], undefined],
  ["events.resend", (c) => c.events.resend("evt_1"), "POST", `${E}/evt_1/resend`, [], {}],
  ["events.resend to one", (c) => c.events.resend("evt_1", { endpoint_id: "whk_1" }), "POST", `${E}/evt_1/resend`, [],
    { endpoint_id: "whk_1" }],
  ["recovery.startAttempt", (c) => c.recovery.startAttempt({ metadata: { externalUserId: "u1" } }), "POST",
    `${P}/start-attempt`, [], { metadata: { externalUserId: "u1" } }],
  ["recovery.callback", (c) => c.recovery.callback({ attempt_id: "wss_1", code: "AQB", waba_id: "5241",
    phone_number_id: "1065", business_id: "2729", coexistence: false, redirect_uri: "https://example.com/cb" }),
  "POST", `${P}/callback`, [], { attempt_id: "wss_1", code: "AQB", waba_id: "5241", phone_number_id: "1065",
    business_id: "2729", coexistence: false, redirect_uri: "https://example.com/cb" }],
  ["recovery.markInterrupted", (c) => c.recovery.markInterrupted({ attempt_id: "wss_1", waba_id: "5241" }), "POST",
    `${P}/mark-interrupted`, [], { attempt_id: "wss_1", waba_id: "5241" }],
  ["recovery.recoveredAttempts", (c) => c.recovery.recoveredAttempts({ metadata: { externalUserId: "u1" }, limit: 2 }),
    "GET", `${P}/recovered-attempts`, [["metadata[externalUserId]", "u1"], ["limit", "2"]], undefined],
  ["recovery.claim", (c) => c.recovery.claim({ attempt_id: "wss_1" }), "POST", `${P}/claim`, [],
    { attempt_id: "wss_1" }],
  ["auditLog.list", (c) => c.auditLog.list({ action: "business_profile.access_token.read", resource_id: "wabp_1" }),
    "GET", "/v1/organization/audit-log", [["action", "business_profile.access_token.read"], ["resource_id", "wabp_1"]],
    undefined],
];
const CREATES = new Set(["sessions.create", "sessions.create empty", "adminKeys.create", "webhookEndpoints.create",
  "recovery.startAttempt", "businessProfiles.addPhoneNumber"]);

describe("every endpoint", () => {
  for (const [name, call, method, path, query, body] of ENDPOINTS) {
    test(name, async () => {
      let result = call(client());
      if (result instanceof Pager) {
        recorder.defaultReply = page(["x_1"], false);
        const items = await result.toArray();
        assert.deepEqual(items, [{ id: "x_1" }]);
      } else {
        result = await result;
        assert.deepEqual(result, { id: "obj_1", object: "thing" });
        assert.equal(result.lastResponse.status, 200);
        assert.equal(result.lastResponse.requestId, "req_1");
      }
      const seen = recorder.last;
      assert.deepEqual([seen.method, seen.path, seen.query, seen.body], [method, path, query, body]);
      assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
      assert.equal(seen.headers["user-agent"], `roost-client-node/${VERSION}`);
      assert.equal(seen.headers["content-type"], body === undefined ? undefined : "application/json");
      assert.equal("idempotency-key" in seen.headers, CREATES.has(name));
    });
  }
});

test("ids are escaped into one path segment, and an empty id is refused before sending", async () => {
  await client().sessions.get("wss_1/../../admin-keys?x=1");
  assert.equal(recorder.last.path, `${S}/wss_1%2F..%2F..%2Fadmin-keys%3Fx%3D1`);
  assert.deepEqual(recorder.last.query, []);
  await assert.rejects(client().sessions.get(""), TypeError); // a promise: rejected, not thrown
  assert.throws(() => client().sessions.events(""), TypeError); // a pager: when it is made
  assert.equal(recorder.requests.length, 1);
});

test("fields this client does not know yet pass through, both ways", async () => {
  recorder.defaultReply = { status: 200, body: { id: "wabp_1", object: "business_profile", brand_new_field: { a: 1 } } };
  const profile = await client().businessProfiles.get("wabp_1");
  assert.deepEqual(profile.brand_new_field, { a: 1 });
  assert.equal(JSON.stringify(profile), JSON.stringify(recorder.defaultReply.body)); // lastResponse is not enumerable
  await client().sessions.create({ new_field: 1 }, { idempotencyKey: null });
  assert.deepEqual(recorder.last.body, { new_field: 1 });
  await client().sessions.list({ future_filter: "x" }).firstPage();
  assert.deepEqual(recorder.last.query, [["future_filter", "x"]]);
});

test("configuration from the environment, and a key is required", async () => {
  const saved = { key: process.env.ROOST_API_KEY, url: process.env.ROOST_BASE_URL };
  try {
    process.env.ROOST_API_KEY = "sk_admin_test_env";
    process.env.ROOST_BASE_URL = recorder.baseUrl;
    await new Roost().sessions.get("wss_1");
    assert.equal(recorder.last.headers.authorization, "Bearer sk_admin_test_env");
    delete process.env.ROOST_API_KEY;
    assert.throws(() => new Roost(), /admin key is required/);
    assert.throws(() => new Roost({ apiKey: KEY, maxRetries: -1 }), /maxRetries/);
  } finally {
    for (const [name, value] of [["ROOST_API_KEY", saved.key], ["ROOST_BASE_URL", saved.url]]) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

// Pagination -------------------------------------------------------------------------------------

test("iterating a list walks every page keeping the filters", async () => {
  recorder.script(page(["wss_5", "wss_4"], true), page(["wss_3", "wss_2"], true), page(["wss_1"], false));
  const ids = [];
  for await (const s of client().sessions.list({ metadata: { externalUserId: "u1" }, status: "pending", limit: 2 })) {
    ids.push(s.id);
  }
  assert.deepEqual(ids, ["wss_5", "wss_4", "wss_3", "wss_2", "wss_1"]);
  const base = [["metadata[externalUserId]", "u1"], ["status", "pending"], ["limit", "2"]];
  assert.deepEqual(recorder.requests.map((r) => r.query), [
    base, [...base, ["starting_after", "wss_4"]], [...base, ["starting_after", "wss_2"]],
  ]);
});

test("a given starting_after is replaced by the next cursor; ending_before pages backwards", async () => {
  recorder.script(page(["wss_3"], true), page(["wss_2"], false));
  assert.deepEqual((await client().sessions.list({ starting_after: "wss_9", limit: 1 }).toArray()).map((s) => s.id),
    ["wss_3", "wss_2"]);
  assert.deepEqual(recorder.requests[1].query, [["limit", "1"], ["starting_after", "wss_3"]]);

  recorder.requests.length = 0;
  recorder.script(page(["wss_7", "wss_6"], true), page(["wss_9", "wss_8"], false));
  assert.deepEqual((await client().sessions.list({ ending_before: "wss_5", limit: 2 }).toArray()).map((s) => s.id),
    ["wss_7", "wss_6", "wss_9", "wss_8"]);
  assert.deepEqual(recorder.requests[1].query, [["limit", "2"], ["ending_before", "wss_7"]]);
});

test("firstPage, pages and toArray with a limit; an empty page ends the walk", async () => {
  recorder.script(page(["wss_2"], true));
  const first = await client().sessions.list({ limit: 1 }).firstPage();
  assert.deepEqual([first.data.map((s) => s.id), first.has_more, first.lastResponse.status], [["wss_2"], true, 200]);
  recorder.script(page(["wss_2"], true), page(["wss_1"], false));
  const sizes = [];
  for await (const p of client().sessions.list({ limit: 1 }).pages()) sizes.push(p.data.length);
  assert.deepEqual(sizes, [1, 1]);
  recorder.requests.length = 0;
  recorder.script(page(["wss_3", "wss_2"], true));
  assert.deepEqual((await client().sessions.list().toArray({ limit: 2 })).map((s) => s.id), ["wss_3", "wss_2"]);
  assert.equal(recorder.requests.length, 1); // the limit was reached: no second page asked for
  recorder.requests.length = 0;
  recorder.script(page([], true));
  assert.deepEqual(await client().sessions.list().toArray(), []);
  assert.equal(recorder.requests.length, 1);
});

test("recovered attempts page by attempt_id (they have no id)", async () => {
  const attempts = (ids, more) => ({ status: 200, body: { object: "list", has_more: more,
    data: ids.map((id) => ({ attempt_id: id, object: "recovered_attempt" })) } });
  recorder.script(attempts(["wss_2"], true), attempts(["wss_1"], false));
  const ids = (await client().recovery.recoveredAttempts({ limit: 1 }).toArray()).map((a) => a.attempt_id);
  assert.deepEqual(ids, ["wss_2", "wss_1"]);
  assert.deepEqual(recorder.requests[1].query, [["limit", "1"], ["starting_after", "wss_2"]]);
});

// Idempotency keys ---------------------------------------------------------------------------------

test("creates get a fresh key each call and the same key on retries", async () => {
  recorder.script(error(500, "api_error", "internal_error"), { status: 503 }, { status: 201, body: { id: "wss_1" } });
  const roost = client();
  assert.equal((await roost.sessions.create({ metadata: { a: 1 } })).id, "wss_1");
  await roost.sessions.create();
  const keys = recorder.requests.map((r) => r.headers["idempotency-key"]);
  assert.equal(keys.length, 4);
  assert.ok(keys[0] === keys[1] && keys[1] === keys[2] && keys[2] !== keys[3]);
  assert.match(keys[0], /^roost-node-[0-9a-f-]{36}$/);
});

test("the key can be given or switched off", async () => {
  await client().sessions.create({}, { idempotencyKey: "order-42" });
  await client().sessions.create({}, { idempotencyKey: null });
  await client({ autoIdempotency: false }).sessions.create();
  await client({ autoIdempotency: false }).sessions.create({}, { idempotencyKey: "explicit" });
  assert.deepEqual(recorder.requests.map((r) => r.headers["idempotency-key"]), ["order-42", undefined, undefined,
    "explicit"]);
});

test("a create without a key is not retried after a server error; idempotency_key_in_use is waited out", async () => {
  recorder.script(error(500, "api_error", "internal_error"));
  await assert.rejects(client().sessions.create({}, { idempotencyKey: null }), APIError);
  assert.equal(recorder.requests.length, 1);
  recorder.requests.length = 0;
  recorder.script(error(409, "invalid_request_error", "idempotency_key_in_use"), { status: 201, body: { id: "wss_1" } });
  assert.equal((await client().sessions.create({}, { idempotencyKey: "k" })).id, "wss_1");
  assert.equal(recorder.requests.length, 2);
});

test("a replayed answer says so", async () => {
  recorder.script({ status: 201, body: { id: "wss_1" }, headers: { "Idempotent-Replayed": "true" } });
  assert.equal((await client().sessions.create()).lastResponse.idempotentReplayed, true);
  assert.equal((await client().sessions.create()).lastResponse.idempotentReplayed, false);
});

// Retries ----------------------------------------------------------------------------------------

test("server errors are retried up to maxRetries", async () => {
  recorder.script({ status: 503 }, { status: 502 }, { status: 200, body: { id: "wss_1" } });
  assert.equal((await client().sessions.get("wss_1")).id, "wss_1");
  assert.equal(recorder.requests.length, 3);

  recorder.requests.length = 0;
  recorder.script(...Array(3).fill(error(503, "api_error", "unavailable")));
  await assert.rejects(client().sessions.get("wss_1"), (e) => e instanceof APIError && e.code === "unavailable");
  assert.equal(recorder.requests.length, 3);

  recorder.requests.length = 0;
  recorder.script({ status: 503 });
  await assert.rejects(client({ maxRetries: 0 }).sessions.get("wss_1"), APIError);
  assert.equal(recorder.requests.length, 1);
  recorder.requests.length = 0;
  recorder.script({ status: 503 });
  await assert.rejects(client().sessions.get("wss_1", { maxRetries: 0 }), APIError);
  assert.equal(recorder.requests.length, 1);
});

test("a 429 waits for Retry-After, even for a POST without a key (nothing was done)", async () => {
  recorder.script(error(429, "invalid_request_error", "rate_limited", { headers: { "Retry-After": "1" } }),
    { status: 200, body: { id: "wapn_1" } });
  const started = Date.now();
  assert.equal((await client().phoneNumbers.register("wapn_1")).id, "wapn_1");
  assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
  assert.equal(recorder.requests.length, 2);
});

test("Retry-After is capped by maxRetryAfter, and the error carries it", async () => {
  recorder.script(...Array(3).fill(error(429, "invalid_request_error", "rate_limited",
    { headers: { "Retry-After": "3600" } })));
  const started = Date.now();
  await assert.rejects(client({ maxRetryAfter: 50 }).sessions.list().firstPage(), (e) =>
    e instanceof RateLimitError && e.retryAfter === 3600 && e.code === "rate_limited");
  assert.ok(Date.now() - started < 5000);
  assert.equal(recorder.requests.length, 3);
});

test("a dropped connection is retried only when safe", async () => {
  recorder.script({ drop: true }, { status: 200, body: { id: "wss_1" } });
  assert.equal((await client().sessions.get("wss_1")).id, "wss_1");
  assert.equal(recorder.requests.length, 2);

  recorder.requests.length = 0;
  recorder.replies.length = 0;
  recorder.script({ drop: true });
  // a POST without a key may have been acted on
  await assert.rejects(client().sessions.refreshLink("wss_1"), (e) => e instanceof APIConnectionError && !e.neverSent);
  assert.equal(recorder.requests.length, 1);

  recorder.requests.length = 0;
  recorder.replies.length = 0;
  recorder.script({ drop: true }, { status: 201, body: { id: "wss_1" } });
  assert.equal((await client().sessions.create()).id, "wss_1");
  assert.equal(recorder.requests.length, 2);
  assert.equal(recorder.requests[0].headers["idempotency-key"], recorder.requests[1].headers["idempotency-key"]);
});

test("an unreachable server: a refused connection is retried even for a POST without a key", async () => {
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  let tries = 0;
  const counting = (...args) => {
    tries += 1;
    return fetch(...args);
  };
  const roost = new Roost({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}`, initialRetryDelay: 1, fetch: counting });
  await assert.rejects(roost.sessions.refreshLink("wss_1"), (e) =>
    e instanceof APIConnectionError && e.neverSent && e instanceof RoostError && /ECONNREFUSED/.test(e.message));
  assert.equal(tries, 3);
});

test("a timeout is an APITimeoutError; the caller's abort is not retried", async () => {
  // A fetch that never answers: only an abort ends it.
  const hanging = (url, init) => new Promise((_, reject) => init.signal.addEventListener("abort",
    () => reject(init.signal.reason)));
  const roost = new Roost({ apiKey: KEY, baseUrl: recorder.baseUrl, fetch: hanging, timeout: 30, maxRetries: 1,
    initialRetryDelay: 1 });
  await assert.rejects(roost.sessions.get("wss_1"), (e) => e instanceof APITimeoutError && /30 ms/.test(e.message));
  const controller = new AbortController();
  const pending = roost.sessions.get("wss_1", { signal: controller.signal, timeout: 10_000 });
  controller.abort(new Error("user gave up"));
  await assert.rejects(pending, /user gave up/);
  await assert.rejects(roost.sessions.get("wss_1", { signal: AbortSignal.abort(new Error("gave up before")) }),
    /gave up before/);
});

// Errors -------------------------------------------------------------------------------------------

const ERROR_CASES = [
  [400, InvalidRequestError, "invalid_request_error", "parameter_invalid"],
  [413, InvalidRequestError, "invalid_request_error", "body_too_large"],
  [415, InvalidRequestError, "invalid_request_error", "unsupported_media_type"],
  [401, AuthenticationError, "authentication_error", "api_key_invalid"],
  [403, ForbiddenError, "authentication_error", "live_mode_required"],
  [404, NotFoundError, "invalid_request_error", "resource_missing"],
  [409, ConflictError, "invalid_request_error", "session_not_pending"],
  [402, ProviderError, "provider_error", "meta_error"],
  [424, ProviderError, "provider_error", "meta_error"],
  [500, APIError, "api_error", "internal_error"],
];

describe("errors map to classes with every field", () => {
  for (const [status, Kind, type, code] of ERROR_CASES) {
    test(`${status} ${code}`, async () => {
      const problems = [{ param: "state", code: "parameter_missing", message: "state is required" }];
      recorder.script(...Array(3).fill({ status, body: { error: { type, code, message: "it went wrong",
        param: "state", errors: problems, request_id: "req_abc",
        provider: { code: 100, message: "Invalid", fbtrace_id: "A1" } } } }));
      const caught = await client().sessions.get("wss_1").catch((e) => e);
      assert.ok(caught instanceof Kind && caught instanceof RoostError && caught instanceof Error);
      assert.deepEqual([caught.httpStatus, caught.type, caught.code, caught.param, caught.message, caught.requestId],
        [status, type, code, "state", "it went wrong", "req_abc"]);
      assert.deepEqual(caught.errors, problems);
      assert.equal(caught.name, Kind.name);
      assert.match(String(caught), new RegExp(`${code}.*req_abc`));
      if (Kind === ProviderError) assert.equal(caught.provider.fbtrace_id, "A1");
    });
  }
  test("the class tree and aliases", () => {
    assert.ok(NotFoundError.prototype instanceof InvalidRequestError);
    assert.ok(RateLimitError.prototype instanceof InvalidRequestError);
    assert.ok(APITimeoutError.prototype instanceof APIConnectionError);
    assert.equal(PermissionDeniedError, ForbiddenError);
  });
});

test("a non-JSON error still maps by status, with the Request-Id header", async () => {
  recorder.script(...Array(3).fill({ status: 502 }));
  const caught = await client().sessions.get("wss_1").catch((e) => e);
  assert.ok(caught instanceof APIError);
  assert.deepEqual([caught.httpStatus, caught.code, caught.requestId], [502, undefined, "req_3"]);
});
