/* Roost's simulation of Meta's JavaScript SDK (connect.facebook.net/<locale>/sdk.js) for
   Embedded Signup: FB.init and FB.login(callback, {config_id, response_type, extras, ...}). */
(function () {
  'use strict';
  if (window.FB && window.FB.__roostSimulator) { return; }

  var CONFIG = "__ROOST_SIM_CONFIG__";
  var state = { appId: null, version: null, initialized: false };
  var pending = {};
  var CLOSE_GRACE_MS = 500;

  function typeOf(value) {
    if (value === null) { return 'null'; }
    var tag = Object.prototype.toString.call(value).slice(8, -1).toLowerCase();
    return tag === 'object' ? typeof value : tag;
  }

  function randomNonce() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function deliver(entry, response) {
    if (entry.done) { return; }
    entry.done = true;
    window.clearInterval(entry.watch);
    window.setTimeout(function () { entry.callback(response); }, 0);
  }

  // The dialog answers with a JSON string; only its own origin and this login's nonce count.
  window.addEventListener('message', function (event) {
    if (event.origin !== CONFIG.origin) { return; }
    var data = event.data;
    if (typeof data === 'string') {
      try { data = JSON.parse(data); } catch (e) { return; }
    }
    if (!data || data.type !== 'SIM_LOGIN_RESPONSE' || typeof data.nonce !== 'string') { return; }
    var entry = pending[data.nonce];
    if (!entry) { return; }
    deliver(entry, { authResponse: data.authResponse || null, status: data.status || 'unknown' });
  });

  var FB = {
    __roostSimulator: true,

    init: function (options) {
      options = options || {};
      if (!options.appId) { throw new Error('FB.init: appId is required'); }
      state.appId = String(options.appId);
      state.version = options.version || null;
      state.initialized = true;
    },

    login: function (callback, options) {
      if (typeof callback !== 'function') {
        throw new Error('Expression is of type ' + typeOf(callback) + ', not function');
      }
      if (Object.prototype.toString.call(callback) === '[object AsyncFunction]') {
        throw new Error('Expression is of type asyncfunction, not function');
      }
      if (!state.initialized) {
        if (window.console) { window.console.error('FB.login() called before FB.init().'); }
        return;
      }
      options = options || {};
      var nonce = randomNonce();
      var params = new URLSearchParams({
        app_id: state.appId,
        config_id: options.config_id ? String(options.config_id) : '',
        extras: JSON.stringify(options.extras || {}),
        origin: window.location.origin,
        nonce: nonce,
        locale: CONFIG.locale,
        response_type: options.response_type || 'token',
        override_default_response_type: options.override_default_response_type ? 'true' : 'false',
        version: state.version || '',
        display: 'popup'
      });
      var width = 600, height = 720;
      var left = Math.max(0, (window.screenX || 0) + ((window.outerWidth || width) - width) / 2);
      var top = Math.max(0, (window.screenY || 0) + ((window.outerHeight || height) - height) / 2);
      // Opened in the same call as the click handler: a popup opened later would be blocked.
      var popup = window.open(CONFIG.dialogUrl + '?' + params.toString(), 'roost_sim_' + nonce,
        'width=' + width + ',height=' + height + ',left=' + left + ',top=' + top + ',scrollbars=yes');
      var entry = { callback: callback, done: false, watch: null };
      if (!popup) {
        deliver(entry, { authResponse: null, status: 'unknown' });
        return;
      }
      pending[nonce] = entry;
      entry.watch = window.setInterval(function () {
        if (!popup.closed || entry.done) { return; }
        window.clearInterval(entry.watch);
        // A result posted just before the window closed may still be on its way.
        window.setTimeout(function () {
          deliver(entry, { authResponse: null, status: 'unknown' });
        }, CLOSE_GRACE_MS);
      }, 200);
    },

    getLoginStatus: function (callback) {
      if (typeof callback === 'function') {
        window.setTimeout(function () { callback({ authResponse: null, status: 'unknown' }); }, 0);
      }
    },

    logout: function (callback) {
      if (typeof callback === 'function') {
        window.setTimeout(function () { callback({ authResponse: null, status: 'unknown' }); }, 0);
      }
    },

    getAuthResponse: function () { return null; },
    AppEvents: { logEvent: function () {}, logPageView: function () {} },
    XFBML: { parse: function () {} },
    Event: { subscribe: function () {}, unsubscribe: function () {} }
  };

  window.FB = FB;

  if (typeof window.fbAsyncInit === 'function' && !window.fbAsyncInit.hasRun) {
    window.fbAsyncInit.hasRun = true;
    window.fbAsyncInit();
  }
})();
