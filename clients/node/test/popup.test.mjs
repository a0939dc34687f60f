// roost-client/popup describes roost.js as the server serves it: the same global, the same
// options, modes and error codes (a drift guard; test/types/popup.mts checks the types compile).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { REPO } from "./helpers/roost.mjs";

const script = readFileSync(join(REPO, "src", "roost", "hosted", "platform", "roost.js"), "utf8");
const declarations = readFileSync(new URL("../dist/esm/popup.d.ts", import.meta.url), "utf8");
const found = (pattern) => [...script.matchAll(pattern)].map((match) => match[1]);

test("the global, its members and the message type", () => {
  assert.match(script, /global\.Roost = \{ connect: connect, MESSAGE_TYPE: MESSAGE_TYPE \}/);
  assert.match(script, /var MESSAGE_TYPE = 'roost:embedded_signup'/);
  assert.match(declarations, /var Roost: RoostPopup/);
  assert.match(declarations, /connect\(sessionUrl: string, options\?: ConnectOptions\): Promise<PopupResult>/);
  assert.match(declarations, /readonly MESSAGE_TYPE: "roost:embedded_signup"/);
});

test("every option roost.js reads is declared", () => {
  const options = new Set(found(/options\.(\w+)/g));
  assert.deepEqual([...options].sort(), ["mode", "onError", "onResult"]);
  for (const name of options) assert.match(declarations, new RegExp(`\\b${name}\\?:`));
});

test("the modes and error codes are those roost.js has", () => {
  const modes = script.match(/\[('auto', 'popup', 'redirect')\]\.indexOf\(mode\)/);
  assert.ok(modes, "roost.js no longer lists its modes as expected");
  assert.match(declarations, /ConnectMode = "auto" \| "popup" \| "redirect"/);
  const codes = found(/fail\('(\w+)'/g).sort();
  assert.deepEqual(codes, ["invalid_mode", "invalid_session_url", "popup_blocked"]);
  assert.match(declarations, /code: "invalid_session_url" \| "invalid_mode" \| "popup_blocked"/);
  assert.match(script, /finish\(\{ status: 'closed' \}\)/);
  assert.match(declarations, /\{\s*status: "closed";\s*\}/);
});
