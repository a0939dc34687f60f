"""Webhook delivery across real processes: a `roost worker` killed with SIGKILL in the middle of a
delivery loses nothing, and two workers on one PostgreSQL database send each attempt once."""

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from roost.kit.crypto import new_key_text
from tests.processes import RoostProcess, RoostServer, database_for, execute_sql, release_database, roost_env, run_roost_json
from tests.support import PG_URL, SESSIONS
from tests.webhooks.helpers import WEBHOOKS, Receiver, wait_until

BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])



class Deployment:
    """A database and a secret key shared by `roost serve --no-worker` and `roost worker` processes."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.database_url = database_url
        self.directory = directory
        self.env = roost_env(
            ROOST_DATABASE_URL=database_url,
            ROOST_SECRET_KEY=new_key_text(),
            ROOST_WEBHOOK_ALLOW_PRIVATE="1",
            ROOST_WORKER_INTERVAL_SECONDS="0.5",
            ROOST_LOG_LEVEL="warning",
        )
        self.processes: list[RoostProcess] = []
        self.org = run_roost_json("orgs", "create", "Webhook platform", "--json", env=self.env, cwd=directory)

    def serve(self) -> RoostServer:
        server = RoostServer({**self.env, "ROOST_MIGRATE_ON_START": "0"}, self.directory, extra_args=("--no-worker",))
        self.processes.append(server)
        return server

    def worker(self, name: str) -> RoostProcess:
        env = {**self.env, "ROOST_MIGRATE_ON_START": "0", "ROOST_LOG_LEVEL": "info"}
        process = RoostProcess(["worker"], env, self.directory, name)
        self.processes.append(process)
        process.wait_for_log("webhook_dispatcher_started")
        return process

    def api(self, server: RoostServer) -> httpx.Client:
        return server.client(self.org["admin_key"])

    def sql(self, statement: str, **params: Any) -> list[Any]:
        return execute_sql(self.database_url, statement, **params)


@pytest.fixture(params=BACKENDS)
def deployment(request, tmp_path) -> Iterator[Deployment]:
    deployment = Deployment(database_for(request.param, tmp_path), tmp_path)
    yield deployment
    for process in deployment.processes:
        process.stop()
    release_database(deployment.database_url)


def cancel_sessions(api: httpx.Client, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        session = api.post(SESSIONS, json={}).json()
        assert api.delete(f"{SESSIONS}/{session['id']}").status_code == 200
        ids.append(session["id"])
    return ids


def test_a_worker_killed_mid_delivery_loses_nothing(deployment):
    receiver = Receiver()
    # The first three requests hang long enough for the worker to die while sending them.
    receiver.behaviour = lambda index, body: (200, {}, 4.0 if index < 3 else 0.0)
    try:
        server = deployment.serve()
        first = deployment.worker("worker-1")
        with deployment.api(server) as api:
            endpoint = api.post(WEBHOOKS, json={"url": receiver.url, "events": ["*"]}).json()
            receiver.secrets.append(endpoint["secret"])
            cancel_sessions(api, 3)
            wait_until(lambda: len(receiver.received) == 3, what="three deliveries in flight")
            first.process.kill()  # SIGKILL: nothing is recorded, leases stay
            first.process.wait()

            rows = deployment.sql("SELECT status, attempts, lease_until FROM webhook_deliveries")
            assert len(rows) == 3 and all(status == "pending" and attempts == 0 and lease for status, attempts, lease in rows)
            assert deployment.sql("SELECT count(*) FROM webhook_attempts") == [(0,)]

            # Another worker waits out the dead one's lease (aged here instead of waiting 60 s).
            deployment.worker("worker-2")
            time.sleep(1)
            assert len(receiver.received) == 3, "no one sends while the lease holds"
            deployment.sql("UPDATE webhook_deliveries SET lease_until = 1")
            wait_until(
                lambda: deployment.sql("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'") == [(3,)],
                what="every delivery made by the second worker",
            )
            events = {event["id"] for event in api.get("/v1/organization/events").json()["data"]}
        per_event = Counter(item.webhook_id for item in receiver.received)
        # At least once: each event arrived twice under one webhook-id, so receivers can dedupe.
        assert set(per_event) == events and set(per_event.values()) == {2}
        assert all(item.verified_by == [0] for item in receiver.received)
        assert deployment.sql("SELECT attempt, succeeded FROM webhook_attempts") == [(1, True)] * 3
    finally:
        receiver.stop()


@pytest.mark.skipif(not PG_URL, reason="several worker processes share one database only on PostgreSQL "
                    "(set ROOST_TEST_DATABASE_URL); SQLite deployments run one process")
def test_two_workers_on_postgresql_send_each_attempt_once(deployment):
    if not deployment.database_url.startswith("postgresql"):
        pytest.skip("several worker processes share one database only on PostgreSQL; SQLite deployments run one process")
    receiver = Receiver()
    receiver.behaviour = lambda index, body: (200, {}, 0.02)
    try:
        server = deployment.serve()
        deployment.worker("worker-a")
        deployment.worker("worker-b")
        with deployment.api(server) as api:
            endpoint = api.post(WEBHOOKS, json={"url": receiver.url, "events": ["*"]}).json()
            receiver.secrets.append(endpoint["secret"])
            cancel_sessions(api, 60)
        wait_until(lambda: len({item.webhook_id for item in receiver.received}) == 60, timeout=60, what="60 events delivered")
        time.sleep(1)  # anything sent twice would arrive by now
        per_event = Counter(item.webhook_id for item in receiver.received)
        assert len(per_event) == 60 and set(per_event.values()) == {1}
        failed = deployment.sql("SELECT delivery_id, status_code, error FROM webhook_attempts WHERE error IS NOT NULL")
        assert deployment.sql("SELECT count(*), count(DISTINCT delivery_id) FROM webhook_attempts") == [(60, 60)], failed
        assert deployment.sql("SELECT DISTINCT status, attempts FROM webhook_deliveries") == [("delivered", 1)]
    finally:
        receiver.stop()
