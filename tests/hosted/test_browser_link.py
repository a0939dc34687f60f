"""The link in a real browser: one browser per session, reloads, cancellation by the platform,
expiry, hostile input, languages, keyboard and small screens (SPEC 4.1–4.3)."""

import httpx
import pytest

from tests.hosted.helpers import (
    close_meta_window,
    assert_signed,
    create_session,
    event_types,
    get_session,
    open_link,
    redirect_secret,
    result_from_url,
    shown_screens,
    start_flow,
    visible,
)
from tests.support import SESSIONS

XSS = '"><script>window.__xss=1</script><img src=x onerror="window.__xss=2"><svg onload="window.__xss=3">'


def test_a_link_fetched_by_a_scanner_first_still_works(hosted, platform, page, api):
    session = create_session(api, redirect_uri=platform.callback, state="s")
    for _ in range(2):  # an e-mail scanner, a chat link preview
        assert httpx.get(session["url"], headers={"User-Agent": "LinkPreview/1.0"}).status_code == 200
    assert event_types(api, session["id"]) == ["session.created"]

    open_link(page, session["url"])
    start_flow(page).click('[data-testid="es-sim-finish"]')
    page.wait_for_url(f"{platform.callback}*", timeout=30_000)
    assert result_from_url(page.url)["status"] == "completed"


def test_the_link_is_in_use_in_a_second_browser_and_the_first_may_reload(hosted, platform, browser, page, api):
    session = create_session(api, redirect_uri=platform.callback, state="in-use")
    open_link(page, session["url"])
    close_meta_window(start_flow(page))  # started, then the user closed Meta's window
    visible(page, "flow-cancelled")

    other = browser.new_context()
    try:
        second = other.new_page()
        open_link(second, session["url"])
        visible(second, "result-in-use")
        visible(second, "return-button")
        assert shown_screens(second) == ["result-in-use"]

        # the bound browser reloads freely; the token stays out of the address bar
        page.reload()
        visible(page, "connect-screen")
        assert page.evaluate("location.search") == ""

        # "Return to <platform>" from the other browser says the link is in use, signed
        second.click('[data-testid="return-button"]')
        second.wait_for_url(f"{platform.callback}*")
        params = result_from_url(second.url)
        assert params["status"] == "pending" and params["error"] == "session_in_use"
        assert_signed(params, redirect_secret(api))
    finally:
        other.close()
    assert get_session(api, session["id"])["status"] == "pending"

    # and the first browser can still finish
    start_flow(page).click('[data-testid="es-sim-finish"]')
    page.wait_for_url(f"{platform.callback}*", timeout=30_000)
    assert result_from_url(page.url)["status"] == "completed"


