"""Coexistence sync (issue 16): after a WhatsApp Business app number's signup, Roost asks Meta
(the simulator) for its contacts and chat history, once each, follows Meta's chunked webhooks to
the end, shows where each sync stands on the number, and says so in an outbound event; on both
databases, with Meta's refusals, transient faults, a declined history and the setting off."""

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from tests.support import RunningRoost, make_settings, own_database_url, wait_until
from tests.support.signups import (
    SETTINGS, HttpsReceiver, add_fault, get_profile, play, sim_app,
)
from tests.webhooks.helpers import events_of

COEXISTENCE = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
EVENT = "whatsapp.phone_number.coexistence_sync_updated"
SIM_PHONES = "/_sim/control/phone-numbers"


def coexistence_number(api: httpx.Client) -> dict[str, Any]:
    """A completed coexistence signup's number, as the API shows it."""
    session = play(api, variant=COEXISTENCE)
    assert session["status"] == "completed", session
    profile = get_profile(api, session["business_profile_id"])
    assert profile["coexistence"] is True
    (phone,) = profile["phone_numbers"]
    return {**phone, "waba_id": profile["waba_id"], "business_profile_id": profile["id"]}


def number(api: httpx.Client, phone: dict[str, Any]) -> dict[str, Any]:
    """The number as its business profile shows it now."""
    return next(item for item in get_profile(api, phone["business_profile_id"])["phone_numbers"] if item["id"] == phone["id"])


def syncs_reach(api: httpx.Client, phone: dict[str, Any], contacts: str | None, history: str | None, timeout: float = 20) -> dict[str, Any]:
    """The number once its contacts and history syncs have these statuses (None: any)."""
    def reached() -> dict[str, Any] | None:
        current = number(api, phone)
        syncs = current["coexistence"]
        ok = (contacts is None or syncs["contacts_sync"]["status"] == contacts) and (
            history is None or syncs["history_sync"]["status"] == history)
        return current if ok else None

    return wait_until(reached, timeout, what=f"contacts {contacts}, history {history}")


def settle_contacts(roost, phone_id: str) -> None:
    """Meta's contacts sync has no end marker: Roost completes it once the contacts stopped
    coming for a while; make that while over now."""
    roost.sql(
        "UPDATE phone_numbers SET contacts_sync_next_at = 1 WHERE id = :id AND contacts_sync_status = 'in_progress'",
        id=phone_id,
    )


def sync_requests(api: httpx.Client, phone_number_id: str) -> list[tuple[str, str]]:
    response = api.get(f"{SIM_PHONES}/{phone_number_id}/sync-requests")
    assert response.status_code == 200, response.text
    return [(item["sync_type"], item["outcome"]) for item in response.json()["data"]]


def sync_events(api: httpx.Client, phone_id: str) -> list[tuple[str, str]]:
    """(contacts status, history status) of each coexistence event about the number, oldest first."""
    found = [event["data"] for event in events_of(api, type=EVENT) if event["data"]["id"] == phone_id]
    return [(data["coexistence"]["contacts_sync"]["status"], data["coexistence"]["history_sync"]["status"])
            for data in reversed(found)]


