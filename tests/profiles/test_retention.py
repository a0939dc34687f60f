"""Retention (SPEC 8): session events older than ROOST_RETENTION_DAYS (default 90) are purged by
the worker, in batches; sessions and business profiles are kept."""

from roost import worker
from roost.config import Settings
from roost.kit.ids import new_id
from roost.kit.timeutil import now_ms
from roost.sessions.retention import purge_old_events
from tests.meta.helpers import PROFILES, events, get_session
from tests.profiles.helpers import connect

DAY_MS = 86_400_000


def add_events(roost, session_id: str, ages_in_days: list[float]) -> list[str]:
    ids = []
    for age in ages_in_days:
        event_id = new_id("sevt")
        roost.sql(
            "INSERT INTO session_events (id, session_id, type, created_at, data) VALUES (:id, :s, 'test.old', :at, '{}')",
            id=event_id, s=session_id, at=now_ms() - int(age * DAY_MS),
        )
        ids.append(event_id)
    return ids


def test_the_default_is_90_days():
    assert Settings(_env_file=None).retention_days == 90


def test_the_worker_purges_old_events_and_keeps_sessions_and_profiles(roost, api):
    session, profile = connect(api)
    recent = [event["id"] for event in events(api, session["id"])]
    old = add_events(roost, session["id"], [91, 200, 365])
    kept = add_events(roost, session["id"], [89])

    done = roost.run(worker.tick(roost.runtime))

    assert done["session_events_purged"] >= 3
    remaining = [event["id"] for event in events(api, session["id"])]
    assert not set(old) & set(remaining)
    assert set(recent) | set(kept) == set(remaining)
    assert get_session(api, session["id"])["status"] == "completed"
    assert api.get(f"{PROFILES}/{profile['id']}").status_code == 200


def test_purging_goes_in_batches_until_nothing_old_is_left(roost, api):
    session, _ = connect(api)
    old = add_events(roost, session["id"], [100] * 5)

    purged = roost.run(purge_old_events(roost.runtime.sessions, now_ms(), 90, batch=2))

    assert purged >= 5
    (left,) = roost.sql(
        "SELECT count(*) FROM session_events WHERE id IN (:a, :b, :c, :d, :e)", **dict(zip("abcde", old))
    )[0]
    assert left == 0


def test_the_setting_decides_the_age(start_roost):
    server = start_roost(retention_days=7)
    org = server.new_org()
    with org.client() as api:
        session, _ = connect(api)
        old = add_events(server, session["id"], [8])
        young = add_events(server, session["id"], [6])

        server.run(worker.tick(server.runtime))

        remaining = {event["id"] for event in events(api, session["id"])}
        assert not set(old) & remaining and set(young) <= remaining
