"""Every call the adapter (roost.meta.graph.GraphClient) makes, and every answer the simulator
gives it, held against Meta's description (tests/meta/conformance/meta.py): a whole provisioning
as the server runs it, then the calls it makes outside provisioning."""

from typing import Any

import pytest

from roost.kit.timeutil import now_ms
from roost.meta.graph import MetaError
from roost.profiles.registration import register_newly_verified
from tests.meta.conformance.meta import OPERATIONS, conformance_problems, operations_of
from tests.meta.conformance.recording import Recording, recorded_calls
from tests.meta.helpers import SETTINGS, HttpsReceiver, play, sim_app, sim_signup
from tests.profiles.helpers import disconnect
from tests.support.signups import unused_phone_number


@pytest.fixture
def https_receiver(tmp_path):
    receiver = HttpsReceiver(tmp_path)
    yield receiver
    receiver.close()


def operations_called(recording: Recording) -> set[str]:
    return {operation.name for exchange in recording.exchanges for operation in operations_of(exchange, OPERATIONS)}


def test_a_whole_provisioning_sends_and_gets_only_what_meta_describes(start_roost, https_receiver, monkeypatch):
    # A Solution Partner with a messages callback URL (an HTTPS receiver on loopback, trusted and
    # allowed for this server only), a number verified after signup, then a disconnection.
    monkeypatch.setenv("SSL_CERT_FILE", str(https_receiver.ca_file))
    server = start_roost(webhook_allow_private=True)
    recording = Recording()
    recording.attach(server.runtime.simulator_http)
    with server.new_org().client() as api:
        settings = {"messages_callback_url": https_receiver.url, "meta": {"partner_type": "solution_partner"}}
        assert api.patch(SETTINGS, json=settings).status_code == 200
        session = play(api, phone_verified=False)
        assert session["status"] == "completed", session
        assert api.post(f"/_sim/control/phone-numbers/{session['phone_number_id']}/verify").status_code == 200
        assert server.run(register_newly_verified(server.runtime, now_ms() + 600_000)) == 1
        disconnect(api, session["business_profile_id"])

    assert conformance_problems(recording.exchanges) == []
    assert operations_called(recording) >= {
        "exchange the code", "inspect a token", "subscribe the app to a WABA", "share the credit line", "read a WABA",
        "list a WABA's phone numbers", "read a phone number", "register a phone number", "unsubscribe the app from a WABA",
    }, recording.paths()
    # The override was sent as Meta takes it (a JSON body), not only the plain subscription.
    assert any(exchange.body and "override_callback_uri" in exchange.body for exchange in recording.exchanges)


def test_the_calls_outside_provisioning_conform(roost, api):
    app = sim_app(api)
    signup = sim_signup(api)

    async def use(graph) -> Any:
        await graph.inspect_token(graph.app_token)
        await graph.inspect_token(app["system_user_token"])
        await graph.app_subscriptions()
        token = await graph.business_token_for(signup["business_id"], app["system_user_token"])
        return await graph.phone_numbers(signup["waba_id"], token)

    phones, recording = recorded_calls(roost, app, use)

    assert [phone.id for phone in phones] == [signup["phone_number_id"]]
    assert conformance_problems(recording.exchanges) == []
    assert operations_called(recording) >= {
        "inspect a token", "the app's webhook subscriptions", "fetch a business token with the system user",
    }


def test_numbers_after_signup_conform(roost, api):
    # A number added to a WABA shared without one, its code requested, a wrong guess, the right code.
    app = sim_app(api)
    signup = sim_signup(api, variant="FINISH_ONLY_WABA")
    number = unused_phone_number()

    async def use(graph) -> Any:
        token = await graph.business_token_for(signup["business_id"], app["system_user_token"])
        phone_id = await graph.add_phone_number(signup["waba_id"], "1", number, "Jasper's Market", token)
        await graph.request_code(phone_id, "SMS", "en_US", token)
        code = api.get(f"/_sim/control/phone-numbers/{phone_id}/verification-code").json()["code"]
        try:
            await graph.verify_code(phone_id, f"{(int(code) + 1) % 10**6:06d}", token)
        except MetaError as refusal:
            assert (refusal.code, refusal.http_status) == (100, 422)
        await graph.verify_code(phone_id, code, token)
        return await graph.phone_number(phone_id, token)

    phone, recording = recorded_calls(roost, app, use)

    assert phone.code_verification_status == "VERIFIED"
    assert conformance_problems(recording.exchanges) == []
    assert operations_called(recording) >= {"add a phone number to a WABA", "request a verification code", "verify a code"}


