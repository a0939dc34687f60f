"""Meta-webhook and recovery tests run on their own server, which may relay to the loopback
receivers the tests start (forward URLs obey the outbound address rules, SPEC 7.1)."""

from collections.abc import Iterator

import pytest

from tests.support import RunningRoost, make_settings


@pytest.fixture(scope="session")
def roost(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRoost]:
    settings = make_settings(backend, tmp_path_factory.mktemp(f"recovery-{backend}"), webhook_allow_private=True)
    server = RunningRoost(settings).start()
    yield server
    server.stop()
