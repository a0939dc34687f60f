"""Test harness (fixtures re-exported by conftest.py): a real Roost server on loopback, on SQLite always and on PostgreSQL when
ROOST_TEST_DATABASE_URL is set.

The server runs in a thread of the test process (uvicorn on a free port), so tests talk to it
over real HTTP and can also run coroutines on the server's own event loop (`roost.run(...)`)
to set up organizations or look at rows directly.

Shared helpers live beside it: `polling.wait_until`, `errors.assert_error`, `receiver.LoopbackReceiver`
(the base of every webhook receiver) and `signups` (sessions played through the simulator,
faults, profiles); the first three are re-exported here.
"""

import asyncio
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from roost.app import create_app
from roost.config import Settings
from roost.db.engine import async_url
from roost.kit.crypto import new_key_text
from roost.organizations import service as org_service
from roost.runtime import Runtime, build_runtime

PG_URL = os.environ.get("ROOST_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
TEST_SECRET_KEY = new_key_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _admin_execute(statement: str) -> None:
    engine = create_async_engine(async_url(PG_URL), isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


def _admin(statement: str) -> None:
    """Run an admin statement on a thread of its own: the caller's thread may already run an
    event loop (Playwright's sync API keeps one), and asyncio.run() refuses to nest."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_admin_execute(statement))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def private_postgres_database() -> str:
    """A database of this test run's own on the ROOST_TEST_DATABASE_URL server, so that runs
    (and developers) never see each other's rows. Dropped by drop_postgres_database."""
    name = f"roost_test_{os.getpid()}_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}"')
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_PG_RUN_URL: str | None = None


def own_database_url(backend: str) -> str | None:
    """A private PostgreSQL database for a server whose settings differ in what its worker does
    (address rules, schedules): on a shared database its worker would take other servers' work,
    and theirs its. None on SQLite, where every server has its own file anyway."""
    return private_postgres_database() if backend == "postgres" else None


def database_url_for(backend: str, tmp_path: Path) -> str:
    if backend == "postgres":
        assert _PG_RUN_URL, "the backend fixture creates the run's PostgreSQL database first"
        return _PG_RUN_URL
    return f"sqlite:///{tmp_path / 'roost.db'}"


@dataclass
class Org:
    id: str
    test_key: str
    base_url: str
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {key or self.test_key}"}, timeout=30
        )


class RunningRoost:
    """One `roost serve` (API + worker) in a background thread."""

    # A PostgreSQL database of this server's own, dropped when it stops (see own_database_url).
    private_database: str | None = None

    def __init__(self, settings: Settings, run_worker: bool = True, private_database: str | None = None) -> None:
        self.private_database = private_database
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.runtime: Runtime = build_runtime(settings, port=self.port)
        app = create_app(self.runtime, run_worker=run_worker)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> "RunningRoost":
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("Roost did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        if self.private_database:
            drop_postgres_database(self.private_database)

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the server's event loop (shares its engine) and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def new_org(self, name: str = "Test platform", live: bool = False) -> Org:
        async def create() -> Org:
            async with self.runtime.sessions() as db, db.begin():
                organization = await org_service.create_organization(db, self.runtime.keyring, name)
                await db.flush()
                _, test_key = await org_service.create_admin_key(db, organization.id, livemode=False)
                keys = {"test": test_key}
                if live:
                    _, keys["live"] = await org_service.create_admin_key(db, organization.id, livemode=True)
                return Org(id=organization.id, test_key=test_key, base_url=self.base_url, keys=keys)

        return self.run(create())

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run raw SQL on the server's database (to inspect what was stored, or age a row)."""

        async def execute() -> list[Any]:
            async with self.runtime.engine.begin() as connection:
                result = await connection.execute(text(statement), params)
                return list(result.fetchall()) if result.returns_rows else []

        return self.run(execute())


def make_settings(backend: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url_for(backend, tmp_path),
        "secret_key": TEST_SECRET_KEY,
        "worker_interval_seconds": 0.5,
        "log_level": "warning",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    global _PG_RUN_URL
    if request.param != "postgres":
        yield request.param
        return
    _PG_RUN_URL = private_postgres_database()
    yield request.param
    drop_postgres_database(_PG_RUN_URL)
    _PG_RUN_URL = None


@pytest.fixture(scope="session")
def roost(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRoost]:
    """The shared server for this backend, with default settings."""
    server = RunningRoost(make_settings(backend, tmp_path_factory.mktemp(f"roost-{backend}"))).start()
    yield server
    server.stop()


@pytest.fixture
def start_roost(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start an extra server with other settings: `start_roost(session_ttl_seconds=2)`.

    On PostgreSQL it shares the database of the main server (its schema is already migrated).
    """
    started: list[RunningRoost] = []

    def start(**overrides: Any) -> RunningRoost:
        server = RunningRoost(make_settings(backend, tmp_path_factory.mktemp("roost-extra"), **overrides)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def org(roost: RunningRoost) -> Org:
    """A fresh organization (with a test key) on the shared server."""
    return roost.new_org()


@pytest.fixture
def api(org: Org) -> Iterator[httpx.Client]:
    """An HTTP client authenticated with the fresh organization's test key."""
    with org.client() as client:
        yield client


SEED_BODY = {
    "redirect_uri": "https://example.com/whatsapp/callback",
    "state": "abc123-csrf-token",
    "metadata": {"externalUserId": "user_123", "businessName": "Acme Corp"},
    "prefill": {
        "business": {
            "name": "Acme Corp",
            "email": "contact@acme.com",
            "website": "https://acme.com",
            "address": {
                "streetAddress1": "123 Main St",
                "city": "San Francisco",
                "state": "CA",
                "zipPostal": "94102",
                "country": "US",
            },
            "phone": {"code": 1, "number": "4155551234"},
            "timezone": "America/Los_Angeles",
        },
        "phone": {
            "displayName": "Acme Support",
            "category": "Automotive",
            "description": "Official Acme Corp WhatsApp support channel",
        },
    },
}

SESSIONS = "/v1/organization/embedded-signup/sessions"


def count_sessions(roost: RunningRoost, org_id: str) -> int:
    return roost.sql("SELECT count(*) FROM embedded_signup_sessions WHERE organization_id = :org", org=org_id)[0][0]


def wait_for_room_in_window(needed_seconds: float = 3.0) -> None:
    """Rate limits count per fixed minute: start a burst early enough that it stays in one window."""
    left = 60 - time.time() % 60
    if left < needed_seconds:
        time.sleep(left + 0.05)


# Re-exported last: the modules below import the harness's constants.
from tests.support.errors import assert_error  # noqa: E402, F401
from tests.support.polling import wait_until  # noqa: E402, F401
from tests.support.receiver import LoopbackReceiver, Request  # noqa: E402, F401
