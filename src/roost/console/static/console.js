// The console's little bit of script: everything works without it, this only makes it nicer.
(function () {
  'use strict';

  // The organization and mode menus switch as soon as one is chosen.
  document.querySelectorAll('form[data-autosubmit]').forEach(function (form) {
    form.querySelectorAll('.js-hidden').forEach(function (button) { button.hidden = true; });
    form.querySelectorAll('select').forEach(function (select) {
      select.addEventListener('change', function () { form.submit(); });
    });
  });

  // Actions that cannot be undone ask first.
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) { event.preventDefault(); }
    });
  });

  // Copy buttons for what is shown once.
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var field = document.getElementById(button.getAttribute('data-copy'));
      field.select();
      var done = function () { button.textContent = 'Copied'; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand('copy'); done(); });
      } else {
        document.execCommand('copy');
        done();
      }
    });
  });

  // The branding preview follows the form as it is typed in. Colours are set through the DOM:
  // the CSP allows no inline style.
  var preview = document.querySelector('[data-testid="preview"]');
  if (preview) {
    var paint = function (accent) {
      if (/^#[0-9a-fA-F]{6}$/.test(accent)) {
        preview.querySelector('.preview-button').style.backgroundColor = accent;
        preview.style.borderTopColor = accent;
      }
    };
    paint(preview.getAttribute('data-accent'));
    var form = document.querySelector('form[data-preview]');
    if (form) {
      form.addEventListener('input', function () {
        paint(form.elements.accent_color.value);
        preview.querySelector('[data-preview-name]').textContent = form.elements.name.value;
        var logo = preview.querySelector('[data-preview-logo]');
        var url = form.elements.logo_url.value.trim();
        if (/^https:\/\/\S+$/.test(url)) { logo.src = url; logo.hidden = false; } else { logo.hidden = true; }
      });
    }
  }
})();
