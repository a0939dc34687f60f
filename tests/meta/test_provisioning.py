"""Provisioning after a finished flow (SPEC 5.1) and the business profiles API (5.2), driven
through the `simulate` test helper and the simulator's faults, over real HTTP."""

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from roost.meta.events import SignupMessage
from roost.profiles.tokens import open_profile_token
from roost.provisioning.runner import Provisioner
from roost.kit.timeutil import now_ms
from roost.worker import tick
from tests.support.signups import (
    GRAPH_VERSION,
    HttpsReceiver,
    PHONES,
    PROFILES,
    SETTINGS,
    STEPS,
    add_fault,
    attempts,
    clear_faults,
    events,
    get_profile,
    get_session,
    new_session,
    play,
    sha256,
    sim_app,
    sim_signup,
    simulate,
    statuses,
    step_events,
    steps,
    wait_for_status,
    wait_until,
)
from tests.support import SEED_BODY, SESSIONS

PROFILE_FIELDS = {
    "id", "object", "livemode", "session_id", "waba_id", "business_id", "business_name", "coexistence", "solution_id",
    "solution_partner_business_ids",
    "token_expires_at", "onboarding_completed_at", "review_status", "review_decided_at", "status", "disconnected_at",
    "unsubscribe", "health",
    "phone_numbers", "created_at",
}
PHONE_FIELDS = {
    "id", "object", "business_profile_id", "phone_number_id", "display_phone_number", "verified_name", "quality_rating",
    "code_verification_status", "cloud_api_registered", "registration_error", "coexistence",
    "name_status", "name_rejection_reason", "messaging_limit_tier", "quality_event",
}


def run_worker(roost) -> None:
    """One pass of the background worker (the same function `roost serve` runs every interval)."""
    roost.run(tick(roost.runtime))


def phone_row(roost, wapn_id: str):
    return roost.sql(
        "SELECT registration_attempts, cloud_api_registered, code_verification_status, pin_encrypted "
        "FROM phone_numbers WHERE id = :id",
        id=wapn_id,
    )[0]


def sim_register_attempts(roost, phone_number_id: str) -> list[str]:
    rows = roost.sql(
        "SELECT outcome FROM sim_register_attempts WHERE phone_number_id = :p ORDER BY created_at", p=phone_number_id
    )
    return [row[0] for row in rows]


def without_auto_claim(api: httpx.Client) -> None:
    """A recovered session stays recovered: with auto-claim on (the default) the worker claims it
    as soon as Meta's account_update (sent at signup) is in, which can be before `simulate`
    answers on a loaded machine, and the session is then `completed` by the claim."""
    assert api.patch(SETTINGS, json={"auto_claim": False}).status_code == 200


def profile_count(roost, org_id: str) -> int:
    return roost.sql("SELECT count(*) FROM business_profiles WHERE organization_id = :o", o=org_id)[0][0]


def only_phone(api, session: dict[str, Any]) -> dict[str, Any]:
    (phone,) = get_profile(api, session["business_profile_id"])["phone_numbers"]
    return phone


def graph_client(roost) -> httpx.Client:
    return httpx.Client(base_url=f"{roost.base_url}/_sim/graph/{GRAPH_VERSION}", timeout=30)


# -- a completed signup ----------------------------------------------------------------------


def test_a_completed_signup_connects_the_account(roost, api):
    session = play(api, session=new_session(api, **SEED_BODY))

    assert session["status"] == "completed"
    assert session["error"] is None and session["completed_at"] is not None
    assert session["business_profile_id"].startswith("wabp_")
    # The ids are the simulator's: the number belongs to the WABA, the WABA to the business.
    (sim_phone,) = roost.sql("SELECT waba_id FROM sim_phone_numbers WHERE id = :p", p=session["phone_number_id"])
    assert sim_phone[0] == session["waba_id"]
    (sim_waba,) = roost.sql("SELECT business_id FROM sim_wabas WHERE id = :w", w=session["waba_id"])
    assert sim_waba[0] == session["business_id"]
    assert get_session(api, session["id"])["status"] == "completed"


def test_the_steps_succeed_in_order_and_tech_providers_skip_the_credit_line(api):
    session = play(api)

    assert statuses(session) == [
        ("token_exchange", "succeeded"), ("resolve_assets", "succeeded"), ("subscribe_app", "succeeded"),
        ("share_credit_line", "skipped"), ("create_profile", "succeeded"), ("register_phone", "succeeded"),
    ]
    assert attempts(session) == {**{step: 1 for step in STEPS}, "share_credit_line": 0}
    assert all(record["error"] is None for record in session["provisioning"])
    assert all(record["finished_at"] for record in session["provisioning"] if record["status"] == "succeeded")
    assert step_events(api, session["id"]) == [
        ("token_exchange", "succeeded"), ("resolve_assets", "succeeded"), ("subscribe_app", "succeeded"),
        ("create_profile", "succeeded"), ("register_phone", "succeeded"),
    ]


def test_the_timeline_tells_the_whole_story(api):
    session = play(api)

    types = [event["type"] for event in events(api, session["id"])]
    assert types[:4] == ["session.created", "session.started", "meta.message", "meta.code_received"]
    finish = events(api, session["id"], "meta.message")[0]["data"]
    assert (finish["event"], finish["waba_id"], finish["phone_number_id"]) == (
        "FINISH", session["waba_id"], session["phone_number_id"],
    )
    (changed,) = events(api, session["id"], "session.status_changed")
    assert changed["data"] == {"from": "pending", "to": "completed", "reason": "provisioned"}
    # The number's registration is an event of its own, naming the number.
    (registered,) = [e for e in events(api, session["id"], "provisioning.step") if "phone_number_id" in e["data"]]
    assert registered["data"]["phone_number_id"] == session["phone_number_id"]
    assert registered["data"]["status"] == "succeeded"
    # Each outbound webhook event about the session is named in its timeline, after what caused it.
    emitted = [event["data"] for event in events(api, session["id"], "webhook.emitted")]
    # (The session completes with its profile; registering the number comes after.)
    assert [event["type"] for event in emitted] == [
        "whatsapp.business_profile.connected", "embedded_signup.session.completed", "whatsapp.phone_number.registered"
    ]
    for event in emitted:
        webhook_event = api.get(f"/v1/organization/events/{event['event_id']}").json()
        assert webhook_event["type"] == event["type"]
    changed_at = types.index("session.status_changed")
    assert types[changed_at + 1] == "webhook.emitted"


