// verifyRedirect (SPEC 4.4: its test vector, and results signed by the server's own signer) and
// verifyWebhook (signatures of the standardwebhooks reference implementation, which the server signs
// with; live.test.mjs verifies the server's real deliveries).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { promisify } from "node:util";

import {
  MESSAGE_TYPE,
  RedirectVerificationError,
  RoostError,
  WebhookVerificationError,
  signRedirect,
  signWebhook,
  verifyRedirect,
  verifyWebhook,
} from "../dist/esm/index.js";
import { REPO } from "./helpers/roost.mjs";

const SECRET = "rsec_test_4eC39HqLyjWDarjtT1zdp7dc";
const VECTOR = {
  session_id: "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
  state: "abc123-csrf-token",
  status: "completed",
  business_profile_id: "wabp_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
  waba_id: "524126980791429",
  phone_number_id: "106540352242922",
  timestamp: "1705321800",
};
const VECTOR_SIGNATURE = "v1=f864446cd6ad6d448de36e4f29c33c9f3682d68113b8a8087b66bc4e92ff0389";
const AT = 1705321800;
const SIGNED = { ...VECTOR, signature: VECTOR_SIGNATURE };
const query = (values) => new URLSearchParams(values).toString();

const WEBHOOK_SECRET = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;
const OTHER_SECRET = `whsec_${Buffer.from("fedcba9876543210fedcba9876543210").toString("base64")}`;
const BODY = JSON.stringify({ id: "evt_2DbBs7GWhGvVNJGrDXr5RG0mBWI", type: "embedded_signup.session.completed",
  timestamp: "2026-01-01T00:00:00.000Z", data: { id: "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", name: "Café ☕" } });
const NOW = Math.floor(Date.now() / 1000);

// Signed once for the file in the repository's .venv: results by the server's own signer, a
// webhook signature header (two secrets, as during a rotation) by the reference implementation.
let server;
before(async () => {
  const script = `
import json, sys
from datetime import datetime, timezone
from roost.hosted import signing
from standardwebhooks.webhooks import Webhook
given = json.loads(sys.argv[1])
parameters = signing.result_parameters(session_id="wss_x", state=given["state"], status="failed", timestamp=given["at"],
                                       error="signup_error", error_description=given["description"])
signed = signing.signed(given["secret"], parameters)
print(json.dumps({
    "parameters": parameters, "signed": signed,
    "url": signing.redirect_url("https://example.com/cb?tenant=42", signed),
    "webhook": " ".join(Webhook(secret).sign("evt_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
                        datetime.fromtimestamp(given["now"], tz=timezone.utc), given["body"])
                        for secret in (given["old"], given["new"])),
}))`;
  const given = { state: "ñ &=+/?%~ !'()* 😀", description: "Meta said: «no» (100%)", at: AT, secret: SECRET,
    old: OTHER_SECRET, new: WEBHOOK_SECRET, now: NOW, body: BODY };
  const { stdout } = await promisify(execFile)(join(REPO, ".venv", "bin", "python"), ["-c", script,
    JSON.stringify(given)], { cwd: REPO });
  server = JSON.parse(stdout);
});

describe("verifyRedirect", () => {
  test("SPEC 4.4's test vector", () => {
    assert.equal(signRedirect(VECTOR, SECRET), VECTOR_SIGNATURE);
    assert.deepEqual(verifyRedirect(SIGNED, SECRET, { now: AT }), VECTOR);
  });

  test("the callback URL (its own parameters ignored), a query string, URL, URLSearchParams, an app scheme", () => {
    const url = `https://example.com/whatsapp/callback?tenant=42&${query(SIGNED)}`;
    assert.deepEqual(verifyRedirect(url, SECRET, { now: AT + 599 }), VECTOR);
    assert.deepEqual(verifyRedirect(`?${query(SIGNED)}`, SECRET, { now: AT }), VECTOR);
    assert.deepEqual(verifyRedirect(query(SIGNED), SECRET, { now: AT }), VECTOR);
    assert.deepEqual(verifyRedirect(new URL(url), SECRET, { now: AT }), VECTOR);
    assert.deepEqual(verifyRedirect(new URLSearchParams(SIGNED), SECRET, { now: AT }), VECTOR);
    assert.deepEqual(verifyRedirect(`myapp://callback?${query(SIGNED)}#frag`, SECRET, { now: AT }), VECTOR);
  });

  test("the popup message (event.data) verifies", () => {
    assert.equal(MESSAGE_TYPE, "roost:embedded_signup");
    assert.equal(verifyRedirect({ type: MESSAGE_TYPE, ...SIGNED }, SECRET, { now: AT }).status, "completed");
  });

  test("agrees with the server's signer on Unicode and reserved characters", () => {
    assert.deepEqual(verifyRedirect(server.signed, SECRET, { now: AT }), server.parameters);
    assert.deepEqual(verifyRedirect(server.url, SECRET, { now: AT }), server.parameters);
    assert.equal(signRedirect(server.parameters, SECRET), server.signed.signature);
  });

  for (const name of Object.keys(VECTOR)) {
    test(`a changed ${name} breaks the signature`, () => {
      assert.throws(() => verifyRedirect({ ...SIGNED, [name]: `${VECTOR[name]}0` }, SECRET, { now: AT }),
        (e) => e instanceof RedirectVerificationError && /signature/.test(e.message));
    });
  }

  test("a wrong secret, no signature, a stale timestamp or a slipped-in parameter are refused", () => {
    const refused = (input, secret, now, pattern) => assert.throws(() => verifyRedirect(input, secret, { now }),
      (e) => e instanceof RedirectVerificationError && e instanceof RoostError && pattern.test(e.message));
    refused(SIGNED, "rsec_test_other", AT, /signature does not match/);
    refused(VECTOR, SECRET, AT, /no signature/);
    refused(SIGNED, SECRET, AT + 601, /timestamp/);
    refused(SIGNED, SECRET, AT - 601, /timestamp/);
    refused({ ...SIGNED, error: "x" }, SECRET, AT, /signature/);
    refused(SIGNED, "", AT, /No redirect secret/);
    refused(`?${query(SIGNED)}&status=failed`, SECRET, AT, /appears twice/);
    refused(`https://example.com/cb?tenant=1`, SECRET, AT, /no signature/);
    // with the default tolerance against the real clock, the 2024 vector is stale
    assert.throws(() => verifyRedirect(SIGNED, SECRET), /timestamp/);
  });
});

