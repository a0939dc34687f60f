// The same package from CommonJS (the "require" condition and dist/cjs's declarations).
import client = require("roost-client");

export async function usage(): Promise<string> {
  const roost = new client.Roost({ apiKey: "sk_admin_test_x", baseUrl: "http://127.0.0.1:8000", maxRetries: 5 });
  const settings = await roost.settings.get({ mode: "test" });
  // @ts-expect-error a mode is test or live
  await roost.settings.get({ mode: "staging" });
  return settings.redirect_secret;
}
