// The simulated Embedded Signup dialog. User data is only ever written with textContent/value.
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('sim-config').textContent);

  function closeWindow() { window.close(); }

  if (config.invalid) {
    document.addEventListener('click', function (event) {
      var target = event.target.closest('[data-action="close"]');
      if (target) { closeWindow(); }
    });
    return;
  }

  var sections = Array.prototype.slice.call(document.querySelectorAll('section[data-step-name]'));
  var cancelSelect = document.getElementById('es-sim-cancel-step');
  var errorSelect = document.getElementById('es-sim-error-code');
  var statusBox = document.getElementById('status');
  var index = 0;
  var cancelStepChosen = false;
  var busy = false;

  function show(i) {
    index = i;
    sections.forEach(function (section, j) { section.hidden = j !== i; });
    var step = sections[i].getAttribute('data-current-step');
    document.body.setAttribute('data-current-step', step);
    if (!cancelStepChosen) { cancelSelect.value = step; }
    var heading = sections[i].querySelector('h1');
    if (heading && i > 0) { heading.focus(); }
  }

  function move(delta) {
    var i = index + delta;
    while (i > 0 && i < sections.length - 1 && config.skip_verification &&
           sections[i].getAttribute('data-step-name') === 'verify') {
      i += delta;
    }
    show(Math.max(0, Math.min(sections.length - 1, i)));
  }

  function say(text, isError) {
    statusBox.textContent = text;
    statusBox.className = isError ? 'status error' : 'status';
  }

  function setBusy(value) {
    busy = value;
    Array.prototype.forEach.call(document.querySelectorAll('button[data-action]'), function (button) {
      if (button.getAttribute('data-action') !== 'close') { button.disabled = value; }
    });
  }

  // Meta posts JSON strings to the opener; so does the simulator, only to the opener's origin.
  function post(message) {
    if (!window.opener || window.opener.closed) {
      say(config.strings.no_opener, true);
      return;
    }
    window.opener.postMessage(JSON.stringify(message), config.origin);
  }

  function noLogin() {
    return { type: 'SIM_LOGIN_RESPONSE', nonce: config.nonce, authResponse: null, status: 'unknown' };
  }

  function randomHex(length) {
    var bytes = new Uint8Array(Math.ceil(length / 2));
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('').slice(0, length);
  }

  function finish(variant, verified) {
    if (busy) { return; }
    setBusy(true);
    say(config.strings.working, false);
    fetch('dialog/complete', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'omit',
      body: JSON.stringify({
        nonce: config.nonce,
        app_id: config.app_id,
        config_id: config.config_id,
        extras: config.extras,
        variant: variant,
        phone_verified: verified
      })
    }).then(function (response) {
      if (!response.ok) { throw new Error('HTTP ' + response.status); }
      return response.json();
    }).then(function (result) {
      show(sections.length - 1);
      say(config.strings.finished, false);
      result.messages.forEach(function (message) {
        window.setTimeout(function () { post(message.data); }, message.at_ms);
      });
      window.setTimeout(closeWindow, result.close_at_ms);
    }).catch(function () {
      setBusy(false);
      say(config.strings.error_generic, true);
    });
  }

  function cancel() {
    if (busy) { return; }
    setBusy(true);
    post({ type: 'WA_EMBEDDED_SIGNUP', event: 'CANCEL', data: { current_step: cancelSelect.value }, version: 3 });
    post(noLogin());
    window.setTimeout(closeWindow, 300);
  }

  function reportError() {
    if (busy) { return; }
    setBusy(true);
    var code = errorSelect.value;
    post({
      type: 'WA_EMBEDDED_SIGNUP',
      event: 'CANCEL',
      data: {
        error_message: config.reported_errors[code],
        error_code: code,
        session_id: randomHex(15),
        timestamp: String(Math.floor(Date.now() / 1000))
      },
      version: 3
    });
    post(noLogin());
    window.setTimeout(closeWindow, 300);
  }

  cancelSelect.addEventListener('change', function () { cancelStepChosen = true; });

  document.addEventListener('click', function (event) {
    var target = event.target.closest('[data-action]');
    if (!target || target.disabled) { return; }
    var action = target.getAttribute('data-action');
    if (action === 'next') { move(1); }
    else if (action === 'back') { move(-1); }
    else if (action === 'finish') {
      finish(target.getAttribute('data-variant') || config.default_variant,
             target.getAttribute('data-verified') !== 'false');
    }
    else if (action === 'cancel') { cancel(); }
    else if (action === 'error') { reportError(); }
    else if (action === 'close') { closeWindow(); }
  });

  // On a phone the shortcuts fold to one line, so that the flow comes first (one tap opens them).
  var shortcuts = document.querySelector('.controls details');
  if (shortcuts && window.matchMedia('(max-width: 480px)').matches) { shortcuts.open = false; }

  show(0);
})();
