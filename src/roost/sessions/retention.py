"""Retention (SPEC 8): session events older than `ROOST_RETENTION_DAYS` are purged in batches.
Sessions themselves (and business profiles) are kept."""

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from roost.db.engine import yield_to_other_tasks
from roost.sessions.models import SessionEvent

DAY_MS = 86_400_000
BATCH = 1000
MAX_BATCHES_PER_PASS = 20  # a large backlog is worked off over several worker passes


async def purge_old_events(sessions: async_sessionmaker, now: int, retention_days: int, batch: int = BATCH) -> int:
    """Deletes events created before `now - retention_days`, one short transaction per batch
    (so no lock is held for long); returns how many went."""
    cutoff = now - retention_days * DAY_MS
    purged = 0
    async with sessions() as db:
        for _ in range(MAX_BATCHES_PER_PASS):
            async with db.begin():
                seqs = list(
                    await db.scalars(
                        select(SessionEvent.seq).where(SessionEvent.created_at < cutoff).order_by(SessionEvent.created_at).limit(batch)
                    )
                )
                if seqs:
                    await db.execute(delete(SessionEvent).where(SessionEvent.seq.in_(seqs)))
            purged += len(seqs)
            if len(seqs) < batch:
                break
            await yield_to_other_tasks()
    return purged
