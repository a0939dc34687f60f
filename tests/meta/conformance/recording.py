"""Graph traffic on the wire, recorded for the conformance checks (an httpx response hook)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from roost.meta.graph import GraphClient
from tests.meta.conformance.meta import Exchange

T = TypeVar("T")


class Recording:
    """Every Graph request a client sends and the answer it gets, in order."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    async def on_response(self, response: httpx.Response) -> None:
        request = response.request
        if "/graph/" not in request.url.path:
            return  # the simulator's control API (test mode's `simulate`), not Meta's
        await response.aread()
        self.exchanges.append(exchange_of(response))

    def attach(self, client: httpx.AsyncClient) -> None:
        client.event_hooks["response"].append(self.on_response)

    def paths(self) -> list[str]:
        return [f"{exchange.method} {exchange.path}" for exchange in self.exchanges]


def exchange_of(response: httpx.Response) -> Exchange:
    """A response that has been read, with its request, as the checks take it."""
    request = response.request
    return Exchange.of(request.method, str(request.url), dict(request.headers), request.content,
                       response.status_code, response.content)


def recorded_calls(roost: Any, app: dict[str, Any], use: Callable[[GraphClient], Awaitable[T]]) -> tuple[T, Recording]:
    """Run `use` with a GraphClient of the simulated app against the server's simulator, over
    real HTTP, and return its result with the traffic it caused."""
    recording = Recording()

    async def main() -> T:
        async with httpx.AsyncClient(timeout=30) as http:
            recording.attach(http)
            graph = GraphClient(http, f"{roost.base_url}/_sim/graph", "v25.0", app["app_id"], app["app_secret"])
            return await use(graph)

    return asyncio.run(main()), recording
