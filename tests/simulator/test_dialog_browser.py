"""sdk.js and the dialog in a real browser (Debian's Chromium via Playwright).

A platform page is served from another loopback origin than Roost, loads `/_sim/sdk.js`, calls
FB.login from a click, and records every message event and the login callback.
"""

import json
import os
import threading
from urllib.parse import quote
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.hosted.helpers import close_meta_window
from tests.simulator.helpers import exchange

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"browser tests need Debian's Chromium at {CHROMIUM}")

XSS = '"><script>window.__xss=1</script><img src=x onerror="window.__xss=2"><svg onload="window.__xss=3">'

OPENER = """<!doctype html>
<html><head><meta charset="utf-8"><title>Platform</title></head>
<body>
<button id="connect">Connect WhatsApp</button>
<script>
window.messages = [];
window.results = [];
window.addEventListener('message', function (event) {
  window.messages.push({origin: event.origin, data: event.data, at: Date.now()});
});
window.fbAsyncInit = function () {
  FB.init({appId: APP_ID, autoLogAppEvents: true, xfbml: true, version: 'v25.0', cookie: true});
  window.sdkReady = true;
};
document.getElementById('connect').addEventListener('click', function () {
  window.clickedAt = Date.now();
  FB.login(function (response) { window.results.push({response: response, at: Date.now()}); }, {
    config_id: CONFIG_ID, response_type: 'code', override_default_response_type: true, extras: EXTRAS
  });
});
</script>
<script async defer crossorigin="anonymous" src="SDK_URL"></script>
</body></html>
"""


