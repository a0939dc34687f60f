"""Multi-Partner Solutions (issue 16): the solution a session onboards into reaches Meta's flow as
`extras.setup.solutionID` (the session's own, else the mode's `meta.solution_id`), and the profile
records the solution and its partners from Meta's PARTNER_ADDED, whenever that arrives."""

import httpx

from roost.sessions.flow import login_extras
from roost.sessions.models import SignupSession
from tests.support.polling import wait_until
from tests.support.signups import PROFILES, SETTINGS, get_profile, new_session, play, sim_app


def profile_once_solution_recorded(api: httpx.Client, profile_id: str) -> dict:
    """PARTNER_ADDED is sent in the background: wait until the profile shows it."""
    return wait_until(lambda: (lambda profile: profile if profile["solution_id"] else None)(get_profile(api, profile_id)))


def test_a_sessions_solution_reaches_meta_and_the_profile_records_it(roost, api):
    session = new_session(api, solution_id="4821630957124038")
    assert session["solution_id"] == "4821630957124038"
    row = roost.run(_stored_session(roost, session["id"]))
    assert login_extras(row)["setup"]["solutionID"] == "4821630957124038"

    played = play(api, session=session)
    assert played["status"] == "completed", played
    profile = profile_once_solution_recorded(api, played["business_profile_id"])

    assert profile["solution_id"] == "4821630957124038"
    partners = profile["solution_partner_business_ids"]
    assert len(partners) == 2 and sim_app(api)["partner_business_id"] in partners
    # What Meta sent: PARTNER_ADDED naming the solution, as the simulator delivered it.
    deliveries = api.get("/_sim/control/webhooks/deliveries").json()["data"]
    added = [d["payload"] for d in deliveries if d["event"] == "PARTNER_ADDED"]
    info = added[0]["entry"][0]["changes"][0]["value"]["waba_info"]
    assert info["solution_id"] == "4821630957124038" and info["solution_partner_business_ids"] == partners


def test_the_modes_solution_is_the_default_and_sessions_without_one_have_none(roost, api):
    plain = play(api)
    assert plain["solution_id"] is None
    assert get_profile(api, plain["business_profile_id"])["solution_id"] is None
    assert "solutionID" not in login_extras(roost.run(_stored_session(roost, plain["id"])))["setup"]

    response = api.patch(SETTINGS, json={"meta": {"solution_id": "7300000000000001"}})
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["solution_id"] == "7300000000000001"
    assert new_session(api)["solution_id"] == "7300000000000001"
    assert new_session(api, solution_id="99")["solution_id"] == "99"  # the session's own wins


def test_a_partner_added_after_the_profile_exists_is_recorded_on_it(api):
    profile = get_profile(api, play(api)["business_profile_id"])
    assert profile["solution_id"] is None and profile["solution_partner_business_ids"] == []

    sent = api.post("/_sim/control/webhooks/account-update",
                    json={"waba_id": profile["waba_id"], "event": "PARTNER_ADDED", "solution_id": "5550001112223334"})
    assert sent.status_code == 200, sent.text

    recorded = profile_once_solution_recorded(api, profile["id"])
    assert recorded["solution_id"] == "5550001112223334"
    assert sim_app(api)["partner_business_id"] in recorded["solution_partner_business_ids"]


def test_a_bad_solution_id_is_refused(api):
    for value in ("abc", "", "1" * 33, 12345):
        response = api.post("/v1/organization/embedded-signup/sessions", json={"solution_id": value})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "solution_id"
    response = api.patch(SETTINGS, json={"meta": {"solution_id": "12-34"}})
    assert response.status_code == 400 and response.json()["error"]["param"] == "meta.solution_id"
    assert api.get(SETTINGS).json()["meta"]["solution_id"] is None
    assert api.get(PROFILES).json()["data"] == []


async def _stored_session(roost, session_id: str) -> SignupSession:
    async with roost.runtime.sessions() as db:
        return await db.get(SignupSession, session_id)
