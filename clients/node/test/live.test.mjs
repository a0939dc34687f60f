// The client against a real `roost serve` on loopback, started here (test/helpers/roost.mjs): on
// SQLite, and on PostgreSQL too when ROOST_TEST_DATABASE_URL is set.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  AuthenticationError,
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  ProviderError,
  RateLimitError,
  Roost,
  verifyWebhook,
} from "../dist/esm/index.js";
import { recorder as startRecorder } from "./helpers/recorder.mjs";
import { BACKENDS, startRoost, waitFor } from "./helpers/roost.mjs";

const marker = () => `user_${randomUUID().slice(0, 12)}`;
const ids = (items) => items.map((item) => item.id);
const MISSING = "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI";

for (const backend of BACKENDS) {
  describe(`against roost serve on ${backend}`, () => {
    let server;
    let limited;
    let roost;
    before(async () => {
      // One server sends webhooks to the test's loopback receiver (with a worker that looks for
      // work often). On SQLite, another one with a tiny rate limit starts beside it: the client
      // retries a 429 the same way whichever database counts it.
      [server, limited] = await Promise.all([
        startRoost(backend, { ROOST_WEBHOOK_ALLOW_PRIVATE: "1", ROOST_WORKER_INTERVAL_SECONDS: "0.2" }),
        backend === "sqlite" ? startRoost(backend, { ROOST_RATE_LIMIT_PER_MINUTE: "3" }) : undefined,
      ]);
      roost = new Roost({ apiKey: server.apiKey, baseUrl: server.baseUrl });
    });
    after(() => Promise.all([server?.stop(), limited?.stop()]));

    test("create, get, and list across pages with metadata and created filters", async () => {
      const user = marker();
      const created = [];
      for (let n = 0; n < 5; n += 1) created.push(await roost.sessions.create({ metadata: { externalUserId: user, n } }));
      const other = await roost.sessions.create({ metadata: { externalUserId: marker() } });
      const first = created[0];
      assert.match(first.id, /^wss_/);
      assert.equal(first.status, "pending");
      assert.ok(first.url.startsWith(`${server.baseUrl}/embed/connect?token=`));
      assert.equal(first.lastResponse.status, 201);
      assert.match(first.lastResponse.requestId, /^req_/);

      const fetched = await roost.sessions.get(first.id);
      assert.deepEqual([fetched.id, fetched.metadata, fetched.url ?? null], [first.id, { externalUserId: user, n: 0 }, null]);

      const listed = await roost.sessions.list({ metadata: { externalUserId: user }, status: "pending", limit: 2 }).toArray();
      assert.deepEqual(ids(listed), ids(created).reverse()); // newest first, over three pages
      assert.ok(!ids(listed).includes(other.id));
      assert.deepEqual(ids(await roost.sessions.list({ metadata: { externalUserId: user, n: 3 } }).toArray()),
        [created[3].id]);
      assert.deepEqual(await roost.sessions.list({ metadata: { externalUserId: user }, status: "completed" }).toArray(), []);
      const hourAgo = new Date(Date.now() - 3600_000);
      const since = await roost.sessions.list({ metadata: { externalUserId: user }, created: { gte: hourAgo } }).toArray();
      assert.equal(since.length, 5);
      const unix = await roost.sessions.list({ metadata: { externalUserId: user },
        created: { lt: Math.floor(hourAgo.getTime() / 1000) } }).toArray();
      assert.equal(unix.length, 0);
    });

    test("cancel, refreshLink, the timeline and the funnel", async () => {
      const session = await roost.sessions.create({ redirect_uri: "https://example.com/cb", state: "st-1" });
      const renewed = await roost.sessions.refreshLink(session.id);
      assert.ok(renewed.url && renewed.url !== session.url);
      const cancelled = await roost.sessions.cancel(session.id);
      assert.equal(cancelled.status, "cancelled");
      assert.equal(cancelled.error.code, "session_cancelled");
      await assert.rejects(roost.sessions.cancel(session.id),
        (e) => e instanceof ConflictError && e.httpStatus === 409 && e.code === "session_not_pending");
      const types = [];
      for await (const event of roost.sessions.events(session.id)) types.push(event.type);
      assert.equal(types[0], "session.created");
      assert.ok(types.includes("session.link_refreshed") && types.includes("session.status_changed"), types.join());
      const funnel = await roost.sessions.funnel({ created: { gte: Math.floor(Date.now() / 1000) - 3600 } });
      assert.ok(funnel.created >= 1);
    });

    test("errors arrive typed, with type, code, param and requestId", async () => {
      let e = await roost.sessions.create({ redirect_uri: "https://example.com/cb" }).catch((caught) => caught);
      assert.ok(e instanceof InvalidRequestError);
      assert.deepEqual([e.httpStatus, e.type, e.code, e.param], [400, "invalid_request_error", "parameter_missing",
        "state"]);
      assert.match(e.requestId, /^req_/);

      e = await roost.sessions.list({ status: "nope", limit: 0 }).firstPage().catch((caught) => caught);
      assert.deepEqual(new Set(e.errors.map((problem) => problem.param)), new Set(["status", "limit"]));

      e = await roost.sessions.create({ redirect_url: "typo" }).catch((caught) => caught);
      assert.deepEqual([e.code, e.param], ["parameter_unknown", "redirect_url"]);

      e = await roost.sessions.get(MISSING).catch((caught) => caught);
      assert.ok(e instanceof NotFoundError);
      assert.deepEqual([e.httpStatus, e.code], [404, "resource_missing"]);

      const stranger = new Roost({ apiKey: `sk_admin_test_${"x".repeat(43)}`, baseUrl: server.baseUrl });
      e = await stranger.sessions.list().firstPage().catch((caught) => caught);
      assert.ok(e instanceof AuthenticationError);
      assert.deepEqual([e.httpStatus, e.type], [401, "authentication_error"]);

      e = await roost.settings.get({ mode: "live" }).catch((caught) => caught);
      assert.ok(e instanceof ForbiddenError);
      assert.equal(e.code, "live_mode_required");
    });

    test("the same Idempotency-Key gives the same session; another body with it is a conflict", async () => {
      const key = `order-${randomUUID()}`;
      const user = marker();
      const body = { metadata: { externalUserId: user }, state: "s", redirect_uri: "https://example.com/cb" };
      const first = await roost.sessions.create(body, { idempotencyKey: key });
      const again = await roost.sessions.create(body, { idempotencyKey: key });
      assert.deepEqual([again.id, again.url], [first.id, first.url]);
      assert.deepEqual([first.lastResponse.idempotentReplayed, again.lastResponse.idempotentReplayed], [false, true]);
      assert.deepEqual(ids(await roost.sessions.list({ metadata: { externalUserId: user } }).toArray()), [first.id]);
      await assert.rejects(roost.sessions.create({ metadata: { other: true } }, { idempotencyKey: key }),
        (e) => e instanceof ConflictError && e.code === "idempotency_key_reused");
    });

    test("a simulated signup yields a listed business profile; disconnect, token custody, audit log", async () => {
      const user = marker();
      const session = await roost.sessions.create({ metadata: { externalUserId: user } });
      const done = await roost.sessions.simulate(session.id, { outcome: "completed" });
      assert.equal(done.status, "completed");
      assert.match(done.business_profile_id, /^wabp_/);
      const profiles = await roost.businessProfiles.list({ metadata: { externalUserId: user } }).toArray();
      assert.deepEqual(ids(profiles), [done.business_profile_id]);
      const profile = await roost.businessProfiles.get(done.business_profile_id);
      assert.deepEqual([profile.waba_id, profile.status], [done.waba_id, "connected"]);
      assert.match(profile.phone_numbers[0].id, /^wapn_/);
      assert.deepEqual(ids(await roost.businessProfiles.list({ session_id: session.id }).toArray()), [profile.id]);

      const cancelled = await roost.sessions.simulate((await roost.sessions.create()).id,
        { outcome: "cancelled", cancel_step: "PHONE_NUMBER_SETUP" });
      assert.deepEqual([cancelled.status, cancelled.error.code, cancelled.last_step],
        ["cancelled", "user_cancelled", "PHONE_NUMBER_SETUP"]);

      await assert.rejects(roost.businessProfiles.accessToken(profile.id),
        (e) => e instanceof ForbiddenError && e.code === "live_mode_required");
      const gone = await roost.businessProfiles.disconnect(profile.id);
      assert.equal(gone.status, "disconnected");
      assert.ok(gone.disconnected_at);
      const disconnected = await roost.businessProfiles.list({ status: "disconnected" }).toArray();
      assert.ok(ids(disconnected).includes(profile.id));
      assert.deepEqual(await roost.auditLog.list().toArray(), []); // test keys read no tokens
    });

    test("refresh reads the account's health from Meta again", async () => {
      const done = await roost.sessions.simulate((await roost.sessions.create()).id, { outcome: "completed" });
      const profile = await roost.businessProfiles.refresh(done.business_profile_id);
      assert.equal(profile.id, done.business_profile_id);
      assert.deepEqual([profile.health.status, profile.health.can_send_message], ["ok", "AVAILABLE"]);
      assert.equal(profile.phone_numbers[0].messaging_limit_tier, "TIER_250");
      await roost.businessProfiles.disconnect(profile.id);
      await assert.rejects(roost.businessProfiles.refresh(profile.id),
        (e) => e.httpStatus === 409 && e.code === "profile_disconnected");
    });

    test("a number added after signup is verified with the code Meta sent, then registered", async () => {
      const session = await roost.sessions.create();
      const done = await roost.sessions.simulate(session.id, { outcome: "completed", variant: "FINISH_ONLY_WABA" });
      const number = `631555${1000 + Math.floor(Math.random() * 9000)}`;
      const phone = await roost.businessProfiles.addPhoneNumber(done.business_profile_id,
        { cc: "1", phone_number: number, verified_name: "Jasper's Market" });
      assert.match(phone.id, /^wapn_/);
      assert.equal(phone.code_verification_status, "NOT_VERIFIED");
      assert.equal((await roost.phoneNumbers.get(phone.id)).business_profile_id, done.business_profile_id);
      assert.equal((await roost.phoneNumbers.requestCode(phone.id, { method: "sms" })).id, phone.id);
      const sent = await fetch(`${server.baseUrl}/_sim/control/phone-numbers/${phone.phone_number_id}/verification-code`,
        { headers: { authorization: `Bearer ${server.apiKey}` } });
      const { code } = await sent.json();
      const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, "0");
      await assert.rejects(roost.phoneNumbers.verifyCode(phone.id, { code: wrong }),
        (e) => e.httpStatus === 424 && e.code === "verification_failed");
      assert.equal((await roost.phoneNumbers.verifyCode(phone.id, { code })).code_verification_status, "VERIFIED");
      const registered = await roost.phoneNumbers.register(phone.id, { data_localization_region: "GB" });
      assert.equal(registered.cloud_api_registered, true);
    });

    test("settings and admin keys", async () => {
      const settings = await roost.settings.get();
      assert.equal(settings.mode, "test");
      assert.match(settings.redirect_secret, /^rsec_test_/);
      const updated = await roost.settings.update({ name: "Acme Platform", branding: { accent_color: "#0a7cff" },
        allowed_origins: ["https://app.example.com"], meta: { partner_type: "solution_partner" },
        token_custody_enabled: false });
      assert.deepEqual([updated.name, updated.branding.accent_color, updated.allowed_origins, updated.meta.partner_type,
        updated.token_custody_enabled], ["Acme Platform", "#0A7CFF", ["https://app.example.com"], "solution_partner",
        false]);
      const coexistence = await roost.settings.update({ coexistence: { history_sync: false } });
      assert.deepEqual(coexistence.coexistence, { history_sync: false });
      await roost.settings.update({ coexistence: { history_sync: true } });
      const rotated = await roost.settings.rotateRedirectSecret();
      assert.notEqual(rotated.redirect_secret, settings.redirect_secret);

      const created = await roost.adminKeys.create({ name: "ci" });
      assert.match(created.admin_key, /^sk_admin_test_/);
      assert.ok(ids(await roost.adminKeys.list().toArray()).includes(created.id));
      const ci = new Roost({ apiKey: created.admin_key, baseUrl: server.baseUrl });
      assert.equal((await ci.settings.get()).organization_id, settings.organization_id);
      await roost.adminKeys.revoke(created.id);
      await assert.rejects(ci.settings.get(), (e) => e instanceof AuthenticationError && e.code === "api_key_revoked");
    });

    test("webhook endpoints, events, and verifyWebhook on the server's real deliveries", async () => {
      const receiver = await startRecorder();
      receiver.defaultReply = { status: 204 };
      try {
        const endpoint = await roost.webhookEndpoints.create({ url: `${receiver.baseUrl}/hooks`,
          events: ["embedded_signup.session.completed"], description: "ci" });
        assert.match(endpoint.secret, /^whsec_/);
        assert.ok(ids(await roost.webhookEndpoints.list().toArray()).includes(endpoint.id));
        assert.equal((await roost.webhookEndpoints.update(endpoint.id, { description: null })).description, null);

        const session = await roost.sessions.create();
        await roost.sessions.simulate(session.id, { outcome: "completed" });
        const delivery = await waitFor(() => receiver.requests[0]);
        const event = verifyWebhook(delivery.raw, delivery.headers, endpoint.secret);
        assert.deepEqual([event.type, event.data.id, event.id], ["embedded_signup.session.completed", session.id,
          delivery.headers["webhook-id"]]);
        assert.throws(() => verifyWebhook(Buffer.concat([delivery.raw, Buffer.from(" ")]), delivery.headers,
          endpoint.secret), /signature/);

        const listed = await roost.events.list({ type: "embedded_signup.session.completed" }).toArray();
        const mine = listed.find((item) => item.data.id === session.id);
        assert.equal((await roost.events.get(mine.id)).id, event.id);
        const resent = await roost.events.resend(mine.id, { endpoint_id: endpoint.id });
        assert.equal(resent.deliveries.length, 1);
        // Both the first delivery and the resend land before the rotation (the resend is signed
        // with the old secret alone).
        const attempts = await waitFor(async () => {
          const done = (await roost.webhookEndpoints.deliveries(endpoint.id, { event_id: mine.id }).toArray())
            .filter((attempt) => attempt.succeeded);
          return done.length >= 2 && done;
        });
        assert.equal(attempts[0].object, "webhook_delivery_attempt");

        const rotated = await roost.webhookEndpoints.rotateSecret(endpoint.id);
        assert.notEqual(rotated.secret, endpoint.secret);
        receiver.requests.length = 0;
        await roost.events.resend(mine.id);
        const again = await waitFor(() => receiver.requests[0]);
        for (const secret of [endpoint.secret, rotated.secret]) { // both sign for 24 hours
          assert.equal(verifyWebhook(again.raw, again.headers, secret).id, event.id);
        }
        const deleted = await roost.webhookEndpoints.delete(endpoint.id);
        assert.deepEqual([deleted.id, deleted.deleted], [endpoint.id, true]);
        await assert.rejects(roost.webhookEndpoints.get(endpoint.id), NotFoundError);
      } finally {
        await receiver.close();
      }
    });

    test("the platform-run flow and recovery, recovered attempts across pages", async () => {
      const user = marker();
      const attempt = await roost.recovery.startAttempt({ metadata: { externalUserId: user } });
      assert.deepEqual([attempt.attempt_id, attempt.source], [attempt.id, "platform"]);
      assert.ok(attempt.launch.app_id);
      const e = await roost.recovery.callback({ attempt_id: attempt.attempt_id, code: "not-a-code" }).catch((c) => c);
      assert.ok(e instanceof ProviderError);
      assert.deepEqual([e.httpStatus, e.error.attempt_id], [424, attempt.attempt_id]);

      const recovered = [];
      for (let n = 0; n < 2; n += 1) {
        const other = await roost.recovery.startAttempt({ metadata: { externalUserId: user } });
        const interrupted = await roost.recovery.markInterrupted({ attempt_id: other.attempt_id, waba_id: "524126980791429" });
        assert.equal(interrupted.status, "recovered");
        recovered.unshift(other.attempt_id);
      }
      const listed = await roost.recovery.recoveredAttempts({ metadata: { externalUserId: user }, limit: 1 }).toArray();
      assert.deepEqual(listed.map((item) => [item.object, item.attempt_id]),
        recovered.map((id) => ["recovered_attempt", id]));
      // no account_update from Meta proves the WABA yet
      await assert.rejects(roost.recovery.claim({ attempt_id: recovered[0] }), ConflictError);
    });

    if (backend !== "sqlite") return;
    test("a 429 is retried after Retry-After, then thrown with it", async () => {
      let tries = 0;
      const counting = (...args) => {
        tries += 1;
        return fetch(...args);
      };
      const client = new Roost({ apiKey: limited.apiKey, baseUrl: limited.baseUrl, maxRetries: 2, maxRetryAfter: 20,
        fetch: counting });
      // A call that meets the limit is tried three times; a minute's window that ends meanwhile
      // lets a retry through instead, so go on until one call is refused.
      let refused;
      for (let call = 0; call < 12 && !refused; call += 1) {
        const before = tries;
        refused = await client.settings.get().then(() => undefined, (error) => ({ error, tries: tries - before }));
      }
      assert.ok(refused, "no call was refused");
      assert.ok(refused.error instanceof RateLimitError, String(refused.error));
      assert.equal(refused.error.code, "rate_limited");
      assert.ok(refused.error.retryAfter > 0 && refused.error.retryAfter <= 60, String(refused.error.retryAfter));
      assert.equal(refused.tries, 3);
    });
  });
}
