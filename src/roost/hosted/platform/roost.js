/**
 * roost.js: open Roost's hosted connect page in a popup from your own page and get the signed
 * result back by message. Served by Roost at /static/roost.js; plain ES2017, no build step.
 *
 *   <script src="https://roost.example.com/static/roost.js"></script>
 *   button.addEventListener('click', () => {
 *     Roost.connect(sessionUrl, {onResult: (result) => sendToYourBackend(result)});
 *   });
 *
 * Call it from the click handler itself (before any `await`): browsers only allow a popup opened
 * synchronously within a user gesture. Your page's origin must be one of the organization's
 * allowed origins (or the session's redirect_uri origin), otherwise Roost does not post to it.
 * The result is a claim until your backend checks its signature (or GETs the session).
 */
(function (global) {
  'use strict';

  var MESSAGE_TYPE = 'roost:embedded_signup';
  var WINDOW_NAME = 'roost_connect';
  var WIDTH = 520;
  var HEIGHT = 760;
  var CLOSED_POLL_MS = 400;
  // A result posted just before the window closed may still be on its way when `closed` flips.
  var CLOSED_GRACE_MS = 600;
  var current = null;

  /**
   * @typedef {Object} RoostResult
   * @property {string} status `completed` | `recovered` | `failed` | `cancelled` | `expired` |
   *   `pending` (the link is in use in another browser) as signed by Roost, or `closed`: the
   *   window was closed without a result (set by roost.js, not signed, no other property).
   * @property {string} [session_id]
   * @property {string} [state]
   * @property {string} [business_profile_id] on success
   * @property {string} [waba_id] on success
   * @property {string} [phone_number_id] on success
   * @property {string} [error] otherwise, e.g. `user_cancelled`
   * @property {string} [error_description]
   * @property {string} [timestamp] Unix seconds
   * @property {string} [signature] `v1=<hex HMAC-SHA256>` over the other parameters
   */

  /**
   * @typedef {Object} ConnectOptions
   * @property {function(RoostResult): void} [onResult] called once, with what the promise resolves to
   * @property {function(Error): void} [onError] called once, with what the promise rejects with
   * @property {string} [mode] `auto` (default): a popup, or a full-page redirect to the session
   *   URL when the popup is blocked; `popup`: a popup or an error `popup_blocked`; `redirect`: a
   *   full-page redirect at once. After a redirect the result comes back by `redirect_uri`, and
   *   the promise never settles (the page is gone).
   */

  function originOf(url) {
    var parsed = new URL(url, global.location.href);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') { throw new Error('not a web URL'); }
    return parsed.origin;
  }

  function isResult(data) {
    return !!data && typeof data === 'object' && data.type === MESSAGE_TYPE &&
      typeof data.session_id === 'string' && typeof data.status === 'string' &&
      typeof data.signature === 'string' && typeof data.timestamp === 'string';
  }

  function resultOf(data) {
    var result = {};
    Object.keys(data).forEach(function (name) {
      if (name !== 'type' && typeof data[name] === 'string') { result[name] = data[name]; }
    });
    return result;
  }

  function features() {
    var screenX = global.screenX !== undefined ? global.screenX : global.screenLeft;
    var screenY = global.screenY !== undefined ? global.screenY : global.screenTop;
    var outerWidth = global.outerWidth || global.innerWidth || WIDTH;
    var outerHeight = global.outerHeight || global.innerHeight || HEIGHT;
    var left = Math.max(0, Math.round(screenX + (outerWidth - WIDTH) / 2));
    var top = Math.max(0, Math.round(screenY + (outerHeight - HEIGHT) / 2));
    return 'popup=yes,width=' + WIDTH + ',height=' + HEIGHT + ',left=' + left + ',top=' + top;
  }

  function withOpenerHint(sessionUrl) {
    // A fragment never reaches a server; the page reads it and drops it from the address bar.
    var base = sessionUrl.split('#')[0];
    return base + '#roost_opener=' + encodeURIComponent(global.location.origin);
  }

  /**
   * Opens the hosted connect page for `sessionUrl` (the session's `url`) and waits for its result.
   *
   * @param {string} sessionUrl
   * @param {ConnectOptions} [options]
   * @returns {Promise<RoostResult>} the result posted by Roost, or `{status: "closed"}`.
   *   Rejects with an Error whose `code` is `invalid_session_url` or `popup_blocked`.
   */
  function connect(sessionUrl, options) {
    options = options || {};
    var mode = options.mode || 'auto';
    var settled = false;
    var resolveWith, rejectWith;
    var promise = new Promise(function (resolve, reject) { resolveWith = resolve; rejectWith = reject; });

    function fail(code, message) {
      if (settled) { return; }
      settled = true;
      var error = new Error(message);
      error.code = code;
      rejectWith(error);
      if (options.onError) { options.onError(error); }
    }

    var roostOrigin;
    try { roostOrigin = originOf(sessionUrl); } catch (e) {
      fail('invalid_session_url', 'sessionUrl must be the session\'s url (an http(s) URL)');
      return promise;
    }
    if (['auto', 'popup', 'redirect'].indexOf(mode) === -1) {
      fail('invalid_mode', 'mode must be auto, popup or redirect');
      return promise;
    }
    if (mode === 'redirect') {
      global.location.assign(sessionUrl);
      return promise;
    }

    var popup = global.open(withOpenerHint(sessionUrl), WINDOW_NAME, features());
    if (!popup) {
      if (mode === 'popup') {
        fail('popup_blocked', 'The browser blocked the popup: call Roost.connect from a click handler');
      } else {
        global.location.assign(sessionUrl);  // the page then hands back by redirect_uri
      }
      return promise;
    }
    try { popup.focus(); } catch (e) { /* not allowed: it still opened */ }

    if (current) { current.finish({ status: 'closed' }); }  // one connection at a time
    var timer = null;
    var closedSeen = false;

    function finish(result) {
      if (settled) { return; }
      settled = true;
      global.removeEventListener('message', onMessage);
      global.clearInterval(timer);
      if (current === connection) { current = null; }
      resolveWith(result);
      if (options.onResult) { options.onResult(result); }
    }

    function onMessage(event) {
      if (event.origin !== roostOrigin || event.source !== popup || !isResult(event.data)) { return; }
      finish(resultOf(event.data));
    }

    var connection = { finish: finish };
    current = connection;
    global.addEventListener('message', onMessage);
    timer = global.setInterval(function () {
      if (closedSeen || !popup.closed) { return; }
      closedSeen = true;
      global.setTimeout(function () { finish({ status: 'closed' }); }, CLOSED_GRACE_MS);
    }, CLOSED_POLL_MS);
    return promise;
  }

  global.Roost = { connect: connect, MESSAGE_TYPE: MESSAGE_TYPE };
})(window);
