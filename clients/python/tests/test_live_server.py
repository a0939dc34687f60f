"""The client against a real Roost on loopback (SQLite, and PostgreSQL with ROOST_TEST_DATABASE_URL)."""

import asyncio
import time
import uuid

import pytest

from roost_client import (
    AsyncRoost,
    AuthenticationError,
    BusinessProfile,
    ConflictError,
    EmbeddedSignupSession,
    ForbiddenError,
    Funnel,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    Roost,
)


@pytest.fixture
def roost(roost_server, org_key):
    with Roost(org_key, base_url=roost_server.base_url) as client:
        yield client


def marker() -> str:
    return f"user_{uuid.uuid4().hex[:12]}"


def test_create_get_and_list_across_pages_with_a_metadata_filter(roost):
    user = marker()
    created = [roost.sessions.create(metadata={"externalUserId": user, "n": i}) for i in range(5)]
    other = roost.sessions.create(metadata={"externalUserId": marker()})
    first = created[0]
    assert isinstance(first, EmbeddedSignupSession)
    assert first.id.startswith("wss_") and first.status == "pending" and "/embed/connect?token=" in first.url
    assert first.last_response.status_code == 201 and first.last_response.request_id.startswith("req_")

    fetched = roost.sessions.get(first.id)
    assert fetched.id == first.id and fetched.metadata == {"externalUserId": user, "n": 0} and fetched.url is None

    listed = list(roost.sessions.list(metadata={"externalUserId": user}, status="pending", limit=2))
    assert [s.id for s in listed] == [s.id for s in reversed(created)]  # newest first, over 3 pages
    assert other.id not in {s.id for s in listed}
    assert [s.id for s in roost.sessions.list(metadata={"externalUserId": user, "n": 3})] == [created[3].id]
    assert list(roost.sessions.list(metadata={"externalUserId": user}, status="completed")) == []
    since = roost.sessions.list(metadata={"externalUserId": user}, created={"gte": int(time.time()) - 3600}).to_list()
    assert len(since) == 5


