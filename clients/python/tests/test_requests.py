"""The requests the client builds (method, path, query, body, headers) for every endpoint,
checked on a real loopback HTTP server that records them; both clients build the same."""

import asyncio
import inspect
from datetime import datetime, timezone

import pytest
from conftest import Reply

from roost_client import AsyncPager, AsyncRoost, Pager, Roost
from roost_client.models import (
    AccessToken,
    AdminKey,
    AuditLogEntry,
    DeletedObject,
    EventResend,
    EndpointTest,
    RecoveredAttempt,
    WebhookDeliveryAttempt,
    BusinessProfile,
    EmbeddedSignupSession,
    Event,
    Funnel,
    OrganizationSettings,
    PhoneNumber,
    RecoveryAttempt,
    SessionEvent,
    WebhookEndpoint,
)

S = "/v1/organization/embedded-signup/sessions"
P = "/v1/organization/whatsapp/business-profiles"
W = "/v1/organization/webhooks"
E = "/v1/organization/events"
WHEN = datetime(2024, 1, 15, 12, 30, tzinfo=timezone.utc)

# (name, call, method, path, query, body, model); body None = no body sent
ENDPOINTS = [
    ("sessions.create", lambda c: c.sessions.create(redirect_uri="https://example.com/cb", state="s1",
                                                    metadata={"externalUserId": "u1"}, prefill={"business": {"name": "Acme"}},
                                                    locale="pt-BR", coexistence=True, solution_id="4821630957124038"),
     "POST", S, [], {"redirect_uri": "https://example.com/cb", "state": "s1", "metadata": {"externalUserId": "u1"},
                     "prefill": {"business": {"name": "Acme"}}, "locale": "pt-BR", "coexistence": True,
                     "solution_id": "4821630957124038"}, EmbeddedSignupSession),
    ("sessions.create empty", lambda c: c.sessions.create(), "POST", S, [], {}, EmbeddedSignupSession),
    ("sessions.get", lambda c: c.sessions.get("wss_1"), "GET", f"{S}/wss_1", [], None, EmbeddedSignupSession),
    ("sessions.list", lambda c: c.sessions.list(
        status="pending", source="hosted", metadata={"externalUserId": "u1", "n": 5, "vip": True, "x": None},
        created={"gte": WHEN, "lt": 1705400000}, limit=10),
     "GET", S, [("status", "pending"), ("source", "hosted"), ("metadata[externalUserId]", "u1"), ("metadata[n]", "5"),
                ("metadata[vip]", "true"), ("metadata[x]", "null"), ("created[gte]", "2024-01-15T12:30:00.000Z"),
                ("created[lt]", "1705400000"), ("limit", "10")], None, EmbeddedSignupSession),
    ("sessions.cancel", lambda c: c.sessions.cancel("wss_1"), "DELETE", f"{S}/wss_1", [], None, EmbeddedSignupSession),
    ("sessions.refresh_link", lambda c: c.sessions.refresh_link("wss_1"), "POST", f"{S}/wss_1/link", [], None,
     EmbeddedSignupSession),
    ("sessions.events", lambda c: c.sessions.events("wss_1"), "GET", f"{S}/wss_1/events", [], None, SessionEvent),
    ("sessions.simulate", lambda c: c.sessions.simulate("wss_1", outcome="cancelled", cancel_step="WABA_PHONE_PROFILE_PICKER"),
     "POST", f"{S}/wss_1/simulate", [], {"outcome": "cancelled", "cancel_step": "WABA_PHONE_PROFILE_PICKER"},
     EmbeddedSignupSession),
    ("sessions.funnel", lambda c: c.sessions.funnel(created={"gte": "2024-01-01T00:00:00.000Z", "lt": 1706000000}),
     "GET", "/v1/organization/embedded-signup/funnel",
     [("created[gte]", "2024-01-01T00:00:00.000Z"), ("created[lt]", "1706000000")], None, Funnel),
    ("business_profiles.list", lambda c: c.business_profiles.list(waba_id="524126980791429", status="connected",
                                                                  metadata={"externalUserId": "u1"}),
     "GET", P, [("waba_id", "524126980791429"), ("status", "connected"), ("metadata[externalUserId]", "u1")], None,
     BusinessProfile),
    ("business_profiles.get", lambda c: c.business_profiles.get("wabp_1"), "GET", f"{P}/wabp_1", [], None, BusinessProfile),
    ("business_profiles.disconnect", lambda c: c.business_profiles.disconnect("wabp_1"), "DELETE", f"{P}/wabp_1", [],
     None, BusinessProfile),
    ("business_profiles.refresh", lambda c: c.business_profiles.refresh("wabp_1"), "POST", f"{P}/wabp_1/refresh", [], None,
     BusinessProfile),
    ("business_profiles.access_token", lambda c: c.business_profiles.access_token("wabp_1"), "GET",
     f"{P}/wabp_1/access-token", [], None, AccessToken),
    ("phone_numbers.register", lambda c: c.phone_numbers.register("wapn_1", pin="123456"), "POST",
     "/v1/organization/whatsapp/phone-numbers/wapn_1/register", [], {"pin": "123456"}, PhoneNumber),
    ("phone_numbers.register no pin", lambda c: c.phone_numbers.register("wapn_1"), "POST",
     "/v1/organization/whatsapp/phone-numbers/wapn_1/register", [], {}, PhoneNumber),
    ("phone_numbers.register region", lambda c: c.phone_numbers.register("wapn_1", data_localization_region="DE"), "POST",
     "/v1/organization/whatsapp/phone-numbers/wapn_1/register", [], {"data_localization_region": "DE"}, PhoneNumber),
    ("business_profiles.add_phone_number", lambda c: c.business_profiles.add_phone_number(
        "wabp_1", cc="1", phone_number="6315551000", verified_name="Jasper's Market"), "POST", f"{P}/wabp_1/phone-numbers", [],
     {"cc": "1", "phone_number": "6315551000", "verified_name": "Jasper's Market"}, PhoneNumber),
    ("phone_numbers.get", lambda c: c.phone_numbers.get("wapn_1"), "GET",
     "/v1/organization/whatsapp/phone-numbers/wapn_1", [], None, PhoneNumber),
    ("phone_numbers.request_code", lambda c: c.phone_numbers.request_code("wapn_1", method="voice", language="pt_BR"), "POST",
     "/v1/organization/whatsapp/phone-numbers/wapn_1/request-code", [], {"method": "voice", "language": "pt_BR"}, PhoneNumber),
    ("phone_numbers.verify_code", lambda c: c.phone_numbers.verify_code("wapn_1", code="123456"), "POST",
     "/v1/organization/whatsapp/phone-numbers/wapn_1/verify-code", [], {"code": "123456"}, PhoneNumber),
    ("settings.get", lambda c: c.settings.get(mode="live"), "GET", "/v1/organization/settings", [("mode", "live")], None,
     OrganizationSettings),
    ("settings.update", lambda c: c.settings.update(name="Acme", allowed_origins=["https://app.example.com"],
                                                    branding={"accent_color": "#0A7CFF", "logo_url": None},
                                                    meta={"partner_type": "solution_partner"}, messages_callback_url=None,
                                                    auto_claim=False, token_custody_enabled=True,
                                                    coexistence={"history_sync": False}, mode="live"),
     "PATCH", "/v1/organization/settings", [("mode", "live")],
     {"name": "Acme", "allowed_origins": ["https://app.example.com"], "branding": {"accent_color": "#0A7CFF", "logo_url": None},
      "meta": {"partner_type": "solution_partner"}, "messages_callback_url": None, "auto_claim": False,
      "token_custody_enabled": True, "coexistence": {"history_sync": False}}, OrganizationSettings),
    ("settings.rotate_redirect_secret", lambda c: c.settings.rotate_redirect_secret(), "POST",
     "/v1/organization/settings/redirect-secret/rotate", [], None, OrganizationSettings),
    ("admin_keys.list", lambda c: c.admin_keys.list(), "GET", "/v1/organization/admin-keys", [], None, AdminKey),
    ("admin_keys.create", lambda c: c.admin_keys.create(name="ci"), "POST", "/v1/organization/admin-keys", [],
     {"name": "ci"}, AdminKey),
    ("admin_keys.revoke", lambda c: c.admin_keys.revoke("key_1"), "DELETE", "/v1/organization/admin-keys/key_1", [], None,
     AdminKey),
    ("webhook_endpoints.create", lambda c: c.webhook_endpoints.create(url="https://example.com/hooks",
                                                                      events=["embedded_signup.session.completed"],
                                                                      description="prod"),
     "POST", W, [], {"url": "https://example.com/hooks", "events": ["embedded_signup.session.completed"],
                     "description": "prod"}, WebhookEndpoint),
    ("webhook_endpoints.list", lambda c: c.webhook_endpoints.list(limit=5), "GET", W, [("limit", "5")], None, WebhookEndpoint),
    ("webhook_endpoints.get", lambda c: c.webhook_endpoints.get("whk_1"), "GET", f"{W}/whk_1", [], None, WebhookEndpoint),
    ("webhook_endpoints.update", lambda c: c.webhook_endpoints.update("whk_1", events=["*"], enabled=False, description=None),
     "PATCH", f"{W}/whk_1", [], {"events": ["*"], "enabled": False, "description": None}, WebhookEndpoint),
    ("webhook_endpoints.delete", lambda c: c.webhook_endpoints.delete("whk_1"), "DELETE", f"{W}/whk_1", [], None,
     DeletedObject),
    ("webhook_endpoints.rotate_secret", lambda c: c.webhook_endpoints.rotate_secret("whk_1"), "POST",
     f"{W}/whk_1/rotate-secret", [], None, WebhookEndpoint),
    ("webhook_endpoints.send_test_event", lambda c: c.webhook_endpoints.send_test_event("whk_1"), "POST",
     f"{W}/whk_1/test", [], None, EndpointTest),
    ("webhook_endpoints.deliveries", lambda c: c.webhook_endpoints.deliveries("whk_1", event_id="evt_1", limit=3), "GET",
     f"{W}/whk_1/deliveries", [("event_id", "evt_1"), ("limit", "3")], None, WebhookDeliveryAttempt),
    ("events.list", lambda c: c.events.list(type="whatsapp.business_profile.connected"),
     "GET", E, [("type", "whatsapp.business_profile.connected")], None, Event),
    ("events.get", lambda c: c.events.get("evt_1"), "GET", f"{E}/evt_1", [], None, Event),
    ("events.resend", lambda c: c.events.resend("evt_1"), "POST", f"{E}/evt_1/resend", [], {}, EventResend),
    ("events.resend to one", lambda c: c.events.resend("evt_1", endpoint_id="whk_1"), "POST", f"{E}/evt_1/resend", [],
     {"endpoint_id": "whk_1"}, EventResend),
    ("recovery.start_attempt", lambda c: c.recovery.start_attempt(metadata={"externalUserId": "u1"}), "POST",
     f"{P}/start-attempt", [], {"metadata": {"externalUserId": "u1"}}, RecoveryAttempt),
    ("recovery.callback", lambda c: c.recovery.callback(attempt_id="wss_1", code="AQB", waba_id="5241", phone_number_id="1065",
                                                        business_id="2729", coexistence=False,
                                                        redirect_uri="https://example.com/cb"),
     "POST", f"{P}/callback", [], {"attempt_id": "wss_1", "code": "AQB", "waba_id": "5241", "phone_number_id": "1065",
                                   "business_id": "2729", "coexistence": False, "redirect_uri": "https://example.com/cb"},
     BusinessProfile),
    ("recovery.mark_interrupted", lambda c: c.recovery.mark_interrupted(attempt_id="wss_1", waba_id="5241"), "POST",
     f"{P}/mark-interrupted", [], {"attempt_id": "wss_1", "waba_id": "5241"}, EmbeddedSignupSession),
    ("recovery.recovered_attempts", lambda c: c.recovery.recovered_attempts(metadata={"externalUserId": "u1"}, limit=2),
     "GET", f"{P}/recovered-attempts", [("metadata[externalUserId]", "u1"), ("limit", "2")], None, RecoveredAttempt),
    ("recovery.claim", lambda c: c.recovery.claim(attempt_id="wss_1"), "POST", f"{P}/claim", [], {"attempt_id": "wss_1"},
     BusinessProfile),
    ("audit_log.list", lambda c: c.audit_log.list(action="business_profile.access_token.read", resource_id="wabp_1"),
     "GET", "/v1/organization/audit-log", [("action", "business_profile.access_token.read"), ("resource_id", "wabp_1")],
     None, AuditLogEntry),
]
CREATES = {"sessions.create", "sessions.create empty", "admin_keys.create", "webhook_endpoints.create",
           "recovery.start_attempt", "business_profiles.add_phone_number"}


