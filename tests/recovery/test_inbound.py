"""Meta's webhooks to Roost (SPEC 7.2) over real HTTP: handshake, signature, storage once,
PARTNER_REMOVED, account_review_update, and the relay to a forward URL."""

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from roost.runtime import RELAY_CONNECTIONS
from roost.worker import tick
from tests.support.signups import get_profile, play
from tests.recovery.helpers import (
    ForwardReceiver,
    account_update,
    changes_of,
    emit,
    envelope,
    post_webhook,
    relays_of,
    review_update,
    set_settings,
    sign,
    sim_app,
    wait_until,
)


@pytest.fixture
def app(api):
    return sim_app(api)


@pytest.fixture
def http(roost):
    with roost.http() as client:
        yield client


@pytest.fixture
def forward():
    receiver = ForwardReceiver().start()
    yield receiver
    receiver.close()


def handshake(http, app_id, **query):
    return http.get(f"/meta/webhooks/{app_id}", params=query)


# -- handshake ---------------------------------------------------------------------------------


def test_the_handshake_echoes_the_challenge_with_the_apps_verify_token(http, app):
    response = handshake(http, app["app_id"], **{"hub.mode": "subscribe", "hub.verify_token": app["verify_token"], "hub.challenge": "1158201444"})

    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


def test_the_handshake_refuses_a_wrong_verify_token(http, app):
    response = handshake(http, app["app_id"], **{"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1158201444"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "verify_token_invalid"
    assert "1158201444" not in response.text


def test_the_handshake_needs_subscribe_and_a_challenge(http, app):
    bad_mode = handshake(http, app["app_id"], **{"hub.mode": "unsubscribe", "hub.verify_token": app["verify_token"], "hub.challenge": "1"})
    no_challenge = handshake(http, app["app_id"], **{"hub.mode": "subscribe", "hub.verify_token": app["verify_token"]})

    assert (bad_mode.status_code, bad_mode.json()["error"]["param"]) == (400, "hub.mode")
    assert (no_challenge.status_code, no_challenge.json()["error"]["code"]) == (400, "parameter_missing")


def test_an_unknown_app_is_404_for_both_methods(http, app):
    unknown = "9" + "".join(random.choice("0123456789") for _ in range(14))  # no other test's app id
    get = handshake(http, unknown, **{"hub.mode": "subscribe", "hub.verify_token": app["verify_token"], "hub.challenge": "1"})
    post = post_webhook(http, {**app, "app_id": unknown}, envelope())

    assert get.status_code == 404 and post.status_code == 404
    assert get.json()["error"]["code"] == "resource_missing"


# -- signature -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature, code",
    [(None, "signature_missing"), ("sha256=" + "0" * 64, "signature_invalid"), ("sha1=abc", "signature_invalid"), ("", "signature_missing")],
)
def test_a_missing_or_bad_signature_is_401_and_nothing_is_stored(roost, http, api, app, forward, signature, code):
    set_settings(api, meta={"forward_url": forward.url})
    payload = envelope(account_update("1", "PARTNER_ADDED", "111222333444555", "999888777666555"))

    response = post_webhook(http, app, payload, signature=signature)

    assert response.status_code == 401
    assert response.json()["error"] == {**response.json()["error"], "type": "authentication_error", "code": code}
    assert changes_of(roost, app["app_id"]) == []
    assert relays_of(roost, app["app_id"]) == []


def test_a_body_signed_with_another_apps_secret_is_refused(roost, http, app):
    with roost.new_org().client() as other_api:
        other = sim_app(other_api)

    response = post_webhook(http, app, envelope(review_update("111", "APPROVED")), secret=other["app_secret"])

    assert response.status_code == 401
    assert changes_of(roost, app["app_id"]) == []


def test_the_signature_is_over_the_raw_bytes(roost, http, app):
    """Re-serialising the JSON (other spacing) would break Meta's signature: Roost checks the bytes as sent."""
    raw = b'{"object":  "whatsapp_business_account", "entry": [ ]}'
    good = post_webhook(http, app, None, raw=raw)
    reformatted = post_webhook(http, app, None, raw=json.dumps(json.loads(raw)).encode(), signature=sign(app["app_secret"], raw))

    assert good.status_code == 200
    assert reformatted.status_code == 401


# -- storing and applying --------------------------------------------------------------------------


def test_batched_entries_store_each_change_roost_uses_once_and_nothing_else(roost, http, app):
    messages = {"id": "111", "time": 1_705_321_800, "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "messages": [{"from": "15551234567", "text": {"body": "secret hello"}}]}}]}
    payload = envelope(
        account_update(app["partner_business_id"], "PARTNER_ADDED", "111222333444555", "999888777666555"),
        review_update("111222333444555", "APPROVED"),
        messages,
    )

    first = post_webhook(http, app, payload)
    again = post_webhook(http, app, payload)

    assert first.status_code == 200 and first.json() == {"received": True, "stored": 2, "duplicates": 0}
    assert again.status_code == 200 and again.json() == {"received": True, "stored": 0, "duplicates": 2}
    assert changes_of(roost, app["app_id"]) == [
        ("account_update", "PARTNER_ADDED", "111222333444555", "999888777666555", None),
        ("account_review_update", None, "111222333444555", None, "APPROVED"),
    ] or sorted(changes_of(roost, app["app_id"])) == sorted([
        ("account_update", "PARTNER_ADDED", "111222333444555", "999888777666555", None),
        ("account_review_update", None, "111222333444555", None, "APPROVED"),
    ])
    stored = json.dumps(roost.sql("SELECT * FROM meta_webhook_changes"), default=str)
    assert "secret hello" not in stored


def test_malformed_payloads_are_accepted_and_ignored(roost, http, app):
    for raw in (b"not json", b"[]", b'{"entry": "x"}', b'{"entry": [{"changes": [{"field": "account_update", "value": 3}]}]}'):
        response = post_webhook(http, app, None, raw=raw)
        assert response.status_code == 200, raw
    assert changes_of(roost, app["app_id"]) == []


def test_partner_removed_from_meta_disconnects_the_profile(roost, api, app):
    session = play(api)
    profile = get_profile(api, session["business_profile_id"])
    assert profile["status"] == "connected"

    outcome = emit(api, "account-update", waba_id=session["waba_id"], event="PARTNER_REMOVED")

    assert outcome["outcome"] == "delivered"
    profile = get_profile(api, session["business_profile_id"])
    assert profile["status"] == "disconnected"
    assert profile["disconnected_at"] is not None
    assert roost.sql("SELECT disconnect_reason FROM business_profiles WHERE id = :p", p=profile["id"]) == [("partner_removed",)]
    assert changes_of(roost, app["app_id"])[-1][:3] == ("account_update", "PARTNER_REMOVED", session["waba_id"])


def test_a_forged_partner_removed_changes_nothing(roost, http, api, app):
    session = play(api)
    payload = envelope(account_update(app["partner_business_id"], "PARTNER_REMOVED", session["waba_id"], session["business_id"]))

    response = post_webhook(http, app, payload, secret="not-the-app-secret")

    assert response.status_code == 401
    assert get_profile(api, session["business_profile_id"])["status"] == "connected"
    assert [row for row in changes_of(roost, app["app_id"]) if row[1] == "PARTNER_REMOVED"] == []


def test_partner_removed_only_touches_the_apps_own_organization(roost, http, api, app):
    """The same WABA id connected elsewhere is not this app's business."""
    session = play(api)
    with roost.new_org().client() as other_api:
        other = sim_app(other_api)
        payload = envelope(account_update(other["partner_business_id"], "PARTNER_REMOVED", session["waba_id"], session["business_id"]))

        assert post_webhook(http, other, payload).json()["stored"] == 1

    assert get_profile(api, session["business_profile_id"])["status"] == "connected"


def test_account_review_update_sets_the_review_status_once(roost, http, api, app):
    session = play(api)

    outcome = emit(api, "account-review-update", waba_id=session["waba_id"], decision="REJECTED")

    assert outcome["outcome"] == "delivered"
    profile = get_profile(api, session["business_profile_id"])
    assert profile["review_status"] == "REJECTED"
    assert profile["review_decided_at"] is not None
    # Meta redelivers the very same POST: nothing changes, nothing is stored twice.
    again = http.post(f"/meta/webhooks/{app['app_id']}", content=outcome["payload"] and json.dumps(outcome["payload"], separators=(",", ":")).encode(),
                      headers={"X-Hub-Signature-256": outcome["signature"], "Content-Type": "application/json"})
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert [row for row in changes_of(roost, app["app_id"]) if row[0] == "account_review_update"] == [
        ("account_review_update", None, session["waba_id"], None, "REJECTED")
    ]


def test_an_older_review_decision_arriving_late_does_not_overwrite_a_newer_one(roost, http, api, app):
    session = play(api)
    post_webhook(http, app, envelope(review_update(session["waba_id"], "APPROVED", time=2_000_000_000)))
    post_webhook(http, app, envelope(review_update(session["waba_id"], "REJECTED", time=1_900_000_000)))

    profile = get_profile(api, session["business_profile_id"])
    assert profile["review_status"] == "APPROVED"
    assert profile["review_decided_at"] == "2033-05-18T03:33:20.000Z"


# -- relay to the forward URL ---------------------------------------------------------------------------


def test_every_payload_is_relayed_byte_for_byte_with_metas_signature(roost, http, api, app, forward):
    set_settings(api, meta={"forward_url": forward.url})
    raw = b'{"object":"whatsapp_business_account","entry":[{"id":"1","time":1,"changes":[{"field":"messages","value":{"text":"hi \\u00e9"}}]}]}'
    signature = sign(app["app_secret"], raw)

    response = post_webhook(http, app, None, raw=raw, signature=signature)

    assert response.status_code == 200
    (post,) = wait_until(lambda: forward.posts)
    assert post.body == raw
    assert post.headers["x-hub-signature-256"] == signature
    assert post.headers["content-type"] == "application/json"
    # Delivered: the body (which may hold message content) is gone.
    (relay,) = wait_until(lambda: [row for row in relays_of(roost, app["app_id"]) if row[4] is not None])
    assert relay[1] is None and relay[3] == 1


def test_a_simulator_webhook_is_relayed_too(api, app, forward):
    set_settings(api, meta={"forward_url": forward.url})
    session = play(api)
    wait_until(lambda: forward.posts)  # the signup's own PARTNER_APP_INSTALLED

    emit(api, "account-review-update", waba_id=session["waba_id"], decision="APPROVED")

    posts = wait_until(lambda: [post for post in forward.posts if b"account_review_update" in post.body])
    assert sign(app["app_secret"], posts[0].body) == posts[0].headers["x-hub-signature-256"]


def test_a_relay_is_retried_until_the_receiver_is_back(roost, http, api, app, forward):
    forward.statuses = [503, 500]
    set_settings(api, meta={"forward_url": forward.url})
    raw = b'{"object":"whatsapp_business_account","entry":[]}'

    post_webhook(http, app, None, raw=raw)

    wait_until(lambda: len(forward.posts) == 1)
    (relay,) = relays_of(roost, app["app_id"])
    assert relay[1] == raw and relay[3] == 1 and relay[4] is None  # kept for the retry
    for expected in (2, 3):
        roost.sql("UPDATE meta_webhook_relays SET next_attempt_at = 0 WHERE app_id = :a AND delivered_at IS NULL", a=app["app_id"])
        roost.run(tick(roost.runtime))
        wait_until(lambda: len(forward.posts) == expected)
    (relay,) = wait_until(lambda: [row for row in relays_of(roost, app["app_id"]) if row[4] is not None])
    assert relay[1] is None and relay[3] == 3
    assert {post.body for post in forward.posts} == {raw}


def test_a_relay_to_a_receiver_that_is_down_waits_for_the_next_attempt(roost, http, api, app, forward):
    forward.close()
    set_settings(api, meta={"forward_url": forward.url})

    post_webhook(http, app, None, raw=b"{}")

    (relay,) = wait_until(lambda: [row for row in relays_of(roost, app["app_id"]) if row[3] == 1])
    assert relay[4] is None and relay[1] == b"{}" and relay[5] is not None


class SlowForwardReceiver(ForwardReceiver):
    def answer(self, request):
        time.sleep(0.1)
        return super().answer(request)


def test_a_burst_of_relays_waits_for_a_connection_outside_the_http_clients_pool(roost, api, app):
    """Each POST's own first attempt at its relay waits for one of relay_http's connections before
    it asks the client, so a burst never queues inside httpcore's pool (which goes through its whole
    queue each time it places a request: bench/inbound.py found a backlog costing more than the
    attempts). Every relay is still delivered, each once."""
    transport = roost.runtime.relay_http._transport
    original, seen = transport.handle_async_request, {"now": 0, "most": 0}

    async def counted(request):
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        try:
            return await original(request)
        finally:
            seen["now"] -= 1

    receiver = SlowForwardReceiver().start()
    transport.handle_async_request = counted
    try:
        set_settings(api, meta={"forward_url": receiver.url})
        bodies = [json.dumps({"object": "whatsapp_business_account", "entry": [], "n": n}).encode() for n in range(40)]

        def post(raw):
            with roost.http() as client:
                return post_webhook(client, app, None, raw=raw).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            assert list(pool.map(post, bodies)) == [200] * len(bodies)
        wait_until(lambda: len(receiver.posts) >= len(bodies), timeout=30)
        assert sorted(post.body for post in receiver.posts) == sorted(bodies)
        # The worker of this server sends due relays on the same client too, one at a time.
        assert 1 <= seen["most"] <= RELAY_CONNECTIONS + 1, seen
    finally:
        transport.handle_async_request = original
        receiver.close()


def test_no_forward_url_means_no_relay(roost, http, app):
    post_webhook(http, app, envelope())
    assert relays_of(roost, app["app_id"]) == []


# -- settings ------------------------------------------------------------------------------------------


def test_settings_show_and_clear_the_forward_url_and_auto_claim(api, forward):
    body = set_settings(api, meta={"forward_url": forward.url}, auto_claim=False)
    assert body["meta"]["forward_url"] == forward.url
    assert body["auto_claim"] is False

    body = set_settings(api, meta={"forward_url": None}, auto_claim=True)
    assert body["meta"]["forward_url"] is None and body["auto_claim"] is True


@pytest.mark.parametrize(
    "body, param",
    [
        ({"meta": {"forward_url": "ftp://example.com/x"}}, "meta.forward_url"),
        ({"meta": {"forward_url": "https://user:pw@example.com/x"}}, "meta.forward_url"),
        ({"meta": {"forward_url": "not a url"}}, "meta.forward_url"),
        ({"auto_claim": "yes"}, "auto_claim"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(api, body, param):
    before = api.get("/v1/organization/settings").json()

    response = api.patch("/v1/organization/settings", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert api.get("/v1/organization/settings").json() == before


def test_a_live_forward_url_needs_the_organizations_own_app(roost):
    organization = roost.new_org(live=True)
    with organization.client(organization.keys["live"]) as live:
        refused = live.patch("/v1/organization/settings", json={"meta": {"forward_url": "https://example.com/hook"}})
        accepted = live.patch("/v1/organization/settings", json={"meta": {"app_id": "123123123", "forward_url": "https://example.com/hook"}})

    assert refused.status_code == 400 and refused.json()["error"]["param"] == "meta.forward_url"
    assert accepted.status_code == 200 and accepted.json()["meta"]["forward_url"] == "https://example.com/hook"


def test_a_forward_url_on_a_private_address_is_refused_unless_the_server_allows_it(start_roost, forward):
    strict = start_roost()  # ROOST_WEBHOOK_ALLOW_PRIVATE is off by default
    org = strict.new_org()
    with org.client() as api, strict.http() as http:
        app = sim_app(api)
        set_settings(api, meta={"forward_url": forward.url})
        post_webhook(http, app, None, raw=b'{"object": "whatsapp_business_account", "entry": []}')
        attempted = "SELECT attempts, delivered_at, last_error FROM meta_webhook_relays WHERE app_id = :a AND attempts > 0"
        ((attempts, delivered_at, error),) = wait_until(lambda: strict.sql(attempted, a=app["app_id"]))
    assert delivered_at is None and "AddressNotAllowed" in error and "loopback" in error
    assert forward.posts == []
