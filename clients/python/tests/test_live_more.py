"""The client against a real Roost for webhook endpoints and events, the platform-run flow and
recovery, disconnect, token custody and the audit log. Each test first checks that the server
documents the route it exercises, so a renamed route fails loudly instead of passing quietly."""

import uuid

import httpx
import pytest

from conftest import Recorder
from tests.support.polling import wait_until
from roost_client import (
    BusinessProfile,
    ConflictError,
    DeletedObject,
    EmbeddedSignupSession,
    Event,
    EventResend,
    ForbiddenError,
    Health,
    NotFoundError,
    ProviderError,
    RecoveredAttempt,
    RecoveryAttempt,
    Roost,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    webhooks,
)


def server_paths(server) -> set[str]:
    return set(httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()["paths"])


def needs(server, path: str) -> None:
    assert path in server_paths(server), f"the server no longer documents {path}"


@pytest.fixture
def roost(roost_server, org_key):
    with Roost(org_key, base_url=roost_server.base_url) as client:
        yield client


def test_webhook_endpoints_events_and_verification(roost_server, start_server):
    needs(roost_server, "/v1/organization/webhooks")
    server = start_server(own_database=True, webhook_allow_private=True, worker_interval_seconds=0.3)
    receiver = Recorder()
    try:
        with Roost(server.new_org().test_key, base_url=server.base_url) as client:
            endpoint = client.webhook_endpoints.create(url=f"{receiver.base_url}/hooks", events=["*"], description="ci")
            assert isinstance(endpoint, WebhookEndpoint) and endpoint.secret.startswith("whsec_")
            assert [e.id for e in client.webhook_endpoints.list()] == [endpoint.id]
            assert client.webhook_endpoints.update(endpoint.id, description=None).description is None

            session = client.sessions.create()
            client.sessions.simulate(session.id, outcome="completed")
            delivery = wait_until(lambda: receiver.requests and receiver.requests[0])
            event = webhooks.verify(delivery.raw, delivery.headers, endpoint.secret)
            assert event["type"] in {"embedded_signup.session.completed", "whatsapp.business_profile.connected",
                                     "whatsapp.phone_number.registered"}

            events = list(client.events.list(type="embedded_signup.session.completed"))
            assert len(events) == 1 and isinstance(events[0], Event)
            assert client.events.get(events[0].id).data["id"] == session.id
            resent = client.events.resend(events[0].id, endpoint_id=endpoint.id)
            assert isinstance(resent, EventResend) and len(resent.deliveries) == 1

            # The first delivery and the resend: both must have landed before the rotation, or the
            # resend (signed with the old secret alone) could arrive after it.
            attempts = wait_until(lambda: [a for a in client.webhook_endpoints.deliveries(endpoint.id, event_id=events[0].id)
                                         if a.succeeded][1:] or None)
            assert isinstance(attempts[0], WebhookDeliveryAttempt)

            rotated = client.webhook_endpoints.rotate_secret(endpoint.id)
            assert rotated.secret != endpoint.secret
            receiver.requests.clear()
            client.events.resend(events[0].id)
            delivery = wait_until(lambda: receiver.requests and receiver.requests[0])
            for secret in (endpoint.secret, rotated.secret):  # both sign for 24 hours
                assert webhooks.verify(delivery.raw, delivery.headers, secret)["type"] == "embedded_signup.session.completed"

            deleted = client.webhook_endpoints.delete(endpoint.id)
            assert isinstance(deleted, DeletedObject) and deleted.deleted is True
            with pytest.raises(NotFoundError):
                client.webhook_endpoints.get(endpoint.id)
    finally:
        receiver.close()


def test_platform_run_flow_and_recovery(roost, roost_server):
    needs(roost_server, "/v1/organization/whatsapp/business-profiles/start-attempt")
    user = f"user_{uuid.uuid4().hex[:8]}"
    attempt = roost.recovery.start_attempt(metadata={"externalUserId": user})
    assert isinstance(attempt, RecoveryAttempt) and attempt.attempt_id == attempt.id and attempt.source == "platform"
    assert attempt.launch["app_id"]
    with pytest.raises(ProviderError) as caught:
        roost.recovery.callback(attempt_id=attempt.attempt_id, code="not-a-code")
    assert caught.value.http_status == 424 and caught.value.error["attempt_id"] == attempt.attempt_id

    other = roost.recovery.start_attempt(metadata={"externalUserId": user})
    interrupted = roost.recovery.mark_interrupted(attempt_id=other.attempt_id, waba_id="524126980791429")
    assert isinstance(interrupted, EmbeddedSignupSession) and interrupted.status == "recovered"
    recovered = list(roost.recovery.recovered_attempts(metadata={"externalUserId": user}))
    assert [(type(r), r.attempt_id) for r in recovered] == [(RecoveredAttempt, other.attempt_id)]
    third = roost.recovery.start_attempt(metadata={"externalUserId": user})
    roost.recovery.mark_interrupted(attempt_id=third.attempt_id, waba_id="524126980791430")
    # One item a page: the second page is asked for with the first item's attempt_id.
    paged = [r.attempt_id for r in roost.recovery.recovered_attempts(metadata={"externalUserId": user}, limit=1)]
    assert paged == [third.attempt_id, other.attempt_id]
    with pytest.raises(ConflictError):  # no account_update from Meta proves the WABA yet
        roost.recovery.claim(attempt_id=other.attempt_id)


