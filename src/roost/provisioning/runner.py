"""Provisioning after a finished Embedded Signup (SPEC 5.1), durable and resumable.

The code is exchanged the moment it arrives (it lives 30 seconds). Every later step is
recorded on the session (`provisioning`) before and after it runs, under a lease, so a crash
or a transient Meta error resumes from the last finished step — in this process, or in any
worker that finds the session due. The session row lock and the lease make sure only one
runner works on a session at a time, so a completion submitted twice yields one profile.
"""

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.timeutil import now_ms
from roost.meta.events import SignupMessage
from roost.meta.graph import MetaError
from roost.organizations.meta_app import meta_for
from roost.profiles.tokens import seal_session_token
from roost.provisioning.plan import error_of, finish_step, lock, mark, new_plan, next_step, step_record
from roost.provisioning.steps import STEP_RUNNERS, StepRefused
from roost.runtime import Runtime
from roost.sessions.models import SignupSession
from roost.sessions.state import SessionStatus, may_provision, receive_code, takes_code, transition

LEASE_MS = 90_000
# Back-off between attempts of a step that failed transiently; then the session fails.
RETRY_BACKOFF_MS = (5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000)


class Provisioner:
    """Runs a session's provisioning in this process (one per use: it holds only the runtime)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sessions = runtime.sessions
        self.keyring = runtime.keyring

    async def meta_for(self, organization_id: str, livemode: bool):
        return await meta_for(self.runtime, organization_id, livemode)

    # -- the code ----------------------------------------------------------------------------

    async def accept_code(
        self, session_id: str, code: str, finish: SignupMessage | None = None, redirect_uri: str | None = None
    ) -> bool:
        """Meta's code arrived: exchange it now, then provision. False if a code was already taken.

        `redirect_uri`: the one the OAuth dialog used, when the code came from a redirect (Meta
        refuses the exchange unless it is the same)."""
        async with self.sessions() as db:
            async with db.begin():
                session = await lock(db, session_id)
                if session is None:
                    return False
                organization_id, livemode = session.organization_id, session.livemode
            meta_app, graph, _ = await self.meta_for(organization_id, livemode)
            now = now_ms()
            async with db.begin():
                session = await lock(db, session_id)
                if not takes_code(session, now):
                    return False  # an overdue session's expiry is the worker's to write down
                receive_code(db, session, now, finish)
                session.provisioning = new_plan(meta_app)
                mark(session, "token_exchange", "running")
                session.provisioning_lease_until = now + LEASE_MS
                session.provisioning_next_at = now + LEASE_MS  # resume point if this process dies
            try:
                token = await graph.exchange_code(code, redirect_uri)
            except MetaError as error:
                await self._exchange_failed(db, session_id, error)
                return True
            async with db.begin():
                session = await lock(db, session_id)
                session.business_token_encrypted = seal_session_token(self.keyring, session, token)
                finish_step(db, session, "token_exchange", "succeeded", now_ms())
        await self.run(session_id)
        return True

    async def _exchange_failed(self, db: AsyncSession, session_id: str, error: MetaError | None) -> None:
        async with db.begin():
            session = await lock(db, session_id)
            now = now_ms()
            details = error.as_dict() if error else {"message": "the code exchange did not finish"}
            finish_step(db, session, "token_exchange", "failed", now, details)
            session.provisioning_next_at = session.provisioning_lease_until = None
            if session.waba_id:
                # The user did finish Meta's flow: the account can still be claimed (SPEC 5.3).
                transition(
                    db, session, SessionStatus.RECOVERED, at=now, reason="code_not_exchanged",
                    error=error_of("code_not_exchanged", "Meta's code could not be exchanged; the account can be claimed.", error),
                )
            else:
                transition(
                    db, session, SessionStatus.FAILED, at=now, reason="token_exchange_failed",
                    error=error_of("token_exchange_failed", "Meta's code could not be exchanged for a business token.", error),
                )

    # -- the steps -----------------------------------------------------------------------

    async def run(self, session_id: str) -> None:
        """Run the remaining steps of a session, unless another runner holds its lease."""
        async with self.sessions() as db:
            while True:
                async with db.begin():
                    session = await lock(db, session_id)
                    if session is None:
                        return
                    now = now_ms()
                    step = next_step(session)
                    if step is None or not may_provision(session):
                        session.provisioning_next_at = session.provisioning_lease_until = None
                        return
                    if session.provisioning_lease_until is not None and session.provisioning_lease_until > now:
                        return  # another runner is in the middle of a step
                    mark(session, step, "running")
                    session.provisioning_lease_until = now + LEASE_MS
                    session.provisioning_next_at = now + LEASE_MS
                    organization_id, livemode = session.organization_id, session.livemode
                if step == "token_exchange":
                    # Interrupted between receiving the code and storing the token: the code
                    # is spent, so the exchange cannot be redone.
                    await self._exchange_failed(db, session_id, None)
                    return
                meta_app, graph, mode = await self.meta_for(organization_id, livemode)
                try:
                    await STEP_RUNNERS[step](self.runtime, db, session_id, meta_app, graph, mode)
                except MetaError as error:
                    await self._step_failed(db, session_id, step, error)
                    return
                except StepRefused as refusal:
                    await self._refuse(db, session_id, step, refusal)
                    return

    async def wait_until_idle(self, session_id: str, timeout_seconds: float) -> None:
        """Until no step runs or is due (a back-off wait counts as idle); any runner may hold it."""
        deadline = now_ms() + int(timeout_seconds * 1000)
        while now_ms() < deadline:
            async with self.sessions() as db, db.begin():
                session = await db.get(SignupSession, session_id, populate_existing=True)
                due_at, lease = session.provisioning_next_at, session.provisioning_lease_until
            if due_at is None or (lease is None and due_at > now_ms()):
                return
            await asyncio.sleep(0.1)

    async def _step_failed(self, db: AsyncSession, session_id: str, step: str, error: MetaError) -> None:
        async with db.begin():
            session = await lock(db, session_id)
            now = now_ms()
            record = step_record(session, step)
            if error.transient and record["attempts"] <= len(RETRY_BACKOFF_MS):
                finish_step(db, session, step, "pending", now, error.as_dict())
                session.provisioning_next_at = now + RETRY_BACKOFF_MS[record["attempts"] - 1]
                session.provisioning_lease_until = None
                return
            finish_step(db, session, step, "failed", now, error.as_dict())
            session.provisioning_next_at = session.provisioning_lease_until = None
            if session.status == SessionStatus.PENDING:
                code = "meta_unavailable" if error.transient else "provisioning_failed"
                transition(
                    db, session, SessionStatus.FAILED, at=now, reason=f"{step}_failed",
                    error=error_of(code, f"Meta refused the {step.replace('_', ' ')} step: {error.message}", error),
                )

    async def _refuse(self, db: AsyncSession, session_id: str, step: str, refusal: StepRefused) -> None:
        async with db.begin():
            session = await lock(db, session_id)
            now = now_ms()
            finish_step(db, session, step, "failed", now, {"code": refusal.code, "message": refusal.message})
            session.provisioning_next_at = session.provisioning_lease_until = None
            session.business_token_encrypted = None  # never keep a token for an account we refused
            if session.status == SessionStatus.RECOVERED:
                return  # a refused claim leaves the session recovered; the step says why
            transition(
                db, session, SessionStatus.FAILED, at=now, reason=refusal.code,
                error={"code": refusal.code, "message": refusal.message, "meta_code": None},
            )
