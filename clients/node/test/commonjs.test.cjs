// The CommonJS build: require() gives the same client, errors and verification functions.
const assert = require("node:assert/strict");
const { createServer } = require("node:http");
const { test } = require("node:test");

const client = require("roost-client"); // this package, through its "exports" (dist/cjs)

test("require() loads the client, and its answers and errors work", async () => {
  const server = createServer((request, response) => {
    const missing = request.url.endsWith("/wss_missing");
    response.writeHead(missing ? 404 : 200, { "Content-Type": "application/json", "Request-Id": "req_cjs" });
    response.end(JSON.stringify(missing
      ? { error: { type: "invalid_request_error", code: "resource_missing", message: "No such session" } }
      : { id: "wss_1", object: "embedded_signup_session" }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const roost = new client.Roost({ apiKey: "sk_admin_test_cjs", baseUrl: `http://127.0.0.1:${server.address().port}` });
    const session = await roost.sessions.get("wss_1");
    assert.equal(session.id, "wss_1");
    assert.equal(session.lastResponse.requestId, "req_cjs");
    await assert.rejects(roost.sessions.get("wss_missing"), (e) =>
      e instanceof client.NotFoundError && e instanceof client.RoostError && e.code === "resource_missing");
  } finally {
    server.close();
  }
});

test("verifyRedirect from CommonJS: SPEC 4.4's test vector", () => {
  const vector = {
    session_id: "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", state: "abc123-csrf-token", status: "completed",
    business_profile_id: "wabp_2DbBs7GWhGvVNJGrDXr5RG0mBWI", waba_id: "524126980791429",
    phone_number_id: "106540352242922", timestamp: "1705321800",
  };
  const signature = "v1=f864446cd6ad6d448de36e4f29c33c9f3682d68113b8a8087b66bc4e92ff0389";
  assert.deepEqual(client.verifyRedirect({ ...vector, signature }, "rsec_test_4eC39HqLyjWDarjtT1zdp7dc",
    { now: 1705321800 }), vector);
  assert.throws(() => client.verifyRedirect(vector, "rsec_test_4eC39HqLyjWDarjtT1zdp7dc"),
    client.RedirectVerificationError);
});

test("the package's version is the client's", () => {
  assert.equal(client.VERSION, require("../package.json").version);
});
