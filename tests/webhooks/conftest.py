"""A Roost server of the webhooks tests' own: private addresses allowed (the receiver is on
loopback) and a retry schedule of seconds instead of hours. It has its own database, so no other
server's dispatcher (which would refuse loopback) ever takes its deliveries."""

from collections.abc import Iterator

import httpx
import pytest

from tests.support import Org, RunningRoost, drop_postgres_database, make_settings, private_postgres_database
from tests.webhooks.helpers import Receiver

# Waits after each failed attempt, in seconds: 11 attempts over about 8 seconds.
TEST_SCHEDULE = "0.3,0.5,0.7,0.8,1,1,1,1,1,1"


def webhook_server(backend: str, tmp_path_factory: pytest.TempPathFactory, **overrides) -> tuple[RunningRoost, str | None]:
    database = private_postgres_database() if backend == "postgres" else None
    values = {"webhook_allow_private": True, "webhook_retry_schedule": TEST_SCHEDULE, "worker_interval_seconds": 0.3}
    values.update(overrides)
    if database:
        values["database_url"] = database
    settings = make_settings(backend, tmp_path_factory.mktemp(f"webhooks-{backend}"), **values)
    return RunningRoost(settings).start(), database


@pytest.fixture(scope="module")
def hooks(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRoost]:
    server, database = webhook_server(backend, tmp_path_factory)
    yield server
    server.stop()
    if database:
        drop_postgres_database(database)


@pytest.fixture
def horg(hooks: RunningRoost) -> Org:
    return hooks.new_org(live=True)


@pytest.fixture
def hapi(horg: Org) -> Iterator[httpx.Client]:
    with horg.client() as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()
