/**
 * Types for roost.js, the popup helper your Roost serves at /static/roost.js for your pages
 * (docs/popup.md). It is a plain script that sets the global `Roost`; these declarations describe
 * it for TypeScript in the browser:
 *
 *     import type { PopupResult } from "roost-client/popup";   // also declares the global Roost
 *     Roost.connect(session.url, { onResult: (result: PopupResult) => … });
 *
 * or `/// <reference types="roost-client/popup" />` in a script without imports.
 */

import type { RedirectResult } from "./redirects.js";

/** The hosted page's signed result (verify it on your backend with verifyRedirect), or
 * `{status: "closed"}`: the window was closed without one (set by roost.js, not signed). */
export type PopupResult = (RedirectResult & { signature: string }) | { status: "closed" };

export type ConnectMode = "auto" | "popup" | "redirect";

export interface ConnectOptions {
  /** Called once, with what the promise resolves to. */
  onResult?: (result: PopupResult) => void;
  /** Called once, with what the promise rejects with. */
  onError?: (error: ConnectError) => void;
  /** `auto` (default): a popup, or a full-page redirect to the session URL when the popup is
   * blocked; `popup`: a popup or the error `popup_blocked`; `redirect`: a full-page redirect at
   * once. After a redirect the promise never settles (the page is gone). */
  mode?: ConnectMode;
}

/** Why `connect` rejected. */
export interface ConnectError extends Error {
  code: "invalid_session_url" | "invalid_mode" | "popup_blocked";
}

/** The global `Roost` that /static/roost.js sets. */
export interface RoostPopup {
  /** Opens the hosted connect page for `sessionUrl` (the session's `url`) in a popup and waits
   * for its result. Call it from the click handler itself, before any `await`. */
  connect(sessionUrl: string, options?: ConnectOptions): Promise<PopupResult>;
  /** The `type` of the hosted page's message. */
  readonly MESSAGE_TYPE: "roost:embedded_signup";
}

declare global {
  // Set by <script src="https://roost.example.com/static/roost.js">.
  var Roost: RoostPopup;
}
