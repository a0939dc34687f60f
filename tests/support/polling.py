"""Waiting for something that happens in the background (a worker, a delivery), by polling."""

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition", *, interval: float = 0.05
) -> Any:
    """The first truthy value of `predicate()`, called every `interval` seconds (it is called
    once more after the deadline, so a slow machine's last look still counts). `what` names the
    condition in the failure (third, as the copies this replaces took it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout} s")
        time.sleep(interval)
