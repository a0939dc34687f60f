/* Roost's hosted connect page (SPEC 4). No inline script: the server renders the page's
   configuration as JSON. Text from Meta or the platform is only ever set with textContent. */
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('roost-config').textContent);
  var T = cfg.timing;
  var STORE = 'roost.connect.token';
  var OPENER_STORE = 'roost.connect.opener_origin';
  var root = document.documentElement;
  var token = null;

  // roost.js (the platform's popup helper) names its page's origin in the fragment: a result
  // is then posted only when it can reach that origin, and goes by redirect otherwise.
  var openerOrigin = new URLSearchParams(window.location.hash.slice(1)).get('roost_opener');
  try {
    if (openerOrigin) { window.sessionStorage.setItem(OPENER_STORE, openerOrigin); }
    else { openerOrigin = window.sessionStorage.getItem(OPENER_STORE); }
  } catch (e) { /* storage off: the hint only lasts this load */ }

  // The link's token leaves the address bar and the history at once; sessionStorage keeps it
  // for a reload in this tab (a reload asks the server again with it, then removes it again).
  var query = new URLSearchParams(window.location.search);
  if (query.has('token')) {
    token = query.get('token');
    try { window.sessionStorage.setItem(STORE, token); } catch (e) { /* storage off: no reload */ }
    window.history.replaceState(null, '', window.location.pathname);
  } else {
    try { token = window.sessionStorage.getItem(STORE); } catch (e) { token = null; }
    if (cfg.screen === 'loading') {
      if (token) {
        window.location.replace(window.location.pathname + '?token=' + encodeURIComponent(token));
        return;
      }
      cfg.screen = 'result-unknown';
    }
  }

  if (cfg.accent) {  // CSSOM, not a style attribute: allowed by the page's CSP
    root.style.setProperty('--accent', cfg.accent);
    root.style.setProperty('--accent-text', cfg.accent_text);
  }

  function all(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }
  function one(selector) { return document.querySelector(selector); }

  var sections = all('[data-screen]');
  var ended = false;       // a result is on screen: nothing else happens on this page
  var launched = null;     // the launch request of the current attempt
  var flow = {};           // what Meta told us during the current attempt
  var relayed = Promise.resolve();  // Meta's messages sent on to Roost, settled or not
  var stopReason = 'user_cancelled';
  var pollTimer = null;
  var pollEvery = T.idle_poll_ms;
  var completedSeenAt = 0;
  var progressSince = 0;  // when "Connecting your account…" first showed
  var acted = false;       // the user started Meta's flow on this page load

  function show(name, focus) {
    sections.forEach(function (section) { section.hidden = section.getAttribute('data-screen') !== name; });
    if (focus === false) { return; }
    var heading = all('[data-screen="' + name + '"] h1').filter(function (h) { return !h.closest('[hidden]'); })[0];
    if (heading) { heading.focus(); }
  }

  function hasOpener() {
    try { return !!window.opener && !window.opener.closed; } catch (e) { return false; }
  }

  // What the result calls send about the opener (the server decides between post and redirect).
  function openerInfo(body) {
    body.opener = hasOpener();
    if (openerOrigin) { body.opener_origin = openerOrigin; }
    return body;
  }

  function api(path, body) {
    body = body || {};
    body.token = token;
    return window.fetch('api/' + path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(
        function (data) { return { ok: response.ok, status: response.status, data: data }; },
        function () { return { ok: response.ok, status: response.status, data: {} }; });
    });
  }

  // Meta's code and messages exist only in this page: one that did not reach Roost (a network
  // failure, Roost restarting) is sent again, for as long as Meta's code may still be good.
  // Roost takes each once: a repeat of one that did arrive is refused, and the status says
  // what happened.
  function deliver(path, body) {
    var deadline = Date.now() + T.deliver_for_ms;
    function again(wait) {
      if (Date.now() + wait > deadline) { return null; }
      return new Promise(function (resolve) { window.setTimeout(resolve, wait); }).then(function () {
        return attempt(Math.min(wait * 2, 4000));
      });
    }
    function attempt(wait) {
      return api(path, body).then(function (result) {
        var passing = result.status >= 500 || result.status === 429;
        return (passing && again(wait)) || result;
      }, function (problem) {
        var retry = again(wait);
        if (!retry) { throw problem; }
        return retry;
      });
    }
    return attempt(500);
  }

  function errorCode(result) { return result.data && result.data.error && result.data.error.code; }

  // -- Meta's SDK ----------------------------------------------------------------------------

  function setConnectEnabled(enabled) {
    all('[data-action="connect"]').forEach(function (button) { button.disabled = !enabled; });
  }

  function loadSdk() {
    if (!cfg.meta || document.getElementById('facebook-jssdk')) { return; }
    window.fbAsyncInit = function () {
      window.FB.init({ appId: cfg.meta.app_id, autoLogAppEvents: true, xfbml: false, version: cfg.meta.version });
      setConnectEnabled(true);
    };
    var script = document.createElement('script');
    script.id = 'facebook-jssdk';
    script.src = cfg.meta.sdk_url;
    script.async = true;
    script.defer = true;
    script.crossOrigin = 'anonymous';
    script.onerror = sdkFailed;
    document.head.appendChild(script);
    window.setTimeout(function () { if (!window.FB) { sdkFailed(); } }, T.sdk_timeout_ms);
  }

  function sdkFailed() { one('[data-sdk-failed]').hidden = false; }

  // -- Meta's flow -----------------------------------------------------------------------------

  // Called synchronously from the click: a popup opened after any await would be blocked.
  function connect() {
    if (ended || !window.FB || !cfg.meta) { return; }
    var attempt = flow = { finish: false, code: false, stopped: false };
    window.FB.login(function (response) { onLogin(attempt, response); }, cfg.meta.login);
    acted = true;
    show('waiting');
    launched = deliver('launch').then(function (result) {
      if (!result.ok) { refused(result); throw new Error('launch refused'); }
    });
    launched.catch(function () {});
    poll(T.idle_poll_ms);
  }

  function afterLaunch(work) { return (launched || Promise.resolve()).then(work); }

  function onLogin(attempt, response) {
    var code = response && response.authResponse && response.authResponse.code;
    if (code && !ended) {
      // Meta's code lives about 30 seconds: it goes to Roost the moment it arrives. Also one from
      // an earlier Meta window (the user opened another, then finished in the first): Roost
      // takes a session's first code, whichever window it came from.
      attempt.code = true;
      progress();
      afterLaunch(function () { return deliver('code', { code: code }); }).then(function (result) {
        if (result.ok) { schedule(0); } else { refused(result); }  // provisioning is done: look now
      }, function () {});
      return;
    }
    if (attempt !== flow || ended) { return; }
    // No code. A message from the dialog may still be on its way: give it a moment.
    window.setTimeout(function () {
      if (attempt === flow && !ended && !attempt.finish && !attempt.stopped) { stopped('cancelled'); }
    }, T.no_event_grace_ms);
  }

  function fromDialog(origin) {
    var parsed;
    try { parsed = new URL(origin).origin; } catch (e) { return false; }
    return cfg.meta.dialog_origins.indexOf(parsed) !== -1;
  }

  window.addEventListener('message', function (event) {
    if (!cfg.meta || ended || !fromDialog(event.origin)) { return; }
    var data = event.data;
    if (typeof data === 'string') {
      try { data = JSON.parse(data); } catch (e) { return; }
    }
    if (!data || typeof data !== 'object' || data.type !== 'WA_EMBEDDED_SIGNUP') { return; }
    var name = String(data.event || '');
    var details = data.data && typeof data.data === 'object' ? data.data : {};
    var attempt = flow;
    var relay = afterLaunch(function () { return deliver('message', { message: event.data }); });
    relayed = Promise.all([relayed, relay.catch(function () {})]);
    if (name.indexOf('FINISH') === 0) {
      // FINISH is posted on its own; if the code never follows, Roost settles it after 15 s.
      attempt.finish = true;
      progress();
    } else if (name === 'ERROR' || (name.indexOf('CANCEL') === 0 && details.error_message)) {
      attempt.stopped = true;
      stopped('error', details.error_message);
    } else if (name.indexOf('CANCEL') === 0) {
      attempt.stopped = true;
      stopped('cancelled');
    }
  });

  function progress() {
    if (ended) { return; }
    progressSince = progressSince || Date.now();
    show('progress');
    poll(T.poll_ms);
  }

  function stopped(kind, message) {
    if (ended) { return; }
    stopReason = kind === 'error' ? 'signup_error' : 'user_cancelled';
    one('[data-stopped="cancelled"]').hidden = kind !== 'cancelled';
    one('[data-stopped="error"]').hidden = kind !== 'error';
    one('[data-meta-message]').textContent = message ? String(message) : '';
    // "Return to <platform>" only where there is something to return to (a redirect or the opener).
    one('[data-testid="flow-return"]').hidden = !canReturn();
    show('stopped');
    poll(T.idle_poll_ms);
  }

  function giveUp(reason) {
    if (ended) { return; }
    ended = true;
    // After Meta's messages reached Roost: the outcome names the error Meta reported.
    relayed.then(function () { return api('return', openerInfo({ reason: reason })); }).then(function (result) {
      if (result.ok) {
        showResult(result.data);
        handBack(result.data);
      } else {
        ended = false;
        refused(result);
      }
    }, function () { ended = false; });
  }

  // -- status and results ----------------------------------------------------------------------

  function poll(every) {
    if (every) { pollEvery = every; }
    schedule(pollEvery);
  }

  function schedule(delay) {
    window.clearTimeout(pollTimer);
    pollTimer = window.setTimeout(checkStatus, delay);
  }

  function checkStatus() {
    if (ended || !token) { return; }
    api('status').then(function (result) {
      if (!result.ok) { refused(result); return; }
      var status = result.data;
      if (status.status === 'pending') {
        if (status.in_use) { inUse(); return; }
        // Still working after a while (Meta is slow, or Roost restarted and takes the work
        // over): say so, so the user keeps the page open instead of giving up.
        if (progressSince && Date.now() - progressSince >= T.slow_progress_ms && one('[data-slow]').hidden) {
          one('[data-usual]').hidden = true;  // the one live region now says this instead
          one('[data-slow]').hidden = false;
        }
        poll();
        return;
      }
      if (status.status === 'completed' && status.registering) {
        // Phone registration follows the connection: wait a few seconds for its outcome.
        completedSeenAt = completedSeenAt || Date.now();
        if (Date.now() - completedSeenAt < T.registration_wait_ms) { poll(T.poll_ms); return; }
      }
      finish(status);
    }, function () { poll(); });
  }

  function showResult(status) {
    var numbers = status.numbers || [];
    var list = one('[data-testid="connected-numbers"]');
    list.textContent = '';
    numbers.forEach(function (number) {
      var item = document.createElement('li');
      item.textContent = [number.display_phone_number, number.verified_name].filter(Boolean).join(' · ');
      list.appendChild(item);
    });
    one('[data-numbers]').hidden = numbers.length === 0;
    one('[data-error-message]').textContent = (status.error && status.error.message) || '';
    show('result-' + status.status);
  }

  function finish(status) {
    ended = true;
    window.clearTimeout(pollTimer);
    showResult(status);
    if (acted) {
      api('result', openerInfo({})).then(function (result) {
        if (result.ok) { handBack(result.data); } else { offerReturn(); }
      }, offerReturn);
    } else {
      offerReturn();
    }
  }

  function inUse() {
    ended = true;
    window.clearTimeout(pollTimer);
    show('result-in-use');
    offerReturn();
  }

  function refused(result) {
    var code = errorCode(result);
    if (code === 'session_in_use') { inUse(); return; }
    // The link was replaced: this page can no longer ask for the result, so it offers no Return.
    if (code === 'link_invalid') { ended = true; show('result-unknown'); handbackNote('close'); return; }
    poll(T.poll_ms);  // not pending any more, or a passing problem: the status says what happened
  }

  // -- handing the result back (SPEC 4.4) ------------------------------------------------------

  function handbackNote(which) {
    all('[data-hb]').forEach(function (element) { element.hidden = element.getAttribute('data-hb') !== which; });
  }

  function canReturn() { return cfg.has_redirect || (cfg.has_targets && hasOpener()); }

  function offerReturn() {
    handbackNote(canReturn() && one('[data-hb="return"]') ? 'return' : 'close');
  }

  function returnNow() {
    api('result', openerInfo({})).then(function (result) {
      if (result.ok) { handBack(result.data); }
    }, function () {});
  }

  function handBack(result) {
    var targets = result.targets || [];
    // A Tech Provider's customer must read the payment-method step before the page goes (live only).
    var reading = result.params && result.params.status === 'completed' && one('[data-testid="payment-note"][data-hold]')
      ? T.payment_note_ms : 0;
    if (hasOpener() && targets.length) {
      var message = { type: 'roost:embedded_signup' };
      Object.keys(result.params).forEach(function (name) { message[name] = result.params[name]; });
      // One post per listed origin: the browser drops those that do not match the opener.
      targets.forEach(function (origin) {
        try { window.opener.postMessage(message, origin); } catch (e) { /* not a valid target */ }
      });
      handbackNote('posted');
      window.setTimeout(function () { window.close(); }, Math.max(T.close_delay_ms, reading));
    } else if (result.redirect_url) {
      one('[data-continue]').setAttribute('href', result.redirect_url);
      handbackNote('redirect');
      window.setTimeout(function () { window.location.assign(result.redirect_url); }, Math.max(T.redirect_delay_ms, reading));
    } else {
      handbackNote('close');
    }
  }

  // -- start -------------------------------------------------------------------------------------

  document.addEventListener('click', function (event) {
    var target = event.target.closest('[data-action]');
    if (!target || target.disabled) { return; }
    var action = target.getAttribute('data-action');
    if (action === 'connect') { connect(); }
    else if (action === 'return') { giveUp(target.getAttribute('data-reason') || stopReason); }
    else if (action === 'handback') { returnNow(); }
  });

  show(cfg.screen, false);
  if (!token) { return; }
  if (cfg.screen === 'connect' || cfg.screen === 'progress') {
    acted = cfg.screen === 'progress';  // reloaded while Roost works: hand back as if never left
    api('opened').catch(function () {});
    loadSdk();
    poll(cfg.screen === 'progress' ? T.poll_ms : T.idle_poll_ms);
  } else if (cfg.screen === 'result-in-use') {
    inUse();
  } else if (cfg.screen.indexOf('result-') === 0 && cfg.screen !== 'result-unknown') {
    ended = true;
    api('status').then(function (result) { if (result.ok) { showResult(result.data); } }, function () {});
    offerReturn();
  }
})();
