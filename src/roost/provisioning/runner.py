"""Provisioning after a finished Embedded Signup (SPEC 5.1), durable and resumable.

The code is exchanged the moment it arrives (it lives about 30 seconds). Every later step is
recorded on the session (`provisioning`) before and after it runs, under a lease, so a crash
or a transient Meta error resumes from the last finished step — in this process, or in any
worker that finds the session due. The session row lock and the lease make sure only one
runner works on a session at a time, so a completion submitted twice yields one profile.

A step's Meta calls run outside any transaction; the transaction that records a step also
starts the next one (and runs it whole when it needs nothing from Meta), so a signup costs a
handful of transactions. The organization's Meta app is resolved once per run.

The code exchange cannot wait out the 90-second lease of the other steps: its lease is a few
seconds, renewed while Meta answers, and the code is kept sealed on the session until the
exchange is over, so if this process dies another takes the exchange over while the code lives.
A lease can also run out under a live runner (a stalled machine): the code being single-use,
Meta's first answer on it stands, whichever attempt got it, and an attempt that got no answer
or "already used" leaves the outcome to the other one.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.timeutil import now_ms
from roost.meta.events import SignupMessage
from roost.meta.graph import MetaError
from roost.organizations.meta_app import meta_of
from roost.organizations.service import mode_settings
from roost.profiles.tokens import open_code, seal_code, seal_session_token
from roost.provisioning.plan import error_of, finish_step, lock, new_plan, next_step, runs_attempt, start_step, step_record
from roost.provisioning.steps import STEPS, Context, StepRefused
from roost.runtime import ConfigurationError, Runtime
from roost.sessions.models import SignupSession
from roost.sessions.state import SessionStatus, may_provision, receive_code, takes_code, transition

log = structlog.get_logger("roost.provisioning")

LEASE_MS = 90_000
# The exchange's lease, renewed every EXCHANGE_HEARTBEAT_S while Meta answers: a dead process
# gives the exchange up within seconds, well inside the code's life.
EXCHANGE_LEASE_MS = 5_000
EXCHANGE_HEARTBEAT_S = 1.5
CODE_LIFETIME_MS = 30_000  # Meta's code: an exchange taken over after this would be refused
# Back-off between attempts of a step that failed transiently; then the session fails.
RETRY_BACKOFF_MS = (5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000)

# A step started and its inputs read: (step, attempt, prepared); None when nothing is left to run.
Started = tuple[str, int, Any] | None


class Provisioner:
    """Runs a session's provisioning in this process (one per use: it holds only the runtime)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sessions = runtime.sessions
        self.keyring = runtime.keyring

    async def _context(self, db: AsyncSession, session: SignupSession) -> Context:
        """The organization's Meta app for this run. Raises ConfigurationError (live mode without one)."""
        app, graph, mode = meta_of(self.runtime, await mode_settings(db, session.organization_id, session.livemode))
        return Context(self.runtime, app, graph, mode)

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
                context = await self._context(db, session)
                now = now_ms()
                if not takes_code(session, now):
                    return False  # an overdue session's expiry is the worker's to write down
                receive_code(db, session, now, finish)
                session.provisioning = new_plan(context.app)
                session.code_encrypted = seal_code(self.keyring, session, code, redirect_uri)
                attempt = _start_exchange(session, now)
            # Which process took the code: if it dies now, its exchange lease says when another takes over.
            log.info("code_received", session_id=session_id)
            await self._exchange(db, context, session_id, attempt, code, redirect_uri)
        return True

    async def _exchange(
        self, db: AsyncSession, context: Context, session_id: str, attempt: int, code: str, redirect_uri: str | None
    ) -> None:
        # The lease is renewed until Meta's answer is recorded, not just until it arrives: a
        # lease that ran out in between would let another runner exchange the spent code again.
        async with self._heartbeat(session_id, attempt):
            try:
                token = await context.graph.exchange_code(code, redirect_uri)
            except MetaError as error:
                await self._exchange_failed(db, session_id, error, attempt)
                return
            async with db.begin():
                session = await lock(db, session_id)
                if not _exchange_open(session):
                    return  # another runner's answer from Meta was recorded first
                session.code_encrypted = None
                session.business_token_encrypted = seal_session_token(self.keyring, session, token)
                finish_step(db, session, "token_exchange", "succeeded", now_ms())
                started = await self._advance(context, db, session)
        await self._drive(db, context, session_id, started)

    @asynccontextmanager
    async def _heartbeat(self, session_id: str, attempt: int) -> AsyncIterator[None]:
        """Renews the exchange's lease until the block ends."""
        done = asyncio.Event()

        async def beat() -> None:
            while True:
                try:
                    await asyncio.wait_for(done.wait(), EXCHANGE_HEARTBEAT_S)
                    return
                except TimeoutError:
                    pass
                async with self.sessions() as db, db.begin():
                    session = await lock(db, session_id)
                    if session is None or not runs_attempt(session, "token_exchange", attempt):
                        return
                    # Never shorten a lease: the attempt may have just been told to wait longer.
                    until = max(session.provisioning_lease_until or 0, now_ms() + EXCHANGE_LEASE_MS)
                    session.provisioning_lease_until = session.provisioning_next_at = until

        beating = asyncio.create_task(beat())
        try:
            yield
        finally:
            done.set()
            await beating

    async def _exchange_failed(self, db: AsyncSession, session_id: str, error: MetaError | None, attempt: int | None) -> None:
        """Meta refused the exchange (`error`), or nobody can make it any more (None). A refusal
        is final: the code is single-use, so Meta's first answer on it decides, whichever
        attempt got it (one whose lease ran out while it waited for Meta included)."""
        async with db.begin():
            session = await lock(db, session_id)
            if attempt is not None and not _exchange_open(session):
                return  # another runner's answer from Meta was recorded first
            now = now_ms()
            if attempt is not None and _leaves_it_to_another(session, attempt, error):
                if runs_attempt(session, "token_exchange", attempt):
                    # Another attempt may have Meta's answer (a token, even) and a runner still
                    # alive to record it: give it while the code could live, and no new attempt;
                    # after that whoever runs the session finds the exchange unfinished.
                    session.code_encrypted = None
                    session.provisioning_lease_until = session.provisioning_next_at = max(
                        now, (session.code_received_at or now) + CODE_LIFETIME_MS
                    )
                return
            details = error.as_dict() if error else {"message": "the code exchange did not finish"}
            session.code_encrypted = None
            finish_step(db, session, "token_exchange", "failed", now, details)
            _release(session)
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
            taken_code: tuple[str, str | None] | None = None
            unconfigured: ConfigurationError | None = None
            async with db.begin():
                session = await lock(db, session_id)
                if session is None:
                    return
                now = now_ms()
                step = next_step(session)
                if step is None or not may_provision(session):
                    _release(session)
                    return
                if session.provisioning_lease_until is not None and session.provisioning_lease_until > now:
                    return  # another runner is in the middle of a step
                exchange = step == "token_exchange"
                if exchange:
                    # The runner of the exchange died: take it over while the code still lives.
                    taken_code = _code_still_alive(session, self.keyring, now)
                if not exchange or taken_code is not None:
                    try:
                        context = await self._context(db, session)
                    except ConfigurationError as problem:
                        # No Meta app (any more): asked again after a lease, an operator can fix it.
                        unconfigured = problem
                        _lease(session, now, LEASE_MS)
                if unconfigured is None:
                    if taken_code is not None:
                        attempt = _start_exchange(session, now)
                    elif not exchange:
                        started = await self._advance(context, db, session)
            if unconfigured is not None:
                raise unconfigured
            if not exchange:
                await self._drive(db, context, session_id, started)
            elif taken_code is None:
                await self._exchange_failed(db, session_id, None, None)  # the code is spent or too old
            else:
                await self._exchange(db, context, session_id, attempt, *taken_code)

    async def _advance(self, context: Context, db: AsyncSession, session: SignupSession) -> Started:
        """In the caller's transaction: start the next step and read its inputs; a step that
        needs nothing from Meta is run and recorded here too. None when no step is left."""
        while True:
            step = next_step(session)
            if step is None or not may_provision(session):
                _release(session)
                return None
            now = now_ms()
            attempt = start_step(session, step)
            _lease(session, now, LEASE_MS)  # the resume point if this process dies
            prepared = await STEPS[step].prepare(context, db, session)
            if STEPS[step].calls_meta(context, prepared):
                return step, attempt, prepared
            try:
                status = await STEPS[step].record(context, db, session, prepared, None, now)
            except StepRefused as refusal:
                _refuse(db, session, step, refusal, now)
                return None
            _finished(db, session, step, status, now)

    async def _drive(self, db: AsyncSession, context: Context, session_id: str, started: Started) -> None:
        """Runs the started step and every one after it, until none is left or one stops."""
        while started is not None:
            step, attempt, prepared = started
            try:
                result = await STEPS[step].call(context, prepared)
            except MetaError as error:
                await self._step_failed(db, session_id, step, error)
                return
            except StepRefused as refusal:
                await self._refuse(db, session_id, step, refusal)
                return
            try:
                async with db.begin():
                    session = await lock(db, session_id)
                    if not runs_attempt(session, step, attempt):
                        return  # another runner took the step over
                    now = now_ms()
                    status = await STEPS[step].record(context, db, session, prepared, result, now)
                    _finished(db, session, step, status, now)
                    started = await self._advance(context, db, session)
            except StepRefused as refusal:  # its transaction rolled back: the refusal is recorded alone
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
            _refuse(db, await lock(db, session_id), step, refusal, now_ms())