def test_the_coexistence_sync_requests_conform(roost, api):
    # A Business app number's two syncs, then a repeat Meta refuses with 2593107 (in its envelope).
    app = sim_app(api)
    signup = sim_signup(api, variant="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING", webhook_event=None)

    async def use(graph) -> Any:
        token = await graph.business_token_for(signup["business_id"], app["system_user_token"])
        (phone,) = await graph.phone_numbers(signup["waba_id"], token)
        ids = [await graph.request_sync(phone.id, sync_type, token) for sync_type in ("smb_app_state_sync", "history")]
        try:
            await graph.request_sync(phone.id, "history", token)
        except MetaError as refusal:
            assert (refusal.code, refusal.http_status) == (2593107, 400)
        return ids

    ids, recording = recorded_calls(roost, app, use)

    assert all(ids) and len(set(ids)) == 2
    assert conformance_problems(recording.exchanges) == []
    assert "start a coexistence sync" in operations_called(recording)


def test_the_reads_of_a_refresh_conform(roost, api):
    # Account health's refresh: the WABA's review and health_status (a ban and a restriction
    # showing in it), then its numbers with their name status and messaging limit.
    app = sim_app(api)
    signup = sim_signup(api)
    control = "/_sim/control/webhooks/account-update"
    restriction = {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 4_000_000_000}
    assert api.post(control, json={"waba_id": signup["waba_id"], "event": "ACCOUNT_RESTRICTION",
                                   "restriction_info": [restriction]}).status_code == 200
    quality = {"phone_number_id": signup["phone_number_id"], "event": "UPGRADE", "old_limit": "TIER_250", "current_limit": "TIER_2K"}
    assert api.post("/_sim/control/webhooks/phone-number-quality-update", json=quality).status_code == 200

    async def use(graph) -> Any:
        token = await graph.business_token_for(signup["business_id"], app["system_user_token"])
        limited = await graph.waba_health(signup["waba_id"], token)
        assert api.post(control, json={"waba_id": signup["waba_id"], "event": "DISABLED_UPDATE",
                                       "ban_info": {"waba_ban_state": "DISABLE"}}).status_code == 200
        blocked = await graph.waba_health(signup["waba_id"], token)
        return limited, blocked, await graph.phone_numbers(signup["waba_id"], token)

    (limited, blocked, phones), recording = recorded_calls(roost, app, use)

    assert (limited.health_status.can_send_message, blocked.health_status.can_send_message) == ("LIMITED", "BLOCKED")
    assert limited.account_review_status == "APPROVED"
    assert [(phone.name_status, phone.whatsapp_business_manager_messaging_limit) for phone in phones] == [("APPROVED", "TIER_2K")]
    assert conformance_problems(recording.exchanges) == []
    assert operations_called(recording) >= {"read a WABA", "list a WABA's phone numbers"}


def test_the_simulators_health_status_is_whole_as_meta_describes_it(roost, api):
    # Without a selection the struct comes whole: entities, errors for a blocked WABA.
    import httpx
    from tests.meta.conformance.recording import exchange_of
    from tests.meta.helpers import GRAPH_VERSION

    app = sim_app(api)
    signup = sim_signup(api)
    assert api.post("/_sim/control/webhooks/account-update", json={
        "waba_id": signup["waba_id"], "event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}}).status_code == 200
    with httpx.Client(base_url=f"{roost.base_url}/_sim/graph/{GRAPH_VERSION}", timeout=30) as graph:
        read = graph.get(f"/{signup['waba_id']}", params={"fields": "health_status"},
                         headers={"Authorization": f"Bearer {app['system_user_token']}"})
        read.read()
    assert read.status_code == 200, read.text
    health = read.json()["health_status"]
    assert health["can_send_message"] == "BLOCKED"
    waba = next(entity for entity in health["entities"] if entity["entity_type"] == "WABA")
    assert waba["can_send_message"] == "BLOCKED" and waba["errors"][0]["error_code"] == 131031
    assert conformance_problems([exchange_of(read)]) == []


def test_every_operation_meta_describes_for_roost_is_exercised():
    # The tests above between them call every operation the yardstick lists.
    names = {operation.name for operation in OPERATIONS}
    assert names == {
        "exchange the code", "inspect a token", "the app's webhook subscriptions", "read a WABA",
        "list a WABA's phone numbers", "subscribe the app to a WABA", "unsubscribe the app from a WABA",
        "register a phone number", "fetch a business token with the system user", "share the credit line",
        "read a phone number", "add a phone number to a WABA", "request a verification code", "verify a code",
        "start a coexistence sync",
    }