def test_the_profile_has_every_field_of_the_spec(api, org):
    session = play(api, session=new_session(api, **SEED_BODY))

    profile = get_profile(api, session["business_profile_id"])

    assert set(profile) == PROFILE_FIELDS
    assert profile["object"] == "business_profile"
    assert profile["livemode"] is False
    assert profile["session_id"] == session["id"]
    assert (profile["waba_id"], profile["business_id"]) == (session["waba_id"], session["business_id"])
    assert profile["business_name"] == "Acme Corp"  # the prefilled portfolio name
    assert profile["coexistence"] is False
    assert profile["token_expires_at"] is None  # Embedded Signup tokens never expire
    assert profile["onboarding_completed_at"] == session["completed_at"]
    assert (profile["review_status"], profile["review_decided_at"]) == (None, None)
    assert profile["status"] == "connected" and profile["health"]["status"] == "ok"
    assert profile["created_at"].endswith("Z")


def test_the_connected_number_is_registered_on_the_cloud_api(roost, api):
    session = play(api, session=new_session(api, **SEED_BODY))

    phone = only_phone(api, session)

    assert set(phone) == PHONE_FIELDS
    assert phone["coexistence"] is None  # not a WhatsApp Business app number
    assert phone["id"].startswith("wapn_") and phone["object"] == "phone_number"
    assert phone["phone_number_id"] == session["phone_number_id"]
    assert phone["display_phone_number"] == "+1 415-555-1234"  # the prefilled business phone
    assert phone["verified_name"] == "Acme Support"  # the prefilled display name
    assert phone["code_verification_status"] == "VERIFIED"
    assert phone["cloud_api_registered"] is True
    assert phone["registration_error"] is None
    assert (phone["name_status"], phone["messaging_limit_tier"]) == ("APPROVED", "TIER_250")  # Meta's, read at signup
    # Meta saw exactly one registration, and the number is now live on the Cloud API.
    assert sim_register_attempts(roost, session["phone_number_id"]) == ["registered"]
    assert roost.sql("SELECT status, platform_type FROM sim_phone_numbers WHERE id = :p", p=session["phone_number_id"]) == [
        ("CONNECTED", "CLOUD_API")
    ]


def test_the_business_token_is_stored_encrypted(roost, api, org):
    session = play(api)
    profile_id = session["business_profile_id"]
    (ciphertext,) = roost.sql("SELECT token_encrypted FROM business_profiles WHERE id = :id", id=profile_id)[0]

    # The simulator keeps only digests of the tokens it hands out: decrypt what Roost holds and
    # check that it is the business token the simulator minted for this customer.
    token = open_profile_token(roost.runtime.keyring, org.id, profile_id, ciphertext)
    minted = roost.sql("SELECT business_id, source FROM sim_tokens WHERE token_hash = :h", h=sha256(token))
    assert minted == [(session["business_id"], "code")]

    stored = [
        *roost.sql("SELECT * FROM business_profiles WHERE organization_id = :o", o=org.id),
        *roost.sql("SELECT * FROM phone_numbers WHERE organization_id = :o", o=org.id),
        *roost.sql("SELECT * FROM embedded_signup_sessions WHERE organization_id = :o", o=org.id),
        *roost.sql("SELECT * FROM session_events WHERE session_id = :s", s=session["id"]),
    ]
    assert token not in repr(stored)
    # Once the profile holds it, the session keeps no copy.
    assert roost.sql("SELECT business_token_encrypted FROM embedded_signup_sessions WHERE id = :s", s=session["id"]) == [(None,)]


def test_the_registration_pin_is_stored_encrypted(roost, api):
    session = play(api)
    phone = only_phone(api, session)
    (pin_hash,) = roost.sql("SELECT pin_hash FROM sim_phone_numbers WHERE id = :p", p=session["phone_number_id"])[0]

    # The simulator keeps sha256("<phone id>:<pin>"): find the 6-digit PIN Roost registered with.
    prefix = hashlib.sha256(f"{session['phone_number_id']}:".encode())
    pin = None
    for candidate in range(10**6):
        digest = prefix.copy()
        digest.update(b"%06d" % candidate)
        if digest.hexdigest() == pin_hash:
            pin = "%06d" % candidate
            break
    assert pin is not None, "Roost registered with a PIN that is not 6 digits"

    _, _, _, pin_encrypted = phone_row(roost, phone["id"])
    assert pin_encrypted and pin not in pin_encrypted
    assert pin not in repr(roost.sql("SELECT * FROM phone_numbers WHERE id = :id", id=phone["id"]))


def test_a_solution_partner_shares_the_credit_line(roost, api):
    response = api.patch(SETTINGS, json={"meta": {"partner_type": "solution_partner"}})
    assert response.status_code == 200, response.text

    session = play(api)

    assert session["status"] == "completed"
    assert steps(session)["share_credit_line"]["status"] == "succeeded"
    assert steps(session)["share_credit_line"]["attempts"] == 1
    assert ("share_credit_line", "succeeded") in step_events(api, session["id"])
    (allocation,) = roost.sql(
        "SELECT allocation_config_id FROM sim_waba_shares WHERE waba_id = :w AND app_id = :a",
        w=session["waba_id"], a=sim_app(api)["app_id"],
    )[0]
    assert allocation is not None


def test_a_tech_provider_never_touches_the_credit_line(roost, api):
    session = play(api)

    (allocation,) = roost.sql("SELECT allocation_config_id FROM sim_waba_shares WHERE waba_id = :w", w=session["waba_id"])[0]
    assert allocation is None