def _lease(session: SignupSession, now: int, lease_ms: int) -> None:
    """Held until then; and due then, so whoever finds the lease run out resumes."""
    session.provisioning_lease_until = session.provisioning_next_at = now + lease_ms


def _release(session: SignupSession) -> None:
    session.provisioning_next_at = session.provisioning_lease_until = None


def _start_exchange(session: SignupSession, now: int) -> int:
    attempt = start_step(session, "token_exchange")
    _lease(session, now, EXCHANGE_LEASE_MS)
    return attempt


def _exchange_open(session: SignupSession | None) -> bool:
    """No answer from Meta on the code recorded yet (any attempt's answer may be: the first stands)."""
    return (
        session is not None
        and next_step(session) == "token_exchange"
        and step_record(session, "token_exchange")["status"] == "running"
    )


def _leaves_it_to_another(session: SignupSession, attempt: int, error: MetaError | None) -> bool:
    """This attempt's failure says nothing final while another attempt on the same code exists:
    no answer at all (transient), or "already used" (the other attempt got the answer)."""
    if step_record(session, "token_exchange")["attempts"] == 1 or error is None:
        return False
    return error.transient or (error.code, error.subcode) == (100, 36009)


def _code_still_alive(session: SignupSession, keyring, now: int) -> tuple[str, str | None] | None:
    if session.code_encrypted is None or now - session.code_received_at >= CODE_LIFETIME_MS:
        return None
    return open_code(keyring, session)


def _finished(db: AsyncSession, session: SignupSession, step: str, status: str, now: int) -> None:
    finish_step(db, session, step, status, now)
    if status == "succeeded":
        STEPS[step].after_success(db, session, now)


def _refuse(db: AsyncSession, session: SignupSession, step: str, refusal: StepRefused, now: int) -> None:
    finish_step(db, session, step, "failed", now, {"code": refusal.code, "message": refusal.message})
    _release(session)
    session.business_token_encrypted = None  # never keep a token for an account we refused
    if session.status == SessionStatus.RECOVERED:
        return  # a refused claim leaves the session recovered; the step says why
    transition(
        db, session, SessionStatus.FAILED, at=now, reason=refusal.code,
        error={"code": refusal.code, "message": refusal.message, "meta_code": None},
    )
