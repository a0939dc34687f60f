"""Helpers for the hosted page's tests: sessions, the page's screens, Meta's dialog, the result."""

import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx

from roost.hosted.signing import verify
from tests.support import SESSIONS, Org, wait_until

SCREENS = (
    "connect-screen", "waiting", "progress", "flow-cancelled", "flow-error", "result-completed", "result-recovered",
    "result-failed", "result-cancelled", "result-expired", "result-unknown", "result-in-use",
)


def token_of(session: dict[str, Any]) -> str:
    return parse_qs(urlsplit(session["url"]).query)["token"][0]


def finish_message(waba_id: str = "524126980791429") -> str:
    return json.dumps({"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH", "version": 3,
                       "data": {"waba_id": waba_id, "phone_number_id": "106540352242922", "business_id": "2729063490586005"}})


def create_session(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post(SESSIONS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def get_session(api: httpx.Client, session_id: str) -> dict[str, Any]:
    response = api.get(f"{SESSIONS}/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()


def events(api: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    response = api.get(f"{SESSIONS}/{session_id}/events")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def event_types(api: httpx.Client, session_id: str) -> list[str]:
    return [event["type"] for event in events(api, session_id)]


def redirect_secret(api: httpx.Client) -> str:
    return api.get("/v1/organization/settings").json()["redirect_secret"]


def visible(page: Any, testid: str, timeout: float = 30_000) -> Any:
    # Generous: a result screen waits for provisioning, slow on a loaded two-core machine.
    locator = page.locator(f'[data-testid="{testid}"]')
    locator.wait_for(state="visible", timeout=timeout)
    return locator


def shown_screens(page: Any) -> list[str]:
    return [testid for testid in SCREENS if page.locator(f'[data-testid="{testid}"]').is_visible()]


def open_link(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("document.readyState === 'complete'")


def start_flow(page: Any) -> Any:
    """Click the connect button (once Meta's SDK is ready) and return Meta's dialog."""
    button = page.locator('[data-testid="connect-button"]:visible, [data-testid="try-again"]:visible').first
    button.wait_for(state="visible")
    page.wait_for_function("!!window.FB")
    with page.expect_popup() as popup_info:
        button.click()
    dialog = popup_info.value
    dialog.set_default_timeout(15_000)
    dialog.wait_for_load_state()
    return dialog


def close_meta_window(dialog: Any) -> None:
    """The dialog's "close without any event" hook: the window is gone before the click returns."""
    from playwright.sync_api import Error

    try:
        dialog.click('[data-testid="es-sim-close"]', no_wait_after=True)
    except Error as error:
        if "closed" not in str(error).lower():
            raise


def result_from_url(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def assert_signed(params: dict[str, str], secret: str) -> None:
    assert params["signature"].startswith("v1=")
    assert verify(secret, params), params
    assert abs(int(params["timestamp"]) - time.time()) < 600


def wait_for(check: Any, timeout: float = 15, every: float = 0.1) -> Any:
    """The hosted tests' name for tests.support.wait_until (a browser is polled less often)."""
    return wait_until(check, timeout, interval=every)


def wait_status(api: httpx.Client, session_id: str, status: str, timeout: float = 15) -> dict[str, Any]:
    return wait_for(lambda: (s := get_session(api, session_id))["status"] == status and s, timeout)


def set_fault(org: Org, **fault: Any) -> None:
    with org.client() as client:
        response = client.post("/_sim/control/faults", json=fault)
        assert response.status_code in (200, 201), response.text


class CodeInFlight:
    """The page's calls, without a browser, up to Meta's code, which is sent in the background
    while the simulator answers provisioning's subscription call `delay_ms` late."""

    def __init__(self, api: httpx.Client, page: httpx.Client, delay_ms: int) -> None:
        self.session = create_session(api)
        fault = {"call": "subscribed_apps", "kind": "latency", "delay_ms": delay_ms}
        assert api.post("/_sim/control/faults", json=fault).status_code == 201
        self.signup = api.post("/_sim/control/signups", json={}).json()
        token, origin = token_of(self.session), {"Origin": str(page.base_url).rstrip("/")}
        assert page.post("/embed/api/launch", json={"token": token}, headers=origin).status_code == 200
        message = {"token": token, "message": finish_message(self.signup["waba_id"])}
        assert page.post("/embed/api/message", json=message, headers=origin).status_code == 200
        code = {"token": token, "code": self.signup["code"]}
        self._answer: list[httpx.Response] = []
        self._sender = threading.Thread(
            target=lambda: self._answer.append(page.post("/embed/api/code", json=code, headers=origin))
        )
        self._sender.start()

    def answer(self) -> httpx.Response:
        """The page's code request's answer, once it came."""
        self._sender.join()
        return self._answer[0]