def test_the_app_is_subscribed_to_the_waba(roost, api):
    session = play(api)

    with graph_client(roost) as graph:
        listed = graph.get(
            f"/{session['waba_id']}/subscribed_apps",
            headers={"Authorization": f"Bearer {sim_app(api)['system_user_token']}"},
        ).json()["data"]
    assert [item["whatsapp_business_api_data"]["id"] for item in listed] == [sim_app(api)["app_id"]]
    assert "override_callback_uri" not in listed[0]


# -- messages_callback_url: an HTTPS receiver the simulator trusts ------------------------------


@pytest.fixture
def https_receiver(tmp_path) -> Iterator[HttpsReceiver]:
    receiver = HttpsReceiver(tmp_path)
    yield receiver
    receiver.close()


def test_a_messages_callback_url_becomes_the_wabas_override(start_roost, https_receiver, monkeypatch):
    # Meta only calls HTTPS URLs and checks them with a handshake: a server that trusts the
    # receiver's throw-away CA (as an operator would with SSL_CERT_FILE) plays Meta here; the
    # receiver is on loopback, which the simulator reaches only with ROOST_WEBHOOK_ALLOW_PRIVATE.
    monkeypatch.setenv("SSL_CERT_FILE", str(https_receiver.ca_file))
    server = start_roost(webhook_allow_private=True)
    org = server.new_org()
    with org.client() as api:
        response = api.patch(SETTINGS, json={"messages_callback_url": https_receiver.url})
        assert response.status_code == 200, response.text

        session = play(api)
        app = sim_app(api)

    assert session["status"] == "completed", session
    with graph_client(server) as graph:
        listed = graph.get(
            f"/{session['waba_id']}/subscribed_apps", headers={"Authorization": f"Bearer {app['system_user_token']}"}
        ).json()["data"]
    assert [(item["whatsapp_business_api_data"]["id"], item.get("override_callback_uri")) for item in listed] == [
        (app["app_id"], https_receiver.url)
    ]
    (handshake,) = https_receiver.handshakes
    assert handshake["hub.mode"] == ["subscribe"]
    assert handshake["hub.verify_token"] == [app["verify_token"]]


# -- variants -----------------------------------------------------------------------------------


def test_a_coexistence_number_is_not_registered_again(roost, api):
    session = play(api, variant="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING")

    assert session["status"] == "completed"
    assert steps(session)["register_phone"]["status"] == "skipped"
    profile = get_profile(api, session["business_profile_id"])
    assert profile["coexistence"] is True
    (phone,) = profile["phone_numbers"]
    # Already on the Cloud API through the WhatsApp Business app: Roost never calls register.
    assert phone["cloud_api_registered"] is True and phone["registration_error"] is None
    assert sim_register_attempts(roost, phone["phone_number_id"]) == []
    attempts_made, _, _, pin_encrypted = phone_row(roost, phone["id"])
    assert (attempts_made, pin_encrypted) == (0, None)


def test_only_waba_sharing_completes_without_numbers(roost, api):
    session = play(api, variant="FINISH_ONLY_WABA")

    assert session["status"] == "completed"
    assert session["waba_id"] and session["phone_number_id"] is None
    assert steps(session)["register_phone"]["status"] == "skipped"
    assert get_profile(api, session["business_profile_id"])["phone_numbers"] == []
    assert roost.sql(
        "SELECT count(*) FROM phone_numbers WHERE business_profile_id = :p", p=session["business_profile_id"]
    ) == [(0,)]


def test_an_unverified_number_is_kept_and_not_registered(roost, api):
    session = play(api, phone_verified=False)

    assert session["status"] == "completed"
    assert steps(session)["register_phone"]["status"] == "skipped"
    phone = only_phone(api, session)
    assert phone["code_verification_status"] == "NOT_VERIFIED"
    assert phone["cloud_api_registered"] is False and phone["registration_error"] is None
    assert sim_register_attempts(roost, session["phone_number_id"]) == []


def test_an_unverified_number_is_registered_once_meta_says_it_is_verified(roost, api):
    session = play(api, phone_verified=False)
    phone = only_phone(api, session)

    def make_due() -> None:  # the check runs at most every 5 minutes per number
        roost.sql("UPDATE phone_numbers SET updated_at = updated_at - 600000 WHERE id = :id", id=phone["id"])

    # Checked while Meta still says NOT_VERIFIED: nothing is attempted.
    make_due()
    run_worker(roost)
    assert phone_row(roost, phone["id"])[:3] == (0, False, "NOT_VERIFIED")

    # The server's own worker may have been checking at the same moment: let that check end
    # before Meta flips the number, so it cannot see the flip.
    time.sleep(1.0)
    response = api.post(f"/_sim/control/phone-numbers/{session['phone_number_id']}/verify")
    assert response.status_code == 200, response.text
    # Verified, but checked a moment ago: the next look is minutes away.
    run_worker(roost)
    assert phone_row(roost, phone["id"])[:3] == (0, False, "NOT_VERIFIED")

    make_due()
    wait_until(lambda: phone_row(roost, phone["id"])[1], timeout=10)
    assert phone_row(roost, phone["id"])[:3] == (1, True, "VERIFIED")
    assert only_phone(api, session)["cloud_api_registered"] is True
    assert sim_register_attempts(roost, session["phone_number_id"]) == ["registered"]


