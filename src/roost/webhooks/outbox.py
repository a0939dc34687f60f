"""The transactional outbox: an event is written in the same transaction as the change behind it.

`emit` only adds rows to the caller's session (it is sync, so any code holding a session can
call it). When the event row is flushed, the same flush writes one delivery per enabled
endpoint of that organization and mode that subscribes to the type, on the same connection:
the event and what it owes are committed together with the change, or not at all. After the
commit, dispatchers in this process are woken so the first attempt goes out at once.
"""

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from roost.kit.ids import new_id
from roost.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

EVENT_TYPES: tuple[str, ...] = (
    "embedded_signup.session.completed",
    "embedded_signup.session.failed",
    "embedded_signup.session.cancelled",
    "embedded_signup.session.expired",
    "embedded_signup.session.recovered",
    "whatsapp.business_profile.connected",
    "whatsapp.business_profile.disconnected",
    "whatsapp.business_profile.review_updated",
    "whatsapp.business_profile.health_updated",
    "whatsapp.phone_number.quality_updated",
    "whatsapp.phone_number.name_updated",
    "whatsapp.phone_number.registered",
    "whatsapp.phone_number.registration_failed",
    "whatsapp.phone_number.coexistence_sync_updated",
)
ALL_EVENTS = "*"
# Sent on request to one endpoint only (the API's and the console's "send a test event"): no
# endpoint subscribes to it, "*" included, so a test never reaches a receiver that did not ask.
TEST_EVENT = "webhook_endpoint.test"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

_EMITTED = "roost.webhooks.emitted"
_wakers: set[Callable[[], None]] = set()
_wakers_lock = threading.Lock()


def emit(db: AsyncSession, *, organization_id: str, livemode: bool, type: str, data: dict[str, Any], at: int) -> str:
    """Record event `type` (SPEC 7.1) with `data` (the object as the API shows it) in `db`'s
    transaction, and queue its delivery to every matching endpoint of that organization and mode.
    Returns the event's id (the `webhook-id` its deliveries carry)."""
    if type not in EVENT_TYPES and type != TEST_EVENT:
        raise ValueError(f"unknown webhook event type {type!r}")
    event_id = new_id("evt")
    db.add(WebhookEvent(id=event_id, organization_id=organization_id, livemode=livemode, type=type, data=data, created_at=at))
    db.info[_EMITTED] = True
    return event_id


def subscribes(events: list[str], type: str) -> bool:
    return type in events or (ALL_EVENTS in events and type != TEST_EVENT)


def delivery_row(event_id: str, endpoint_id: str, organization_id: str, livemode: bool, now: int) -> dict[str, Any]:
    """A delivery due at once (also used by resend)."""
    return {
        "id": new_id("whd"),
        "event_id": event_id,
        "endpoint_id": endpoint_id,
        "organization_id": organization_id,
        "livemode": livemode,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


@sa_event.listens_for(WebhookEvent, "after_insert")
def _fan_out(_mapper: Any, connection: Connection, target: WebhookEvent) -> None:
    # Runs inside the flush, on the transaction's own connection: deliveries commit with the event.
    E = WebhookEndpoint
    # FOR SHARE (PostgreSQL; SQLite has one writer anyway): an endpoint being deleted meanwhile
    # either goes first (and is not found here) or waits for these deliveries and deletes them
    # too. Without it, deliveries could be left owed to an endpoint that no longer exists.
    endpoints = connection.execute(
        select(E.id, E.events)
        .where(E.organization_id == target.organization_id, E.livemode == target.livemode, E.enabled.is_(True))
        .with_for_update(read=True)
    ).all()
    rows = [
        delivery_row(target.id, endpoint_id, target.organization_id, target.livemode, target.created_at)
        for endpoint_id, events in endpoints
        if subscribes(events, target.type)
    ]
    if rows:
        connection.execute(insert(WebhookDelivery.__table__), rows)


# -- waking dispatchers of this process after a commit ----------------------------------------


def add_waker(wake: Callable[[], None]) -> None:
    """`wake` is called (from whichever thread committed) after a transaction that emitted events."""
    with _wakers_lock:
        _wakers.add(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    with _wakers_lock:
        _wakers.discard(wake)


def mark_for_wake(db: AsyncSession) -> None:
    """Wake dispatchers after this transaction commits (resend, re-enabling an endpoint)."""
    db.info[_EMITTED] = True


@sa_event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(_EMITTED, False):
        with _wakers_lock:
            wakers = list(_wakers)
        for wake in wakers:
            wake()


@sa_event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_EMITTED, None)
