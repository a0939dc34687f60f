"""The platform-run popup flow and recovery (SPEC 5.3) with the simulator, over real HTTP:
start-attempt → callback → profile; a lost code → recovered → Meta's account_update → claim →
completed, by hand and automatically; and every refusal with nothing stored."""

import pytest

from roost.worker import tick
from tests.support.signups import get_profile, get_session, new_session, simulate, wait_for_status, wait_until
from tests.recovery.helpers import (
    ATTEMPTS,
    account_update,
    claim,
    emit,
    envelope,
    mark_interrupted,
    post_webhook,
    set_settings,
    sim_app,
    sim_signup,
    start_attempt,
)
from tests.support import count_sessions


def session_events(api, session_id):
    return [event["type"] for event in api.get(f"/v1/organization/embedded-signup/sessions/{session_id}/events").json()["data"]]


def recovered_list(api, **query):
    response = api.get(f"{ATTEMPTS}/recovered-attempts", params=query)
    assert response.status_code == 200, response.text
    return response.json()


# -- start-attempt ----------------------------------------------------------------------------------


def test_start_attempt_returns_the_attempt_and_what_fb_login_needs(api):
    app = sim_app(api)

    attempt = start_attempt(api, metadata={"externalUserId": "user_123"})

    assert attempt["attempt_id"] == attempt["id"] and attempt["id"].startswith("wss_")
    assert attempt["object"] == "embedded_signup_session"
    assert (attempt["source"], attempt["status"], attempt["livemode"]) == ("platform", "pending", False)
    assert attempt["expires_at"].endswith("Z") and attempt["started_at"] is not None
    assert attempt["metadata"] == {"externalUserId": "user_123"}
    assert "url" not in attempt
    assert attempt["launch"]["app_id"] == app["app_id"]
    assert attempt["launch"]["config_id"] == app["config_id"]
    assert attempt["launch"]["extras"]["sessionInfoVersion"] == "3"
    listed = api.get("/v1/organization/embedded-signup/sessions", params={"source": "platform"}).json()["data"]
    assert [item["id"] for item in listed] == [attempt["id"]]


def test_start_attempt_without_a_body_works(api):
    response = api.post(f"{ATTEMPTS}/start-attempt")
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == {}


@pytest.mark.parametrize(
    "body, code, param",
    [
        ({"metadata": "x"}, "parameter_invalid", "metadata"),
        ({"metadata": {"k": "v" * 11_000}}, "parameter_invalid", "metadata"),
        ({"metadta": {}}, "parameter_unknown", "metadta"),
    ],
)
def test_a_bad_start_attempt_is_refused_and_nothing_is_stored(roost, org, api, body, code, param):
    response = api.post(f"{ATTEMPTS}/start-attempt", json=body)

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, param)
    assert count_sessions(roost, org.id) == 0


def test_start_attempt_is_idempotent_with_a_key(roost, org, api):
    first = api.post(f"{ATTEMPTS}/start-attempt", json={"metadata": {"a": 1}}, headers={"Idempotency-Key": "attempt-1"})
    second = api.post(f"{ATTEMPTS}/start-attempt", json={"metadata": {"a": 1}}, headers={"Idempotency-Key": "attempt-1"})

    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["attempt_id"] == second.json()["attempt_id"]
    assert count_sessions(roost, org.id) == 1
    long_key = "k" * 255
    assert api.post(f"{ATTEMPTS}/start-attempt", json={}, headers={"Idempotency-Key": long_key}).status_code == 201
    assert api.post(f"{ATTEMPTS}/start-attempt", json={}, headers={"Idempotency-Key": long_key}).headers["idempotent-replayed"] == "true"


# -- callback --------------------------------------------------------------------------------------


def test_start_attempt_then_callback_returns_the_business_profile(api):
    attempt = start_attempt(api, metadata={"plan": "pro"})
    signup = sim_signup(api, extras={"sessionInfoVersion": "3"})

    response = api.post(f"{ATTEMPTS}/callback", json={
        "attempt_id": attempt["attempt_id"], "code": signup["code"], "waba_id": signup["waba_id"],
        "phone_number_id": signup["phone_number_id"], "business_id": signup["business_id"],
    })

    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["object"] == "business_profile"
    assert (profile["waba_id"], profile["session_id"], profile["status"]) == (signup["waba_id"], attempt["id"], "connected")
    assert [phone["phone_number_id"] for phone in profile["phone_numbers"]] == [signup["phone_number_id"]]
    session = get_session(api, attempt["id"])
    assert (session["status"], session["source"], session["business_profile_id"]) == ("completed", "platform", profile["id"])
    assert "platform.callback" in session_events(api, attempt["id"])


