"""A lifecycle webhook survives a crash (issue 16): a real `roost serve` is killed with SIGKILL
after it received Meta's POST and before it committed the change; after a restart Meta's
redelivery of the same bytes is applied once and its outbound event emitted once. On a SQLite
file and (when ROOST_TEST_DATABASE_URL is set) on PostgreSQL."""

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from roost.db.engine import async_url
from tests.meta.test_crash import Deployment
from tests.processes import database_for, release_database, run_roost_json
from tests.recovery.helpers import sign
from tests.support import PG_URL, wait_until
from tests.support.signups import PROFILES, play

BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def deployment(request, tmp_path):
    deployment = Deployment(database_for(request.param, tmp_path), tmp_path)
    yield deployment
    for server in deployment.servers:
        server.stop()
    release_database(deployment.database_url)


class RowLock:
    """Holds the profile's row (PostgreSQL: FOR UPDATE) or the database's write lock (SQLite)
    from the test, so that the server's transaction waits inside the webhook's handling."""

    def __init__(self, url: str, profile_id: str) -> None:
        self.url, self.profile_id = url, profile_id
        self.held, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._hold()))

    async def _hold(self) -> None:
        engine = create_async_engine(async_url(self.url), poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                transaction = await connection.begin()
                if self.url.startswith("postgresql"):
                    statement = "SELECT id FROM business_profiles WHERE id = :p FOR UPDATE"
                else:
                    statement = "UPDATE business_profiles SET updated_at = updated_at WHERE id = :p"
                await connection.execute(text(statement), {"p": self.profile_id})
                self.held.set()
                while not self.release.is_set():
                    await asyncio.sleep(0.05)
                await transaction.rollback()
        finally:
            await engine.dispose()

    def __enter__(self) -> "RowLock":
        self.thread.start()
        assert self.held.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.thread.join(10)


def lifecycle_change(event: str, session: dict[str, Any], app: dict[str, Any], at: int) -> dict[str, Any]:
    """Meta's payload of `event` for the session's WABA (research §5.3)."""
    if event == "DISABLED_UPDATE":
        entry_id = session["waba_id"]
        value: dict[str, Any] = {"event": event, "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "April 17, 2025"}}
    else:  # PARTNER_REMOVED: the entry is the partner's business, the WABA in waba_info
        entry_id = app["partner_business_id"]
        value = {"event": event, "waba_info": {"waba_id": session["waba_id"], "owner_business_id": session["business_id"]},
                 "disconnection_info": {"reason": "PRIMARY_INACTIVITY", "initiated_by": "SYSTEM"}}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": entry_id, "time": at, "changes": [{"field": "account_update", "value": value}]}]}


# What each event changes, and the outbound events it sends (each exactly once).
EXPECTED = {
    "DISABLED_UPDATE": (lambda profile: profile["health"]["status"] == "banned",
                        ["whatsapp.business_profile.health_updated"]),
    "PARTNER_REMOVED": (lambda profile: profile["status"] == "disconnected"
                        and profile["health"]["disconnection"]["meta_reason"] == "PRIMARY_INACTIVITY",
                        ["whatsapp.business_profile.disconnected", "whatsapp.business_profile.health_updated"]),
}


def waiting_on_a_lock(deployment: Deployment) -> bool:
    if not deployment.database_url.startswith("postgresql"):
        time.sleep(1.5)  # SQLite shows no waiter: the server's BEGIN IMMEDIATE waits on busy_timeout
        return True
    rows = deployment.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return rows[0][0] > 0


@pytest.mark.parametrize("event", sorted(EXPECTED))
def test_a_lifecycle_webhook_cut_off_by_a_crash_is_applied_once_after_redelivery(deployment, event):
    org = run_roost_json("orgs", "create", "Crash platform", "--json", env=deployment.env, cwd=deployment.directory)
    headers = {"Authorization": f"Bearer {org['admin_key']}"}
    first = deployment.serve("serve-1")
    with httpx.Client(base_url=first.base_url, headers=headers, timeout=30) as api:
        session = play(api)
        assert session["status"] == "completed", session
        profile_id = session["business_profile_id"]
        app = api.get("/_sim/control/app").json()
    body = json.dumps(lifecycle_change(event, session, app, int(time.time())), separators=(",", ":")).encode()
    post_headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(app["app_secret"], body)}
    outcome: dict[str, Any] = {}

    def deliver() -> None:
        try:
            outcome["response"] = httpx.post(f"{first.base_url}/meta/webhooks/{app['app_id']}", content=body,
                                             headers=post_headers, timeout=30)
        except httpx.HTTPError as problem:
            outcome["error"] = problem

    with RowLock(deployment.database_url, profile_id):
        sender = threading.Thread(target=deliver)
        sender.start()
        wait_until(lambda: waiting_on_a_lock(deployment), 10, what="the webhook waiting inside its transaction")
        first.process.kill()  # SIGKILL: no shutdown, no clean-up
        first.process.wait()
        sender.join(timeout=30)
    assert "error" in outcome, "the delivery should have died with the server"

    # Nothing of the cut-off delivery was kept: Meta did not get a 200 and will send it again.
    changes = "SELECT count(*) FROM meta_webhook_changes WHERE event = :e"
    assert deployment.sql(changes, e=event) == [(0,)]
    emitted = ("SELECT type FROM webhook_events WHERE type IN ('whatsapp.business_profile.health_updated', "
               "'whatsapp.business_profile.disconnected') ORDER BY type")
    assert deployment.sql(emitted) == []

    second = deployment.serve("serve-2")
    redelivered = httpx.post(f"{second.base_url}/meta/webhooks/{app['app_id']}", content=body, headers=post_headers, timeout=30)
    assert redelivered.status_code == 200 and redelivered.json()["stored"] == 1, redelivered.text
    again = httpx.post(f"{second.base_url}/meta/webhooks/{app['app_id']}", content=body, headers=post_headers, timeout=30)
    assert again.status_code == 200 and again.json()["duplicates"] == 1, again.text

    with httpx.Client(base_url=second.base_url, headers=headers, timeout=30) as api:
        profile = api.get(f"{PROFILES}/{profile_id}").json()
    applied, events = EXPECTED[event]
    assert applied(profile), profile
    assert deployment.sql(changes, e=event) == [(1,)]
    assert [row[0] for row in deployment.sql(emitted)] == events
