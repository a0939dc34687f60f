"""Reconnecting (SPEC 5.1 step 6, 5.2): a new session for a WABA this organization had reuses the
same profile record, with the new session, token and numbers, and subscribes the app again."""

from roost import worker
from tests.support.signups import (
    PROFILES, add_fault, clear_faults, get_profile, new_session, play, sim_app, steps, wait_for_status,
)
from tests.profiles.helpers import connect, disconnect, subscribed_apps


def token_of(roost, profile_id: str) -> str | None:
    return roost.sql("SELECT token_encrypted FROM business_profiles WHERE id = :id", id=profile_id)[0][0]


def test_a_new_session_for_the_same_waba_reconnects_the_same_record(roost, api):
    first_session, profile = connect(api)
    app_id = sim_app(api)["app_id"]
    first_token = token_of(roost, profile["id"])
    disconnect(api, profile["id"])
    assert subscribed_apps(api, profile["waba_id"]) == []

    second_session, again = connect(api, waba_id=profile["waba_id"])

    assert second_session["business_profile_id"] == profile["id"]
    assert again["id"] == profile["id"] and again["created_at"] == profile["created_at"]
    assert again["status"] == "connected"
    assert again["disconnected_at"] is None and again["unsubscribe"] is None
    assert again["session_id"] == second_session["id"] != first_session["id"]
    assert again["waba_id"] == profile["waba_id"]
    assert again["onboarding_completed_at"] >= profile["onboarding_completed_at"]
    # The numbers as Meta shows them now: the first one, and the one added in the second signup.
    first_numbers = {phone["phone_number_id"] for phone in profile["phone_numbers"]}
    numbers = {phone["phone_number_id"] for phone in again["phone_numbers"]}
    assert first_numbers < numbers and len(numbers) == 2
    assert {phone["id"] for phone in profile["phone_numbers"]} <= {phone["id"] for phone in again["phone_numbers"]}
    # A new business token replaced the old one (which Roost dropped once it unsubscribed).
    assert token_of(roost, profile["id"]) not in (None, first_token)
    assert subscribed_apps(api, profile["waba_id"]) == [app_id]
    listed = api.get(PROFILES, params={"waba_id": profile["waba_id"]}).json()["data"]
    assert [item["id"] for item in listed] == [profile["id"]]
    (count,) = roost.sql("SELECT count(*) FROM business_profiles WHERE waba_id = :w", w=profile["waba_id"])[0]
    assert count == 1


def test_reconnecting_calls_off_an_unsubscribe_still_waiting_for_a_retry(roost, api):
    _, profile = connect(api)
    app_id = sim_app(api)["app_id"]
    add_fault(api, call="subscribed_apps", kind="http_error", status=503, count=3)
    assert disconnect(api, profile["id"])["unsubscribe"]["status"] == "pending"
    clear_faults(api)

    _, again = connect(api, waba_id=profile["waba_id"])
    roost.sql("UPDATE business_profiles SET unsubscribe_next_at = 0 WHERE id = :id", id=profile["id"])
    roost.run(worker.tick(roost.runtime))

    assert again["status"] == "connected" and again["unsubscribe"] is None
    assert get_profile(api, profile["id"])["unsubscribe"] is None
    assert subscribed_apps(api, profile["waba_id"]) == [app_id]  # the late retry did not silence the WABA


def test_a_retry_waits_while_a_session_for_the_same_waba_is_provisioning(roost, api):
    _, profile = connect(api)
    app_id = sim_app(api)["app_id"]
    add_fault(api, call="subscribed_apps", kind="http_error", status=503, count=3)
    disconnect(api, profile["id"])
    clear_faults(api)
    # A reconnection subscribes the app again, then waits out a Meta outage before its profile step.
    add_fault(api, call="waba", kind="http_error", status=503, count=None)
    session = play(api, session=new_session(api, prefill={"whatsAppBusinessAccount": {"ids": [profile["waba_id"]]}}))
    assert session["status"] == "pending" and steps(session)["subscribe_app"]["status"] == "succeeded"
    assert steps(session)["create_profile"]["status"] == "pending"
    assert subscribed_apps(api, profile["waba_id"]) == [app_id]

    roost.sql("UPDATE business_profiles SET unsubscribe_next_at = 0 WHERE id = :id", id=profile["id"])
    roost.run(worker.tick(roost.runtime))

    waiting = get_profile(api, profile["id"])["unsubscribe"]
    assert waiting["status"] == "pending" and waiting["attempts"] == 1  # not attempted: it waits
    assert subscribed_apps(api, profile["waba_id"]) == [app_id]

    clear_faults(api)
    roost.sql("UPDATE embedded_signup_sessions SET provisioning_next_at = 0 WHERE id = :id", id=session["id"])
    done = wait_for_status(api, session["id"], "completed")
    assert done["business_profile_id"] == profile["id"]
    assert get_profile(api, profile["id"])["unsubscribe"] is None
    assert subscribed_apps(api, profile["waba_id"]) == [app_id]
