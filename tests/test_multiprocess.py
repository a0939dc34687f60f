"""Several Roost processes on one PostgreSQL database (SPEC 8): they share the rate limit and
never expire a session twice. Runs only when ROOST_TEST_DATABASE_URL is set; uses a database
of its own, created and dropped here, so the shared test database is left alone."""

import asyncio
import os
import time
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from roost.kit.crypto import new_key_text
from tests.processes import RoostProcess, RoostServer, roost_env, run_roost_json
from tests.support import PG_URL, SESSIONS, wait_for_room_in_window

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs ROOST_TEST_DATABASE_URL (PostgreSQL)")

SETTINGS = "/v1/organization/settings"
SESSION_COUNT = 30


def plain_url(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(url: str, statement: str, *args):
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(statement, *args)
    finally:
        await connection.close()


def pg(url: str, statement: str, *args) -> list:
    return asyncio.run(_execute(url, statement, *args))


class Deployment:
    """One PostgreSQL database with a ROOST_SECRET_KEY: what every process of a deployment shares."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.database_url = database_url
        self.directory = directory
        self.env = roost_env(ROOST_DATABASE_URL=database_url, ROOST_SECRET_KEY=new_key_text())
        self.processes: list[RoostProcess] = []

    def new_org(self, name: str) -> dict:
        """An organization made by the CLI (which also migrates the database)."""
        return run_roost_json("orgs", "create", name, "--json", env=self.env, cwd=self.directory)

    def serve(self, name: str, **settings: str) -> RoostServer:
        env = {**self.env, "ROOST_MIGRATE_ON_START": "0", **settings}
        server = RoostServer(env, self.directory, name=name, extra_args=("--no-worker",), wait=False)
        self.processes.append(server)
        return server

    def worker(self, name: str, **settings: str) -> RoostProcess:
        process = RoostProcess(["worker"], {**self.env, "ROOST_MIGRATE_ON_START": "0", **settings}, self.directory, name)
        self.processes.append(process)
        return process

    def sql(self, statement: str, *args) -> list:
        return pg(self.database_url, statement, *args)

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()
        self.processes.clear()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    server_url = make_url(PG_URL)
    name = f"roost_mp_test_{os.getpid()}"
    admin = plain_url(server_url.set(database="postgres"))
    pg(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg(admin, f'CREATE DATABASE "{name}"')
    deployment = Deployment(plain_url(server_url.set(database=name)), tmp_path_factory.mktemp("multiprocess"))
    try:
        yield deployment
    finally:
        deployment.stop_all()
        pg(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def processes(deployment):
    yield deployment
    deployment.stop_all()


def test_processes_share_one_rate_limit(processes):
    key = processes.new_org("Rate limited platform")["admin_key"]
    first = processes.serve("serve-a", ROOST_RATE_LIMIT_PER_MINUTE="10")
    second = processes.serve("serve-b", ROOST_RATE_LIMIT_PER_MINUTE="10")
    first.wait_until_ready()
    second.wait_until_ready()

    wait_for_room_in_window(5.0)
    with first.client(key) as a, second.client(key) as b:
        responses = [a.get(SETTINGS) for _ in range(6)] + [b.get(SETTINGS) for _ in range(5)]
    assert [response.status_code for response in responses] == [200] * 10 + [429]
    assert [response.headers["X-RateLimit-Remaining"] for response in responses] == [
        "9", "8", "7", "6", "5", "4", "3", "2", "1", "0", "0",
    ]
    error = responses[-1].json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limited")
    assert "Retry-After" in responses[-1].headers


def test_two_workers_never_expire_a_session_twice(processes):
    org = processes.new_org("Expiring platform")
    server = processes.serve("serve-ttl", ROOST_SESSION_TTL_SECONDS="1", ROOST_RATE_LIMIT_PER_MINUTE="0")
    # Sweeping every 50 ms, the two workers' sweeps overlap most of the time: without row locks
    # they would both expire the same sessions (this test then fails nearly every run).
    workers = [processes.worker(f"worker-{n}", ROOST_WORKER_INTERVAL_SECONDS="0.05") for n in (1, 2)]
    server.wait_until_ready()
    for worker in workers:
        worker.wait_for_log("worker_started")  # both sweep before the first session is due

    with server.client(org["admin_key"]) as api:
        for _ in range(SESSION_COUNT):
            assert api.post(SESSIONS, json={}).status_code == 201

    deadline = time.monotonic() + 15
    while True:
        expired = processes.sql(
            "SELECT count(*) FROM embedded_signup_sessions WHERE organization_id = $1 AND status = 'expired'",
            org["organization_id"],
        )[0][0]
        if expired == SESSION_COUNT or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert expired == SESSION_COUNT
    time.sleep(0.5)  # a few more sweeps by both workers: nothing left for them to do

    changes = processes.sql(
        "SELECT s.id, count(e.id) FROM embedded_signup_sessions s "
        "LEFT JOIN session_events e ON e.session_id = s.id AND e.type = 'session.status_changed' "
        "WHERE s.organization_id = $1 GROUP BY s.id",
        org["organization_id"],
    )
    assert len(changes) == SESSION_COUNT
    assert {session_id: count for session_id, count in changes if count != 1} == {}
    for worker in workers:
        assert "worker_tick_failed" not in worker.stderr()