def test_both_syncs_are_requested_once_and_followed_to_the_end(roost, api):
    phone = coexistence_number(api)
    assert phone["cloud_api_registered"] is True and phone["coexistence"]["contacts_sync"]["status"] in (
        "not_requested", "requested", "in_progress")

    done = syncs_reach(api, phone, "in_progress", "completed")
    history = done["coexistence"]["history_sync"]
    assert (history["progress"], history["phase"], history["error"]) == (100, 2, None)
    assert history["requested_at"] and history["completed_at"]
    settle_contacts(roost, phone["id"])
    done = syncs_reach(api, phone, "completed", "completed")
    contacts = done["coexistence"]["contacts_sync"]
    assert contacts["requested_at"] and contacts["completed_at"] and contacts["error"] is None

    # Meta was asked once per sync type, and Roost kept its request ids.
    assert sorted(sync_requests(api, phone["phone_number_id"])) == [("history", "accepted"), ("smb_app_state_sync", "accepted")]
    ids = roost.sql(
        "SELECT contacts_sync_request_id, history_sync_request_id, contacts_sync_attempts, history_sync_attempts "
        "FROM phone_numbers WHERE id = :id", id=phone["id"])[0]
    assert ids[0] and ids[1] and (ids[2], ids[3]) == (1, 1)
    # One event per change of status, none per progress step; the last shows both completed.
    changes = wait_until(lambda: (lambda seen: seen if seen[-1:] == [("completed", "completed")] else None)(
        sync_events(api, phone["id"])), what="the last event")
    assert len(changes) == len(set(changes)), changes  # each a change: no event per progress step
    assert all(status in ("not_requested", "requested", "in_progress", "completed") for pair in changes for status in pair)
    # The profile shows the same object.
    assert get_profile(api, phone["business_profile_id"])["phone_numbers"][0]["coexistence"] == done["coexistence"]


def test_the_simulator_sends_history_chunks_out_of_order(roost, api):
    phone = coexistence_number(api)
    syncs_reach(api, phone, None, "completed")
    deliveries = api.get("/_sim/control/webhooks/deliveries", params={"limit": 50}).json()["data"]
    chunks = [
        tuple(item["payload"]["entry"][0]["changes"][0]["value"]["history"][0]["metadata"].values())
        for item in reversed(deliveries) if item["field"] == "history" and item["attempt"] == 1
    ]
    assert chunks == [(0, 2, 40), (0, 1, 20), (1, 2, 80), (1, 1, 60), (2, 1, 100)]
    contacts = [item for item in deliveries if item["field"] == "smb_app_state_sync"]
    assert len(contacts) == 2
    assert all(item["url"].endswith(f"/meta/webhooks/{sim_app(api)['app_id']}") for item in deliveries)


def signed_post(client: httpx.Client, app: dict[str, Any], payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(app["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    return client.post(f"/meta/webhooks/{app['app_id']}", content=body,
                       headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})


def history_chunk(phone: dict[str, Any], phase: int, chunk_order: int, progress: int) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "16315550100", "phone_number_id": phone["phone_number_id"]},
             "history": [{"metadata": {"phase": phase, "chunk_order": chunk_order, "progress": progress}, "threads": []}]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": phone["waba_id"], "time": 1_760_000_000, "changes": [{"field": "history", "value": value}]}]}


def test_chunks_out_of_order_and_redelivered_never_move_progress_back(roost, api):
    # The history sync off: Roost asks Meta for nothing, the chunks below are the only ones.
    assert api.patch(SETTINGS, json={"coexistence": {"history_sync": False}}).status_code == 200
    phone = coexistence_number(api)
    app = sim_app(api)
    with roost.http() as meta:
        for phase, chunk, progress in ((1, 1, 60), (0, 2, 40), (1, 1, 60), (0, 1, 20)):
            response = signed_post(meta, app, history_chunk(phone, phase, chunk, progress))
            assert response.status_code == 200, response.text
        redelivered = signed_post(meta, app, history_chunk(phone, 1, 1, 60))
    assert redelivered.json()["received"] is True

    history = number(api, phone)["coexistence"]["history_sync"]
    assert (history["status"], history["progress"], history["phase"]) == ("in_progress", 60, 1)
    with roost.http() as meta:
        signed_post(meta, app, history_chunk(phone, 2, 1, 100))
        signed_post(meta, app, history_chunk(phone, 1, 2, 80))  # late: completed stays completed
    history = number(api, phone)["coexistence"]["history_sync"]
    assert (history["status"], history["progress"], history["phase"]) == ("completed", 100, 2)
    # The contacts sync runs meanwhile and has events of its own: the history became completed once.
    history_statuses = [history for _, history in sync_events(api, phone["id"])]
    changes = [now for before, now in zip([None, *history_statuses], history_statuses) if before != now]
    assert changes.count("completed") == 1 and history_statuses[-1] == "completed"


