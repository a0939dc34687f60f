"""A session's provisioning plan and its bookkeeping on the session row (`provisioning`: one
record per step, with its status, attempts and error), under the runner's lease."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.timeutil import to_iso
from roost.meta.config import MetaApp
from roost.meta.graph import MetaError
from roost.sessions.models import SignupSession
from roost.sessions.state import begin_claim, record_event


async def lock(db: AsyncSession, session_id: str) -> SignupSession | None:
    """The session row, locked, and read afresh: the AsyncSession keeps objects across
    transactions (expire_on_commit=False), and decisions must see what others committed."""
    return await db.scalar(
        select(SignupSession)
        .where(SignupSession.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


CODE_STEPS = ("token_exchange", "resolve_assets", "subscribe_app", "share_credit_line", "create_profile", "register_phone")
# A claim (SPEC 5.3) replaces the code exchange with a token fetched by the system user.
CLAIM_STEPS = ("claim_token",) + CODE_STEPS[1:]


def new_plan(meta_app: MetaApp, steps: tuple[str, ...] = CODE_STEPS) -> list[dict[str, Any]]:
    plan = [{"step": step, "status": "pending", "attempts": 0, "error": None, "finished_at": None} for step in steps]
    for record in plan:
        if record["step"] == "share_credit_line" and not meta_app.is_solution_partner:
            record["status"] = "skipped"  # Tech Providers' customers add their own payment method
    return plan


def start_claim(db: AsyncSession, session: SignupSession, meta_app: MetaApp, business_id: str, now: int, by: str) -> None:
    """Queue the claim of a recovered session (row locked; the proof already checked): the
    token fetch, then 5.1 from resolve_assets. Any runner (this process or a worker) runs it."""
    earlier = [record for record in session.provisioning or [] if record["step"] == "token_exchange"]
    session.provisioning = earlier + new_plan(meta_app, CLAIM_STEPS)
    session.business_token_encrypted = None
    session.provisioning_next_at = now
    session.provisioning_lease_until = None
    begin_claim(db, session, business_id, now, by)


def step_record(session: SignupSession, step: str) -> dict[str, Any]:
    return next(record for record in session.provisioning if record["step"] == step)


def next_step(session: SignupSession) -> str | None:
    for record in session.provisioning or []:
        if record["status"] in ("pending", "running"):
            return record["step"]
    return None


def start_step(session: SignupSession, step: str) -> int:
    """Mark the step running; returns its attempt number (a runner's proof the step is still its own)."""
    records = [dict(record) for record in session.provisioning]
    for record in records:
        if record["step"] == step:
            record["status"] = "running"
            record["attempts"] += 1
            attempt = record["attempts"]
    session.provisioning = records  # a new list, so the JSON column is written
    return attempt


def runs_attempt(session: SignupSession, step: str, attempt: int) -> bool:
    """The step is still running this attempt (no other runner took it over)."""
    record = next((record for record in session.provisioning or [] if record["step"] == step), None)
    return record is not None and record["status"] == "running" and record["attempts"] == attempt


def finish_step(db: AsyncSession, session: SignupSession, step: str, status: str, now: int, error: dict | None = None) -> None:
    records = [dict(record) for record in session.provisioning]
    for record in records:
        if record["step"] == step:
            record["status"] = status
            record["error"] = error
            record["finished_at"] = to_iso(now) if status in ("succeeded", "failed", "skipped") else None
            attempts = record["attempts"]
    session.provisioning = records
    # The step is over: release the lease but stay due, so a crash before the next step resumes.
    session.provisioning_lease_until = None
    session.provisioning_next_at = now
    record_event(db, session, "provisioning.step", now, {"step": step, "status": status, "attempt": attempts, "error": error})


def error_of(code: str, message: str, error: MetaError | None) -> dict[str, Any]:
    return {"code": code, "message": message, "meta_code": error.code if error else None}
