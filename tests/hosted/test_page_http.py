"""The hosted page and its API over plain HTTP: links, browser binding, origins, headers (SPEC 4.1, 4.3)."""

import json
import re
from typing import Any

import httpx
import pytest

from roost.hosted.service import cookie_is_secure
from roost.hosted.signing import verify
from tests.hosted.helpers import create_session, event_types, finish_message, get_session, redirect_secret, token_of
from tests.support import SEED_BODY, SESSIONS


class Browser:
    """A stand-in for one browser: its own cookie jar, the page's origin on every API call."""

    def __init__(self, hosted: Any, origin: str | None = "page") -> None:
        self.client = httpx.Client(base_url=hosted.base_url, timeout=30)
        self.origin = hosted.base_url if origin == "page" else origin

    def call(self, path: str, **body: Any) -> httpx.Response:
        headers = {"Origin": self.origin} if self.origin else {}
        return self.client.post(f"/embed/api/{path}", json=body, headers=headers)

    def page(self, session: dict[str, Any], **headers: str) -> httpx.Response:
        return self.client.get("/embed/connect", params={"token": token_of(session)}, headers=headers)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def browser_a(hosted):
    browser = Browser(hosted)
    yield browser
    browser.close()


@pytest.fixture
def browser_b(hosted):
    browser = Browser(hosted)
    yield browser
    browser.close()


def page_config(response: httpx.Response) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="roost-config">(.*?)</script>', response.text, re.S)
    assert match, response.text[:500]
    return json.loads(match.group(1))


# -- the link ----------------------------------------------------------------------------------


def test_a_get_never_uses_up_the_link(hosted, api, browser_a):
    session = create_session(api, **SEED_BODY)
    for _ in range(3):  # a mail scanner, a link preview, the user
        response = browser_a.page(session)
        assert response.status_code == 200
        assert page_config(response)["screen"] == "connect"
    assert event_types(api, session["id"]) == ["session.created"]
    after = get_session(api, session["id"])
    assert after["status"] == "pending" and after["started_at"] is None
    assert browser_a.client.cookies.jar.__len__() == 0


def test_an_unknown_token_is_a_404_page(browser_a):
    response = browser_a.client.get("/embed/connect", params={"token": "x" * 43})
    assert response.status_code == 404
    assert page_config(response)["screen"] == "result-unknown"
    assert 'data-testid="result-unknown"' in response.text


def test_a_replaced_link_is_unknown(api, browser_a):
    session = create_session(api)
    assert api.post(f"{SESSIONS}/{session['id']}/link").status_code == 200
    assert browser_a.page(session).status_code == 404
    assert browser_a.call("opened", token=token_of(session)).json()["error"]["code"] == "link_invalid"


def test_without_a_token_the_page_looks_in_its_tab_storage(browser_a):
    response = browser_a.client.get("/embed/connect")
    assert response.status_code == 200
    assert page_config(response)["screen"] == "loading"


def test_the_page_renders_metas_configuration(hosted, api, org, browser_a):
    session = create_session(api, **SEED_BODY, locale="es")
    config = page_config(browser_a.page(session))
    app = api.get("/_sim/control/app").json()
    assert config["meta"]["sdk_url"] == f"{hosted.simulator_url}/_sim/es_LA/sdk.js"
    assert config["meta"]["app_id"] == app["app_id"]
    assert config["meta"]["version"] == "v25.0"
    assert config["meta"]["dialog_origins"] == [hosted.simulator_url]
    login = config["meta"]["login"]
    assert login["config_id"] == app["config_id"]
    assert login["response_type"] == "code" and login["override_default_response_type"] is True
    assert login["extras"]["sessionInfoVersion"] == "3" and login["extras"]["featureType"] == ""
    assert login["extras"]["setup"]["phone"]["category"] == "AUTO"
    assert re.fullmatch(r"UTC[+-]\d\d:\d\d", login["extras"]["setup"]["business"]["timezone"])


def test_coexistence_asks_meta_for_the_business_app_flow(api, browser_a):
    session = create_session(api, coexistence=True)
    assert page_config(browser_a.page(session))["meta"]["login"]["extras"]["featureType"] == "whatsapp_business_app_onboarding"


# -- security headers ----------------------------------------------------------------------------


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers.get("cross-origin-opener-policy", "unsafe-none") == "unsafe-none"
    assert csp_directives(response)["frame-ancestors"] == ["'none'"]


