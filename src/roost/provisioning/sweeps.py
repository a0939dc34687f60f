"""The worker's side of provisioning: sessions whose next step is due (a back-off ended, or a
runner died holding the lease) are run again from their last finished step."""

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.provisioning.runner import Provisioner
from roost.runtime import Runtime
from roost.sessions.models import SignupSession


async def due_sessions(db: AsyncSession, now: int, limit: int = 20) -> list[str]:
    """Sessions whose provisioning should run now (due, and no live lease), locked for this worker."""
    rows = await db.scalars(
        select(SignupSession.id)
        .where(
            SignupSession.provisioning_next_at <= now,
            or_(SignupSession.provisioning_lease_until.is_(None), SignupSession.provisioning_lease_until <= now),
        )
        .order_by(SignupSession.provisioning_next_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def resume_due(runtime: Runtime, now: int) -> int:
    """Runs every due session's remaining steps; returns how many were due."""
    async with runtime.sessions() as db, db.begin():
        due = await due_sessions(db, now)
    provisioner = Provisioner(runtime)
    for session_id in due:
        await provisioner.run(session_id)
    return len(due)