def test_a_number_a_platform_tried_to_register_while_unverified_is_registered_once_verified(roost, api):
    session = play(api, phone_verified=False)
    phone = only_phone(api, session)
    # The platform retries too early: Meta refuses, the number is not verified yet.
    refused = api.post(f"/v1/organization/whatsapp/phone-numbers/{phone['id']}/register", json={})
    assert refused.status_code == 424, refused.text
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["phone_number_id"]) == ("provider_error", "registration_failed", phone["id"])
    assert error["provider"]["code"] == 133006 and error["provider"]["fbtrace_id"]
    assert only_phone(api, session)["registration_error"]["code"] == 133006  # the number says the same
    assert sim_register_attempts(roost, session["phone_number_id"]) == ["not_verified"]

    time.sleep(1.0)  # as above: no check of the server's own worker may straddle the flip
    assert api.post(f"/_sim/control/phone-numbers/{session['phone_number_id']}/verify").status_code == 200
    roost.sql("UPDATE phone_numbers SET updated_at = updated_at - 600000 WHERE id = :id", id=phone["id"])
    wait_until(lambda: phone_row(roost, phone["id"])[1], timeout=10)
    assert only_phone(api, session)["cloud_api_registered"] is True
    assert only_phone(api, session)["registration_error"] is None
    assert sim_register_attempts(roost, session["phone_number_id"]) == ["not_verified", "registered"]
    # Registered: later checks leave it alone.
    roost.sql("UPDATE phone_numbers SET updated_at = updated_at - 600000 WHERE id = :id", id=phone["id"])
    run_worker(roost)
    assert sim_register_attempts(roost, session["phone_number_id"]) == ["not_verified", "registered"]


def test_a_registration_attempt_cut_short_by_a_crash_is_made_again(roost, api):
    # As a process killed between counting the attempt and storing Meta's answer leaves it (the
    # session's own provisioning had finished: a number verified later, or a platform's retry).
    session = play(api, phone_verified=False)
    phone = only_phone(api, session)
    assert api.post(f"/_sim/control/phone-numbers/{session['phone_number_id']}/verify").status_code == 200
    started = now_ms() - 60_000
    roost.sql(
        "UPDATE phone_numbers SET registration_attempts = 1, registration_started_at = :at,"
        " code_verification_status = 'VERIFIED' WHERE id = :id", at=started, id=phone["id"],
    )
    run_worker(roost)  # a minute in: it may still be running somewhere, so it is left alone
    assert phone_row(roost, phone["id"])[:2] == (1, False)

    roost.sql("UPDATE phone_numbers SET registration_started_at = :at WHERE id = :id", at=started - 120_000, id=phone["id"])
    wait_until(lambda: phone_row(roost, phone["id"])[1], timeout=10)
    assert phone_row(roost, phone["id"])[:2] == (2, True)
    assert sim_register_attempts(roost, session["phone_number_id"]) == ["registered"]
    events = api.get(f"{SESSIONS}/{session['id']}/events").json()["data"]
    emitted = [event["data"]["type"] for event in events if event["type"] == "webhook.emitted"]
    assert emitted.count("whatsapp.phone_number.registered") == 1
    assert roost.sql("SELECT registration_started_at FROM phone_numbers WHERE id = :id", id=phone["id"]) == [(None,)]


def test_attempts_that_keep_dying_are_given_up_after_five(roost, api):
    session = play(api, phone_verified=False)
    phone = only_phone(api, session)
    roost.sql(
        "UPDATE phone_numbers SET registration_attempts = 5, registration_started_at = 1,"
        " code_verification_status = 'VERIFIED' WHERE id = :id", id=phone["id"],
    )
    run_worker(roost)
    assert phone_row(roost, phone["id"])[:2] == (5, False)
    assert sim_register_attempts(roost, session["phone_number_id"]) == []


# -- outcomes without a connection --------------------------------------------------------------


def test_a_session_cancelled_while_simulate_waits_on_meta_stays_cancelled(api):
    # simulate reads the session, then waits on the (simulated) dialog; a cancel in between wins.
    session = new_session(api)
    add_fault(api, call="dialog", kind="latency", delay_ms=2000)
    answer: dict[str, httpx.Response] = {}
    player = threading.Thread(target=lambda: answer.update(simulate=simulate(api, session["id"], outcome="recovered")))
    player.start()
    wait_until(lambda: get_session(api, session["id"])["started_at"])
    assert api.delete(f"{SESSIONS}/{session['id']}").status_code == 200
    player.join(timeout=30)

    assert answer["simulate"].status_code == 409, answer["simulate"].text
    assert answer["simulate"].json()["error"]["code"] == "session_not_pending"
    after = get_session(api, session["id"])
    assert (after["status"], after["waba_id"]) == ("cancelled", None)
    changes = [event["data"]["to"] for event in events(api, session["id"], "session.status_changed")]
    assert changes == ["cancelled"]


def test_two_sessions_finishing_with_the_same_waba_at_once_share_one_profile(roost, api, org):
    first = play(api)
    prefill = {"whatsAppBusinessAccount": {"ids": [first["waba_id"]]}, "preVerifiedPhone": {"ids": [first["phone_number_id"]]}}
    for _ in range(3):
        sessions = [new_session(api, prefill=prefill) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda s: simulate(api, s["id"], outcome="completed"), sessions))
        assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
        finished = [wait_for_status(api, s["id"], "completed") for s in sessions]
        assert {s["business_profile_id"] for s in finished} == {first["business_profile_id"]}
    assert profile_count(roost, org.id) == 1


def test_a_cancelled_flow_records_where_the_user_left(roost, api, org):
    session = play(api, "cancelled", cancel_step="WABA_PHONE_PROFILE_PICKER")

    assert session["status"] == "cancelled"
    assert session["last_step"] == "WABA_PHONE_PROFILE_PICKER"
    assert session["error"]["code"] == "user_cancelled" and session["error"]["meta_code"] is None
    assert session["cancelled_at"] is not None
    assert session["provisioning"] == [] and session["business_profile_id"] is None
    assert profile_count(roost, org.id) == 0


def test_a_reported_signup_error_fails_the_session_with_metas_code(roost, api, org):
    session = play(api, "signup_error", error_code="524126")

    assert session["status"] == "failed"
    assert session["error"]["code"] == "signup_error"
    assert session["error"]["meta_code"] == 524126
    (message,) = events(api, session["id"], "meta.message")
    assert message["data"]["error_code"] == "524126"
    assert profile_count(roost, org.id) == 0


