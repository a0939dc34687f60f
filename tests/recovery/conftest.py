"""Meta-webhook and recovery tests run on a server (and database) of their own, which may relay
to the loopback receivers the tests start (forward URLs obey the outbound address rules)."""

from collections.abc import Iterator

import pytest

from tests.support import RunningRoost, make_settings, own_database_url


@pytest.fixture(scope="session")
def roost(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRoost]:
    database = own_database_url(backend)
    overrides = {"database_url": database} if database else {}
    settings = make_settings(
        backend, tmp_path_factory.mktemp(f"recovery-{backend}"), webhook_allow_private=True, **overrides
    )
    server = RunningRoost(settings, private_database=database).start()
    yield server
    server.stop()