class PlatformSite:
    """A loopback web server for the platform's pages (another origin than Roost)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = site.pages.get(self.path.split("?")[0], "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def add(self, name: str, html: str) -> str:
        self.pages[f"/{name}"] = html
        return f"{self.origin}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site() -> Iterator[PlatformSite]:
    server = PlatformSite()
    yield server
    server.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def open_platform(page: Any, site: PlatformSite, roost: Any, app: dict[str, Any], extras: dict | None = None, sdk_path: str = "/_sim/sdk.js") -> None:
    def script_json(value: Any) -> str:
        return json.dumps(value).replace("<", "\\u003c")  # safe inside an inline <script>

    html = (OPENER.replace("APP_ID", script_json(app["app_id"]))
            .replace("CONFIG_ID", script_json(app["config_id"]))
            .replace("EXTRAS", script_json(extras or {"setup": {}, "featureType": "", "sessionInfoVersion": "3"}))
            .replace("SDK_URL", f"{roost.base_url}{sdk_path}"))
    name = f"platform-{os.urandom(6).hex()}.html"
    page.goto(site.add(name, html))
    page.wait_for_function("window.sdkReady === true")


def start_login(page: Any) -> Any:
    with page.expect_popup() as popup_info:
        page.click("#connect")
    popup = popup_info.value
    popup.set_default_timeout(10_000)
    popup.wait_for_load_state()
    return popup


def signup_events(page: Any) -> list[dict[str, Any]]:
    """The WA_EMBEDDED_SIGNUP messages the platform page received (each a JSON string, like Meta's)."""
    found = []
    for message in page.evaluate("window.messages"):
        assert isinstance(message["data"], str)
        data = json.loads(message["data"])
        if data.get("type") == "WA_EMBEDDED_SIGNUP":
            found.append({**data, "_origin": message["origin"], "_at": message["at"]})
    return found


def login_result(page: Any) -> dict[str, Any]:
    page.wait_for_function("window.results.length > 0")
    (result,) = page.evaluate("window.results")
    return result


# -- finishing ------------------------------------------------------------------------------------------


def test_finish_posts_the_event_and_the_code_to_the_opener(roost, site, page, api, graph, sim_app):
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    # Waiting for "close" is set up before the click: the dialog may be gone before the
    # assertions below are done, and an event already past is never seen.
    with popup.expect_event("close"):
        popup.click('[data-testid="es-sim-finish"]')

    result = login_result(page)
    assert result["response"]["status"] == "connected"
    code = result["response"]["authResponse"]["code"]
    (event,) = signup_events(page)
    assert event["_origin"] == roost.base_url
    assert event["event"] == "FINISH" and event["version"] == 3
    assert set(event["data"]) == {"phone_number_id", "waba_id", "business_id"}
    assert event["_at"] <= result["at"]
    # The code is real: it exchanges for a token that reads the WABA of the event.
    token = exchange(graph, sim_app, code)
    phones = graph.get(f"/{event['data']['waba_id']}/phone_numbers", headers={"Authorization": f"Bearer {token}"}).json()
    assert phones["data"][0]["id"] == event["data"]["phone_number_id"]


def test_walking_through_every_screen_finishes(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    steps = []
    while popup.locator('[data-testid="es-sim-step-done"]').is_hidden():
        steps.append(popup.evaluate("document.body.getAttribute('data-current-step')"))
        popup.locator("section.step:not([hidden]) [data-action=next]").click()
    popup.click('[data-testid="es-sim-walk-finish"]')

    assert login_result(page)["response"]["status"] == "connected"
    assert [e["event"] for e in signup_events(page)] == ["FINISH"]
    assert steps == ["BUSINESS_ACCOUNT_SELECTION", "BUSINESS_ACCOUNT_SELECTION", "WABA_PHONE_PROFILE_PICKER",
                     "WHATSAPP_BUSINESS_PROFILE_SETUP", "PHONE_NUMBER_SETUP", "PHONE_NUMBER_VERIFICATION", "PERMISSIONS"]


def test_coexistence_finish_carries_only_the_waba(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app, extras={"setup": {}, "featureType": "whatsapp_business_app_onboarding", "sessionInfoVersion": "3"})
    popup = start_login(page)

    popup.click('[data-testid="es-sim-finish-coexistence"]')

    assert login_result(page)["response"]["authResponse"]["code"]
    (event,) = signup_events(page)
    assert event["event"] == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
    assert list(event["data"]) == ["waba_id"]


def test_only_waba_finish_has_no_phone_number(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    popup.click('[data-testid="es-sim-finish-only-waba"]')

    assert login_result(page)["response"]["status"] == "connected"
    (event,) = signup_events(page)
    assert event["event"] == "FINISH_ONLY_WABA"
    assert "phone_number_id" not in event["data"]


# -- leaving without finishing -----------------------------------------------------------------------------


def test_cancel_at_a_chosen_step(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    popup.select_option('[data-testid="es-sim-cancel-step"]', "PHONE_NUMBER_VERIFICATION")
    popup.click('[data-testid="es-sim-cancel"]')

    assert login_result(page)["response"] == {"authResponse": None, "status": "unknown"}
    (event,) = signup_events(page)
    assert {k: v for k, v in event.items() if not k.startswith("_")} == {
        "type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL", "data": {"current_step": "PHONE_NUMBER_VERIFICATION"}, "version": 3}


def test_cancel_defaults_to_the_screen_shown(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)
    while popup.evaluate("document.body.getAttribute('data-current-step')") != "PHONE_NUMBER_SETUP":
        popup.locator("section.step:not([hidden]) [data-action=next]").click()

    popup.click('[data-testid="es-sim-cancel"]')

    login_result(page)
    assert signup_events(page)[0]["data"] == {"current_step": "PHONE_NUMBER_SETUP"}


def test_a_reported_error_is_a_cancel_with_metas_error_fields(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    popup.select_option('[data-testid="es-sim-error-code"]', "2388002")
    popup.click('[data-testid="es-sim-error"]')

    assert login_result(page)["response"] == {"authResponse": None, "status": "unknown"}
    (event,) = signup_events(page)
    assert event["event"] == "CANCEL"
    data = event["data"]
    assert set(data) == {"error_message", "error_code", "session_id", "timestamp"}
    assert data["error_code"] == "2388002"
    assert data["error_message"] == "This phone number can't be added. Try a different number."
    assert len(data["session_id"]) == 15 and data["timestamp"].isdigit()


def test_closing_the_window_sends_no_event_and_an_empty_login(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    close_meta_window(popup)  # the window may be gone before the click returns

    assert login_result(page)["response"] == {"authResponse": None, "status": "unknown"}
    assert signup_events(page) == []


# -- faults -------------------------------------------------------------------------------------------------


def test_a_late_code_arrives_after_the_event(roost, site, page, api, sim_app):
    api.post("/_sim/control/faults", json={"call": "dialog", "kind": "code_late", "delay_ms": 1500})
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    # Waiting for "close" is set up before the click: the dialog may be gone before the
    # assertions below are done, and an event already past is never seen.
    with popup.expect_event("close"):
        popup.click('[data-testid="es-sim-finish"]')

    result = login_result(page)
    (event,) = signup_events(page)
    assert result["response"]["authResponse"]["code"]
    assert result["at"] - event["_at"] >= 1400


def test_a_lost_finish_delivers_only_the_code(roost, site, page, api, sim_app):
    api.post("/_sim/control/faults", json={"call": "dialog", "kind": "finish_lost"})
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    with popup.expect_event("close"):  # set up before the click, as above
        popup.click('[data-testid="es-sim-finish"]')

    assert login_result(page)["response"]["status"] == "connected"
    assert signup_events(page) == []


def test_a_code_that_never_comes_ends_with_an_empty_login(roost, site, page, api, sim_app):
    api.post("/_sim/control/faults", json={"call": "dialog", "kind": "code_never"})
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    popup.click('[data-testid="es-sim-finish"]')

    assert login_result(page)["response"] == {"authResponse": None, "status": "unknown"}
    assert [e["event"] for e in signup_events(page)] == ["FINISH"]


def test_a_dialog_http_error_shows_metas_apology_and_posts_nothing(roost, site, page, api, sim_app):
    api.post("/_sim/control/faults", json={"call": "dialog", "kind": "http_error", "status": 503})
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)

    popup.click('[data-testid="es-sim-finish"]')

    status = popup.locator('[data-testid="es-sim-status"]')
    status.filter(has_text="something went wrong").wait_for()
    assert page.evaluate("window.messages") == []
    assert not popup.is_closed()


# -- the SDK's own rules -------------------------------------------------------------------------------------


def test_an_async_callback_is_refused(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app)

    message = page.evaluate("""() => {
        try { FB.login(async function () {}, {config_id: 'x'}); return 'no error'; }
        catch (error) { return error.message; }
    }""")

    assert message == "Expression is of type asyncfunction, not function"


def test_the_sdk_ignores_a_login_result_from_another_origin(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app)
    popup = start_login(page)
    nonce = popup.evaluate("JSON.parse(document.getElementById('sim-config').textContent).nonce")

    # The platform page itself (another origin than the simulator) forges a login result.
    page.evaluate("""(nonce) => window.postMessage(JSON.stringify({
        type: 'SIM_LOGIN_RESPONSE', nonce: nonce, authResponse: {code: 'forged'}, status: 'connected'}), '*')""", nonce)
    popup.click('[data-testid="es-sim-finish"]')

    result = login_result(page)
    assert result["response"]["authResponse"]["code"] != "forged"


def test_the_spanish_sdk_opens_a_spanish_dialog(roost, site, page, sim_app):
    open_platform(page, site, roost, sim_app, sdk_path="/_sim/es_LA/sdk.js")

    popup = start_login(page)

    assert popup.evaluate("document.documentElement.lang") == "es"
    assert "locale=es_LA" in popup.url


# -- prefill and XSS -----------------------------------------------------------------------------------------


def test_prefill_is_shown_and_an_xss_payload_does_not_run(roost, site, page, sim_app):
    extras = {"setup": {
        "business": {"name": XSS, "email": "a@acme.com", "website": "https://acme.com", "address": {"country": "US", "city": XSS},
                     "phone": {"code": 1, "number": "6315550123"}, "timezone": "UTC-07:00"},
        "phone": {"displayName": XSS, "category": "AUTO", "description": "</textarea>" + XSS},
    }, "featureType": "", "sessionInfoVersion": "3"}
    open_platform(page, site, roost, sim_app, extras=extras)
    dialogs = []
    page.context.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    popup = start_login(page)
    popup.locator("section.step:not([hidden]) [data-action=next]").click()

    assert popup.locator('[data-testid="es-sim-prefill-name-text"]').inner_text() == XSS
    assert popup.locator('[data-testid="es-sim-prefill-name"]').input_value() == XSS
    assert popup.locator('[data-testid="es-sim-prefill-description"]').input_value() == "</textarea>" + XSS
    assert popup.locator('[data-testid="es-sim-prefill-business-phone"]').input_value() == "+1 6315550123"
    assert popup.locator('[data-testid="es-sim-prefill-phone"]').input_value() == "+1 6315550123"
    assert popup.evaluate("window.__xss") is None
    assert popup.locator("img[src=x], svg").count() == 0
    assert dialogs == []
    # Finishing still works with the hostile prefill, and creates the number from business.phone.
    popup.click('[data-testid="es-sim-finish"]')
    assert login_result(page)["response"]["status"] == "connected"


@pytest.mark.parametrize(("width", "locale"), [(360, "es_LA"), (1280, "pt_BR")])
def test_the_dialog_reads_well_on_a_phone_and_a_desktop(browser, roost, sim_app, width, locale, tmp_path):
    """The flow comes first; the test shortcuts look like tools, not like Meta's buttons, stay out
    of the way on a phone, and speak the dialog's language; no empty band above a step's heading.
    To look at it: ROOST_DIALOG_SCREENSHOTS=<a directory> saves the screenshots there."""
    from tests.simulator.test_dialog_http import dialog_params

    context = browser.new_context(viewport={"width": width, "height": 740})
    try:
        page = context.new_page()
        page.goto(f"{roost.base_url}/_sim/dialog?" + "&".join(
            f"{name}={quote(value)}" for name, value in dialog_params(sim_app, locale=locale).items()))
        if os.environ.get("ROOST_DIALOG_SCREENSHOTS"):
            page.screenshot(path=f"{os.environ['ROOST_DIALOG_SCREENSHOTS']}/dialog-{width}-{locale}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        card = page.locator("main.card").bounding_box()
        heading = page.locator('[data-testid="es-sim-step-login"] h1').bounding_box()
        assert heading["y"] - card["y"] <= 24  # the card's padding, no empty status line above
        controls = page.locator('[data-testid="es-sim-controls"]')
        text = controls.inner_text()
        assert "Finish" not in text and "current_step" not in text and "error_code" not in text
        flow_button = page.locator('[data-testid="es-sim-step-login"] button[data-action="next"]')
        style = "e => getComputedStyle(e).backgroundColor"
        if width == 360:  # folded to one line; one tap opens it
            assert controls.bounding_box()["height"] <= 60
            assert not page.locator('[data-testid="es-sim-finish"]').is_visible()
            page.locator('[data-testid="es-sim-controls"] summary').click()
        assert page.locator('[data-testid="es-sim-finish"]').is_visible()
        assert page.eval_on_selector('[data-testid="es-sim-finish"]', style) != flow_button.evaluate(style)
        if os.environ.get("ROOST_DIALOG_SCREENSHOTS"):
            page.screenshot(path=f"{os.environ['ROOST_DIALOG_SCREENSHOTS']}/dialog-{width}-{locale}-open.png", full_page=True)
    finally:
        context.close()