def test_a_flow_finished_without_a_code_is_recovered(roost, api, org):
    without_auto_claim(api)
    session = play(api, "recovered")

    assert session["status"] == "recovered"
    assert session["error"]["code"] == "code_not_exchanged"
    assert session["waba_id"] and session["business_profile_id"] is None
    assert roost.sql("SELECT count(*) FROM sim_wabas WHERE id = :w", w=session["waba_id"]) == [(1,)]
    assert profile_count(roost, org.id) == 0


def test_a_code_that_never_arrives_leaves_the_session_recovered(roost, api, org):
    without_auto_claim(api)
    add_fault(api, call="dialog", kind="code_never")

    session = play(api)

    assert session["status"] == "recovered"
    assert session["error"]["code"] == "code_not_exchanged"
    assert session["waba_id"] is not None
    assert profile_count(roost, org.id) == 0


def test_without_the_finish_event_the_waba_comes_from_the_token(api):
    add_fault(api, call="dialog", kind="finish_lost")

    session = play(api)

    assert session["status"] == "completed"
    assert events(api, session["id"], "meta.message") == []
    # Only what the token grants is trusted, so the WABA is still known.
    assert session["waba_id"] is not None
    assert get_profile(api, session["business_profile_id"])["waba_id"] == session["waba_id"]


def test_simulate_needs_a_pending_session(api):
    session = play(api)

    response = simulate(api, session["id"], outcome="completed")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_not_pending"


def test_simulate_is_for_test_keys_only(roost):
    org = roost.new_org(live=True)
    with org.client(org.keys["live"]) as live:
        assert live.patch(SETTINGS, json={"meta": {"app_id": "123", "app_secret": "s", "config_id": "456"}}).status_code == 200
        session = new_session(live)
        response = simulate(live, session["id"], outcome="completed")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "test_mode_required"
    assert roost.sql("SELECT status FROM embedded_signup_sessions WHERE id = :s", s=session["id"]) == [("pending",)]


# -- Meta errors during provisioning ------------------------------------------------------------


def test_a_refused_code_without_a_known_waba_fails_the_session(roost, api, org):
    add_fault(api, call="dialog", kind="finish_lost")
    add_fault(api, call="oauth/access_token", kind="graph_error", meta_code=100, meta_subcode=36007,
              message="This authorization code has expired.")

    session = play(api)

    assert session["status"] == "failed"
    assert session["error"]["code"] == "token_exchange_failed"
    assert session["error"]["meta_code"] == 100
    exchange = steps(session)["token_exchange"]
    assert (exchange["status"], exchange["attempts"], exchange["error"]["code"]) == ("failed", 1, 100)
    assert exchange["error"]["subcode"] == 36007
    assert profile_count(roost, org.id) == 0


def test_a_refused_code_after_a_finish_event_is_recovered(roost, api, org):
    without_auto_claim(api)
    add_fault(api, call="oauth/access_token", kind="graph_error", meta_code=100)

    session = play(api)

    assert session["status"] == "recovered"
    assert session["error"]["code"] == "code_not_exchanged"
    assert session["error"]["meta_code"] == 100
    assert session["waba_id"] is not None
    assert steps(session)["token_exchange"]["status"] == "failed"
    assert profile_count(roost, org.id) == 0


def test_an_exchange_taken_over_while_meta_answered_it_keeps_the_first_answer(roost, api, org):
    # The first attempt's lease runs out while it waits for Meta (forced here; a loaded machine
    # does it with a stall), so the worker takes the exchange over. The code is single-use: the
    # first attempt's answer (a token) stands, and the takeover, told the code has been used,
    # leaves it to that attempt instead of recording a failure over it.
    without_auto_claim(api)  # a failure recorded over it would leave the session recovered
    add_fault(api, call="oauth/access_token", kind="latency", delay_ms=5_000)  # the first attempt
    add_fault(api, call="oauth/access_token", kind="latency", delay_ms=8_000)  # the takeover
    session = new_session(api)
    lease_out = (
        "UPDATE embedded_signup_sessions SET provisioning_lease_until = 1, provisioning_next_at = 1 WHERE id = :s"
    )

    def taken_over() -> bool:
        if attempts(get_session(api, session["id"])).get("token_exchange") == 2:
            return True
        roost.sql(lease_out, s=session["id"])  # again if the first attempt's heartbeat renewed it
        time.sleep(0.3)
        return False

    with org.client() as player, ThreadPoolExecutor(max_workers=1) as pool:
        played = pool.submit(simulate, player, session["id"], outcome="completed")
        wait_until(lambda: attempts(get_session(api, session["id"])).get("token_exchange") == 1, what="exchange started")
        wait_until(taken_over, 4, what="the worker took the exchange over")
        takeover_answered_by = time.monotonic() + 8 + 2
        assert played.result().status_code == 200
    time.sleep(max(0.0, takeover_answered_by - time.monotonic()))  # the takeover's answer: the code has been used

    session = get_session(api, session["id"])
    assert session["status"] == "completed" and session["error"] is None
    assert (steps(session)["token_exchange"]["status"], attempts(session)["token_exchange"]) == ("succeeded", 2)
    assert profile_count(roost, org.id) == 1


def test_a_transient_error_is_retried_within_the_step(roost, api):
    fault = add_fault(api, call="subscribed_apps", kind="http_error", status=503)

    session = play(api)

    assert session["status"] == "completed"
    assert steps(session)["subscribe_app"]["status"] == "succeeded"
    assert roost.sql("SELECT hits, remaining FROM sim_faults WHERE id = :id", id=fault["id"]) == [(1, 0)]