def _check(recorder, name, method, path, query, body, result, model):
    seen = recorder.last
    assert (seen.method, seen.path, seen.query, seen.body) == (method, path, query, body)
    assert seen.headers["authorization"] == "Bearer sk_admin_test_recorded"
    assert seen.headers["user-agent"].startswith("roost-client-python/")
    assert seen.headers.get("content-type") == ("application/json" if body is not None else None)
    assert ("idempotency-key" in seen.headers) == (name in CREATES)
    assert isinstance(result, model)


@pytest.mark.parametrize("name,call,method,path,query,body,model", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_sync_request(recorder, client, name, call, method, path, query, body, model):
    result = call(client)
    if isinstance(result, Pager):
        recorder.default.body = {"object": "list", "data": [{"id": "x_1"}], "has_more": False}
        items = list(result)
        assert len(items) == 1
        result = items[0]
    _check(recorder, name, method, path, query, body, result, model)


@pytest.mark.parametrize("name,call,method,path,query,body,model", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_async_request(recorder, name, call, method, path, query, body, model):
    async def run():
        async with AsyncRoost("sk_admin_test_recorded", base_url=recorder.base_url) as client:
            result = call(client)
            if isinstance(result, AsyncPager):
                recorder.default.body = {"object": "list", "data": [{"id": "x_1"}], "has_more": False}
                items = [item async for item in result]
                assert len(items) == 1
                return items[0]
            assert inspect.isawaitable(result)
            return await result

    _check(recorder, name, method, path, query, body, asyncio.run(run()), model)


def test_ids_are_escaped_into_one_path_segment(recorder, client):
    client.sessions.get("wss_1/../../admin-keys?x=1")
    assert recorder.last.path == f"{S}/wss_1%2F..%2F..%2Fadmin-keys%3Fx%3D1"
    assert recorder.last.query == []
    with pytest.raises(ValueError):
        client.sessions.get("")


def test_extra_body_and_unknown_filters_pass_through(recorder, client):
    client.sessions.create(extra_body={"new_field": 1}, idempotency_key=None)
    assert recorder.last.body == {"new_field": 1}
    client.sessions.list(future_filter="x").first_page()
    assert recorder.last.query == [("future_filter", "x")]


def test_models_are_forgiving_and_typed(recorder, client):
    recorder.default.body = {
        "id": "wabp_1", "object": "business_profile", "status": "connected", "brand_new_field": {"a": 1},
        "phone_numbers": [{"id": "wapn_1", "cloud_api_registered": True}],
    }
    profile = client.business_profiles.get("wabp_1")
    assert profile.id == "wabp_1" and profile["status"] == "connected"
    assert profile.brand_new_field == {"a": 1}  # a field this client does not know yet
    assert profile.review_status is None  # a known field the server left out
    assert isinstance(profile.phone_numbers[0], PhoneNumber) and profile.phone_numbers[0].cloud_api_registered is True
    assert profile.to_dict()["phone_numbers"] == [{"id": "wapn_1", "cloud_api_registered": True}]
    assert profile.last_response.request_id == "req_1"
    with pytest.raises(AttributeError):
        profile.no_such_field  # noqa: B018
    with pytest.raises(AttributeError):
        profile.status = "x"


def test_environment_configuration(recorder, monkeypatch):
    monkeypatch.setenv("ROOST_API_KEY", "sk_admin_test_env")
    monkeypatch.setenv("ROOST_BASE_URL", recorder.base_url)
    with Roost() as client:
        client.sessions.get("wss_1")
    assert recorder.last.headers["authorization"] == "Bearer sk_admin_test_env"
    monkeypatch.delenv("ROOST_API_KEY")
    with pytest.raises(ValueError, match="admin key"):
        Roost()


def test_an_answer_becomes_the_kind_its_object_names(recorder, client):
    # recovery.callback answers 202 with the session while a provisioning step backs off
    recorder.script(Reply(202, {"id": "wss_1", "object": "embedded_signup_session", "status": "pending"}))
    result = client.recovery.callback(attempt_id="wss_1", code="AQB")
    assert isinstance(result, EmbeddedSignupSession) and result.last_response.status_code == 202
    recorder.script(Reply(200, {"id": "wabp_1", "object": "business_profile", "phone_numbers": []}))
    assert isinstance(client.recovery.callback(attempt_id="wss_1", code="AQB"), BusinessProfile)
    # a subclass the call asked for is kept (start-attempt's session carries attempt_id and launch)
    recorder.script(Reply(201, {"id": "wss_1", "object": "embedded_signup_session", "attempt_id": "wss_1",
                                "launch": {"app_id": "1"}}))
    attempt = client.recovery.start_attempt()
    assert isinstance(attempt, RecoveryAttempt) and attempt.attempt_id == "wss_1" and attempt.launch == {"app_id": "1"}
    recorder.script(Reply(200, {"id": "whk_1", "object": "webhook_endpoint", "deleted": True}))
    assert client.webhook_endpoints.delete("whk_1").deleted is True
