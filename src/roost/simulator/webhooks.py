"""The webhook emitter: Meta's `account_update` / `account_review_update` POSTs (research §5), and
coexistence's `history`, `smb_app_state_sync`, `smb_message_echoes` (simulator.coexistence).

Each webhook is signed `X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret, raw body)>` and
POSTed to the app's callback URL. A non-2xx answer (or no answer) is retried a few times with a
short back-off in the background; every attempt is recorded in `sim_webhook_deliveries`.
"""

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx
import structlog
from sqlalchemy import select

from roost.kit.crypto import hub_signature
from roost.kit.ids import new_id
from roost.meta.events import overridable
from roost.kit.timeutil import now_ms, to_iso
from roost.meta import events
from roost.simulator import service
from roost.simulator.models import SimWabaShare, SimWebhookDelivery
from roost.kit.network import AddressNotAllowed

log = structlog.get_logger("roost.simulator")

# Seconds to wait before each retry after the first attempt (compressed from Meta's 7 days).
RETRY_BACKOFF = (0.5, 1.0, 2.0)
RESPONSE_KEEP = 2000

# Events whose entry is the partner's business in Meta's examples (research §5.3); the others' is the WABA.
PARTNER_EVENTS = ("PARTNER_ADDED", "PARTNER_APP_INSTALLED", "PARTNER_APP_UNINSTALLED", "PARTNER_REMOVED")
# Events that carry waba_info (and what it has besides waba_id and owner_business_id).
WABA_INFO_EVENTS = (*PARTNER_EVENTS, "AD_ACCOUNT_LINKED", "MM_LITE_TERMS_SIGNED")


def envelope(entry_id: str, field: str, value: dict[str, Any], time: int | None = None) -> dict[str, Any]:
    """Meta's envelope; `time` (unix seconds) is when the change happened, now unless given."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": entry_id, "time": now_ms() // 1000 if time is None else time, "changes": [{"field": field, "value": value}]}],
    }


def account_update(
    event: str,
    *,
    app_id: str,
    partner_business_id: str,
    waba_id: str,
    owner_business_id: str,
    solution: tuple[str, list[str]] | None = None,
    details: dict[str, Any] | None = None,
    time: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """(entry id, payload) of one account_update event, shaped as research §5.3 has it.
    `details` are the event's own keys (restriction_info, ban_info, …), already checked by the
    control API; waba_info is built here for the events that carry it. A signup into a
    Multi-Partner Solution names it, with its partners' businesses."""
    value: dict[str, Any] = {"event": event}
    extra = dict(details or {})
    if event in WABA_INFO_EVENTS:
        waba_info: dict[str, Any] = {"waba_id": waba_id, "owner_business_id": owner_business_id}
        if event in ("PARTNER_APP_INSTALLED", "PARTNER_APP_UNINSTALLED"):
            waba_info["partner_app_id"] = app_id
        if event == "AD_ACCOUNT_LINKED":
            waba_info["ad_account_linked"] = extra.pop("ad_account_linked")
        if solution is not None and event in ("PARTNER_ADDED", "PARTNER_APP_INSTALLED"):
            waba_info["solution_id"], waba_info["solution_partner_business_ids"] = solution[0], list(solution[1])
        value["waba_info"] = waba_info
    value.update(extra)
    entry_id = partner_business_id if event in PARTNER_EVENTS else waba_id
    return entry_id, envelope(entry_id, "account_update", value, time)


def phone_number_quality_update(waba_id: str, value: dict[str, Any], time: int | None = None) -> tuple[str, dict[str, Any]]:
    return waba_id, envelope(waba_id, events.PHONE_NUMBER_QUALITY_UPDATE, value, time)


def phone_number_name_update(waba_id: str, value: dict[str, Any], time: int | None = None) -> tuple[str, dict[str, Any]]:
    return waba_id, envelope(waba_id, events.PHONE_NUMBER_NAME_UPDATE, value, time)


def account_review_update(waba_id: str, decision: str, time: int | None = None) -> tuple[str, dict[str, Any]]:
    return waba_id, envelope(waba_id, "account_review_update", {"decision": decision}, time)


def delivery_object(row: SimWebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "simulator.webhook_delivery",
        "webhook_id": row.webhook_id,
        "field": row.field,
        "event": row.event,
        "url": row.url,
        "attempt": row.attempt,
        "outcome": row.outcome,
        "status_code": row.status_code,
        "response_body": row.response_body,
        "error": row.error,
        "signature": row.signature,
        "payload": json.loads(row.payload),
        "created_at": to_iso(row.created_at),
    }


