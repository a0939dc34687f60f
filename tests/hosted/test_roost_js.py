"""roost.js, the platform's popup helper, in a real browser: a platform page on its own loopback
origin includes Roost's /static/roost.js and calls Roost.connect from a button (SPEC 4.4)."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.hosted.helpers import (
    assert_signed,
    create_session,
    event_types,
    get_session,
    redirect_secret,
    result_from_url,
    start_flow,
    visible,
    wait_for,
)

# {roost} is Roost's base URL; the session URL comes in the fragment. `block=1` makes window.open
# return null (what a popup blocker does); `mode=` is passed to Roost.connect.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Platform</title>
<script src="{roost}/static/roost.js"></script></head><body>
<button id="connect">Connect WhatsApp</button>
<script>
window.results = [];
window.failures = [];
if ({block}) {{ window.open = function () {{ return null; }}; }}
document.getElementById('connect').addEventListener('click', function () {{
  var url = decodeURIComponent(location.hash.slice(1));
  window.pending = Roost.connect(url, {{
    mode: {mode},
    onResult: function (result) {{ window.results.push(result); }},
    onError: function (error) {{ window.failures.push(error.code); }}
  }});
  window.pending.catch(function () {{}});
}});
</script></body></html>"""


class PlatformPages:
    """The platform's site: /connect (the page above) and /callback (a redirect's landing page)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                if parts.path == "/connect":
                    mode = query.get("mode")
                    body = PAGE.format(
                        roost=query["roost"], block="true" if query.get("block") else "false",
                        mode=f"'{mode}'" if mode else "undefined",
                    )
                else:
                    body = "<!doctype html><title>Callback</title><p>Back on the platform</p>"
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.callback = f"{self.origin}/callback"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, roost: str, session_url: str, **query: str) -> str:
        extra = "".join(f"&{name}={value}" for name, value in query.items())
        return f"{self.origin}/connect?roost={quote(roost, safe='')}{extra}#{quote(session_url, safe='')}"


@pytest.fixture(scope="module")
def site() -> Iterator[PlatformPages]:
    pages = PlatformPages()
    yield pages
    pages.server.shutdown()
    pages.server.server_close()


def allow(api: Any, origin: str) -> None:
    assert api.patch("/v1/organization/settings", json={"allowed_origins": [origin]}).status_code == 200


def open_platform(context: Any, url: str) -> Any:
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(url)
    page.wait_for_function("!!window.Roost")
    return page


def click_connect(platform_page: Any) -> Any:
    """The click that opens the hosted page in a popup; returns the popup."""
    with platform_page.expect_popup() as popup_info:
        platform_page.click("#connect")
    popup = popup_info.value
    popup.set_default_timeout(15_000)
    popup.wait_for_load_state()
    return popup


def results(platform_page: Any) -> list[dict[str, str]]:
    return platform_page.evaluate("window.results")


def test_roost_js_is_served_for_any_origin_and_cached(hosted):
    with hosted.http() as http:
        response = http.get("/static/roost.js", headers={"Origin": "https://platform.example"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=3600"
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["cross-origin-resource-policy"] == "cross-origin"
        assert "Roost.connect" in response.text or "connect: connect" in response.text
        again = http.get("/static/roost.js", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


def test_connect_gets_the_completed_result(hosted, site, context, api):
    allow(api, site.origin)
    session = create_session(api, state="csrf-js")
    platform_page = open_platform(context, site.url(hosted.base_url, session["url"]))
    popup = click_connect(platform_page)
    assert popup.url.startswith(f"{hosted.base_url}/embed/connect")
    size = popup.evaluate("[window.outerWidth, window.outerHeight]")
    assert size[0] <= 600  # a popup window of its own size, not a tab

    start_flow(popup).click('[data-testid="es-sim-finish"]')
    popup.wait_for_event("close", timeout=30_000)
    (result,) = wait_for(lambda: results(platform_page))
    after = get_session(api, session["id"])
    assert result["status"] == "completed" and result["session_id"] == session["id"]
    assert result["state"] == "csrf-js" and result["business_profile_id"] == after["business_profile_id"]
    assert "type" not in result
    assert_signed(result, redirect_secret(api))
    assert platform_page.evaluate("window.pending") == result  # the promise resolves to it too
    assert "result.posted" in event_types(api, session["id"])
    assert platform_page.errors == []


def test_messages_from_another_origin_or_window_or_of_another_shape_are_ignored(hosted, site, context, api):
    allow(api, site.origin)
    session = create_session(api, state="s")
    platform_page = open_platform(context, site.url(hosted.base_url, session["url"]))
    popup = click_connect(platform_page)
    fake = {"type": "roost:embedded_signup", "session_id": "wss_fake", "status": "completed", "state": "s",
            "timestamp": "1700000000", "signature": "v1=00"}

    # The popup itself, gone to another origin (the simulator's), then back to the link.
    # (Navigations started by the page itself: one typed into the address bar would cut the opener.)
    with popup.expect_navigation():
        popup.evaluate("(url) => { location.href = url; }", f"{hosted.simulator_url}/healthz")
    popup.evaluate("(fake) => window.opener.postMessage(fake, '*')", fake)
    with popup.expect_navigation():
        popup.evaluate("(url) => { location.href = url; }", session["url"])
    # The right shape from the platform's own origin (not Roost's).
    platform_page.evaluate("(fake) => window.postMessage(fake, '*')", fake)
    # Roost's origin, but another window than the popup.
    with platform_page.expect_popup() as other_info:
        platform_page.evaluate("(url) => { window.other = window.open(url, 'other'); }", f"{hosted.base_url}/healthz")
    other = other_info.value
    other.wait_for_load_state()
    other.evaluate("(fake) => window.opener.postMessage(fake, '*')", fake)
    # The popup itself, but not a result.
    popup.evaluate("() => window.opener.postMessage({type: 'roost:embedded_signup', status: 'completed'}, '*')")
    popup.evaluate("() => window.opener.postMessage('roost:embedded_signup', '*')")
    platform_page.wait_for_timeout(1000)
    assert results(platform_page) == []
    other.close()

    start_flow(popup).click('[data-testid="es-sim-finish"]')
    (result,) = wait_for(lambda: results(platform_page), timeout=30)
    assert result["session_id"] == session["id"] and result["status"] == "completed"


def test_the_user_closing_the_popup_gives_a_closed_result(hosted, site, context, api):
    allow(api, site.origin)
    session = create_session(api)
    platform_page = open_platform(context, site.url(hosted.base_url, session["url"]))
    popup = click_connect(platform_page)
    visible(popup, "connect-button")
    popup.close()

    assert wait_for(lambda: results(platform_page)) == [{"status": "closed"}]
    assert platform_page.evaluate("window.pending") == {"status": "closed"}
    assert get_session(api, session["id"])["status"] == "pending"  # nothing happened to the session


def test_a_blocked_popup_falls_back_to_a_full_page_redirect(hosted, site, context, api):
    allow(api, site.origin)
    session = create_session(api, redirect_uri=site.callback, state="s")
    platform_page = open_platform(context, site.url(hosted.base_url, session["url"], block="1"))
    platform_page.click("#connect")
    platform_page.wait_for_url(f"{hosted.base_url}/embed/connect*")
    visible(platform_page, "connect-button")

    # Without an opener the page hands back by redirect_uri.
    start_flow(platform_page).click('[data-testid="es-sim-finish"]')
    platform_page.wait_for_url(f"{site.callback}*", timeout=30_000)
    params = result_from_url(platform_page.url)
    assert params["status"] == "completed" and params["session_id"] == session["id"]
    assert "result.redirected" in event_types(api, session["id"])


def test_popup_mode_reports_a_blocked_popup_instead(hosted, site, context, api):
    session = create_session(api)
    platform_page = open_platform(context, site.url(hosted.base_url, session["url"], block="1", mode="popup"))
    platform_page.click("#connect")
    assert wait_for(lambda: platform_page.evaluate("window.failures")) == ["popup_blocked"]
    assert platform_page.url.startswith(site.origin)  # no navigation
    assert results(platform_page) == []


def test_a_platform_origin_roost_cannot_post_to_gets_the_result_by_redirect(hosted, site, context, api):
    """The page is not an allowed origin (the redirect_uri is on another one): rather than post to
    an origin the opener does not have (lost), the popup goes to the redirect_uri."""
    session = create_session(api, redirect_uri="http://localhost:9/callback", state="s")
    platform_page = open_platform(context, site.url(hosted.base_url, session["url"]))
    popup = click_connect(platform_page)
    start_flow(popup).click('[data-testid="es-sim-finish"]')
    visible(popup, "continue-link")
    assert popup.locator('[data-testid="continue-link"]').get_attribute("href").startswith(
        "http://localhost:9/callback?session_id="
    )
    wait_for(lambda: "result.redirected" in event_types(api, session["id"]))
    assert "result.posted" not in event_types(api, session["id"])
    assert results(platform_page) == []