def test_the_binding_cookie(hosted, context, page, api):
    session = create_session(api)
    open_link(page, session["url"])
    close_meta_window(start_flow(page))
    visible(page, "flow-cancelled")
    (cookie,) = [c for c in context.cookies() if c["name"] == f"roost_es_{session['id']}"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/embed"
    assert page.evaluate("document.cookie") == ""  # not readable by scripts


def test_a_cancellation_by_the_platform_shows_on_the_open_page(hosted, platform, page, api):
    session = create_session(api, redirect_uri=platform.callback, state="s")
    open_link(page, session["url"])
    visible(page, "connect-screen")

    assert api.delete(f"{SESSIONS}/{session['id']}").status_code == 200
    visible(page, "result-cancelled", timeout=10_000)
    page.click('[data-testid="return-button"]')
    page.wait_for_url(f"{platform.callback}*")
    params = result_from_url(page.url)
    assert params["status"] == "cancelled" and params["error"] == "session_cancelled"


def test_an_expired_link(start_hosted, platform, page):
    server = start_hosted(session_ttl_seconds=1)
    org = server.new_org()
    with org.client() as api:
        session = create_session(api, redirect_uri=platform.callback, state="late")
        page.wait_for_timeout(1200)
        open_link(page, session["url"])
        visible(page, "result-expired")
        page.click('[data-testid="return-button"]')
        page.wait_for_url(f"{platform.callback}*")
        params = result_from_url(page.url)
        assert params["status"] == "expired" and params["error"] == "session_expired"
        assert_signed(params, redirect_secret(api))


def test_an_unknown_link(hosted, page):
    page.goto(f"{hosted.base_url}/embed/connect?token={'A' * 43}")
    visible(page, "result-unknown")
    assert shown_screens(page) == ["result-unknown"]


def test_a_finished_session_shows_its_result_on_reload(hosted, page, api):
    session = create_session(api)
    open_link(page, session["url"])
    start_flow(page).click('[data-testid="es-sim-finish"]')
    visible(page, "result-completed")
    page.reload()
    visible(page, "result-completed")
    visible(page, "connected-numbers")


def test_nothing_the_platform_or_user_sends_can_run_script(hosted, platform, page, api):
    short = XSS[:90]
    api.patch("/v1/organization/settings", json={
        "name": short, "branding": {"logo_url": 'https://cdn.example.com/l.png?"><script>window.__xss=9</script>'}})
    session = create_session(
        api,
        redirect_uri=platform.callback,
        state=f"</script>{XSS}",
        metadata={"note": XSS, "</script>": XSS},
        prefill={
            "business": {"name": short, "website": "https://example.com/?q=%22%3E%3Cscript%3E",
                         "address": {"streetAddress1": XSS, "city": XSS}},
            "phone": {"displayName": short, "category": "Other", "description": XSS},
        },
    )
    open_link(page, session["url"])
    assert visible(page, "platform-name").inner_text() == short
    html = httpx.get(session["url"]).text
    assert "<script>window.__xss" not in html and "<img src=x" not in html and "<svg" not in html
    dialog = start_flow(page)
    assert dialog.locator('[data-testid="es-sim-prefill-name-text"]').inner_text() == short
    assert page.evaluate("window.__xss") is None and dialog.evaluate("window.__xss") is None
    dialog.click('[data-testid="es-sim-finish"]')
    visible(page, "result-completed")
    assert page.evaluate("window.__xss") is None
    assert page.errors == []
    page.wait_for_url(f"{platform.callback}*", timeout=30_000)
    assert result_from_url(page.url)["state"] == f"</script>{XSS}"  # returned unchanged


def test_nothing_runs_in_metas_dialog_either(hosted, page, api):
    session = create_session(api, prefill={"business": {"name": XSS[:90]}, "phone": {
        "displayName": XSS[:90], "category": "Other", "description": XSS}})
    open_link(page, session["url"])
    dialog = start_flow(page)
    assert dialog.locator('[data-testid="es-sim-prefill-description"]').input_value() == XSS
    assert dialog.evaluate("window.__xss") is None
    assert page.evaluate("window.__xss") is None


@pytest.mark.parametrize(
    ("locale", "accept_language", "lang", "button", "meta_locale"),
    [
        ("es", "en-US", "es", "Continuar con Facebook", "es_LA"),
        ("pt-BR", None, "pt-BR", "Continuar com o Facebook", "pt_BR"),
        (None, "pt-BR,pt;q=0.9", "pt-BR", "Continuar com o Facebook", "pt_BR"),
        (None, "es-ES,es;q=0.9", "es", "Continuar con Facebook", "es_ES"),
        (None, "en-US", "en", "Continue with Facebook", "en_US"),
    ],
)
def test_the_page_and_metas_dialog_speak_the_users_language(hosted, browser, api, locale, accept_language, lang, button, meta_locale):
    session = create_session(api, **({"locale": locale} if locale else {}))
    context = browser.new_context(extra_http_headers={"Accept-Language": accept_language} if accept_language else {})
    try:
        page = context.new_page()
        open_link(page, session["url"])
        assert page.get_attribute("html", "lang") == lang
        assert visible(page, "connect-button").inner_text() == button
        page.wait_for_function("!!window.FB")
        assert page.get_attribute("#facebook-jssdk", "src") == f"{hosted.simulator_url}/_sim/{meta_locale}/sdk.js"
        dialog = start_flow(page)
        assert dialog.get_attribute("html", "lang") == meta_locale.split("_")[0]  # the dialog follows Meta's locale
    finally:
        context.close()


def test_the_flow_works_by_keyboard(hosted, page, api):
    session = create_session(api)
    open_link(page, session["url"])
    page.wait_for_function("!!window.FB && !document.querySelector('[data-testid=connect-button]').disabled")
    focused = "document.activeElement && document.activeElement.getAttribute('data-testid')"
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "connect-button":
            break
    assert page.evaluate(focused) == "connect-button", "Tab never reached the connect button"
    with page.expect_popup() as popup_info:
        page.keyboard.press("Enter")
    popup_info.value.click('[data-testid="es-sim-finish"]')
    visible(page, "result-completed")
    # the result's heading has the focus, so a screen reader reads it out
    assert page.evaluate("document.activeElement.tagName") == "H1"
    assert page.locator('[data-testid="progress"] [aria-live="polite"]').count() == 1


@pytest.mark.parametrize("width", [360, 1280])
def test_nothing_overflows_at_360_px_or_on_a_desktop(hosted, browser, api, width):
    api.patch("/v1/organization/settings", json={"name": "An organization with a rather long name, to wrap"})
    session = create_session(api)
    context = browser.new_context(viewport={"width": width, "height": 740})
    try:
        page = context.new_page()
        open_link(page, session["url"])
        visible(page, "connect-button")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        box = page.locator('[data-testid="connect-button"]').bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= width
    finally:
        context.close()