class WebhookEmitter:
    def __init__(self, sim: service.Simulator, client: httpx.AsyncClient) -> None:
        self.sim = sim
        self.client = client
        self._tasks: set[asyncio.Task] = set()

    # -- public --------------------------------------------------------------------------------

    def schedule(self, app_id: str, field: str, payload: dict[str, Any]) -> None:
        """Send in the background (the caller does not wait for the receiver)."""
        self._spawn(self.emit(app_id, field, payload))

    def spawn(self, coroutine: Any) -> None:
        """Run a sequence of sends in the background (coexistence's chunks)."""
        self._spawn(coroutine)

    async def emit(self, app_id: str, field: str, payload: dict[str, Any], *, waba_id: str | None = None) -> dict[str, Any]:
        """Send now: the first attempt is awaited (its outcome is returned), retries run in the background.

        An override-able field of a WABA (`waba_id`) goes to the WABA's override_callback_uri
        when one is set, else to the app's callback, as Meta routes them (research §4.3)."""
        async with self.sim.sessions() as db, db.begin():
            app = await service.ensure_app(db, self.sim.keyring, app_id)
            subscription = service.subscription_of(self.sim, app)
            if waba_id is not None and overridable(field):
                share = await db.get(SimWabaShare, (waba_id, app_id))
                if share is not None and share.override_callback_uri:
                    subscription = {**subscription, "callback_url": share.override_callback_uri}
        body = service.json_dumps(payload).encode()
        signed = hub_signature(self.sim.app(app_id).app_secret, body)
        webhook = {
            "webhook_id": new_id("simw"),
            "app_id": app_id,
            "field": field,
            "event": _event_of(payload),
            "url": subscription["callback_url"],
            "payload": body.decode(),
            "signature": signed,
        }
        summary = {"webhook_id": webhook["webhook_id"], "url": webhook["url"], "payload": payload, "signature": signed}

        if field not in subscription["fields"]:
            await self._record(webhook, 0, "not_subscribed", error=f"the app is not subscribed to the field {field}")
            return {**summary, "outcome": "not_subscribed"}
        fault = await service.take_fault(self.sim.sessions, app_id, "webhooks")
        if fault is not None and fault.kind == "webhook_lost":
            await self._record(webhook, 0, "lost", error=f"dropped by fault {fault.id}")
            return {**summary, "outcome": "lost"}
        if fault is not None and fault.kind == "latency" and fault.delay_ms:
            # A late webhook: answer at once, POST after the delay.
            self._spawn(self._deliver(webhook, body, RETRY_BACKOFF, initial_delay=fault.delay_ms / 1000))
            return {**summary, "outcome": "delayed"}
        outcome = await self._attempt(webhook, body, 1)
        if outcome != "delivered":
            self._spawn(self._deliver(webhook, body, RETRY_BACKOFF[1:], first_attempt=2, initial_delay=RETRY_BACKOFF[0]))
        return {**summary, "outcome": outcome}

    async def deliveries(self, app_id: str, limit: int) -> list[dict[str, Any]]:
        async with self.sim.sessions() as db, db.begin():
            rows = await db.scalars(
                select(SimWebhookDelivery)
                .where(SimWebhookDelivery.app_id == app_id)
                .order_by(SimWebhookDelivery.created_at.desc(), SimWebhookDelivery.id.desc())
                .limit(limit)
            )
            return [delivery_object(row) for row in rows]

    # -- internals -----------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def stop(self) -> None:
        """At shutdown: webhooks still waiting to be sent (retries, a sync's chunks) are dropped,
        as a restart of Meta's side would; nothing of Roost's depends on them arriving."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator_webhook_task_failed", error=repr(task.exception()))

    async def _deliver(
        self,
        webhook: dict[str, Any],
        body: bytes,
        backoff: Sequence[float],
        *,
        first_attempt: int = 1,
        initial_delay: float = 0.0,
    ) -> None:
        if initial_delay:
            await asyncio.sleep(initial_delay)
        attempt = first_attempt
        if await self._attempt(webhook, body, attempt) == "delivered":
            return
        for wait in backoff:
            await asyncio.sleep(wait)
            attempt += 1
            if await self._attempt(webhook, body, attempt) == "delivered":
                return

    async def _attempt(self, webhook: dict[str, Any], body: bytes, attempt: int) -> str:
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": webhook["signature"],
                   "User-Agent": "facebookexternalua"}
        try:
            response = await self.client.post(webhook["url"], content=body, headers=headers, follow_redirects=False)
        except AddressNotAllowed:
            await self._record(webhook, attempt, "error", error="the callback URL is not a public address")
            return "error"
        except httpx.HTTPError as problem:
            await self._record(webhook, attempt, "error", error=f"{type(problem).__name__}: {problem}"[:RESPONSE_KEEP])
            return "error"
        outcome = "delivered" if 200 <= response.status_code < 300 else "failed"
        await self._record(webhook, attempt, outcome, status_code=response.status_code, response_body=response.text[:RESPONSE_KEEP])
        return outcome

    async def _record(
        self,
        webhook: dict[str, Any],
        attempt: int,
        outcome: str,
        *,
        status_code: int | None = None,
        response_body: str | None = None,
        error: str | None = None,
    ) -> None:
        async with self.sim.sessions() as db, db.begin():
            db.add(
                SimWebhookDelivery(
                    id=new_id("simd"),
                    webhook_id=webhook["webhook_id"],
                    app_id=webhook["app_id"],
                    field=webhook["field"],
                    event=webhook["event"],
                    url=webhook["url"],
                    payload=webhook["payload"],
                    signature=webhook["signature"],
                    attempt=attempt,
                    outcome=outcome,
                    status_code=status_code,
                    response_body=response_body,
                    error=error,
                    created_at=now_ms(),
                )
            )


def _event_of(payload: dict[str, Any]) -> str | None:
    try:
        value = payload["entry"][0]["changes"][0]["value"]
    except (KeyError, IndexError, TypeError):
        return None
    return value.get("event") or value.get("decision")