def test_the_page_csp_allows_the_simulator_and_no_inline_script(hosted, api, browser_a):
    api.patch("/v1/organization/settings", json={"branding": {"logo_url": "https://cdn.example.com/logo.png"}})
    response = browser_a.page(create_session(api))
    assert_page_headers(response)
    csp = csp_directives(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'", hosted.simulator_url]
    assert csp["frame-src"] == [hosted.simulator_url]
    assert "https://cdn.example.com" in csp["img-src"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    # no inline script: every <script> is JSON data or comes from a file
    for tag in re.findall(r"<script[^>]*>", response.text):
        assert 'type="application/json"' in tag or "src=" in tag, tag


@pytest.mark.parametrize("path", ["/embed/static/connect.js", "/embed/static/connect.css", "/embed/connect?token=nope"])
def test_every_hosted_response_has_the_security_headers(browser_a, path):
    assert_page_headers(browser_a.client.get(path))


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/embed/nope", 404),
        ("GET", "/embed/api/nope", 404),
        ("GET", "/embed", 404),
        ("GET", "/embed/connect/", 404),  # no redirect to a Host-built address
        ("POST", "/embed/connect?token=nope", 405),
        ("HEAD", "/embed/connect?token=nope", 405),
    ],
)
def test_answers_no_hosted_route_gives_still_have_the_security_headers(browser_a, method, path, status):
    response = browser_a.client.request(method, path)
    assert response.status_code == status
    assert_page_headers(response)
    assert response.headers["cache-control"] == "no-store"


def test_the_page_api_has_the_security_headers_on_errors_too(browser_a):
    response = browser_a.call("status", token="x" * 43)
    assert response.status_code == 404
    assert_page_headers(response)


def test_live_mode_csp_names_metas_hosts(start_roost):
    server = start_roost(meta_app_id="1234567890", meta_app_secret="live-secret", meta_config_id="987654321")
    org = server.new_org(live=True)
    with org.client(org.keys["live"]) as live:
        session = create_session(live)
    response = httpx.get(session["url"])
    assert response.status_code == 200
    assert_page_headers(response)
    csp = csp_directives(response)
    assert "https://connect.facebook.net" in csp["script-src"]
    assert {"https://www.facebook.com", "https://web.facebook.com", "https://staticxx.facebook.com"} <= set(csp["frame-src"])
    assert "https://*.facebook.com" in csp["connect-src"] and "https://*.facebook.com" in csp["img-src"]
    assert server.base_url not in " ".join(csp["script-src"])  # no simulator in live mode
    assert page_config(response)["meta"]["sdk_url"] == "https://connect.facebook.net/en_US/sdk.js"
    # A Tech Provider's (the default) live customer adds a payment method: the link, and time to read it.
    assert '<p class="note" data-testid="payment-note" data-hold>One more step' in response.text
    assert 'href="https://business.facebook.com/wa/manage/home/"' in response.text


def test_an_organizations_own_sdk_and_dialog_origins_shape_its_live_page(start_roost):
    server = start_roost(meta_app_id="1234567890", meta_app_secret="live-secret", meta_config_id="987654321")
    org = server.new_org(live=True)
    with org.client(org.keys["live"]) as live:
        meta = {"sdk_url": "https://sdk.example.net/{locale}/sdk.js", "dialog_origins": ["https://dialog.example.net"]}
        assert live.patch("/v1/organization/settings", json={"meta": meta}).status_code == 200
        session = create_session(live)
    response = httpx.get(session["url"])
    csp = csp_directives(response)
    assert "https://sdk.example.net" in csp["script-src"] and "https://connect.facebook.net" not in csp["script-src"]
    assert "https://dialog.example.net" in csp["frame-src"] and "https://www.facebook.com" not in csp["frame-src"]
    config = page_config(response)["meta"]
    assert config["sdk_url"] == "https://sdk.example.net/en_US/sdk.js"
    assert config["dialog_origins"] == ["https://dialog.example.net"]


def test_in_test_mode_the_payment_step_is_only_described(api, browser_a):
    """No real account to pay for: no link to Meta's WhatsApp Manager, and no hold (data-hold)."""
    text = browser_a.page(create_session(api)).text
    assert '<p class="note" data-testid="payment-note">Test mode: in live mode, your customer is asked here' in text
    assert "business.facebook.com" not in text


def test_a_solution_partners_customer_is_not(api, browser_a):
    assert api.patch("/v1/organization/settings", json={"meta": {"partner_type": "solution_partner"}}).status_code == 200
    assert 'data-testid="payment-note"' not in browser_a.page(create_session(api)).text


