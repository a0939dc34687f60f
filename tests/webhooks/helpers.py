"""A real webhook receiver on loopback that verifies every request with the `standardwebhooks`
library, and small helpers to make events happen and wait for them."""

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support import SESSIONS

WEBHOOKS = "/v1/organization/webhooks"
EVENTS = "/v1/organization/events"

# (status, headers, seconds to wait before answering) for the n-th request (0-based) and its body.
Behaviour = Callable[[int, dict[str, Any]], tuple[int, dict[str, str], float]]


def ok(_index: int, _body: dict[str, Any]) -> tuple[int, dict[str, str], float]:
    return 200, {}, 0.0


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    raw: str
    body: dict[str, Any]
    verified_by: list[int]  # indexes into Receiver.secrets of the secrets whose signature verified

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Answers POST /hook per `behaviour`; stop() closes the port (connection refused), start()
    opens the same port again."""

    behaviour: Behaviour = ok
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
                headers = {name.lower(): value for name, value in self.headers.items()}
                verified = []
                for index, secret in enumerate(list(receiver.secrets)):
                    try:
                        Webhook(secret).verify(raw, headers)
                        verified.append(index)
                    except WebhookVerificationError:
                        pass
                with receiver._lock:
                    index = len(receiver.received)
                    receiver.received.append(Received(time.time(), headers, raw, json.loads(raw), verified))
                status, extra, delay = receiver.behaviour(index, json.loads(raw))
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            # The default listen backlog of 5 overflows when several dispatchers connect at once,
            # and the kernel then resets connections: failures of the receiver, not of Roost.
            request_queue_size = 256

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def bodies(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [item.body for item in self.received if type_ is None or item.body["type"] == type_]

    def for_event(self, event_id: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.webhook_id == event_id]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout} s")
        time.sleep(0.05)


def create_endpoint(api: httpx.Client, url: str, events: list[str] | None = None, **body: Any) -> dict[str, Any]:
    response = api.post(WEBHOOKS, json={"url": url, "events": events or ["*"], **body})
    assert response.status_code == 201, response.text
    return response.json()


def listening(api: httpx.Client, receiver: Receiver, events: list[str] | None = None) -> dict[str, Any]:
    """An endpoint for `receiver`, whose secret the receiver then verifies with."""
    endpoint = create_endpoint(api, receiver.url, events)
    receiver.secrets.append(endpoint["secret"])
    return endpoint


def cancelled_session(api: httpx.Client) -> dict[str, Any]:
    """A new session, cancelled by the platform: one embedded_signup.session.cancelled event."""
    session = api.post(SESSIONS, json={}).json()
    response = api.delete(f"{SESSIONS}/{session['id']}")
    assert response.status_code == 200, response.text
    return response.json()


def events_of(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = api.get(EVENTS, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def event_for(api: httpx.Client, type_: str, object_id: str) -> dict[str, Any]:
    """The event of `type_` about object `object_id` (waits for it: some are written by the worker)."""
    def find() -> dict[str, Any] | None:
        return next((e for e in events_of(api, type=type_) if e["data"]["id"] == object_id), None)

    return wait_until(find, what=f"{type_} for {object_id}")


def attempts_of(api: httpx.Client, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"{WEBHOOKS}/{endpoint_id}/deliveries", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def logged_attempts(api: httpx.Client, endpoint_id: str, count: int) -> list[dict[str, Any]]:
    """The endpoint's attempt log (newest first) once it holds `count` attempts."""
    def enough() -> list[dict[str, Any]] | None:
        rows = attempts_of(api, endpoint_id)
        return rows if len(rows) >= count else None

    return wait_until(enough, what=f"{count} attempts logged")