def test_a_declined_history_ends_declined_with_metas_error(roost, api):
    # Meta's answer to the requests is held back a little, so the business's choice is made
    # before the simulator sends the history webhook.
    add_fault(api, call="smb_app_data", kind="latency", delay_ms=1500, count=2)
    phone = coexistence_number(api)
    response = api.post(f"{SIM_PHONES}/{phone['phone_number_id']}/history-sharing", json={"declined": True})
    assert response.status_code == 200, response.text

    done = syncs_reach(api, phone, "in_progress", "declined")
    history = done["coexistence"]["history_sync"]
    assert history["error"]["code"] == 2593109 and history["progress"] is None and history["completed_at"]
    # A history request is still answered 200 when the business declined: Meta has it.
    assert sorted(sync_requests(api, phone["phone_number_id"])) == [("history", "accepted"), ("smb_app_state_sync", "accepted")]
    assert any(history == "declined" for _, history in sync_events(api, phone["id"]))


def test_the_history_sync_can_be_turned_off_per_mode(roost, api):
    assert api.get(SETTINGS).json()["coexistence"] == {"history_sync": True}  # the default
    settings = api.patch(SETTINGS, json={"coexistence": {"history_sync": False}})
    assert settings.status_code == 200 and settings.json()["coexistence"] == {"history_sync": False}
    phone = coexistence_number(api)

    done = syncs_reach(api, phone, "in_progress", None)
    assert done["coexistence"]["history_sync"] == {
        "status": "not_requested", "progress": None, "phase": None, "requested_at": None, "completed_at": None, "error": None,
    }
    assert sync_requests(api, phone["phone_number_id"]) == [("smb_app_state_sync", "accepted")]


