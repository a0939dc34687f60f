"""Fixtures: see tests/support/ for the harness (a real server on loopback, per backend)."""

from tests.support import api, backend, org, roost, start_roost  # noqa: F401
