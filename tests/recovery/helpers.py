"""Helpers for inbound Meta webhooks and recovery: signed posts, a forward receiver, attempts."""

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.receiver import LoopbackReceiver, Request
from tests.support.signups import PROFILES, SETTINGS, sim_app, wait_until  # noqa: F401

CONTROL = "/_sim/control"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": list(entries)}


def account_update(entry_id: str, event: str, waba_id: str, owner: str, time: int = 1_705_321_800) -> dict[str, Any]:
    return {
        "id": entry_id,
        "time": time,
        "changes": [{"field": "account_update", "value": {"event": event, "waba_info": {"waba_id": waba_id, "owner_business_id": owner}}}],
    }


def review_update(waba_id: str, decision: str, time: int = 1_705_321_800) -> dict[str, Any]:
    return {"id": waba_id, "time": time, "changes": [{"field": "account_review_update", "value": {"decision": decision}}]}


def post_webhook(http: httpx.Client, app: dict[str, Any], payload: Any, *, secret: str | None = None, raw: bytes | None = None,
                 signature: str | None = "sign") -> httpx.Response:
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["X-Hub-Signature-256"] = sign(secret or app["app_secret"], body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return http.post(f"/meta/webhooks/{app['app_id']}", content=body, headers=headers)


def emit(api: httpx.Client, kind: str, **body: Any) -> dict[str, Any]:
    """Have the simulator send a real, signed webhook to Roost (and wait for its first attempt)."""
    response = api.post(f"{CONTROL}/webhooks/{kind}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def changes_of(roost, app_id: str) -> list[tuple]:
    return roost.sql(
        "SELECT field, event, waba_id, owner_business_id, decision FROM meta_webhook_changes WHERE app_id = :a ORDER BY received_at, id",
        a=app_id,
    )


def relays_of(roost, app_id: str) -> list[tuple]:
    return roost.sql(
        "SELECT url, body, signature, attempts, delivered_at, next_attempt_at FROM meta_webhook_relays WHERE app_id = :a",
        a=app_id,
    )


def set_settings(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.patch(SETTINGS, json=body)
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Forwarded:
    headers: dict[str, str]
    body: bytes


class ForwardReceiver(LoopbackReceiver):
    """The platform's own WhatsApp webhook handler, on a loopback port: records every POST and
    answers with the next of `statuses` (200 once they run out)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.posts: list[Forwarded] = []
        super().__init__("/whatsapp/webhook")

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        self.posts.append(Forwarded(request.headers, request.body))
        return (self.statuses.pop(0) if self.statuses else 200), {}, b"ok"


# -- the platform-run flow -------------------------------------------------------------------------

ATTEMPTS = "/v1/organization/whatsapp/business-profiles"


def start_attempt(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post(f"{ATTEMPTS}/start-attempt", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def sim_signup(api: httpx.Client, **body: Any) -> dict[str, Any]:
    """Meta's dialog finishing for the organization's simulated app (code, WABA, number)."""
    response = api.post(f"{CONTROL}/signups", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def mark_interrupted(api: httpx.Client, attempt_id: str, waba_id: str, **body: Any) -> httpx.Response:
    return api.post(f"{ATTEMPTS}/mark-interrupted", json={"attempt_id": attempt_id, "waba_id": waba_id, **body})


def claim(api: httpx.Client, attempt_id: str) -> httpx.Response:
    return api.post(f"{ATTEMPTS}/claim", json={"attempt_id": attempt_id})
