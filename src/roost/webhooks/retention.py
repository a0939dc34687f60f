"""Retention (SPEC 8): events and delivery logs older than ROOST_RETENTION_DAYS go, in batches.

Age is the delivery's or the event's creation time. Only what is finished goes: a delivery
still pending (retrying, or parked on a disabled endpoint) keeps itself, its attempts and its
event."""

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from roost.db.engine import yield_to_other_tasks
from roost.webhooks import outbox
from roost.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent

DAY_MS = 86_400_000
BATCH = 500


async def purge_webhooks(sessions: async_sessionmaker, now: int, retention_days: int, batch: int = BATCH) -> dict[str, int]:
    cutoff = now - retention_days * DAY_MS
    D, A, V = WebhookDelivery, WebhookAttempt, WebhookEvent
    purged = {"webhook_deliveries": 0, "webhook_attempts": 0, "webhook_events": 0}
    async with sessions() as db:
        while True:  # finished deliveries, with their attempts
            async with db.begin():
                ids = list(
                    await db.scalars(select(D.id).where(D.created_at < cutoff, D.status != outbox.PENDING).limit(batch))
                )
                if ids:
                    purged["webhook_attempts"] += (await db.execute(delete(A).where(A.delivery_id.in_(ids)))).rowcount
                    purged["webhook_deliveries"] += (await db.execute(delete(D).where(D.id.in_(ids)))).rowcount
            if len(ids) < batch:
                break
            await yield_to_other_tasks()
        while True:  # events nothing is owed for any more
            async with db.begin():
                ids = list(
                    await db.scalars(
                        select(V.id).where(V.created_at < cutoff, ~exists().where(D.event_id == V.id)).limit(batch)
                    )
                )
                if ids:
                    purged["webhook_events"] += (await db.execute(delete(V).where(V.id.in_(ids)))).rowcount
            if len(ids) < batch:
                break
            await yield_to_other_tasks()
    return purged
