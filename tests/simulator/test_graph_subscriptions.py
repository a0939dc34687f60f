"""`{waba}/subscribed_apps`, `{app}/subscriptions` with Meta's handshake, and the credit line (research §4.3, §4.7, §5.1)."""

import pytest

from tests.simulator.helpers import bearer, meta_error, onboard, signup, subscribe_app_to

OVERRIDE_FIRST = (
    "(#100) Before override the current callback uri, your app must be subscribed to receive messages for "
    "WhatsApp Business Account"
)


# -- subscribed_apps -----------------------------------------------------------------------------------


def test_a_plain_post_subscribes_the_tokens_app(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    assert graph.get(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token)).json() == {"data": []}

    response = graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))

    assert response.status_code == 200
    assert response.json() == {"success": True}
    listed = graph.get(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token)).json()["data"]
    assert len(listed) == 1
    app_data = listed[0]["whatsapp_business_api_data"]
    assert app_data["id"] == sim_app["app_id"]
    assert set(app_data) == {"id", "link", "name"}
    assert "override_callback_uri" not in listed[0]


def test_an_override_before_subscribing_is_refused(roost, graph, api, sim_app, receiver):
    account = onboard(api, graph, sim_app)
    receiver.verify_token = "vt"

    response = graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token),
                          json={"override_callback_uri": receiver.url, "verify_token": "vt"})

    error = meta_error(response, 400, 100)
    assert error["message"] == OVERRIDE_FIRST
    assert receiver.received == []
    assert roost.sql("SELECT subscribed, override_callback_uri FROM sim_waba_shares WHERE waba_id = :w", w=account.waba_id) == [(False, None)]


def test_an_override_after_subscribing_is_verified_then_listed(graph, api, sim_app, receiver):
    account = onboard(api, graph, sim_app)
    graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))
    receiver.verify_token = "vt-override"

    response = graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token),
                          data={"override_callback_uri": receiver.url, "verify_token": "vt-override"})

    assert response.status_code == 200, response.text
    (handshake,) = receiver.received
    assert handshake.method == "GET"
    assert handshake.query["hub.mode"] == ["subscribe"] and handshake.query["hub.verify_token"] == ["vt-override"]
    listed = graph.get(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token)).json()["data"]
    assert listed[0]["override_callback_uri"] == receiver.url


def test_a_plain_post_removes_the_override(graph, api, sim_app, receiver):
    account = onboard(api, graph, sim_app)
    graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))
    receiver.verify_token = "vt"
    graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token), json={"override_callback_uri": receiver.url, "verify_token": "vt"})

    graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))

    listed = graph.get(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token)).json()["data"]
    assert "override_callback_uri" not in listed[0]


def test_an_override_longer_than_200_characters_is_refused(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))
    long_url = "https://example.com/" + "a" * 181

    response = graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token), json={"override_callback_uri": long_url, "verify_token": "vt"})

    error = meta_error(response, 400, 100)
    assert "200" in error["message"]


def test_an_override_that_fails_the_handshake_is_not_stored(roost, graph, api, sim_app, receiver):
    account = onboard(api, graph, sim_app)
    graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))
    receiver.verify_token = "vt"
    receiver.challenge_mode = "wrong"

    response = graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token), json={"override_callback_uri": receiver.url, "verify_token": "vt"})

    meta_error(response, 400, 2200)
    assert roost.sql("SELECT override_callback_uri FROM sim_waba_shares WHERE waba_id = :w", w=account.waba_id) == [(None,)]


def test_delete_unsubscribes_the_app(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))

    response = graph.delete(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))

    assert response.json() == {"success": True}
    assert graph.get(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token)).json() == {"data": []}


def test_subscribing_another_business_waba_is_a_permissions_error(graph, api, sim_app):
    mine = onboard(api, graph, sim_app)
    theirs = onboard(api, graph, sim_app)

    meta_error(graph.post(f"/{theirs.waba_id}/subscribed_apps", headers=bearer(mine.token)), 403, 200)


# -- the app's subscription ------------------------------------------------------------------------------


def test_by_default_the_app_calls_roosts_own_receiver(roost, graph, sim_app):
    response = graph.get(f"/{sim_app['app_id']}/subscriptions", headers=bearer(sim_app["app_token"]))

    assert response.status_code == 200
    (subscription,) = response.json()["data"]
    assert subscription["object"] == "whatsapp_business_account"
    assert subscription["callback_url"] == f"{roost.base_url}/meta/webhooks/{sim_app['app_id']}"
    assert subscription["active"] is True
    # What Roost needs, the coexistence and the numbers' health fields among them.
    assert [field["name"] for field in subscription["fields"]] == [
        "account_update", "account_review_update", "messages", "smb_message_echoes", "history", "smb_app_state_sync",
        "phone_number_quality_update", "phone_number_name_update"]


