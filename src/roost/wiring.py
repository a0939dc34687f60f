"""Composition of optional parts: the simulator is built here, never imported by the core."""

import httpx
from starlette.types import ASGIApp

from roost.runtime import Runtime
from roost.kit.network import guarded_client

SIMULATOR_INTERNAL_URL = "http://simulator.roost.internal"


def build_simulator(runtime: Runtime) -> ASGIApp | None:
    """The simulator's ASGI app (to mount at /_sim), wired as test mode's Graph API. None when off."""
    if not runtime.settings.simulator:
        return None
    from roost.simulator.app import create_simulator_app

    simulator = create_simulator_app(
        keyring=runtime.keyring,
        sessions=runtime.sessions,
        public_url=runtime.public_url,
        simulator_url=runtime.simulator_url,
        # Everything the simulator fetches or posts (callback handshakes, webhooks) is steered by
        # whoever holds a test key: the same address rules as outbound webhooks, but Roost's own
        # public URL, where Meta's callbacks normally go, is always reachable.
        webhook_client=guarded_client(
            allow_private=runtime.settings.webhook_allow_private, timeout=10, max_connections=16,
            user_agent=None, exempt_urls=[runtime.public_url],
        ),
    )
    runtime.stop_hooks.append(simulator.state.emitter.stop)
    runtime.simulator_http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator),
        base_url=SIMULATOR_INTERNAL_URL,
        timeout=runtime.settings.meta_timeout_seconds,
    )
    return simulator
