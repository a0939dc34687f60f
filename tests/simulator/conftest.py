"""Fixtures for the simulator's tests: its Graph API over real HTTP, the org's app, a webhook receiver."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.simulator.helpers import GRAPH_VERSION, Receiver, running_roost
from tests.support import RunningRoost


@pytest.fixture(scope="session")
def roost(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRoost]:
    """The simulator's tests call receivers on loopback, so their server lets the simulator reach
    private addresses (ROOST_WEBHOOK_ALLOW_PRIVATE=1); tests/meta/conformance checks the guard."""
    with running_roost(backend, tmp_path_factory, "roost-sim", webhook_allow_private=True) as server:
        yield server


@pytest.fixture
def sim_app(api: httpx.Client) -> dict[str, Any]:
    """The simulated Meta app of the test's organization (GET /_sim/control/app)."""
    response = api.get("/_sim/control/app")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def graph(roost: Any) -> Iterator[httpx.Client]:
    """An unauthenticated client for the simulated Graph API (`/_sim/graph/v25.0/…`)."""
    with httpx.Client(base_url=f"{roost.base_url}/_sim/graph/{GRAPH_VERSION}", timeout=30) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a loopback port (see helpers.Receiver)."""
    receiver = Receiver()
    yield receiver
    receiver.stop()