def test_subscriptions_run_meta_handshake_before_storing(graph, sim_app, receiver):
    subscribe_app_to(graph, sim_app, receiver, fields="account_update,messages")

    (handshake,) = receiver.received
    assert handshake.method == "GET"
    assert handshake.query["hub.mode"] == ["subscribe"]
    assert handshake.query["hub.verify_token"] == [receiver.verify_token]
    assert handshake.query["hub.challenge"][0].isdigit()
    (subscription,) = graph.get(f"/{sim_app['app_id']}/subscriptions", headers=bearer(sim_app["app_token"])).json()["data"]
    assert subscription["callback_url"] == receiver.url
    assert subscription["fields"] == [{"name": "account_update", "version": "v25.0"}, {"name": "messages", "version": "v25.0"}]


@pytest.mark.parametrize("mode, detail", [("wrong", "does not match challenge"), ("404", "HTTP Status Code = 404")])
def test_a_failed_handshake_stores_nothing(roost, graph, sim_app, receiver, mode, detail):
    receiver.verify_token = "vt"
    receiver.challenge_mode = mode

    response = graph.post(f"/{sim_app['app_id']}/subscriptions", headers=bearer(sim_app["app_token"]),
                          json={"object": "whatsapp_business_account", "callback_url": receiver.url, "fields": ["account_update"], "verify_token": "vt"})

    error = meta_error(response, 400, 2200)
    assert error["message"].startswith("(#2200) Callback verification failed with the following errors")
    assert detail in error["message"]
    assert roost.sql("SELECT callback_url FROM sim_apps WHERE app_id = :a", a=sim_app["app_id"]) == [(None,)]


def test_subscriptions_need_the_app_token(graph, sim_app):
    response = graph.get(f"/{sim_app['app_id']}/subscriptions", headers=bearer(sim_app["system_user_token"]))

    meta_error(response, 400, 15)


@pytest.mark.parametrize("missing", ["object", "callback_url", "verify_token", "fields"])
def test_subscriptions_need_every_parameter(graph, sim_app, receiver, missing):
    body = {"object": "whatsapp_business_account", "callback_url": receiver.url, "fields": "account_update", "verify_token": "vt"}
    del body[missing]

    error = meta_error(graph.post(f"/{sim_app['app_id']}/subscriptions", headers=bearer(sim_app["app_token"]), data=body), 400, 100)

    assert error["message"] == f"(#100) The parameter {missing} is required"
    assert receiver.received == []


# -- credit line (Solution Partners) -----------------------------------------------------------------------


def test_the_credit_line_is_shared_and_attached(graph, api, sim_app):
    waba_id = signup(api)["waba_id"]

    response = graph.post(f"/{sim_app['credit_line_id']}/whatsapp_credit_sharing_and_attach",
                          params={"waba_currency": "EUR", "waba_id": waba_id}, headers=bearer(sim_app["system_user_token"]))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["waba_id"] == waba_id and body["allocation_config_id"].isdigit()
    waba = graph.get(f"/{waba_id}", params={"fields": "currency,primary_funding_id"}, headers=bearer(sim_app["system_user_token"])).json()
    assert waba["currency"] == "EUR" and waba["primary_funding_id"] == body["allocation_config_id"]


def test_a_credit_line_of_another_app_is_refused(roost, graph, api, sim_app):
    waba_id = signup(api)["waba_id"]
    with roost.new_org().client() as other_api:
        other_credit_line = other_api.get("/_sim/control/app").json()["credit_line_id"]

    response = graph.post(f"/{other_credit_line}/whatsapp_credit_sharing_and_attach",
                          params={"waba_currency": "USD", "waba_id": waba_id}, headers=bearer(sim_app["system_user_token"]))

    meta_error(response, 403, 200)


def test_an_unsupported_currency_is_refused(graph, api, sim_app):
    waba_id = signup(api)["waba_id"]

    response = graph.post(f"/{sim_app['credit_line_id']}/whatsapp_credit_sharing_and_attach",
                          params={"waba_currency": "JPY", "waba_id": waba_id}, headers=bearer(sim_app["system_user_token"]))

    meta_error(response, 400, 100)