def test_the_pages_own_files_weigh_at_most_30_kb(api, browser_a):
    page = browser_a.page(create_session(api, **SEED_BODY))
    files = re.findall(r'(?:src|href)="(static/[^"]+)"', page.text)
    assert sorted(name.split("?")[0] for name in files) == ["static/connect.css", "static/connect.js"]
    total = len(page.content) + sum(len(browser_a.client.get(f"/embed/{name}").content) for name in files)
    assert total <= 30 * 1024, total


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [("https://roost.example.com", True), ("http://127.0.0.1:8000", False), ("http://localhost:8000", False),
     ("http://roost.internal:8000", True), ("https://localhost", True)],
)
def test_the_binding_cookie_is_secure_except_on_plain_http_loopback(public_url, secure):
    assert cookie_is_secure(public_url) is secure


# -- the page API: origin, binding, pending ----------------------------------------------------------


@pytest.mark.parametrize("origin", [None, "https://evil.example.com", "http://localhost:1", "null"])
def test_the_page_api_only_answers_its_own_origin(hosted, api, origin):
    session = create_session(api)
    browser = Browser(hosted, origin=origin)
    try:
        response = browser.call("launch", token=token_of(session))
    finally:
        browser.close()
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert get_session(api, session["id"])["started_at"] is None
    assert event_types(api, session["id"]) == ["session.created"]


