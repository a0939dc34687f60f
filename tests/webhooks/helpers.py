"""A real webhook receiver on loopback that verifies every request with the `standardwebhooks`
library, and small helpers to make events happen and wait for them."""

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support import SESSIONS
from tests.support.polling import wait_until
from tests.support.receiver import LoopbackReceiver, Request

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


class Receiver(LoopbackReceiver):
    """Answers POST /hook per `behaviour`, verifying each request with every one of `secrets`;
    stop() closes the port (connection refused), start() opens the same port again."""

    def __init__(self, behaviour: Behaviour = ok) -> None:
        self.behaviour = behaviour
        self.answer_body = b"ok"
        self.secrets: list[str] = []
        self.received: list[Received] = []
        super().__init__("/hook")

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        raw = request.body.decode()
        verified = []
        for index, secret in enumerate(list(self.secrets)):
            try:
                Webhook(secret).verify(raw, request.headers)
                verified.append(index)
            except WebhookVerificationError:
                pass
        with self.lock:
            index = len(self.received)
            self.received.append(Received(request.at, request.headers, raw, json.loads(raw), verified))
        status, extra, delay = self.behaviour(index, json.loads(raw))
        if delay:
            time.sleep(delay)
        return status, extra, self.answer_body

    def bodies(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [item.body for item in self.received if type_ is None or item.body["type"] == type_]

    def for_event(self, event_id: str) -> list[Received]:
        with self.lock:
            return [item for item in self.received if item.webhook_id == event_id]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