describe("verifyWebhook", () => {
  const headers = (signature, at = NOW) => ({
    "webhook-id": "evt_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "webhook-timestamp": String(at), "webhook-signature": signature,
  });

  test("a delivery signed with two secrets (as during a rotation) verifies with either", () => {
    const signed = headers(server.webhook);
    assert.deepEqual(verifyWebhook(BODY, signed, WEBHOOK_SECRET), JSON.parse(BODY));
    assert.equal(verifyWebhook(Buffer.from(BODY), signed, OTHER_SECRET).data.name, "Café ☕");
    assert.ok(verifyWebhook(new TextEncoder().encode(BODY), signed, ["whsec_b3RoZXI=", WEBHOOK_SECRET]));
    // and our signature is the reference's
    assert.ok(server.webhook.split(" ").includes(signWebhook(BODY, WEBHOOK_SECRET, signed["webhook-id"], NOW)));
  });

  test("headers as Node's, as fetch's Headers, as pairs, in any case; secrets without prefix or as bytes", () => {
    const signed = headers(signWebhook(BODY, WEBHOOK_SECRET, "evt_2DbBs7GWhGvVNJGrDXr5RG0mBWI", NOW));
    const titled = Object.fromEntries(Object.entries(signed).map(([n, v]) => [n.toUpperCase(), v]));
    assert.ok(verifyWebhook(BODY, titled, WEBHOOK_SECRET));
    assert.ok(verifyWebhook(BODY, new Headers(signed), WEBHOOK_SECRET));
    assert.ok(verifyWebhook(BODY, Object.entries(signed), WEBHOOK_SECRET));
    assert.ok(verifyWebhook(BODY, signed, WEBHOOK_SECRET.slice("whsec_".length)));
    assert.ok(verifyWebhook(BODY, signed, new TextEncoder().encode("0123456789abcdef0123456789abcdef")));
  });

  const good = () => headers(signWebhook(BODY, WEBHOOK_SECRET, "evt_2DbBs7GWhGvVNJGrDXr5RG0mBWI", NOW));
  const tampered = {
    "a changed body": [good(), `${BODY} `],
    "a changed id": [{ ...good(), "webhook-id": "evt_other" }, BODY],
    "a changed timestamp": [{ ...good(), "webhook-timestamp": String(NOW - 1) }, BODY],
    "an unknown version only": [{ ...good(), "webhook-signature": `v2,${good()["webhook-signature"].slice(3)}` }, BODY],
    "a signature that is not base64": [{ ...good(), "webhook-signature": "v1,not base64!" }, BODY],
    "another key's signature": [{ ...good(), "webhook-signature": `v1,${Buffer.alloc(32, 1).toString("base64")}` }, BODY],
  };
  for (const [name, [given, body]] of Object.entries(tampered)) {
    test(`${name} is refused`, () => {
      assert.throws(() => verifyWebhook(body, given, WEBHOOK_SECRET),
        (e) => e instanceof WebhookVerificationError && /signature/.test(e.message));
    });
  }

  test("a wrong secret, a missing header, a bad secret are refused", () => {
    assert.throws(() => verifyWebhook(BODY, good(), OTHER_SECRET), WebhookVerificationError);
    for (const missing of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const { [missing]: _, ...rest } = good();
      assert.throws(() => verifyWebhook(BODY, rest, WEBHOOK_SECRET), /Missing/);
    }
    assert.throws(() => verifyWebhook(BODY, good(), "whsec_***"), /not valid base64/);
    assert.throws(() => verifyWebhook(BODY, good(), "whsec_"), /empty/);
    assert.throws(() => verifyWebhook(BODY, good(), []), /No webhook secret/);
  });

  test("timestamps more than five minutes away are refused, either way", () => {
    const at = (offset) => headers(signWebhook(BODY, WEBHOOK_SECRET, "evt_1", NOW + offset), NOW + offset);
    const withId = (h) => ({ ...h, "webhook-id": "evt_1" });
    assert.ok(verifyWebhook(BODY, withId(at(-300)), WEBHOOK_SECRET, { now: NOW }));
    assert.ok(verifyWebhook(BODY, withId(at(300)), WEBHOOK_SECRET, { now: NOW }));
    assert.throws(() => verifyWebhook(BODY, withId(at(-301)), WEBHOOK_SECRET, { now: NOW }), /too old/);
    assert.throws(() => verifyWebhook(BODY, withId(at(301)), WEBHOOK_SECRET, { now: NOW }), /future/);
    assert.throws(() => verifyWebhook(BODY, { ...good(), "webhook-timestamp": "soon" }, WEBHOOK_SECRET), /integer/);
  });
});