@pytest.mark.parametrize("body, param", [
    ({"coexistence": {"history_sync": "no"}}, "coexistence.history_sync"),
    ({"coexistence": {"history_sync": None}}, "coexistence.history_sync"),
    ({"coexistence": {"contacts_sync": False}}, "coexistence.contacts_sync"),
    ({"coexistence": None}, "coexistence"),
    ({"coexistence": True}, "coexistence"),
])
def test_the_setting_refuses_what_it_does_not_take(api, body, param):
    before = api.get(SETTINGS).json()
    response = api.patch(SETTINGS, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and param in {problem["param"] for problem in error["errors"]}
    assert api.get(SETTINGS).json() == before


def test_other_numbers_have_no_coexistence_object(roost, api):
    session = play(api)
    (phone,) = get_profile(api, session["business_profile_id"])["phone_numbers"]
    assert phone["coexistence"] is None
    refused = api.post(f"/_sim/control/phone-numbers/{phone['phone_number_id']}/history-sharing", json={"declined": True})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "phone_not_on_business_app"


def test_a_transient_error_is_retried_and_the_sync_then_requested(roost, api):
    add_fault(api, call="smb_app_data", kind="graph_error", meta_code=2, count=2)
    phone = coexistence_number(api)

    def failed_once() -> dict[str, Any] | None:
        syncs = number(api, phone)["coexistence"]
        errors = [syncs[name]["error"] for name in ("contacts_sync", "history_sync")]
        return syncs if all(error and error["code"] == 2 for error in errors) else None

    waiting = wait_until(failed_once, what="both first attempts failed")
    assert waiting["contacts_sync"]["status"] == waiting["history_sync"]["status"] == "not_requested"
    done = syncs_reach(api, phone, "in_progress", "completed", timeout=30)
    assert done["coexistence"]["history_sync"]["error"] is None
    assert sorted(sync_requests(api, phone["phone_number_id"])) == [("history", "accepted"), ("smb_app_state_sync", "accepted")]
    attempts = roost.sql("SELECT contacts_sync_attempts, history_sync_attempts FROM phone_numbers WHERE id = :id", id=phone["id"])
    assert attempts == [(2, 2)]


def test_metas_24_hour_window_closed_means_expired(roost, api):
    # The first attempts fail transiently; meanwhile a day passes on Meta's side, so the retry
    # is refused with 2593108.
    add_fault(api, call="smb_app_data", kind="graph_error", meta_code=2, count=2)
    phone = coexistence_number(api)
    aged = api.post(f"{SIM_PHONES}/{phone['phone_number_id']}/age", json={"hours": 25})
    assert aged.status_code == 200, aged.text

    done = syncs_reach(api, phone, "expired", "expired", timeout=30)
    for name in ("contacts_sync", "history_sync"):
        assert done["coexistence"][name]["error"]["code"] == 2593108
    assert sorted(sync_requests(api, phone["phone_number_id"])) == [("history", "window_closed"), ("smb_app_state_sync", "window_closed")]
    assert sync_events(api, phone["id"])[-1] == ("expired", "expired")


def test_roosts_own_window_expires_a_sync_it_could_not_start(roost, api):
    add_fault(api, call="smb_app_data", kind="graph_error", meta_code=2, count=2)
    phone = coexistence_number(api)
    wait_until(lambda: all(number(api, phone)["coexistence"][name]["error"] for name in ("contacts_sync", "history_sync")),
               what="both first attempts failed")
    # A day later on Roost's side: the retry is not made, the syncs expire.
    roost.sql("UPDATE phone_numbers SET coexistence_onboarded_at = coexistence_onboarded_at - 90000000, "
              "contacts_sync_next_at = 1, history_sync_next_at = 1 WHERE id = :id AND contacts_sync_status = 'not_requested'",
              id=phone["id"])
    done = syncs_reach(api, phone, "expired", "expired")
    assert "24-hour window" in done["coexistence"]["contacts_sync"]["error"]["message"]
    assert sync_requests(api, phone["phone_number_id"]) == []


def test_a_refusal_that_is_not_transient_fails_the_sync(roost, api):
    add_fault(api, call="smb_app_data", kind="graph_error", meta_code=10, count=2)
    phone = coexistence_number(api)
    done = syncs_reach(api, phone, "failed", "failed")
    assert done["coexistence"]["history_sync"]["error"]["code"] == 10
    assert sync_events(api, phone["id"])[-1] == ("failed", "failed")


# -- where the WABA's webhooks go, and what Roost forwards --------------------------------------------


@pytest.fixture
def https_receiver(tmp_path):
    receiver = HttpsReceiver(tmp_path)
    yield receiver
    receiver.close()


@pytest.fixture
def forwarding_roost(backend, tmp_path, https_receiver, monkeypatch):
    """A server that trusts the receiver's throw-away CA and may reach loopback, on a database of
    its own (another server's worker would take its relays and fail them)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(https_receiver.ca_file))
    private = own_database_url(backend)
    overrides = {"database_url": private} if private else {}
    server = RunningRoost(make_settings(backend, tmp_path, webhook_allow_private=True, **overrides), private_database=private).start()
    yield server
    server.stop()


def test_a_coexistence_wabas_webhooks_are_followed_and_forwarded_entry_by_entry(forwarding_roost, https_receiver):
    server = forwarding_roost
    mine, other = server.new_org(), server.new_org()
    with mine.client() as api, other.client() as other_api:
        assert api.patch(SETTINGS, json={"messages_callback_url": https_receiver.url}).status_code == 200
        assert other_api.patch(SETTINGS, json={"messages_callback_url": https_receiver.url + "/other"}).status_code == 200
        app = sim_app(api)
        phone = coexistence_number(api)
        theirs = coexistence_number(other_api)

        # No override on a coexistence WABA: its sync webhooks come to Roost.
        listed = api.get(f"/_sim/graph/v25.0/{phone['waba_id']}/subscribed_apps",
                         headers={"Authorization": f"Bearer {app['system_user_token']}"}).json()["data"]
        assert [item.get("override_callback_uri") for item in listed] == [None]
        assert https_receiver.handshakes == []
        syncs_reach(api, phone, "in_progress", "completed")
        echo = api.post("/_sim/control/webhooks/smb-message-echoes",
                        json={"phone_number_id": phone["phone_number_id"], "text": "On my way"})
        assert echo.status_code == 200 and echo.json()["outcome"] == "delivered", echo.text
        syncs_reach(other_api, theirs, "in_progress", "completed")

    def forwarded() -> list[Any] | None:
        posts = [request for request in https_receiver.requests if request.method == "POST" and request.path == "/whatsapp/messages"]
        fields = [json.loads(request.body)["entry"][0]["changes"][0]["field"] for request in posts]
        return posts if fields.count("history") == 5 and fields.count("smb_app_state_sync") == 2 and "smb_message_echoes" in fields else None

    posts = wait_until(forwarded, what="the forwarded entries")
    for request in posts:
        body = json.loads(request.body)
        assert body["object"] == "whatsapp_business_account" and len(body["entry"]) == 1
        assert body["entry"][0]["id"] == phone["waba_id"]  # never the other tenant's WABA
        expected = "sha256=" + hmac.new(app["app_secret"].encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-hub-signature-256"] == expected
    echoed = next(json.loads(r.body) for r in posts if b"smb_message_echoes" in r.body)
    assert echoed["entry"][0]["changes"][0]["value"]["message_echoes"][0]["text"]["body"] == "On my way"
    theirs_forwarded = [r for r in https_receiver.requests if r.method == "POST" and r.path == "/whatsapp/messages/other"]
    assert theirs_forwarded and all(json.loads(r.body)["entry"][0]["id"] == theirs["waba_id"] for r in theirs_forwarded)


def test_a_coexistence_signup_through_the_hosted_page_starts_both_syncs(roost, api):
    # The hosted page's own calls (launch, Meta's FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING, the code),
    # with the signup the simulator's dialog would make.
    from urllib.parse import parse_qs, urlsplit

    created = api.post("/v1/organization/embedded-signup/sessions", json={"coexistence": True})
    assert created.status_code == 201, created.text
    token = parse_qs(urlsplit(created.json()["url"]).query)["token"][0]
    with httpx.Client(base_url=roost.base_url, headers={"Origin": roost.base_url}, timeout=30) as page:
        assert page.post("/embed/api/launch", json={"token": token}).status_code == 200
        signup = api.post("/_sim/control/signups", json={"variant": COEXISTENCE, "extras": {"featureType": "whatsapp_business_app_onboarding"}})
        assert signup.status_code == 201, signup.text
        assert signup.json()["event"]["event"] == COEXISTENCE and "phone_number_id" not in signup.json()["event"]["data"]
        assert page.post("/embed/api/message", json={"token": token, "message": signup.json()["event"]}).status_code == 200
        accepted = page.post("/embed/api/code", json={"token": token, "code": signup.json()["code"]})
        assert accepted.status_code == 200 and accepted.json()["accepted"] is True, accepted.text

    def completed() -> dict[str, Any] | None:
        session = api.get(f"/v1/organization/embedded-signup/sessions/{created.json()['id']}").json()
        return session if session["status"] == "completed" else None

    session = wait_until(completed, 20, what="the session completes")
    profile = get_profile(api, session["business_profile_id"])
    (phone,) = profile["phone_numbers"]
    phone = {**phone, "waba_id": profile["waba_id"], "business_profile_id": profile["id"]}
    syncs_reach(api, phone, "in_progress", "completed")
    assert sorted(sync_requests(api, phone["phone_number_id"])) == [("history", "accepted"), ("smb_app_state_sync", "accepted")]