def test_disconnect_token_custody_and_audit_log(roost, roost_server):
    needs(roost_server, "/v1/organization/whatsapp/business-profiles/{profile_id}/access-token")
    done = roost.sessions.simulate(roost.sessions.create().id, outcome="completed")
    with pytest.raises(ForbiddenError) as caught:
        roost.business_profiles.access_token(done.business_profile_id)
    assert caught.value.code == "live_mode_required"
    profile = roost.business_profiles.disconnect(done.business_profile_id)
    assert isinstance(profile, BusinessProfile) and profile.status == "disconnected" and profile.disconnected_at
    assert done.business_profile_id in {p.id for p in roost.business_profiles.list(status="disconnected")}
    assert roost.settings.update(token_custody_enabled=False).token_custody_enabled is False
    if "/v1/organization/audit-log" in server_paths(roost_server):
        assert list(roost.audit_log.list()) == []  # test keys read no tokens


def test_refresh_reads_the_account_health_again(roost_server, roost):
    needs(roost_server, "/v1/organization/whatsapp/business-profiles/{profile_id}/refresh")
    profile_id = roost.sessions.simulate(roost.sessions.create().id, outcome="completed").business_profile_id
    profile = roost.business_profiles.refresh(profile_id)
    assert isinstance(profile, BusinessProfile) and profile.id == profile_id
    assert isinstance(profile.health, Health) and profile.health.status == "ok"
    assert profile.health.can_send_message == "AVAILABLE" and profile.review_status == "APPROVED"
    assert profile.phone_numbers[0].messaging_limit_tier == "TIER_250"
    roost.business_profiles.disconnect(profile_id)
    with pytest.raises(ConflictError) as caught:
        roost.business_profiles.refresh(profile_id)
    assert caught.value.code == "profile_disconnected"


def test_a_number_added_after_signup_is_verified_and_registered(roost_server, org_key, roost):
    needs(roost_server, "/v1/organization/whatsapp/business-profiles/{profile_id}/phone-numbers")
    session = roost.sessions.create()
    profile_id = roost.sessions.simulate(session.id, outcome="completed", variant="FINISH_ONLY_WABA").business_profile_id
    number = f"631555{uuid.uuid4().int % 9000 + 1000:04d}"

    phone = roost.business_profiles.add_phone_number(profile_id, cc="1", phone_number=number, verified_name="Jasper's Market")
    assert phone.id.startswith("wapn_") and phone.code_verification_status == "NOT_VERIFIED"
    assert roost.phone_numbers.get(phone.id).business_profile_id == profile_id
    assert roost.phone_numbers.request_code(phone.id, method="sms").id == phone.id
    code = httpx.get(f"{roost_server.base_url}/_sim/control/phone-numbers/{phone.phone_number_id}/verification-code",
                     headers={"Authorization": f"Bearer {org_key}"}, timeout=30).json()["code"]
    with pytest.raises(ProviderError) as wrong:
        roost.phone_numbers.verify_code(phone.id, code=f"{(int(code) + 1) % 10**6:06d}")
    assert wrong.value.http_status == 424 and wrong.value.code == "verification_failed"
    assert roost.phone_numbers.verify_code(phone.id, code=code).code_verification_status == "VERIFIED"
    assert roost.phone_numbers.register(phone.id, data_localization_region="GB").cloud_api_registered is True


def test_a_business_app_numbers_syncs_and_the_history_setting(roost):
    # Coexistence (docs/coexistence.md): the setting, then a Business app number's syncs, typed.
    settings = roost.settings.update(coexistence={"history_sync": False})
    assert settings.coexistence.history_sync is False
    done = roost.sessions.simulate(roost.sessions.create().id, outcome="completed",
                                   variant="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING")

    def contacts_under_way():
        (phone,) = roost.business_profiles.get(done.business_profile_id).phone_numbers
        return phone if phone.coexistence.contacts_sync.status == "in_progress" else None

    phone = wait_until(contacts_under_way, 20, what="the contacts sync under way")
    assert phone.coexistence.contacts_sync.requested_at
    assert (phone.coexistence.history_sync.status, phone.coexistence.history_sync.progress) == ("not_requested", None)
    assert roost.settings.update(coexistence={"history_sync": True}).coexistence.history_sync is True
    other = roost.sessions.simulate(roost.sessions.create().id, outcome="completed")
    (plain,) = roost.business_profiles.get(other.business_profile_id).phone_numbers
    assert plain.coexistence is None