def test_a_callback_with_only_the_code_finds_the_waba_itself(api):
    attempt = start_attempt(api)
    signup = sim_signup(api)

    response = api.post(f"{ATTEMPTS}/callback", json={"attempt_id": attempt["attempt_id"], "code": signup["code"], "coexistence": False})

    assert response.status_code == 200, response.text
    assert response.json()["waba_id"] == signup["waba_id"]


def test_a_used_code_is_metas_refusal_and_the_attempt_fails(api):
    attempt = start_attempt(api)
    signup = sim_signup(api)
    first = start_attempt(api)
    assert api.post(f"{ATTEMPTS}/callback", json={"attempt_id": first["id"], "code": signup["code"]}).status_code == 200

    response = api.post(f"{ATTEMPTS}/callback", json={"attempt_id": attempt["id"], "code": signup["code"]})

    assert response.status_code == 424
    error = response.json()["error"]
    assert (error["type"], error["code"], error["attempt_id"], error["attempt_status"]) == (
        "provider_error", "token_exchange_failed", attempt["id"], "failed")
    assert error["provider"]["code"] == 100


def test_a_lost_exchange_with_a_known_waba_leaves_a_claimable_attempt(api):
    attempt = start_attempt(api)
    signup = sim_signup(api)
    used = start_attempt(api)
    api.post(f"{ATTEMPTS}/callback", json={"attempt_id": used["id"], "code": signup["code"]})

    response = api.post(f"{ATTEMPTS}/callback", json={"attempt_id": attempt["id"], "code": signup["code"], "waba_id": signup["waba_id"]})

    assert response.status_code == 424
    assert (response.json()["error"]["code"], response.json()["error"]["attempt_status"]) == ("code_not_exchanged", "recovered")