def test_cancel_refresh_link_events_and_funnel(roost):
    session = roost.sessions.create(redirect_uri="https://example.com/cb", state="st-1")
    renewed = roost.sessions.refresh_link(session.id)
    assert renewed.url and renewed.url != session.url
    cancelled = roost.sessions.cancel(session.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at and cancelled.error.code == "session_cancelled"
    with pytest.raises(ConflictError) as caught:
        roost.sessions.cancel(session.id)
    assert caught.value.http_status == 409 and caught.value.code == "session_not_pending"
    types = [event.type for event in roost.sessions.events(session.id)]
    assert types[0] == "session.created" and "session.link_refreshed" in types and "session.status_changed" in types
    funnel = roost.sessions.funnel(created={"gte": int(time.time()) - 3600})
    assert isinstance(funnel, Funnel) and funnel.created >= 1


def test_errors_map_to_typed_exceptions(roost, roost_server):
    with pytest.raises(InvalidRequestError) as caught:
        roost.sessions.create(redirect_uri="https://example.com/cb")
    e = caught.value
    assert (e.http_status, e.type, e.code, e.param) == (400, "invalid_request_error", "parameter_missing", "state")
    assert e.request_id.startswith("req_")

    with pytest.raises(InvalidRequestError) as caught:
        roost.sessions.list(status="nope", limit=0).first_page()
    assert {p["param"] for p in caught.value.errors} == {"status", "limit"}

    with pytest.raises(InvalidRequestError) as caught:
        roost.sessions.create(extra_body={"redirect_url": "typo"})
    assert caught.value.code == "parameter_unknown" and caught.value.param == "redirect_url"

    with pytest.raises(NotFoundError) as caught:
        roost.sessions.get("wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI")
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"

    with Roost("sk_admin_test_" + "x" * 43, base_url=roost_server.base_url) as stranger:
        with pytest.raises(AuthenticationError) as caught:
            stranger.sessions.list().first_page()
    assert caught.value.http_status == 401 and caught.value.type == "authentication_error"

    with pytest.raises(ForbiddenError) as caught:
        roost.settings.get(mode="live")
    assert caught.value.code == "live_mode_required"


def test_idempotency_same_key_same_session(roost, roost_server):
    key = f"order-{uuid.uuid4()}"
    body = {"metadata": {"externalUserId": marker()}, "state": "s", "redirect_uri": "https://example.com/cb"}
    first = roost.sessions.create(**body, idempotency_key=key)
    again = roost.sessions.create(**body, idempotency_key=key)
    assert (again.id, again.url) == (first.id, first.url)
    assert again.last_response.idempotent_replayed and not first.last_response.idempotent_replayed
    stored = roost_server.sql("SELECT count(*) FROM embedded_signup_sessions WHERE id = :id", id=first.id)
    assert stored[0][0] == 1
    with pytest.raises(ConflictError) as caught:
        roost.sessions.create(metadata={"other": True}, idempotency_key=key)
    assert caught.value.code == "idempotency_key_reused"


def test_simulated_completion_yields_a_listed_profile(roost):
    user = marker()
    session = roost.sessions.create(metadata={"externalUserId": user})
    done = roost.sessions.simulate(session.id, outcome="completed")
    assert done.status == "completed" and done.business_profile_id.startswith("wabp_")
    profiles = list(roost.business_profiles.list(metadata={"externalUserId": user}))
    assert [p.id for p in profiles] == [done.business_profile_id]
    profile = roost.business_profiles.get(done.business_profile_id)
    assert isinstance(profile, BusinessProfile) and profile.waba_id == done.waba_id and profile.status == "connected"
    assert profile.phone_numbers and profile.phone_numbers[0].id.startswith("wapn_")
    assert [p.id for p in roost.business_profiles.list(session_id=session.id)] == [profile.id]

    cancelled = roost.sessions.simulate(roost.sessions.create().id, outcome="cancelled", cancel_step="PHONE_NUMBER_SETUP")
    assert cancelled.status == "cancelled" and cancelled.error.code == "user_cancelled"
    assert cancelled.last_step == "PHONE_NUMBER_SETUP"


def test_settings_and_admin_keys(roost, roost_server):
    settings = roost.settings.get()
    assert settings.mode == "test" and settings.redirect_secret.startswith("rsec_test_")
    updated = roost.settings.update(name="Acme Platform", branding={"accent_color": "#0a7cff"},
                                    allowed_origins=["https://app.example.com"], meta={"partner_type": "solution_partner"})
    assert updated.name == "Acme Platform" and updated.branding.accent_color == "#0A7CFF"
    assert updated.allowed_origins == ["https://app.example.com"] and updated.meta.partner_type == "solution_partner"
    rotated = roost.settings.rotate_redirect_secret()
    assert rotated.redirect_secret != settings.redirect_secret

    created = roost.admin_keys.create(name="ci")
    assert created.admin_key.startswith("sk_admin_test_") and created.name == "ci"
    assert created.id in {key.id for key in roost.admin_keys.list()}
    with Roost(created.admin_key, base_url=roost_server.base_url) as ci:
        assert ci.settings.get().organization_id == settings.organization_id
        roost.admin_keys.revoke(created.id)
        with pytest.raises(AuthenticationError) as caught:
            ci.settings.get()
    assert caught.value.code == "api_key_revoked"


def test_429_is_retried_then_raised_with_retry_after(start_server):
    server = start_server(rate_limit_per_minute=3)
    org = server.new_org("Rate limited")
    while time.time() % 60 > 50:  # keep every request of the test in one fixed one-minute window
        time.sleep(0.2)
    with Roost(org.test_key, base_url=server.base_url, max_retries=2, max_retry_after=0.05,
               initial_retry_delay=0.01) as client:
        key_id = client.admin_keys.list().first_page().data[0].id
        client.settings.get()
        client.settings.get()
        with pytest.raises(RateLimitError) as caught:
            client.settings.get()
    e = caught.value
    assert e.http_status == 429 and e.code == "rate_limited" and 0 < e.retry_after <= 60
    counted = server.sql("SELECT sum(count) FROM rate_limit_windows WHERE key_id = :key", key=key_id)[0][0]
    assert counted == 3 + 3  # the three allowed, then the refused call and its two retries


def test_async_client_against_the_server(roost_server, org_key):
    user = marker()

    async def run():
        async with AsyncRoost(org_key, base_url=roost_server.base_url) as client:
            created = [await client.sessions.create(metadata={"externalUserId": user}) for _ in range(3)]
            same = await client.sessions.create(metadata={"externalUserId": user}, idempotency_key=f"k-{user}")
            again = await client.sessions.create(metadata={"externalUserId": user}, idempotency_key=f"k-{user}")
            listed = [s.id async for s in client.sessions.list(metadata={"externalUserId": user}, limit=2)]
            got = await client.sessions.get(created[0].id)
            cancelled = await client.sessions.cancel(created[1].id)
            done = await client.sessions.simulate(created[2].id, outcome="completed")
            profiles = [p async for p in client.business_profiles.list(session_id=created[2].id)]
            with pytest.raises(NotFoundError):
                await client.sessions.get("wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI")
            with pytest.raises(ConflictError):
                await client.sessions.cancel(created[1].id)
            with pytest.raises(InvalidRequestError) as caught:
                await client.sessions.create(redirect_uri="https://example.com/cb")
            return created, same, again, listed, got, cancelled, done, profiles, caught.value

    created, same, again, listed, got, cancelled, done, profiles, error = asyncio.run(run())
    assert again.id == same.id and again.last_response.idempotent_replayed
    assert listed == [same.id] + [s.id for s in reversed(created)]
    assert got.id == created[0].id and cancelled.status == "cancelled"
    assert done.status == "completed" and [p.id for p in profiles] == [done.business_profile_id]
    assert error.param == "state"