def test_a_step_that_keeps_failing_transiently_resumes_later_in_the_worker(roost, api):
    # More failures than the Graph client's own quick retries (3 calls in one attempt).
    fault = add_fault(api, call="subscribed_apps", kind="http_error", status=503, count=10)

    session = play(api)

    assert session["status"] == "pending"
    subscribe = steps(session)["subscribe_app"]
    assert (subscribe["status"], subscribe["attempts"]) == ("pending", 1)
    assert subscribe["error"]["code"] is None and "503" in subscribe["error"]["message"]
    assert roost.sql("SELECT hits FROM sim_faults WHERE id = :id", id=fault["id"]) == [(3,)]
    (next_at, lease) = roost.sql(
        "SELECT provisioning_next_at, provisioning_lease_until FROM embedded_signup_sessions WHERE id = :s", s=session["id"]
    )[0]
    assert next_at is not None and lease is None  # due again after a back-off, nobody holds it

    clear_faults(api)
    roost.sql("UPDATE embedded_signup_sessions SET provisioning_next_at = 1 WHERE id = :s", s=session["id"])
    wait_for_status(api, session["id"], "completed")
    # `completed` comes with the profile; the registration step finishes just after it.
    session = wait_until(
        lambda: (s := get_session(api, session["id"])) and steps(s)["register_phone"]["status"] not in ("pending", "running") and s
    )

    assert attempts(session) == {**{step: 1 for step in STEPS}, "share_credit_line": 0, "subscribe_app": 2}
    assert steps(session)["subscribe_app"]["status"] == "succeeded"
    assert steps(session)["subscribe_app"]["error"] is None
    assert [s for s in step_events(api, session["id"]) if s[0] == "subscribe_app"] == [
        ("subscribe_app", "pending"), ("subscribe_app", "succeeded"),
    ]


def test_a_permanent_meta_error_fails_the_session(roost, api, org):
    add_fault(api, call="subscribed_apps", kind="graph_error", meta_code=100, status=400)

    session = play(api)

    assert session["status"] == "failed"
    assert session["error"]["code"] == "provisioning_failed"
    assert session["error"]["meta_code"] == 100
    subscribe = steps(session)["subscribe_app"]
    assert (subscribe["status"], subscribe["attempts"], subscribe["error"]["code"]) == ("failed", 1, 100)
    assert subscribe["error"]["fbtrace_id"]
    assert [steps(session)[step]["status"] for step in ("create_profile", "register_phone")] == ["pending", "pending"]
    assert profile_count(roost, org.id) == 0
    run_worker(roost)
    assert get_session(api, session["id"])["status"] == "failed"
    assert attempts(get_session(api, session["id"]))["subscribe_app"] == 1


# -- phone registration --------------------------------------------------------------------------


def number_with_a_pin(roost, api, pin: str) -> dict[str, Any]:
    """A number whose two-step verification PIN is already set but which is not on the Cloud API
    (as after a deregistration, which the simulator does not offer): the prefill for a signup
    that connects it."""
    ready = sim_signup(api)
    app = sim_app(api)
    with graph_client(roost) as graph:
        token = graph.get("/oauth/access_token", params={
            "client_id": app["app_id"], "client_secret": app["app_secret"], "code": ready["code"]}).json()["access_token"]
        response = graph.post(f"/{ready['phone_number_id']}/register", headers={"Authorization": f"Bearer {token}"},
                              json={"messaging_product": "whatsapp", "pin": pin})
        assert response.status_code == 200, response.text
    roost.sql(
        "UPDATE sim_phone_numbers SET status = 'PENDING', platform_type = 'NOT_APPLICABLE' WHERE id = :p",
        p=ready["phone_number_id"],
    )
    return {"whatsAppBusinessAccount": {"ids": [ready["waba_id"]]}, "preVerifiedPhone": {"ids": [ready["phone_number_id"]]}}


def test_a_pin_mismatch_is_reported_on_the_number_and_not_retried(roost, api):
    prefill = number_with_a_pin(roost, api, "111111")

    session = play(api, session=new_session(api, prefill=prefill))

    assert session["status"] == "completed"  # registration problems stay on the number
    assert steps(session)["register_phone"]["status"] == "failed"
    phone = only_phone(api, session)
    assert phone["cloud_api_registered"] is False
    assert phone["registration_error"]["code"] == 133005
    assert sim_register_attempts(roost, phone["phone_number_id"]) == ["registered", "pin_mismatch"]
    (failed,) = [e for e in events(api, session["id"], "provisioning.step") if e["data"].get("phone_number_id")]
    assert failed["data"]["status"] == "failed" and failed["data"]["error"]["code"] == 133005

    # Meta counts attempts (10 per 72 h): the worker never tries again on its own.
    run_worker(roost)
    run_worker(roost)
    assert phone_row(roost, phone["id"])[:2] == (1, False)
    assert sim_register_attempts(roost, phone["phone_number_id"]) == ["registered", "pin_mismatch"]


