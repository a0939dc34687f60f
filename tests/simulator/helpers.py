"""Helpers for the simulator's tests: Graph calls, signups, Meta's error envelope, a webhook receiver."""

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import RunningRoost, make_settings

from tests.support.polling import wait_until  # noqa: F401 - re-exported for the simulator's tests
from tests.support.receiver import LoopbackReceiver, Request

GRAPH_VERSION = "v25.0"


@contextmanager
def running_roost(backend: str, tmp_path_factory: pytest.TempPathFactory, name: str, **settings: Any) -> Iterator[RunningRoost]:
    """A server of its own with these settings, for a fixture that outlives one test."""
    server = RunningRoost(make_settings(backend, tmp_path_factory.mktemp(f"{name}-{backend}"), **settings)).start()
    try:
        yield server
    finally:
        server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signup(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/_sim/control/signups", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def exchange(graph: httpx.Client, app: dict[str, Any], code: str) -> str:
    response = graph.get(
        "/oauth/access_token", params={"client_id": app["app_id"], "client_secret": app["app_secret"], "code": code}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@dataclass
class Onboarded:
    token: str
    business_id: str
    waba_id: str
    phone_number_id: str | None
    signup: dict[str, Any]


def onboard(api: httpx.Client, graph: httpx.Client, app: dict[str, Any], **body: Any) -> Onboarded:
    """A finished signup whose code was exchanged for a business token."""
    result = signup(api, **body)
    token = exchange(graph, app, result["code"])
    return Onboarded(token, result["business_id"], result["waba_id"], result["phone_number_id"], result)


def meta_error(
    response: httpx.Response, status: int, code: int, subcode: int | None = None, error_type: str = "OAuthException"
) -> dict[str, Any]:
    """Assert Meta's error envelope, exactly, and return its `error`."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type
    assert error["code"] == code
    assert isinstance(error["fbtrace_id"], str) and len(error["fbtrace_id"]) >= 10
    if subcode is None:
        assert "error_subcode" not in error
    else:
        assert error["error_subcode"] == subcode
    return error


# -- a webhook receiver (served on a loopback port by the `receiver` fixture) -------------------


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    signature_valid: bool | None = None


class Receiver(LoopbackReceiver):
    """Answers Meta's handshake (echoes hub.challenge when the verify token matches) and records
    POSTs, checking `X-Hub-Signature-256` with the app secret like a real receiver would."""

    def __init__(self) -> None:
        self.app_secret = ""
        self.verify_token = ""
        self.post_statuses: list[int] = []
        self.challenge_mode = "echo"  # "echo" | "wrong" | "404"
        self.received: list[Received] = []
        super().__init__("/hooks/meta")

    def posts(self) -> list[Received]:
        return [item for item in self.received if item.method == "POST"]

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        item = Received(request.method, request.path, request.query, request.headers, request.body)
        self.received.append(item)
        if request.method == "GET":
            challenge = item.query.get("hub.challenge", [""])[0]
            token_ok = item.query.get("hub.verify_token", [""])[0] == self.verify_token
            if self.challenge_mode == "404" or not token_ok:
                return (404 if self.challenge_mode == "404" else 403), {}, b"no"
            if self.challenge_mode == "wrong":
                return 200, {}, b"not-the-challenge"
            return 200, {}, challenge.encode()
        expected = "sha256=" + hmac.new(self.app_secret.encode(), request.body, hashlib.sha256).hexdigest()
        item.signature_valid = hmac.compare_digest(expected, item.headers.get("x-hub-signature-256", ""))
        status = self.post_statuses.pop(0) if self.post_statuses else 200
        return (status if item.signature_valid else 401), {}, b"ok"


def subscribe_app_to(graph: httpx.Client, app: dict[str, Any], receiver: Receiver, fields: str = "account_update,account_review_update") -> None:
    """Point the app's webhooks at the receiver (POST /{app_id}/subscriptions, with the handshake)."""
    receiver.app_secret = app["app_secret"]
    receiver.verify_token = "verify-" + app["app_id"]
    response = graph.post(
        f"/{app['app_id']}/subscriptions",
        headers=bearer(app["app_token"]),
        data={"object": "whatsapp_business_account", "callback_url": receiver.url, "fields": fields, "verify_token": receiver.verify_token},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
