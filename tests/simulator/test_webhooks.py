"""The webhook emitter: Meta's payloads, `X-Hub-Signature-256`, retries and the `webhook_lost` fault (research §5)."""

import json

import pytest

from tests.simulator.helpers import signup, subscribe_app_to, wait_until


def deliveries(api):
    return api.get("/_sim/control/webhooks/deliveries").json()["data"]


def test_a_finished_signup_sends_partner_app_installed_signed_with_the_app_secret(graph, api, sim_app, receiver):
    subscribe_app_to(graph, sim_app, receiver)

    result = signup(api)

    (post,) = wait_until(lambda: receiver.posts())
    assert post.signature_valid is True
    assert post.headers["content-type"] == "application/json"
    assert post.headers["x-hub-signature-256"].startswith("sha256=")
    payload = json.loads(post.body)
    entry = payload["entry"][0]
    assert payload["object"] == "whatsapp_business_account"
    assert entry["id"] == sim_app["partner_business_id"]  # as in Meta's PARTNER_* examples
    assert isinstance(entry["time"], int)
    assert entry["changes"] == [{
        "field": "account_update",
        "value": {
            "event": "PARTNER_APP_INSTALLED",
            "waba_info": {"waba_id": result["waba_id"], "owner_business_id": result["business_id"], "partner_app_id": sim_app["app_id"]},
        },
    }]


@pytest.mark.parametrize("event", ["PARTNER_ADDED", "PARTNER_REMOVED"])
def test_account_update_events_carry_only_the_waba_info(graph, api, sim_app, receiver, event):
    result = signup(api, webhook_event=None)
    subscribe_app_to(graph, sim_app, receiver)

    response = api.post("/_sim/control/webhooks/account-update", json={"waba_id": result["waba_id"], "event": event})

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "delivered"
    (post,) = receiver.posts()
    value = json.loads(post.body)["entry"][0]["changes"][0]["value"]
    assert value == {"event": event, "waba_info": {"waba_id": result["waba_id"], "owner_business_id": result["business_id"]}}


def test_account_review_update_sends_the_decision_and_updates_the_waba(graph, api, sim_app, receiver):
    result = signup(api, webhook_event=None)
    subscribe_app_to(graph, sim_app, receiver)

    api.post("/_sim/control/webhooks/account-review-update", json={"waba_id": result["waba_id"], "decision": "REJECTED"})

    (post,) = receiver.posts()
    assert post.signature_valid is True
    entry = json.loads(post.body)["entry"][0]
    assert entry["id"] == result["waba_id"]
    assert entry["changes"] == [{"field": "account_review_update", "value": {"decision": "REJECTED"}}]
    waba = graph.get(f"/{result['waba_id']}", params={"fields": "account_review_status"},
                     headers={"Authorization": f"Bearer {sim_app['system_user_token']}"}).json()
    assert waba["account_review_status"] == "REJECTED"


def test_a_webhook_for_a_waba_of_another_organization_is_refused(roost, api):
    with roost.new_org().client() as other:
        foreign = signup(other, webhook_event=None)

    response = api.post("/_sim/control/webhooks/account-update", json={"waba_id": foreign["waba_id"], "event": "PARTNER_ADDED"})

    assert response.status_code == 404
    assert deliveries(api) == []


@pytest.mark.parametrize("body, param", [({"waba_id": "1", "event": "NOPE"}, "event"), ({"event": "PARTNER_ADDED"}, "waba_id")])
def test_a_bad_webhook_request_is_refused(api, body, param):
    response = api.post("/_sim/control/webhooks/account-update", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_a_failed_delivery_is_retried_and_every_attempt_recorded(graph, api, sim_app, receiver):
    result = signup(api, webhook_event=None)
    subscribe_app_to(graph, sim_app, receiver)
    receiver.post_statuses = [500, 503]

    first = api.post("/_sim/control/webhooks/account-update", json={"waba_id": result["waba_id"], "event": "PARTNER_ADDED"}).json()

    assert first["outcome"] == "failed"
    def attempts():
        mine = [d for d in deliveries(api) if d["webhook_id"] == first["webhook_id"]]
        return sorted(mine, key=lambda d: d["attempt"]) if any(d["outcome"] == "delivered" for d in mine) else None

    mine = wait_until(attempts)
    assert [(d["attempt"], d["outcome"], d["status_code"]) for d in mine] == [(1, "failed", 500), (2, "failed", 503), (3, "delivered", 200)]
    assert len(receiver.posts()) == 3
    assert len({post.body for post in receiver.posts()}) == 1  # the same body, the same signature


def test_a_webhook_lost_fault_skips_one_webhook(graph, api, sim_app, receiver):
    result = signup(api, webhook_event=None)
    subscribe_app_to(graph, sim_app, receiver)
    api.post("/_sim/control/faults", json={"call": "webhooks", "kind": "webhook_lost"})

    lost = api.post("/_sim/control/webhooks/account-update", json={"waba_id": result["waba_id"], "event": "PARTNER_ADDED"}).json()
    sent = api.post("/_sim/control/webhooks/account-update", json={"waba_id": result["waba_id"], "event": "PARTNER_REMOVED"}).json()

    assert lost["outcome"] == "lost" and sent["outcome"] == "delivered"
    (post,) = receiver.posts()
    assert json.loads(post.body)["entry"][0]["changes"][0]["value"]["event"] == "PARTNER_REMOVED"
    assert [d["outcome"] for d in deliveries(api)] == ["delivered", "lost"]


def test_fields_the_app_did_not_subscribe_to_are_not_sent(graph, api, sim_app, receiver):
    result = signup(api, webhook_event=None)
    subscribe_app_to(graph, sim_app, receiver, fields="account_update")

    response = api.post("/_sim/control/webhooks/account-review-update", json={"waba_id": result["waba_id"], "decision": "APPROVED"})

    assert response.json()["outcome"] == "not_subscribed"
    assert receiver.posts() == []


def test_by_default_webhooks_go_to_roosts_receiver(roost, api, sim_app):
    result = signup(api, webhook_event=None)

    sent = api.post("/_sim/control/webhooks/account-update", json={"waba_id": result["waba_id"], "event": "PARTNER_ADDED"}).json()

    assert sent["url"] == f"{roost.base_url}/meta/webhooks/{sim_app['app_id']}"