def test_registering_again_with_the_right_pin_connects_the_number(roost, api):
    prefill = number_with_a_pin(roost, api, "111111")
    session = play(api, session=new_session(api, prefill=prefill))
    phone = only_phone(api, session)

    response = api.post(f"{PHONES}/{phone['id']}/register", json={"pin": "111111"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == phone["id"]
    assert body["cloud_api_registered"] is True and body["registration_error"] is None, body["registration_error"]
    assert only_phone(api, session)["cloud_api_registered"] is True
    assert phone_row(roost, phone["id"])[0] == 2
    # The PIN that worked is the one kept, encrypted.
    assert "111111" not in phone_row(roost, phone["id"])[3]
    assert sim_register_attempts(roost, phone["phone_number_id"]) == ["registered", "pin_mismatch", "registered"]


def test_registering_again_after_a_meta_error_uses_the_stored_pin(roost, api):
    add_fault(api, call="register", kind="graph_error", meta_code=133005)
    session = play(api)
    phone = only_phone(api, session)
    assert phone["registration_error"]["code"] == 133005 and phone["cloud_api_registered"] is False
    pin_before = phone_row(roost, phone["id"])[3]
    assert pin_before is not None

    response = api.post(f"{PHONES}/{phone['id']}/register")

    assert response.status_code == 200, response.text
    assert response.json()["cloud_api_registered"] is True
    assert response.json()["registration_error"] is None
    assert phone_row(roost, phone["id"])[:2] == (2, True)


def test_registering_a_registered_number_is_a_conflict(roost, api):
    session = play(api)
    phone = only_phone(api, session)

    response = api.post(f"{PHONES}/{phone['id']}/register", json={"pin": "123456"})

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "phone_already_registered")
    assert phone_row(roost, phone["id"])[0] == 1
    assert sim_register_attempts(roost, phone["phone_number_id"]) == ["registered"]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"pin": "12345"}, "parameter_invalid", "pin"),
        ({"pin": "1234567"}, "parameter_invalid", "pin"),
        ({"pin": "12a456"}, "parameter_invalid", "pin"),
        ({"pin": 123456}, "parameter_invalid", "pin"),
        ({"pim": "123456"}, "parameter_unknown", "pim"),
    ],
)
def test_a_bad_registration_request_attempts_nothing(roost, api, body, code, param):
    add_fault(api, call="register", kind="graph_error", meta_code=133005)
    session = play(api)
    phone = only_phone(api, session)

    response = api.post(f"{PHONES}/{phone['id']}/register", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert phone_row(roost, phone["id"])[:2] == (1, False)


def test_another_organizations_profiles_and_numbers_are_not_found(roost, api):
    session = play(api)
    phone = only_phone(api, session)
    other = roost.new_org(live=True)

    for key in (other.test_key, other.keys["live"]):
        with other.client(key) as stranger:
            assert stranger.get(f"{PROFILES}/{session['business_profile_id']}").status_code == 404
            response = stranger.post(f"{PHONES}/{phone['id']}/register", json={"pin": "123456"})
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "resource_missing"
            assert stranger.get(PROFILES).json()["data"] == []


def test_the_other_mode_does_not_see_test_profiles(roost):
    org = roost.new_org(live=True)
    with org.client() as api:
        session = play(api)
        phone = only_phone(api, session)
    with org.client(org.keys["live"]) as live:
        assert live.get(f"{PROFILES}/{session['business_profile_id']}").status_code == 404
        assert live.post(f"{PHONES}/{phone['id']}/register", json={}).status_code == 404
        assert live.get(PROFILES).json()["data"] == []


@pytest.mark.parametrize("profile_id", ["wabp_doesnotexist", "wss_3MYt7J6YhDC6hZTZKqN1SHcg4Rn", "nope"])
def test_an_unknown_profile_is_not_found(api, profile_id):
    response = api.get(f"{PROFILES}/{profile_id}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"


# -- trust: what the browser says is a claim ----------------------------------------------------


def test_a_waba_the_token_does_not_grant_is_refused(roost, api, org):
    session = new_session(api)
    code = sim_signup(api)["code"]
    claim = SignupMessage(kind="finish", event="FINISH", waba_id="999999999999999")

    accepted = roost.run(Provisioner(roost.runtime).accept_code(session["id"], code, claim))

    assert accepted is True
    session = get_session(api, session["id"])
    assert session["status"] == "failed"
    assert session["error"]["code"] == "waba_not_granted"
    assert steps(session)["resolve_assets"]["status"] == "failed"
    assert steps(session)["subscribe_app"]["status"] == "pending"
    assert profile_count(roost, org.id) == 0
    # No token is kept for an account Roost refused.
    assert roost.sql("SELECT business_token_encrypted FROM embedded_signup_sessions WHERE id = :s", s=session["id"]) == [(None,)]


def share_with(roost, api, waba_id: str) -> None:
    """The customer shares a WABA it already connected elsewhere with this organization's app too.

    The simulator scopes a signup's `whatsAppBusinessAccount` to WABAs already shared with the
    app, so the second share is written straight into its table."""
    roost.sql(
        "INSERT INTO sim_waba_shares (waba_id, app_id, shared_at, subscribed) VALUES (:w, :a, :t, :s)",
        w=waba_id, a=sim_app(api)["app_id"], t=int(time.time() * 1000), s=False,
    )


def test_a_waba_connected_to_another_organization_is_refused(roost, api, org):
    connected = play(api)
    other = roost.new_org()
    with other.client() as other_api:
        share_with(roost, other_api, connected["waba_id"])
        prefill = {"whatsAppBusinessAccount": {"ids": [connected["waba_id"]]}}
        session = play(other_api, session=new_session(other_api, prefill=prefill))
        subscribed = roost.sql(
            "SELECT subscribed FROM sim_waba_shares WHERE waba_id = :w AND app_id = :a",
            w=connected["waba_id"], a=sim_app(other_api)["app_id"],
        )

    assert session["waba_id"] == connected["waba_id"]
    assert session["status"] == "failed"
    assert session["error"]["code"] == "waba_already_connected"
    assert steps(session)["resolve_assets"]["status"] == "failed"
    assert subscribed == [(False,)]  # the refused organization's app was never subscribed
    assert profile_count(roost, other.id) == 0
    # The first organization keeps its connection.
    profile = get_profile(api, connected["business_profile_id"])
    assert (profile["status"], profile["session_id"]) == ("connected", connected["id"])


def test_a_waba_another_organization_disconnected_can_be_connected(roost, api):
    connected = play(api)
    roost.sql("UPDATE business_profiles SET status = 'disconnected' WHERE id = :p", p=connected["business_profile_id"])
    other = roost.new_org()
    with other.client() as other_api:
        share_with(roost, other_api, connected["waba_id"])
        prefill = {"whatsAppBusinessAccount": {"ids": [connected["waba_id"]]}}
        session = play(other_api, session=new_session(other_api, prefill=prefill))

    assert session["status"] == "completed"
    assert session["waba_id"] == connected["waba_id"]
    assert session["business_profile_id"] != connected["business_profile_id"]
    assert profile_count(roost, other.id) == 1


# -- the same completion twice ------------------------------------------------------------------


def finished_session(api) -> tuple[dict[str, Any], str, SignupMessage]:
    session = new_session(api)
    signup = sim_signup(api)
    finish = SignupMessage(kind="finish", event="FINISH", waba_id=signup["waba_id"],
                           phone_number_id=signup["phone_number_id"], business_id=signup["business_id"])
    return session, signup["code"], finish


def create_profile_successes(api, session_id: str) -> int:
    return step_events(api, session_id).count(("create_profile", "succeeded"))


def test_a_completion_submitted_twice_yields_one_profile(roost, api, org):
    session, code, finish = finished_session(api)
    provisioner = Provisioner(roost.runtime)

    first = roost.run(provisioner.accept_code(session["id"], code, finish))
    second = roost.run(provisioner.accept_code(session["id"], code, finish))

    assert (first, second) == (True, False)
    assert get_session(api, session["id"])["status"] == "completed"
    assert profile_count(roost, org.id) == 1
    assert create_profile_successes(api, session["id"]) == 1
    assert len(events(api, session["id"], "meta.code_received")) == 1


def test_concurrent_completions_yield_one_profile(roost, api, org):
    session, code, finish = finished_session(api)
    provisioner = Provisioner(roost.runtime)
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        barrier.wait()
        try:
            results.append(roost.run(provisioner.accept_code(session["id"], code, finish)))
        except Exception as problem:  # noqa: BLE001 - reported by the assertion below
            results.append(problem)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    session = get_session(api, session["id"])
    assert (session["status"], session["error"]) == ("completed", None)
    assert profile_count(roost, org.id) == 1
    assert create_profile_successes(api, session["id"]) == 1
    # One runner took the code; the others saw it taken and stood back.
    assert len(events(api, session["id"], "meta.code_received")) == 1
    assert [e["data"]["to"] for e in events(api, session["id"], "session.status_changed")] == ["completed"]
    assert attempts(session) == {**{step: 1 for step in STEPS}, "share_credit_line": 0}
    assert sorted(results, key=repr) == [False, False, False, True]


def test_each_step_runs_once_while_other_processes_sweep(api, backend, start_roost):
    """Between two steps a session is due for any worker; the runner that carries on must see a
    worker that took the next step (its lease), or both run it."""
    if backend != "postgres":
        pytest.skip("several processes share one database only on PostgreSQL")
    for _ in range(3):
        start_roost(worker_interval_seconds=0.01)  # other processes, sweeping all the time

    session_ids = [new_session(api)["id"] for _ in range(20)]
    responses = [simulate(api, session_id, outcome="completed") for session_id in session_ids]

    assert [response.status_code for response in responses] == [200] * len(session_ids)
    for session_id in session_ids:
        session = wait_for_status(api, session_id, "completed")
        assert attempts(session) == {**{step: 1 for step in STEPS}, "share_credit_line": 0}, session_id
        assert step_events(api, session_id) == [
            ("token_exchange", "succeeded"), ("resolve_assets", "succeeded"), ("subscribe_app", "succeeded"),
            ("create_profile", "succeeded"), ("register_phone", "succeeded"),
        ], session_id


# -- reconnecting, listing -------------------------------------------------------------------------


def test_a_second_session_for_the_same_waba_reconnects_the_same_profile(roost, api, org):
    first = play(api)
    prefill = {"whatsAppBusinessAccount": {"ids": [first["waba_id"]]}, "preVerifiedPhone": {"ids": [first["phone_number_id"]]}}

    second = play(api, session=new_session(api, prefill=prefill))

    assert second["status"] == "completed"
    assert second["business_profile_id"] == first["business_profile_id"]
    assert profile_count(roost, org.id) == 1
    profile = get_profile(api, first["business_profile_id"])
    assert profile["session_id"] == second["id"]
    assert profile["onboarding_completed_at"] == second["completed_at"]
    # The same number keeps its record and is not registered twice.
    (phone,) = profile["phone_numbers"]
    assert phone["phone_number_id"] == first["phone_number_id"] and phone["cloud_api_registered"] is True
    assert sim_register_attempts(roost, first["phone_number_id"]) == ["registered"]


def test_profiles_are_listed_newest_first_with_filters(api):
    first = play(api, session=new_session(api, metadata={"customer": "alpha", "tier": 1}))
    second = play(api, session=new_session(api, metadata={"customer": "beta", "tier": 2}))

    def ids(**params: Any) -> list[str]:
        response = api.get(PROFILES, params=params)
        assert response.status_code == 200, response.text
        return [profile["id"] for profile in response.json()["data"]]

    a, b = first["business_profile_id"], second["business_profile_id"]
    assert ids() == [b, a]
    assert ids(session_id=first["id"]) == [a]
    assert ids(waba_id=second["waba_id"]) == [b]
    assert ids(status="connected") == [b, a]
    assert ids(status="disconnected") == []
    assert ids(**{"metadata[customer]": "alpha"}) == [a]
    assert ids(**{"metadata[tier]": "2"}) == [b]
    assert ids(**{"metadata[customer]": "alpha", "metadata[tier]": "2"}) == []
    assert ids(limit=1) == [b]
    assert ids(starting_after=b) == [a]
    assert ids(ending_before=a) == [b]
    listed = api.get(PROFILES).json()
    assert listed["object"] == "list" and listed["has_more"] is False
    assert listed["data"][0] == get_profile(api, b)


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"status": "gone"}, "parameter_invalid", "status"),
        ({"limit": "0"}, "parameter_invalid", "limit"),
        ({"limit": "101"}, "parameter_invalid", "limit"),
        ({"starting_after": "wabp_unknown"}, "parameter_invalid", "starting_after"),
        ({"wabaid": "1"}, "parameter_unknown", "wabaid"),
    ],
)
def test_a_bad_list_query_is_refused(api, params, code, param):
    response = api.get(PROFILES, params=params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["code"], error["param"]) == (code, param)



def test_a_registration_meta_does_not_answer_is_502(roost, api):
    add_fault(api, call="register", kind="graph_error", meta_code=133005)
    session = play(api)
    phone = only_phone(api, session)
    add_fault(api, call="register", kind="http_error", status=503)  # a bare 503, as from a proxy

    response = api.post(f"{PHONES}/{phone['id']}/register")

    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["phone_number_id"]) == ("api_error", "meta_unavailable", phone["id"])
    assert only_phone(api, session)["cloud_api_registered"] is False
