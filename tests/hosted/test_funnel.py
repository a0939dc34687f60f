"""GET /v1/organization/embedded-signup/funnel (SPEC 3.5): counts from sessions and their events."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.hosted.helpers import create_session
from tests.support import SESSIONS

FUNNEL = "/v1/organization/embedded-signup/funnel"


class PageBrowser:
    """The hosted page's API as one browser uses it (its cookie jar, the page's origin)."""

    def __init__(self, hosted: Any, session: dict[str, Any]) -> None:
        self.client = httpx.Client(base_url=hosted.base_url, headers={"Origin": hosted.base_url}, timeout=30)
        self.token = parse_qs(urlsplit(session["url"]).query)["token"][0]

    def __call__(self, path: str, **body: Any) -> dict[str, Any]:
        response = self.client.post(f"/embed/api/{path}", json={"token": self.token, **body})
        assert response.status_code == 200, response.text
        return response.json()


def simulate(api: httpx.Client, session: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = api.post(f"{SESSIONS}/{session['id']}/simulate", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def cancel_message(step: str) -> dict[str, Any]:
    return {"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL", "data": {"current_step": step}, "version": 3}


@pytest.fixture
def outcomes(hosted, api) -> list[dict[str, Any]]:
    """Nine sessions, each stopping at another point of the funnel, oldest first."""
    made = [create_session(api) for _ in range(9)]
    created_only, opened, cancelled_on_page, completed, cancelled, failed, recovered, withdrawn, overdue = made
    PageBrowser(hosted, opened)("opened")
    page = PageBrowser(hosted, cancelled_on_page)
    page("opened")
    page("opened")  # a reload: still one session opened
    page("launch")
    page("message", message=cancel_message("PHONE_NUMBER_SETUP"))
    page("return", reason="user_cancelled")
    simulate(api, completed, outcome="completed")
    simulate(api, cancelled, outcome="cancelled", cancel_step="PERMISSIONS")
    simulate(api, failed, outcome="signup_error", error_code="2388002")
    simulate(api, recovered, outcome="recovered")
    assert api.delete(f"{SESSIONS}/{withdrawn['id']}").status_code == 200
    hosted.sql("UPDATE embedded_signup_sessions SET deadline_at = 1 WHERE id = :id", id=overdue["id"])
    return made


def test_the_funnel_counts_each_stage(api, outcomes):
    response = api.get(FUNNEL)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object": "embedded_signup_funnel",
        "livemode": False,
        "created": 9,
        "opened": 2,
        "started": 5,
        "finished_on_meta": 2,
        "completed": 1,
        "abandoned_at": {"PHONE_NUMBER_SETUP": 1, "PERMISSIONS": 1},
        "errors": {"user_cancelled": 2, "signup_error": 1, "code_not_exchanged": 1, "session_cancelled": 1,
                   "session_expired": 1},
    }


def test_the_funnel_is_limited_to_a_creation_range(api, outcomes):
    completed, withdrawn = outcomes[3], outcomes[7]
    funnel = api.get(FUNNEL, params={"created[gte]": completed["created_at"], "created[lt]": withdrawn["created_at"]}).json()
    assert funnel["created"] == 4  # completed, cancelled, failed, recovered
    assert funnel["opened"] == 0 and funnel["started"] == 4 and funnel["completed"] == 1
    assert funnel["abandoned_at"] == {"PERMISSIONS": 1}
    seconds = api.get(FUNNEL, params={"created[gte]": "4102444800"}).json()  # Unix seconds, year 2100
    assert seconds["created"] == 0 and seconds["errors"] == {} and seconds["abandoned_at"] == {}


def test_the_funnel_sees_only_the_callers_organization_and_mode(hosted, api, outcomes):
    other = hosted.new_org(live=True)
    with other.client() as test_key, other.client(other.keys["live"]) as live_key:
        assert test_key.get(FUNNEL).json()["created"] == 0
        assert live_key.get(FUNNEL).json()["created"] == 0
    assert api.get(FUNNEL).json()["created"] == 9


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"created[gte]": "yesterday"}, "created[gte]", "parameter_invalid"),
        ({"created[lt]": ""}, "created[lt]", "parameter_invalid"),
        ({"created[gt]": "1"}, "created[gt]", "parameter_unknown"),
        ({"status": "completed"}, "status", "parameter_unknown"),
    ],
)
def test_bad_funnel_parameters(api, params, param, code):
    response = api.get(FUNNEL, params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["code"] == code


def test_the_funnel_needs_an_admin_key(hosted):
    response = httpx.get(f"{hosted.base_url}{FUNNEL}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_missing"
