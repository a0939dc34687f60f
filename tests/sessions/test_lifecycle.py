"""Changing embedded signup sessions: cancel, new link, deadlines, the worker's expiry, the state
machine and the session timeline (SPEC 3.1, 3.3, 3.4, 3.5; tenancy and modes, SPEC 1)."""

import json
import re
import time
from contextlib import contextmanager
from itertools import product
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.crypto import sha256_hex
from roost.kit.timeutil import now_ms, parse_time
from roost.sessions.models import SessionEvent, SignupSession
from roost.webhooks.models import WebhookEvent
from roost.sessions.state import (
    TRANSITIONS,
    IllegalTransition,
    SessionStatus,
    effective_status,
    expire_if_overdue,
    record_event,
    transition,
)
from tests.support import SESSIONS, RunningRoost, assert_error, make_settings, wait_until

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TTL_MS = 15 * 60 * 1000


def create(client, **body) -> dict:
    response = client.post(SESSIONS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def row(roost, session_id: str):
    return roost.sql(
        "SELECT status, token_hash, expires_at, deadline_at, cancelled_at, error FROM embedded_signup_sessions "
        "WHERE id = :id",
        id=session_id,
    )[0]


def event_types(client, session_id: str) -> list[str]:
    response = client.get(f"{SESSIONS}/{session_id}/events")
    assert response.status_code == 200, response.text
    return [event["type"] for event in response.json()["data"]]


def status_changes(roost, session_id: str) -> list[dict]:
    """The session.status_changed events as stored (read with SQL, whatever the API shows)."""
    rows = roost.sql(
        "SELECT data FROM session_events WHERE session_id = :id AND type = 'session.status_changed' ORDER BY created_at",
        id=session_id,
    )
    return [data if isinstance(data, dict) else json.loads(data) for (data,) in rows]


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def mark_code_received(roost, session_id: str, expires_at: int | None = None) -> None:
    """What the hosted page does when Meta's code arrives: no deadline any more."""
    at = now_ms()
    roost.sql(
        "UPDATE embedded_signup_sessions SET code_received_at = :at, deadline_at = NULL, "
        "expires_at = COALESCE(:expires_at, expires_at) WHERE id = :id",
        at=at, expires_at=expires_at, id=session_id,
    )


def mark_started(roost, session_id: str, grace_ms: int) -> None:
    """What the hosted page does on the user's first action: the deadline moves to expires_at + grace."""
    roost.sql(
        "UPDATE embedded_signup_sessions SET started_at = :at, deadline_at = expires_at + :grace WHERE id = :id",
        at=now_ms(), grace=grace_ms, id=session_id,
    )


def age(roost, session_id: str, expires_at: int) -> None:
    """Move an unstarted session's link expiry (and so its deadline)."""
    roost.sql(
        "UPDATE embedded_signup_sessions SET expires_at = :at, deadline_at = :at WHERE id = :id",
        at=expires_at, id=session_id,
    )


def sleep_until(moment_ms: int) -> None:
    time.sleep(max(0.0, (moment_ms - now_ms()) / 1000 + 0.05))


@contextmanager
def kept_from_other_workers(server, session_id: str):
    """On PostgreSQL every test server (and other test runs) shares one database, and their workers
    would write down this session's expiry; holding its row lock makes their SKIP LOCKED sweep pass
    it by, so the test sees a row no worker has touched. On SQLite the server has its own file."""
    if server.runtime.engine.dialect.name != "postgresql":
        yield
        return

    async def lock():
        connection = await server.runtime.engine.connect()
        await connection.execute(text("SELECT id FROM embedded_signup_sessions WHERE id = :id FOR UPDATE"), {"id": session_id})
        return connection

    async def release(connection):
        await connection.rollback()
        await connection.close()

    connection = server.run(lock())
    try:
        yield
    finally:
        server.run(release(connection))


# -- cancel (DELETE) ----------------------------------------------------------------------------


def test_cancel_of_a_pending_session_returns_it_cancelled(roost, api):
    session = create(api)
    before = now_ms()
    response = api.delete(f"{SESSIONS}/{session['id']}")
    after = now_ms()

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == session["id"]
    assert body["status"] == "cancelled"
    assert ISO_MS.match(body["cancelled_at"])
    assert before - 1 <= parse_time(body["cancelled_at"]) <= after + 1
    assert body["error"]["code"] == "session_cancelled"
    assert set(body["error"]) == {"code", "message", "meta_code"}
    assert "url" not in body
    assert api.get(f"{SESSIONS}/{session['id']}").json() == body
    assert row(roost, session["id"]).status == "cancelled"


def test_cancel_records_exactly_one_status_change(roost, api):
    session = create(api)
    api.delete(f"{SESSIONS}/{session['id']}")
    changes = status_changes(roost, session["id"])
    assert len(changes) == 1
    assert (changes[0]["from"], changes[0]["to"]) == ("pending", "cancelled")


def test_cancelling_twice_is_409_session_not_pending(roost, api):
    session = create(api)
    first = api.delete(f"{SESSIONS}/{session['id']}").json()
    assert_error(api.delete(f"{SESSIONS}/{session['id']}"), 409, "session_not_pending")
    assert api.get(f"{SESSIONS}/{session['id']}").json() == first  # cancelled_at not moved
    assert len(status_changes(roost, session["id"])) == 1


def test_cancel_after_metas_code_arrived_is_409_session_processing(roost, api):
    session = create(api)
    mark_code_received(roost, session["id"])
    assert_error(api.delete(f"{SESSIONS}/{session['id']}"), 409, "session_processing")
    body = api.get(f"{SESSIONS}/{session['id']}").json()
    assert body["status"] == "pending" and body["cancelled_at"] is None
    assert row(roost, session["id"]).status == "pending"
    assert status_changes(roost, session["id"]) == []


def test_cancel_of_an_expired_session_is_409_session_not_pending(roost, api):
    session = create(api)
    age(roost, session["id"], now_ms() - 1000)
    assert_error(api.delete(f"{SESSIONS}/{session['id']}"), 409, "session_not_pending")
    body = api.get(f"{SESSIONS}/{session['id']}").json()
    assert body["status"] == "expired" and body["cancelled_at"] is None
    assert body["error"]["code"] == "session_expired"


@pytest.mark.parametrize("status", ["completed", "recovered", "failed", "expired"])
def test_cancel_of_a_finished_session_is_409_session_not_pending(roost, api, status):
    session = create(api)
    roost.sql(
        "UPDATE embedded_signup_sessions SET status = :status, deadline_at = NULL WHERE id = :id",
        status=status, id=session["id"],
    )
    assert_error(api.delete(f"{SESSIONS}/{session['id']}"), 409, "session_not_pending")
    assert row(roost, session["id"]).status == status
    assert api.get(f"{SESSIONS}/{session['id']}").json()["cancelled_at"] is None


# -- new link (POST …/link) --------------------------------------------------------------------


def test_new_link_issues_a_different_url_and_moves_expires_at(roost, api):
    session = create(api)
    age(roost, session["id"], now_ms() + 60_000)  # as if created 14 minutes ago
    before = now_ms()
    response = api.post(f"{SESSIONS}/{session['id']}/link")
    after = now_ms()

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == session["id"] and body["status"] == "pending"
    assert body["url"].startswith(f"{roost.base_url}/embed/connect?token=")
    assert token_of(body["url"]) != token_of(session["url"])
    assert before + TTL_MS <= parse_time(body["expires_at"]) <= after + TTL_MS
    stored = row(roost, session["id"])
    assert stored.expires_at == stored.deadline_at == parse_time(body["expires_at"])


def test_new_link_replaces_the_stored_token_hash(roost, api):
    session = create(api)
    new = api.post(f"{SESSIONS}/{session['id']}/link").json()
    old_hash, new_hash = sha256_hex(token_of(session["url"])), sha256_hex(token_of(new["url"]))
    assert row(roost, session["id"]).token_hash == new_hash
    assert roost.sql("SELECT count(*) FROM embedded_signup_sessions WHERE token_hash = :hash", hash=old_hash)[0][0] == 0


def test_new_link_records_a_link_refreshed_event(api):
    session = create(api)
    api.post(f"{SESSIONS}/{session['id']}/link")
    assert event_types(api, session["id"]) == ["session.created", "session.link_refreshed"]


def test_new_link_for_a_started_session_is_409_session_already_started(roost, api):
    session = create(api)
    mark_started(roost, session["id"], grace_ms=2_700_000)
    before = row(roost, session["id"])
    assert_error(api.post(f"{SESSIONS}/{session['id']}/link"), 409, "session_already_started")
    assert row(roost, session["id"]) == before
    assert "session.link_refreshed" not in event_types(api, session["id"])


def test_new_link_for_a_cancelled_session_is_409_session_not_pending(roost, api):
    session = create(api)
    api.delete(f"{SESSIONS}/{session['id']}")
    before = row(roost, session["id"])
    assert_error(api.post(f"{SESSIONS}/{session['id']}/link"), 409, "session_not_pending")
    assert row(roost, session["id"]) == before


def test_new_link_for_an_expired_session_is_409_session_not_pending(roost, api):
    session = create(api)
    age(roost, session["id"], now_ms() - 1000)
    assert_error(api.post(f"{SESSIONS}/{session['id']}/link"), 409, "session_not_pending")
    assert row(roost, session["id"]).token_hash == sha256_hex(token_of(session["url"]))


# -- another organization, the other mode, unknown ids ---------------------------------------------


CHANGES = [("DELETE", ""), ("POST", "/link"), ("GET", "/events")]


@pytest.mark.parametrize("method, suffix", CHANGES, ids=["cancel", "new link", "events"])
def test_another_organizations_session_is_404(roost, api, method, suffix):
    session = create(api)
    stranger = roost.new_org()
    with stranger.client() as other:
        assert_error(other.request(method, f"{SESSIONS}/{session['id']}{suffix}"), 404, "resource_missing")
    assert api.get(f"{SESSIONS}/{session['id']}").json()["status"] == "pending"
    assert row(roost, session["id"]).token_hash == sha256_hex(token_of(session["url"]))


@pytest.mark.parametrize("method, suffix", CHANGES, ids=["cancel", "new link", "events"])
def test_a_live_key_cannot_touch_a_test_session(roost, method, suffix):
    organization = roost.new_org(live=True)
    with organization.client(organization.keys["test"]) as test, organization.client(organization.keys["live"]) as live:
        session = create(test)
        assert_error(live.request(method, f"{SESSIONS}/{session['id']}{suffix}"), 404, "resource_missing")
        assert test.get(f"{SESSIONS}/{session['id']}").json()["status"] == "pending"
    assert row(roost, session["id"]).token_hash == sha256_hex(token_of(session["url"]))


@pytest.mark.parametrize("method, suffix", CHANGES, ids=["cancel", "new link", "events"])
@pytest.mark.parametrize("session_id", ["wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "nope"])
def test_an_unknown_session_is_404(api, method, suffix, session_id):
    assert_error(api.request(method, f"{SESSIONS}/{session_id}{suffix}"), 404, "resource_missing")


# -- deadlines: reads say expired before any worker runs ------------------------------------------


@pytest.fixture
def short_lived(start_roost):
    """TTL 1 s and grace 1 s; the worker ticks once at start and then not for a minute."""
    server = start_roost(session_ttl_seconds=1, session_grace_seconds=1, worker_interval_seconds=60)
    organization = server.new_org()
    with organization.client() as client:
        yield SimpleNamespace(server=server, api=client)


def listed_ids(client, **params) -> list[str]:
    response = client.get(SESSIONS, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def test_an_unstarted_session_reads_expired_after_its_ttl_before_any_worker_runs(short_lived):
    server, api = short_lived.server, short_lived.api
    session = create(api)
    with kept_from_other_workers(server, session["id"]):
        sleep_until(parse_time(session["expires_at"]))
        body = api.get(f"{SESSIONS}/{session['id']}").json()
        assert body["status"] == "expired"
        assert body["error"]["code"] == "session_expired"
        assert session["id"] in listed_ids(api, status="expired")
        assert session["id"] not in listed_ids(api, status="pending")
        assert row(server, session["id"]).status == "pending"  # no one has written it down yet


def test_a_started_session_stays_pending_until_the_grace_ends(short_lived):
    server, api = short_lived.server, short_lived.api
    session = create(api)
    mark_started(server, session["id"], grace_ms=1000)
    expires_at = parse_time(session["expires_at"])

    sleep_until(expires_at)
    body = api.get(f"{SESSIONS}/{session['id']}").json()
    assert (body["status"], body["error"]) == ("pending", None)
    assert session["id"] in listed_ids(api, status="pending")
    assert session["id"] not in listed_ids(api, status="expired")

    sleep_until(expires_at + 1000)
    body = api.get(f"{SESSIONS}/{session['id']}").json()
    assert body["status"] == "expired"
    assert body["error"]["code"] == "session_expired"
    assert session["id"] in listed_ids(api, status="expired")
    assert session["id"] not in listed_ids(api, status="pending")


def test_a_session_whose_code_arrived_never_expires(short_lived):
    server, api = short_lived.server, short_lived.api
    session = create(api)
    mark_code_received(server, session["id"], expires_at=now_ms() - 3_600_000)  # far past expires_at + grace
    body = api.get(f"{SESSIONS}/{session['id']}").json()
    assert (body["status"], body["error"]) == ("pending", None)
    assert session["id"] in listed_ids(api, status="pending")
    assert session["id"] not in listed_ids(api, status="expired")


# -- the worker writes the expiry down ------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(backend, tmp_path_factory):
    """A server with TTL 1 s whose worker ticks every 0.2 s, and sessions it has swept: an unstarted
    one (the control), a started one, one whose code arrived and a cancelled one. Module-scoped so
    the tests below share one wait for the worker; they only read."""
    settings = make_settings(
        backend, tmp_path_factory.mktemp("roost-sweep"), session_ttl_seconds=1, worker_interval_seconds=0.2
    )
    server = RunningRoost(settings).start()
    organization = server.new_org()
    with organization.client() as api:
        control, started, processing, cancelled = (create(api) for _ in range(4))
        mark_started(server, started["id"], grace_ms=2_700_000)
        mark_code_received(server, processing["id"])
        assert api.delete(f"{SESSIONS}/{cancelled['id']}").status_code == 200
        wait_until(lambda: row(server, control["id"]).status == "expired", timeout=5, what="the worker expiring the control")
        time.sleep(0.5)  # a few more ticks, which must change nothing
        yield SimpleNamespace(
            server=server, api=api, control=control, started=started, processing=processing, cancelled=cancelled
        )
    server.stop()


def test_the_worker_stores_the_expiry_of_an_unstarted_session_once(swept):
    changes = status_changes(swept.server, swept.control["id"])
    assert len(changes) == 1
    assert (changes[0]["from"], changes[0]["to"]) == ("pending", "expired")
    assert row(swept.server, swept.control["id"]).deadline_at is None
    body = swept.api.get(f"{SESSIONS}/{swept.control['id']}").json()
    assert body["status"] == "expired" and body["error"]["code"] == "session_expired"


def test_the_worker_leaves_a_started_session_alone_during_the_grace(swept):
    assert row(swept.server, swept.started["id"]).status == "pending"
    assert status_changes(swept.server, swept.started["id"]) == []


def test_the_worker_leaves_a_session_whose_code_arrived_alone(swept):
    assert row(swept.server, swept.processing["id"]).status == "pending"
    assert status_changes(swept.server, swept.processing["id"]) == []


def test_the_worker_does_not_touch_a_cancelled_session(swept):
    assert row(swept.server, swept.cancelled["id"]).status == "cancelled"
    changes = status_changes(swept.server, swept.cancelled["id"])
    assert [(change["from"], change["to"]) for change in changes] == [("pending", "cancelled")]


# -- the state machine (unit: src/roost/sessions/state.py) -----------------------------------------


ALLOWED = {
    (SessionStatus.PENDING, target) for target in SessionStatus if target != SessionStatus.PENDING
} | {(SessionStatus.RECOVERED, SessionStatus.COMPLETED)}


def a_session(status: SessionStatus, **fields) -> SignupSession:
    values = {"id": "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "status": status, "deadline_at": 5_000} | fields
    return SignupSession(**values)


def recorded(db: AsyncSession) -> list[SessionEvent]:
    return [item for item in db.new if isinstance(item, SessionEvent)]


def test_the_transition_table_is_exactly_the_documented_one():
    table = {(current, target) for current, targets in TRANSITIONS.items() for target in targets}
    assert table == ALLOWED


@pytest.mark.parametrize("current, target", sorted(ALLOWED))
def test_an_allowed_transition_changes_the_status_and_records_its_events(current, target):
    db, session = AsyncSession(), a_session(current)
    transition(db, session, target, at=10_000, reason="test")
    assert session.status == target
    assert session.deadline_at is None  # only a pending session has a deadline
    by_type = {event.type: event for event in recorded(db)}
    assert set(by_type) == {"session.status_changed", "webhook.emitted"}
    changed, emitted = by_type["session.status_changed"], by_type["webhook.emitted"]
    assert changed.type == "session.status_changed"
    assert changed.session_id == session.id and changed.created_at == 10_000
    assert changed.data == {"from": current.value, "to": target.value, "reason": "test"}
    # The outbound webhook event of the change, in the same transaction, named in the timeline.
    [webhook_event] = [item for item in db.new if isinstance(item, WebhookEvent)]
    assert webhook_event.type == f"embedded_signup.session.{target.value}"
    assert emitted.created_at == 10_000
    assert emitted.data == {"event_id": webhook_event.id, "type": webhook_event.type}


@pytest.mark.parametrize(
    "current, target", sorted(set(product(SessionStatus, SessionStatus)) - ALLOWED)
)
def test_any_other_transition_raises_and_records_nothing(current, target):
    db, session = AsyncSession(), a_session(current)
    with pytest.raises(IllegalTransition):
        transition(db, session, target, at=10_000, reason="test")
    assert session.status == current
    assert session.deadline_at == 5_000
    assert recorded(db) == []


def test_completing_sets_completed_at_and_cancelling_sets_cancelled_at():
    db = AsyncSession()
    completed, cancelled = a_session(SessionStatus.RECOVERED), a_session(SessionStatus.PENDING)
    transition(db, completed, SessionStatus.COMPLETED, at=7_000, reason="claim")
    transition(db, cancelled, SessionStatus.CANCELLED, at=8_000, reason="platform", error={"code": "session_cancelled"})
    assert (completed.completed_at, completed.cancelled_at) == (7_000, None)
    assert (cancelled.cancelled_at, cancelled.completed_at) == (8_000, None)
    assert cancelled.error == {"code": "session_cancelled"}


@pytest.mark.parametrize(
    "fields, now, expires",
    [
        ({"deadline_at": 5_000}, 5_000, True),  # the deadline itself is past
        ({"deadline_at": 5_000}, 4_999, False),
        ({"deadline_at": None, "code_received_at": 1_000}, 10**12, False),
        ({"deadline_at": 5_000, "started_at": 1_000}, 6_000, True),
    ],
)
def test_expire_if_overdue_expires_only_a_pending_session_past_its_deadline(fields, now, expires):
    db, session = AsyncSession(), a_session(SessionStatus.PENDING, **fields)
    assert effective_status(session, now) == ("expired" if expires else "pending")
    assert expire_if_overdue(db, session, now) is expires
    assert session.status == ("expired" if expires else "pending")
    assert sorted(event.type for event in recorded(db)) == (["session.status_changed", "webhook.emitted"] if expires else [])
    if expires:
        assert session.error["code"] == "session_expired"


@pytest.mark.parametrize("status", [s for s in SessionStatus if s != SessionStatus.PENDING])
def test_a_finished_session_is_never_overdue(status):
    db, session = AsyncSession(), a_session(status, deadline_at=5_000)
    assert effective_status(session, 10**12) == status
    assert expire_if_overdue(db, session, 10**12) is False
    assert session.status == status and recorded(db) == []


# -- the timeline (GET …/events) ---------------------------------------------------------------


@pytest.mark.parametrize("params", [{"limit": "5"}, {"type": "session.created"}, {"foo": "1"}])
def test_the_timeline_takes_no_query_parameters(api, params):
    # It is short and always whole: a filter or page size a client thinks it applies is refused.
    session = create(api)
    response = api.get(f"{SESSIONS}/{session['id']}/events", params=params)
    assert response.status_code == 400, response.text
    (name,) = params
    assert response.json()["error"]["errors"] == [
        {"param": name, "code": "parameter_unknown", "message": f"{name} is not a known parameter"}
    ]


def test_events_are_oldest_first_in_the_documented_shape(api):
    session = create(api)
    api.post(f"{SESSIONS}/{session['id']}/link")
    api.delete(f"{SESSIONS}/{session['id']}")
    response = api.get(f"{SESSIONS}/{session['id']}/events")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list" and body["has_more"] is False
    events = body["data"]
    assert [event["type"] for event in events] == [
        "session.created", "session.link_refreshed", "session.status_changed", "webhook.emitted"
    ]
    for event in events:
        assert set(event) == {"id", "object", "type", "created_at", "data"}
        assert ISO_MS.match(event["created_at"])
        assert isinstance(event["data"], dict)
    assert [event["created_at"] for event in events] == sorted(event["created_at"] for event in events)
    assert len({event["id"] for event in events}) == 4
    # Times in data are ISO 8601 too; the link's new deadline is the session's expires_at.
    assert events[1]["data"] == {"expires_at": api.get(f"{SESSIONS}/{session['id']}").json()["expires_at"]}
    assert events[2]["data"]["from"] == "pending" and events[2]["data"]["to"] == "cancelled"
    # The webhook event the cancellation emitted, by its id.
    emitted = events[3]["data"]
    assert emitted["type"] == "embedded_signup.session.cancelled"
    webhook_event = api.get(f"/v1/organization/events/{emitted['event_id']}")
    assert webhook_event.status_code == 200, webhook_event.text
    assert webhook_event.json()["type"] == emitted["type"] and webhook_event.json()["data"]["id"] == session["id"]


def test_events_recorded_in_the_same_millisecond_keep_the_order_they_happened_in(roost, api):
    # One request can record several steps at one `now` (the hosted page will: a Meta message, the
    # code, a provisioning step); the timeline must still read in the order they happened.
    session = create(api)
    at = now_ms()

    async def record_burst():
        async with roost.runtime.sessions() as db, db.begin():
            stored = await db.get(SignupSession, session["id"])
            for step in range(12):
                record_event(db, stored, f"test.step_{step:02d}", at)

    roost.run(record_burst())
    types = event_types(api, session["id"])
    assert types == ["session.created"] + [f"test.step_{step:02d}" for step in range(12)]