def test_the_first_launch_starts_the_session_and_binds_this_browser(hosted, api, browser_a):
    session = create_session(api)
    response = browser_a.call("launch", token=token_of(session))
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    name = f"roost_es_{session['id']}"
    assert cookie.startswith(f"{name}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/embed" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; Secure everywhere else
    value = browser_a.client.cookies[name]
    (stored,) = hosted.sql("SELECT browser_binding_hash FROM embedded_signup_sessions WHERE id = :id", id=session["id"])
    assert stored[0] and value not in stored[0]  # only a hash is kept
    after = get_session(api, session["id"])
    assert after["started_at"] is not None
    assert event_types(api, session["id"]) == ["session.created", "session.started", "meta.launched"]
    # launching again (Try again) does not start it twice
    assert browser_a.call("launch", token=token_of(session)).status_code == 200
    assert event_types(api, session["id"])[-2:] == ["meta.launched", "meta.launched"]


def test_once_started_another_browser_finds_the_link_in_use(api, browser_a, browser_b):
    session = create_session(api, redirect_uri="https://platform.example.com/cb", state="s1")
    token = token_of(session)
    assert browser_a.call("launch", token=token).status_code == 200

    assert page_config(browser_b.page(session))["screen"] == "result-in-use"
    for path, body in [("launch", {}), ("message", {"message": finish_message()}), ("code", {"code": "AQBx"}),
                       ("return", {"reason": "user_cancelled"})]:
        response = browser_b.call(path, token=token, **body)
        assert response.status_code == 409, (path, response.text)
        assert response.json()["error"]["code"] == "session_in_use"
    assert browser_b.call("status", token=token).json()["in_use"] is True
    # the bound browser may reload freely
    assert page_config(browser_a.page(session))["screen"] == "connect"
    assert get_session(api, session["id"])["status"] == "pending"


def test_the_in_use_return_is_signed_and_says_so(api, browser_a, browser_b):
    session = create_session(api, redirect_uri="https://platform.example.com/cb?x=1", state="s1")
    browser_a.call("launch", token=token_of(session))
    answer = browser_b.call("result", token=token_of(session), opener=False).json()
    params = answer["params"]
    assert params["status"] == "pending" and params["error"] == "session_in_use" and params["state"] == "s1"
    assert verify(redirect_secret(api), params)
    assert answer["redirect_url"].startswith("https://platform.example.com/cb?x=1&session_id=")
    assert "result.redirected" not in event_types(api, session["id"])


@pytest.mark.parametrize("path", ["launch", "message", "code", "return"])
def test_a_session_that_is_no_longer_pending_is_refused(api, browser_a, path):
    session = create_session(api)
    token = token_of(session)
    if path != "launch":
        browser_a.call("launch", token=token)
    assert api.delete(f"{SESSIONS}/{session['id']}").status_code == 200
    body = {"message": {"message": finish_message()}, "code": {"code": "AQBx"}, "return": {"reason": "user_cancelled"}}
    response = browser_a.call(path, token=token, **body.get(path, {}))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_not_pending"
    assert get_session(api, session["id"])["status"] == "cancelled"


def test_the_status_shows_a_cancellation_by_the_platform(api, browser_a):
    session = create_session(api)
    assert browser_a.call("status", token=token_of(session)).json()["status"] == "pending"
    api.delete(f"{SESSIONS}/{session['id']}")
    status = browser_a.call("status", token=token_of(session)).json()
    assert status["status"] == "cancelled"
    assert status["error"]["code"] == "session_cancelled"


def test_a_message_must_be_metas(api, browser_a):
    session = create_session(api)
    browser_a.call("launch", token=token_of(session))
    deep = '{"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH", "data": ' + "[" * 5000 + "]" * 5000 + "}"
    for message in ["not json", {"type": "OTHER"}, 42, None, deep]:
        response = browser_a.call("message", token=token_of(session), message=message)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "message"
    assert "meta.message" not in event_types(api, session["id"])


def test_a_message_holding_a_nul_character_is_not_metas(api, browser_a):
    # Inside the relayed JSON string, so the body check cannot see it; PostgreSQL could not store it.
    session = create_session(api)
    browser_a.call("launch", token=token_of(session))
    response = browser_a.call("message", token=token_of(session), message=finish_message(waba_id="5241\x0026"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "message"
    assert "meta.message" not in event_types(api, session["id"])
    assert get_session(api, session["id"])["waba_id"] is None


def test_a_finish_without_code_is_recovered_only_after_15_seconds(hosted, api, browser_a):
    session = create_session(api, redirect_uri="https://platform.example.com/cb", state="s")
    token = token_of(session)
    browser_a.call("launch", token=token)
    assert browser_a.call("message", token=token, message=finish_message()).json() == {"kind": "finish"}

    assert browser_a.call("status", token=token).json()["status"] == "pending"
    hosted.sql("UPDATE session_events SET created_at = created_at - 15000 WHERE session_id = :id AND type = 'meta.message'",
               id=session["id"])
    status = browser_a.call("status", token=token).json()
    assert status["status"] == "recovered"
    assert status["error"]["code"] == "code_not_exchanged"
    after = get_session(api, session["id"])
    assert after["status"] == "recovered" and after["waba_id"] == "524126980791429"


def test_return_after_a_reported_error_fails_with_metas_message(api, browser_a):
    session = create_session(api)
    token = token_of(session)
    browser_a.call("launch", token=token)
    reported = {"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL", "version": 3,
                "data": {"error_message": "Your verified name violates WhatsApp guidelines.", "error_code": "524126",
                         "session_id": "f34b51dab5e0498", "timestamp": "1746041036"}}
    assert browser_a.call("message", token=token, message=reported).json() == {"kind": "error"}
    answer = browser_a.call("return", token=token, reason="signup_error", opener=False).json()
    assert answer["params"]["status"] == "failed" and answer["params"]["error"] == "signup_error"
    assert answer["params"]["error_description"] == "Your verified name violates WhatsApp guidelines."
    error = get_session(api, session["id"])["error"]
    assert error == {"code": "signup_error", "message": "Your verified name violates WhatsApp guidelines.", "meta_code": 524126}


def test_there_is_no_result_while_the_session_is_pending(api, browser_a):
    session = create_session(api, redirect_uri="https://platform.example.com/cb", state="s")
    browser_a.call("launch", token=token_of(session))
    response = browser_a.call("result", token=token_of(session))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_pending"


def test_the_code_is_exchanged_and_the_account_provisioned(api, org, browser_a):
    """What the page does with Meta's code, driven without a browser (the simulator mints it)."""
    session = create_session(api, redirect_uri="https://platform.example.com/cb", state="s")
    token = token_of(session)
    browser_a.call("launch", token=token)
    signup = api.post("/_sim/control/signups", json={"extras": {"setup": {}}}).json()
    browser_a.call("message", token=token, message=next(m["data"] for m in signup["messages"] if m["kind"] == "event"))
    assert browser_a.call("code", token=token, code=signup["code"]).json() == {"accepted": True}

    status = browser_a.call("status", token=token).json()
    assert status["status"] == "completed"
    assert [n["display_phone_number"] for n in status["numbers"]]
    answer = browser_a.call("result", token=token, opener=False).json()
    after = get_session(api, session["id"])
    assert answer["params"]["business_profile_id"] == after["business_profile_id"]
    assert answer["params"]["waba_id"] == signup["waba_id"] == after["waba_id"]
    assert verify(redirect_secret(api), answer["params"])
    # a second code for the same session is refused
    again = browser_a.call("code", token=token, code=signup["code"])
    assert again.status_code == 409
