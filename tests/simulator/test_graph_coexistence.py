"""The simulator's `POST /{phone}/smb_app_data` (research §4.8): each sync type once (2593107),
within 24 hours of onboarding (2593108), for a WhatsApp Business app number only; then the
contacts and the history in webhooks, chunked and out of order, or error 2593109 when the
business declined; sync webhooks and message echoes go to the WABA's override when one is set."""

import json
from typing import Any

import httpx

from tests.simulator.helpers import Receiver, bearer, meta_error, onboard, subscribe_app_to
from tests.support import wait_until

COEXISTENCE = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
ALL_FIELDS = "account_update,account_review_update,messages,smb_message_echoes,history,smb_app_state_sync"


def sync(graph: httpx.Client, token: str, phone_id: str, **body: Any) -> httpx.Response:
    return graph.post(f"/{phone_id}/smb_app_data", json=body, headers=bearer(token))


def coexistence_account(api: httpx.Client, graph: httpx.Client, app: dict[str, Any]) -> tuple[Any, str]:
    account = onboard(api, graph, app, variant=COEXISTENCE, webhook_event=None)
    phone_id = graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(account.token)).json()["data"][0]["id"]
    return account, phone_id


def values(receiver: Receiver, field: str, count: int) -> list[dict[str, Any]]:
    def arrived() -> list[dict[str, Any]] | None:
        found = [json.loads(post.body) for post in receiver.posts()]
        found = [body for body in found if body["entry"][0]["changes"][0]["field"] == field]
        return found if len(found) >= count else None

    bodies = wait_until(arrived, 10, what=f"{count} {field} webhooks")
    return [body["entry"][0]["changes"][0]["value"] for body in bodies]


def test_each_sync_starts_once_and_its_webhooks_follow(graph, api, sim_app, receiver):
    subscribe_app_to(graph, sim_app, receiver, ALL_FIELDS)
    account, phone_id = coexistence_account(api, graph, sim_app)

    contacts = sync(graph, account.token, phone_id, messaging_product="whatsapp", sync_type="smb_app_state_sync")
    history = sync(graph, account.token, phone_id, messaging_product="whatsapp", sync_type="history")
    for answer in (contacts, history):
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"messaging_product", "request_id"} and answer.json()["messaging_product"] == "whatsapp"
    again = sync(graph, account.token, phone_id, messaging_product="whatsapp", sync_type="history")
    assert "already requested" in meta_error(again, 400, 2593107)["message"]

    state = values(receiver, "smb_app_state_sync", 2)
    items = [item for value in state for item in value["state_sync"]]
    assert len(items) == 5 and all(item["type"] == "contact" and item["action"] == "add" for item in items)
    assert all(value["metadata"]["phone_number_id"] == phone_id for value in state)
    chunks = [value["history"][0]["metadata"] for value in values(receiver, "history", 5)]
    assert [(c["phase"], c["chunk_order"], c["progress"]) for c in chunks] == [
        (0, 2, 40), (0, 1, 20), (1, 2, 80), (1, 1, 60), (2, 1, 100)]
    assert all(post.signature_valid for post in receiver.posts())
    outcomes = [(item["sync_type"], item["outcome"]) for item in
                api.get(f"/_sim/control/phone-numbers/{phone_id}/sync-requests").json()["data"]]
    assert outcomes == [("smb_app_state_sync", "accepted"), ("history", "accepted"), ("history", "already_requested")]


def test_a_declined_history_is_answered_200_then_error_2593109(graph, api, sim_app, receiver):
    subscribe_app_to(graph, sim_app, receiver, ALL_FIELDS)
    account, phone_id = coexistence_account(api, graph, sim_app)
    declined = api.post(f"/_sim/control/phone-numbers/{phone_id}/history-sharing", json={"declined": True})
    assert declined.status_code == 200 and declined.json()["history_declined"] is True

    assert sync(graph, account.token, phone_id, messaging_product="whatsapp", sync_type="history").status_code == 200
    (value,) = values(receiver, "history", 1)
    (error,) = value["history"][0]["errors"]
    assert error["code"] == 2593109 and error["message"]


def test_the_window_closes_24_hours_after_onboarding(graph, api, sim_app):
    account, phone_id = coexistence_account(api, graph, sim_app)
    assert api.post(f"/_sim/control/phone-numbers/{phone_id}/age", json={"hours": 25}).status_code == 200
    refused = sync(graph, account.token, phone_id, messaging_product="whatsapp", sync_type="smb_app_state_sync")
    meta_error(refused, 400, 2593108)


def test_only_a_business_app_number_can_sync(graph, api, sim_app):
    account = onboard(api, graph, sim_app, webhook_event=None)
    refused = sync(graph, account.token, account.phone_number_id, messaging_product="whatsapp", sync_type="history")
    meta_error(refused, 400, 100)


def test_bad_parameters_are_refused_as_meta_refuses_them(graph, api, sim_app):
    account, phone_id = coexistence_account(api, graph, sim_app)
    meta_error(sync(graph, account.token, phone_id, sync_type="history"), 400, 100)
    meta_error(sync(graph, account.token, phone_id, messaging_product="sms", sync_type="history"), 400, 100)
    meta_error(sync(graph, account.token, phone_id, messaging_product="whatsapp"), 400, 100)
    meta_error(sync(graph, account.token, phone_id, messaging_product="whatsapp", sync_type="contacts"), 400, 100)
    meta_error(sync(graph, account.token, phone_id, messaging_product="whatsapp", sync_type="history", full=True), 400, 100)
    meta_error(sync(graph, "EAAnot-a-token", phone_id, messaging_product="whatsapp", sync_type="history"), 401, 190)
    # Nothing of the above reached the rules that count a request.
    assert api.get(f"/_sim/control/phone-numbers/{phone_id}/sync-requests").json()["data"] == []


def test_sync_webhooks_and_echoes_go_to_the_wabas_override_when_set(graph, api, sim_app, receiver):
    subscribe_app_to(graph, sim_app, receiver, ALL_FIELDS)
    account, phone_id = coexistence_account(api, graph, sim_app)
    override = Receiver()
    override.app_secret, override.verify_token = sim_app["app_secret"], "override-token"
    try:
        assert graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token)).status_code == 200
        answer = graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token),
                            json={"override_callback_uri": override.url, "verify_token": "override-token"})
        assert answer.status_code == 200, answer.text
        echo = api.post("/_sim/control/webhooks/smb-message-echoes", json={"phone_number_id": phone_id, "text": "Hi"})
        assert echo.status_code == 200 and echo.json()["url"] == override.url
        assert sync(graph, account.token, phone_id, messaging_product="whatsapp", sync_type="smb_app_state_sync").status_code == 200
        assert len(values(override, "smb_app_state_sync", 2)) == 2
        # account_update is never overridden.
        update = api.post("/_sim/control/webhooks/account-update", json={"waba_id": account.waba_id, "event": "PARTNER_ADDED"})
        assert update.json()["url"] == receiver.url
        assert [post for post in receiver.posts() if b"smb_app_state_sync" in post.body] == []
    finally:
        override.stop()