@pytest.mark.parametrize(
    "body, status, code, param",
    [
        ({"code": "AQx"}, 400, "parameter_missing", "attempt_id"),
        ({"attempt_id": "wss_abc"}, 400, "parameter_missing", "code"),
        ({"attempt_id": "abc", "code": "AQx"}, 400, "parameter_invalid", "attempt_id"),
        ({"attempt_id": "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "code": "AQx"}, 404, "resource_missing", "attempt_id"),
        ({"attempt_id": "wss_abc", "code": "AQx", "waba_id": "12ab"}, 400, "parameter_invalid", "waba_id"),
        ({"attempt_id": "wss_abc", "code": "AQx", "coexistence": "yes"}, 400, "parameter_invalid", "coexistence"),
        ({"attempt_id": "wss_abc", "code": "AQx", "redirect_uri": "javascript:alert(1)"}, 400, "parameter_invalid", "redirect_uri"),
        ({"attempt_id": "wss_abc", "code": "AQx", "extra": 1}, 400, "parameter_unknown", "extra"),
    ],
)
def test_a_bad_callback_is_refused_exactly(api, body, status, code, param):
    response = api.post(f"{ATTEMPTS}/callback", json=body)

    assert response.status_code == status, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, param)


def test_a_callback_for_a_hosted_session_or_a_finished_attempt_is_refused_and_changes_nothing(api):
    hosted = new_session(api)
    attempt = start_attempt(api)
    assert api.delete(f"/v1/organization/embedded-signup/sessions/{attempt['id']}").status_code == 200
    signup = sim_signup(api)

    on_hosted = api.post(f"{ATTEMPTS}/callback", json={"attempt_id": hosted["id"], "code": signup["code"]})
    on_cancelled = api.post(f"{ATTEMPTS}/callback", json={"attempt_id": attempt["id"], "code": signup["code"]})

    assert (on_hosted.status_code, on_hosted.json()["error"]["param"]) == (400, "attempt_id")
    assert (on_cancelled.status_code, on_cancelled.json()["error"]["code"]) == (409, "session_not_pending")
    assert get_session(api, hosted["id"])["status"] == "pending"
    # The code was not spent on either: it still works.
    fresh = start_attempt(api)
    assert api.post(f"{ATTEMPTS}/callback", json={"attempt_id": fresh["id"], "code": signup["code"]}).status_code == 200


def test_another_organizations_attempt_is_404(roost, api):
    with roost.new_org().client() as other:
        foreign = start_attempt(other)

    assert api.post(f"{ATTEMPTS}/callback", json={"attempt_id": foreign["id"], "code": "AQx"}).status_code == 404
    assert mark_interrupted(api, foreign["id"], "123").status_code == 404
    assert claim(api, foreign["id"]).status_code == 404


# -- mark-interrupted and recovered-attempts ---------------------------------------------------------------


def test_mark_interrupted_makes_the_attempt_recovered_and_lists_it(api):
    set_settings(api, auto_claim=False)
    attempt = start_attempt(api, metadata={"externalUserId": "u1"})
    signup = sim_signup(api, webhook_event=None)

    response = mark_interrupted(api, attempt["id"], signup["waba_id"], business_id=signup["business_id"])

    assert response.status_code == 200, response.text
    session = response.json()
    assert (session["status"], session["waba_id"], session["error"]["code"]) == ("recovered", signup["waba_id"], "code_not_exchanged")
    again = mark_interrupted(api, attempt["id"], signup["waba_id"])
    assert again.status_code == 200 and again.json()["status"] == "recovered"
    listed = recovered_list(api)
    (item,) = listed["data"]
    assert item["attempt_id"] == attempt["id"] and item["object"] == "recovered_attempt"
    assert (item["waba_id"], item["metadata"], item["proof_received_at"], item["source"]) == (signup["waba_id"], {"externalUserId": "u1"}, None, "platform")
    assert item["recovered_at"] is not None and listed["has_more"] is False


def test_recovered_attempts_are_cursor_paginated_and_filterable(api):
    set_settings(api, auto_claim=False)
    ids = []
    for index in range(3):
        attempt = start_attempt(api, metadata={"n": index})
        mark_interrupted(api, attempt["id"], f"10000000000000{index}")
        ids.append(attempt["id"])
    start_attempt(api)  # pending: not listed

    first = recovered_list(api, limit=2)
    second = recovered_list(api, limit=2, starting_after=first["data"][-1]["attempt_id"])
    only = recovered_list(api, **{"metadata[n]": "1"})

    assert [item["attempt_id"] for item in first["data"] + second["data"]] == ids[::-1]
    assert (first["has_more"], second["has_more"]) == (True, False)
    assert [item["attempt_id"] for item in only["data"]] == [ids[1]]
    bad = api.get(f"{ATTEMPTS}/recovered-attempts", params={"limit": 0})
    unknown = api.get(f"{ATTEMPTS}/recovered-attempts", params={"status": "x"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "limit")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "parameter_unknown")


def test_mark_interrupted_refusals(api):
    attempt = start_attempt(api)
    signup = sim_signup(api, webhook_event=None)
    hosted = new_session(api)

    missing = api.post(f"{ATTEMPTS}/mark-interrupted", json={"attempt_id": attempt["id"]})
    bad = mark_interrupted(api, attempt["id"], "not-digits")
    on_hosted = mark_interrupted(api, hosted["id"], signup["waba_id"])
    assert api.post(f"{ATTEMPTS}/callback", json={"attempt_id": attempt["id"], "code": signup["code"]}).status_code == 200
    after_completion = mark_interrupted(api, attempt["id"], signup["waba_id"])

    assert (missing.status_code, missing.json()["error"]["code"], missing.json()["error"]["param"]) == (400, "parameter_missing", "waba_id")
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "waba_id")
    assert (on_hosted.status_code, on_hosted.json()["error"]["param"]) == (400, "attempt_id")
    assert (after_completion.status_code, after_completion.json()["error"]["code"]) == (409, "session_not_pending")
    assert get_session(api, hosted["id"])["status"] == "pending"


# -- claims ------------------------------------------------------------------------------------------------


