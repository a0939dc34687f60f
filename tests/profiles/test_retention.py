"""Retention (SPEC 8): session events older than ROOST_RETENTION_DAYS (default 90) are purged by
the worker, in batches; sessions and business profiles are kept."""

import asyncio

from roost import worker
from roost.config import Settings
from roost.kit.ids import new_id
from roost.kit.timeutil import now_ms
from roost.sessions.retention import purge_old_events
from tests.support.signups import PROFILES, events, get_session
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


def test_the_worker_purges_old_events_and_keeps_sessions_and_profiles(start_roost):
    # Its own retention (7 days) and a worker that does not tick on its own after start, so
    # only the tick below purges: the shared server keeps 90 days and never touches these.
    server = start_roost(retention_days=7, worker_interval_seconds=3600)
    org = server.new_org()
    with org.client() as api:
        session, profile = connect(api)
        recent = [event["id"] for event in events(api, session["id"])]
        old = add_events(server, session["id"], [8, 30, 60])
        kept = add_events(server, session["id"], [6])

        done = server.run(worker.tick(server.runtime))

        assert done["session_events_purged"] >= 3
        remaining = [event["id"] for event in events(api, session["id"])]
        assert not set(old) & set(remaining)
        assert set(recent) | set(kept) == set(remaining)
        assert get_session(api, session["id"])["status"] == "completed"
        assert api.get(f"{PROFILES}/{profile['id']}").json()["status"] == "connected"


def test_purging_goes_in_batches_until_nothing_old_is_left(start_roost):
    server = start_roost(retention_days=7, worker_interval_seconds=3600)
    org = server.new_org()
    with org.client() as api:
        session, _ = connect(api)
        old = add_events(server, session["id"], [10] * 5)

        purged = server.run(purge_old_events(server.runtime.sessions, now_ms(), 7, batch=2))

        assert purged >= 5  # three batches: 2 + 2 + 1
        (left,) = server.sql(
            "SELECT count(*) FROM session_events WHERE id IN (:a, :b, :c, :d, :e)", **dict(zip("abcde", old))
        )[0]
        assert left == 0


def test_a_purge_lets_the_server_answer_between_its_batches(start_roost):
    # On SQLite a transaction never suspends (statements run on the loop's thread), so a loop of
    # them must yield by itself, or a large backlog would hold up every request until it ends.
    server = start_roost(retention_days=7, worker_interval_seconds=3600)
    org = server.new_org()
    with org.client() as api:
        session, _ = connect(api)
        add_events(server, session["id"], [10] * 6)

        async def purge_while_another_task_waits() -> tuple[int, int]:
            turns = 0

            async def other_task() -> None:
                nonlocal turns
                while True:
                    turns += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(other_task())
            await asyncio.sleep(0)
            before = turns
            try:
                purged = await purge_old_events(server.runtime.sessions, now_ms(), 7, batch=2)
            finally:
                task.cancel()
            return purged, turns - before

        purged, turns = server.run(purge_while_another_task_waits())

        assert purged >= 6  # four batches: 2 + 2 + 2 + 0
        assert turns >= 4  # the other task ran between the batches, not only once the purge ended


def test_the_shared_default_keeps_what_is_younger_than_90_days(roost, api):
    session, _ = connect(api)
    old, young = add_events(roost, session["id"], [91]), add_events(roost, session["id"], [89])

    roost.run(worker.tick(roost.runtime))

    remaining = {event["id"] for event in events(api, session["id"])}
    assert not set(old) & remaining and set(young) <= remaining
