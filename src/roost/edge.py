"""The HTTP edge of `roost serve`: what one client may hold of a server process.

uvicorn's httptools protocol reads a request head of any size and waits for it (and for a body
that stopped arriving) without end; its h11 protocol limits the head but is several times
slower. So the httptools protocol is kept and guarded here: the head (request line and headers)
is limited in bytes and in time, and a body that stops arriving drops the connection. Keep-alive,
graceful shutdown and several processes are uvicorn's own settings, chosen in `serve`.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from roost.config import Settings
from roost.kit import errors
from roost.kit.ids import random_base62


@dataclass(frozen=True)
class EdgeLimits:
    max_head_bytes: int
    head_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "EdgeLimits":
        return cls(
            max_head_bytes=settings.http_max_head_bytes,
            head_timeout=settings.http_head_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
        )


class EdgeConfig(uvicorn.Config):
    """uvicorn's configuration plus the edge's limits (pickled as a whole into each worker process)."""

    def __init__(self, app: Any, *, limits: EdgeLimits, **options: Any) -> None:
        super().__init__(app, http=GuardedHttpToolsProtocol, **options)
        self.limits = limits


class HeadTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools' protocol with a head limited in size and time and a body that must keep coming.

    The head's bytes are counted as they arrive, before httptools gathers them (it keeps a header
    being read whole, however long), so a refused head costs at most the limit plus one read."""

    def __init__(self, config: EdgeConfig, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = config.limits
        self.in_head = False  # from a request's first byte to the end of its head
        self.head_bytes = 0  # whole reads since the head began, while it is incomplete
        self.head_size = 0  # the head's bytes httptools handed over (request target, headers)
        self.head_too_large = False
        self.last_read = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None

    # -- the head ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a head is dropped too.
        self.head_timer = self.loop.call_later(self.limits.head_timeout, self.head_too_slow)

    def data_received(self, data: bytes) -> None:
        self.last_read = len(data)
        if self.in_head:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.in_head and self.head_bytes > self.limits.max_head_bytes and not self.transport.is_closing():
            self.refuse_large_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_size = 0
        # The whole read counts: the part before this request's first byte (the end of a
        # pipelined request's body) is not told apart.
        self.head_bytes = self.last_read
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.limits.head_timeout, self.head_too_slow)

    # A head that arrived in one read is measured as httptools hands it over: raising stops the
    # parser, and uvicorn's answer to a parser error becomes the 431 (send_400_response below).

    def on_url(self, url: bytes) -> None:
        self.count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def count_head(self, size: int) -> None:
        self.head_size += size
        if self.head_size > self.limits.max_head_bytes:
            self.head_too_large = True
            raise HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        if self.head_too_large:
            self.refuse_large_head()
        else:
            super().send_400_response(msg)

    def refuse_large_head(self) -> None:
        self.in_head = False
        self.refuse(431, "request_head_too_large", f"The request line and headers exceed {self.limits.max_head_bytes} bytes")

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.cancel_timers()
        super().on_headers_complete()
        self.body_timer = self.loop.call_later(self.limits.body_timeout, self.body_too_slow)

    def head_too_slow(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's head is late while the one before is still answered.
            self.head_timer = self.loop.call_later(self.limits.head_timeout, self.head_too_slow)
            return
        self.refuse(408, "request_timeout", f"The request's head did not arrive within {self.limits.head_timeout:g} s")

    # -- the body ----------------------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = self.loop.call_later(self.limits.body_timeout, self.body_too_slow)

    def on_message_complete(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None
        super().on_message_complete()

    def body_too_slow(self) -> None:
        self.body_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused or self.cycle.waiting_for_100_continue:
            # Reading stopped because the application has not taken what came, or the client
            # waits for the "100 Continue" the application has not asked for yet: not its fault.
            self.body_timer = self.loop.call_later(self.limits.body_timeout, self.body_too_slow)
            return
        # The application may be answering already: no response of ours, the connection just ends
        # (the application sees the client gone).
        self.transport.close()

    # -- both --------------------------------------------------------------------------------

    def cancel_timers(self) -> None:
        for timer in (self.head_timer, self.body_timer):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.body_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_timers()
        super().connection_lost(exc)

    def refuse(self, status: int, code: str, message: str) -> None:
        """Answer in the API's error shape, then close: the rest of the request is never read."""
        request_id = f"req_{random_base62(12)}"
        error = errors.ApiError(status, "invalid_request_error", code, message)
        body = json.dumps(error.body(request_id)).encode()
        head = [STATUS_LINE[status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"request-id: " + request_id.encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def run(app_factory: Any, settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve the app that `app_factory()` builds, in one process or in `workers` processes that
    share one listening socket (each builds its own app; uvicorn restarts one that dies)."""
    config = EdgeConfig(
        app_factory,
        factory=True,
        limits=EdgeLimits.from_settings(settings),
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        timeout_keep_alive=settings.http_keep_alive_seconds,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        # How long a process of `--workers N` may take to answer its supervisor's ping, also
        # while it starts (imports everything before it can answer). uvicorn's 5 s is too short
        # on a busy or CPU-limited machine: the process is killed and started again, for ever.
        timeout_worker_healthcheck=30,
    )
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(3)