def test_claim_without_metas_proof_is_refused_then_works_once_the_webhook_arrives(roost, api):
    set_settings(api, auto_claim=False)
    attempt = start_attempt(api)
    signup = sim_signup(api, webhook_event=None)  # Meta's account_update is late
    mark_interrupted(api, attempt["id"], signup["waba_id"])

    refused = claim(api, attempt["id"])

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "claim_proof_missing"
    session = get_session(api, attempt["id"])
    assert (session["status"], session["provisioning"]) == ("recovered", [])
    assert "session.claim_started" not in session_events(api, attempt["id"])

    emit(api, "account-update", waba_id=signup["waba_id"], event="PARTNER_ADDED")
    assert recovered_list(api)["data"][0]["proof_received_at"] is not None
    roost.run(tick(roost.runtime))  # auto-claim is off: the worker leaves it alone
    assert get_session(api, attempt["id"])["status"] == "recovered"

    claimed = claim(api, attempt["id"])

    assert claimed.status_code == 200, claimed.text
    profile = claimed.json()
    assert (profile["waba_id"], profile["session_id"], profile["business_id"]) == (signup["waba_id"], attempt["id"], signup["business_id"])
    session = get_session(api, attempt["id"])
    assert (session["status"], session["error"], session["business_profile_id"]) == ("completed", None, profile["id"])
    assert [record["step"] for record in session["provisioning"]][:2] == ["claim_token", "resolve_assets"]
    assert recovered_list(api)["data"] == []
    again = claim(api, attempt["id"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "session_not_recovered")


def test_a_proof_from_before_the_attempt_started_does_not_count(roost, api):
    set_settings(api, auto_claim=False)
    signup = sim_signup(api)  # PARTNER_APP_INSTALLED arrives now, before the attempt
    app = sim_app(api)
    wait_until(lambda: roost.sql("SELECT count(*) FROM meta_webhook_changes WHERE app_id = :a", a=app["app_id"])[0][0] == 1)
    attempt = start_attempt(api)
    mark_interrupted(api, attempt["id"], signup["waba_id"])

    response = claim(api, attempt["id"])

    assert (response.status_code, response.json()["error"]["code"]) == (409, "claim_proof_missing")


@pytest.mark.parametrize(
    "body, status, code",
    [({}, 400, "parameter_missing"), ({"attempt_id": "nope"}, 400, "parameter_invalid"),
     ({"attempt_id": "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI"}, 404, "resource_missing")],
)
def test_bad_claims_are_refused_exactly(api, body, status, code):
    response = api.post(f"{ATTEMPTS}/claim", json=body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_only_a_recovered_attempt_can_be_claimed(api):
    attempt = start_attempt(api)

    response = claim(api, attempt["id"])

    assert (response.status_code, response.json()["error"]["code"]) == (409, "session_not_recovered")
    assert get_session(api, attempt["id"])["status"] == "pending"


def test_one_organization_cannot_claim_another_organizations_waba(roost, api):
    set_settings(api, auto_claim=False)
    with roost.new_org().client() as other:
        attempt_elsewhere = start_attempt(other)
        foreign = sim_signup(other)  # shared with the other organization's app, whose webhook arrives
        mark_interrupted(other, attempt_elsewhere["id"], foreign["waba_id"])
        set_settings(other, auto_claim=False)
    attempt = start_attempt(api)
    mark_interrupted(api, attempt["id"], foreign["waba_id"])
    wait_until(lambda: roost.sql("SELECT count(*) FROM meta_webhook_changes WHERE waba_id = :w", w=foreign["waba_id"])[0][0] == 1)

    response = claim(api, attempt["id"])

    assert (response.status_code, response.json()["error"]["code"]) == (409, "claim_proof_missing")
    # Nor does Roost claim it on its own for this organization.
    set_settings(api, auto_claim=True)
    roost.run(tick(roost.runtime))
    assert get_session(api, attempt["id"])["status"] == "recovered"


def test_a_forged_account_update_proves_nothing(roost, api):
    set_settings(api, auto_claim=False)
    attempt = start_attempt(api)
    signup = sim_signup(api, webhook_event=None)
    mark_interrupted(api, attempt["id"], signup["waba_id"])
    app = sim_app(api)
    with roost.http() as http:
        forged = post_webhook(http, app, envelope(account_update(app["partner_business_id"], "PARTNER_ADDED", signup["waba_id"], signup["business_id"])),
                              secret="forged")
    assert forged.status_code == 401

    assert (claim(api, attempt["id"]).json()["error"]["code"]) == "claim_proof_missing"


# -- automatic claims -----------------------------------------------------------------------------------------


def test_auto_claim_when_metas_webhook_arrives_after_the_code_was_lost(api):
    """The whole story: Meta's dialog finished, the code never reached Roost (hosted session),
    Meta's account_update arrives, Roost claims the account by itself."""
    session = new_session(api)
    # The signup's own webhook is held back (lost), so the session is recovered first.
    api.post("/_sim/control/faults", json={"call": "webhooks", "kind": "webhook_lost"})
    recovered = simulate(api, session["id"], outcome="recovered")
    assert recovered.status_code == 200 and recovered.json()["status"] == "recovered"

    emit(api, "account-update", waba_id=recovered.json()["waba_id"], event="PARTNER_APP_INSTALLED")

    completed = wait_for_status(api, session["id"], "completed")
    assert completed["business_profile_id"] and completed["error"] is None
    assert get_profile(api, completed["business_profile_id"])["status"] == "connected"
    assert "session.claim_started" in session_events(api, session["id"])


def test_auto_claim_when_the_webhook_came_before_the_attempt_was_marked_interrupted(roost, api):
    app = sim_app(api)
    attempt = start_attempt(api)
    signup = sim_signup(api)  # sends PARTNER_APP_INSTALLED
    wait_until(lambda: roost.sql("SELECT count(*) FROM meta_webhook_changes WHERE app_id = :a", a=app["app_id"])[0][0] == 1)

    mark_interrupted(api, attempt["id"], signup["waba_id"])

    completed = wait_for_status(api, attempt["id"], "completed")
    assert get_profile(api, completed["business_profile_id"])["waba_id"] == signup["waba_id"]


def test_auto_claim_is_durable_the_worker_finds_a_proved_session(roost, api):
    """As if the process stopped right after storing the webhook: the worker claims it."""
    set_settings(api, auto_claim=False)
    attempt = start_attempt(api)
    signup = sim_signup(api, webhook_event=None)
    mark_interrupted(api, attempt["id"], signup["waba_id"])
    emit(api, "account-update", waba_id=signup["waba_id"], event="PARTNER_ADDED")
    assert get_session(api, attempt["id"])["status"] == "recovered"

    set_settings(api, auto_claim=True)
    roost.run(tick(roost.runtime))

    wait_for_status(api, attempt["id"], "completed")


def test_a_hosted_recovered_session_can_be_claimed_by_hand(api):
    set_settings(api, auto_claim=False)
    session = new_session(api)
    recovered = simulate(api, session["id"], outcome="recovered").json()  # the simulator also sends the webhook
    assert recovered["status"] == "recovered"
    wait_until(lambda: recovered_list(api)["data"] and recovered_list(api)["data"][0]["proof_received_at"])

    response = claim(api, session["id"])

    assert response.status_code == 200, response.text
    assert get_session(api, session["id"])["status"] == "completed"


def test_a_proof_from_before_a_hosted_session_was_started_does_not_count(roost, api):
    # A hosted session starts at the connect click, which can be minutes after it was created:
    # an account_update in between is not the one this user's flow caused.
    set_settings(api, auto_claim=False)
    session = new_session(api)
    simulate(api, session["id"], outcome="recovered")
    wait_until(lambda: recovered_list(api)["data"] and recovered_list(api)["data"][0]["proof_received_at"])
    (received_at,) = roost.sql(
        "SELECT max(received_at) FROM meta_webhook_changes WHERE waba_id = :w", w=get_session(api, session["id"])["waba_id"]
    )[0]
    roost.sql("UPDATE embedded_signup_sessions SET started_at = :t WHERE id = :id", t=received_at + 1, id=session["id"])

    refused = claim(api, session["id"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "claim_proof_missing")

    roost.sql("UPDATE embedded_signup_sessions SET started_at = :t WHERE id = :id", t=received_at, id=session["id"])
    assert claim(api, session["id"]).status_code == 200


def test_a_claim_that_meta_refuses_leaves_the_attempt_recovered(api):
    set_settings(api, auto_claim=False)
    attempt = start_attempt(api)
    signup = sim_signup(api, webhook_event=None)
    mark_interrupted(api, attempt["id"], signup["waba_id"])
    emit(api, "account-update", waba_id=signup["waba_id"], event="PARTNER_ADDED")
    fault = api.post("/_sim/control/faults", json={"call": "system_user_access_tokens", "kind": "graph_error", "meta_code": 200, "status": 403})
    assert fault.status_code == 201, fault.text

    response = claim(api, attempt["id"])

    assert response.status_code == 424, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["provider"]["code"], error["attempt_status"]) == ("provider_error", "claim_failed", 200, "recovered")
    item = recovered_list(api)["data"][0]
    assert item["claim_error"]["code"] == 200 and item["claim_running"] is False
    # Once Meta agrees, a second claim connects it.
    assert claim(api, attempt["id"]).status_code == 200


def test_the_code_never_arrives_from_metas_dialog_and_roost_claims_the_account_itself(api):
    """A fault in Meta's (simulated) dialog: FINISH is posted but the code never comes. The
    session is recovered, Meta's own account_update arrives, and auto-claim completes it."""
    fault = api.post("/_sim/control/faults", json={"call": "dialog", "kind": "code_never"})
    assert fault.status_code == 201, fault.text
    session = new_session(api)

    played = simulate(api, session["id"], outcome="completed")

    assert played.status_code == 200 and played.json()["status"] in ("recovered", "completed")
    completed = wait_for_status(api, session["id"], "completed")
    assert completed["code_received_at"] is None
    assert [record["step"] for record in completed["provisioning"]][0] == "claim_token"
    assert "session.claim_started" in session_events(api, session["id"])
