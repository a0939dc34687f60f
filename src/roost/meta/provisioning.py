"""Provisioning after a finished Embedded Signup (SPEC 5.1), durable and resumable.

The code is exchanged the moment it arrives (it lives 30 seconds). Every later step is
recorded on the session (`provisioning`) before and after it runs, under a lease, so a crash
or a transient Meta error resumes from the last finished step — in this process, or in any
worker that finds the session due. The session row lock and the lease make sure only one
runner works on a session at a time, so a completion submitted twice yields one profile.
"""

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.kit.crypto import Keyring
from roost.kit.timeutil import now_ms, to_iso
from roost.meta.config import MetaApp
from roost.meta.events import SignupMessage
from roost.meta.graph import GraphClient, MetaError
from roost.organizations.models import ModeSettings
from roost.profiles import service as profiles
from roost.profiles.models import PhoneNumber
from roost.sessions.models import SignupSession
from roost.sessions.state import SessionStatus, emit_webhook, record_event, transition
from roost.webhooks import outbox

log = structlog.get_logger("roost.provisioning")

LEASE_MS = 90_000
# A registration attempt still marked in flight after this long died with its process. Longer
# than LEASE_MS, so during provisioning the step's own resume gets to it first.
REGISTRATION_LEASE_MS = 120_000
MAX_INTERRUPTED_ATTEMPTS = 5
REGISTRATION_WINDOW_MS = 14 * 24 * 3_600_000  # Meta: register within 14 days of signup
VERIFICATION_CHECK_EVERY_MS = 5 * 60_000
# Back-off between attempts of a step that failed transiently; then the session fails.
RETRY_BACKOFF_MS = (5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000)


@dataclass
class Provisioner:
    """What provisioning needs from the process: database, keyring, and Meta per session."""

    sessions: async_sessionmaker
    keyring: Keyring
    # (organization id, livemode) -> the Meta app, a Graph client for it, and the mode's settings
    meta_for: Callable[[str, bool], Awaitable[tuple[MetaApp, GraphClient, ModeSettings]]]

    # -- tokens ----------------------------------------------------------------------------

    def seal_token(self, session: SignupSession, token: str) -> str:
        return self.keyring.encrypt(token, f"business_token:{session.organization_id}:{session.id}")

    def open_session_token(self, session: SignupSession) -> str:
        return self.keyring.decrypt(session.business_token_encrypted, f"business_token:{session.organization_id}:{session.id}")

    def seal_profile_token(self, organization_id: str, profile_id: str, token: str) -> str:
        return self.keyring.encrypt(token, f"profile_token:{organization_id}:{profile_id}")

    def open_profile_token(self, organization_id: str, profile_id: str, ciphertext: str) -> str:
        return self.keyring.decrypt(ciphertext, f"profile_token:{organization_id}:{profile_id}")

    # -- the code ----------------------------------------------------------------------------

    async def accept_code(
        self, session_id: str, code: str, finish: SignupMessage | None = None, redirect_uri: str | None = None
    ) -> bool:
        """Meta's code arrived: exchange it now, then provision. False if a code was already taken.

        `redirect_uri`: the one the OAuth dialog used, when the code came from a redirect (Meta
        refuses the exchange unless it is the same)."""
        async with self.sessions() as db:
            async with db.begin():
                session = await _lock(db, session_id)
                if session is None:
                    return False
                organization_id, livemode = session.organization_id, session.livemode
            meta_app, graph, _ = await self.meta_for(organization_id, livemode)
            now = now_ms()
            async with db.begin():
                session = await _lock(db, session_id)
                if session.status != SessionStatus.PENDING or session.code_received_at is not None:
                    return False
                if session.deadline_at is not None and session.deadline_at <= now:
                    return False  # overdue: reads say expired, the worker writes it down
                session.code_received_at = now
                session.deadline_at = None  # from here on, provisioning decides the outcome
                if finish is not None:
                    apply_finish(session, finish)
                session.provisioning = _plan(meta_app)
                _mark(session, "token_exchange", "running")
                session.provisioning_lease_until = now + LEASE_MS
                session.provisioning_next_at = now + LEASE_MS  # resume point if this process dies
                record_event(db, session, "meta.code_received", now, {"with_finish": finish is not None})
            # Which process took the code: if it dies now, its lease says when another resumes.
            log.info("code_received", session_id=session_id)
            try:
                token = await graph.exchange_code(code, redirect_uri)
            except MetaError as error:
                await self._exchange_failed(db, session_id, error)
                return True
            async with db.begin():
                session = await _lock(db, session_id)
                session.business_token_encrypted = self.seal_token(session, token)
                _finish_step(db, session, "token_exchange", "succeeded", now_ms())
        await self.run(session_id)
        return True

    async def _exchange_failed(self, db: AsyncSession, session_id: str, error: MetaError | None) -> None:
        async with db.begin():
            session = await _lock(db, session_id)
            now = now_ms()
            details = error.as_dict() if error else {"message": "the code exchange did not finish"}
            _finish_step(db, session, "token_exchange", "failed", now, details)
            session.provisioning_next_at = session.provisioning_lease_until = None
            if session.waba_id:
                # The user did finish Meta's flow: the account can still be claimed (SPEC 5.3).
                transition(
                    db, session, SessionStatus.RECOVERED, at=now, reason="code_not_exchanged",
                    error=_error("code_not_exchanged", "Meta's code could not be exchanged; the account can be claimed.", error),
                )
            else:
                transition(
                    db, session, SessionStatus.FAILED, at=now, reason="token_exchange_failed",
                    error=_error("token_exchange_failed", "Meta's code could not be exchanged for a business token.", error),
                )

    # -- the steps -----------------------------------------------------------------------

    async def run(self, session_id: str) -> None:
        """Run the remaining steps of a session, unless another runner holds its lease."""
        async with self.sessions() as db:
            while True:
                async with db.begin():
                    session = await _lock(db, session_id)
                    if session is None:
                        return
                    now = now_ms()
                    step = _next_step(session)
                    claiming = session.status == SessionStatus.RECOVERED and session.claim_started_at is not None
                    if step is None or (session.status not in (SessionStatus.PENDING, SessionStatus.COMPLETED) and not claiming):
                        session.provisioning_next_at = session.provisioning_lease_until = None
                        return
                    if session.provisioning_lease_until is not None and session.provisioning_lease_until > now:
                        return  # another runner is in the middle of a step
                    _mark(session, step, "running")
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
                    await STEP_RUNNERS[step](self, db, session_id, meta_app, graph, mode)
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
            session = await _lock(db, session_id)
            now = now_ms()
            record = _step(session, step)
            if error.transient and record["attempts"] <= len(RETRY_BACKOFF_MS):
                _finish_step(db, session, step, "pending", now, error.as_dict())
                session.provisioning_next_at = now + RETRY_BACKOFF_MS[record["attempts"] - 1]
                session.provisioning_lease_until = None
                return
            _finish_step(db, session, step, "failed", now, error.as_dict())
            session.provisioning_next_at = session.provisioning_lease_until = None
            if session.status == SessionStatus.PENDING:
                code = "meta_unavailable" if error.transient else "provisioning_failed"
                transition(
                    db, session, SessionStatus.FAILED, at=now, reason=f"{step}_failed",
                    error=_error(code, f"Meta refused the {step.replace('_', ' ')} step: {error.message}", error),
                )

    async def _refuse(self, db: AsyncSession, session_id: str, step: str, refusal: "StepRefused") -> None:
        async with db.begin():
            session = await _lock(db, session_id)
            now = now_ms()
            _finish_step(db, session, step, "failed", now, {"code": refusal.code, "message": refusal.message})
            session.provisioning_next_at = session.provisioning_lease_until = None
            session.business_token_encrypted = None  # never keep a token for an account we refused
            if session.status == SessionStatus.RECOVERED:
                return  # a refused claim leaves the session recovered; the step says why
            transition(
                db, session, SessionStatus.FAILED, at=now, reason=refusal.code,
                error={"code": refusal.code, "message": refusal.message, "meta_code": None},
            )

    # -- step implementations: each returns after recording its own success --------------

    async def _claim_token(self, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
        """A claim has no code: fetch the customer's business token with the system user (SPEC 5.3)."""
        async with db.begin():
            session = await _lock(db, session_id)
            business_id = session.business_id
        if not meta_app.system_user_token:
            raise StepRefused(
                "system_user_token_missing", "Claiming needs the Meta app's system user token, and none is configured."
            )
        if not business_id:
            raise StepRefused("business_id_unknown", "The customer's business portfolio id is unknown, so no token can be fetched.")
        token = await graph.business_token_for(business_id, meta_app.system_user_token)
        async with db.begin():
            session = await _lock(db, session_id)
            session.business_token_encrypted = self.seal_token(session, token)
            _finish_step(db, session, "claim_token", "succeeded", now_ms())

    async def _resolve_assets(self, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
        async with db.begin():
            session = await _lock(db, session_id)
            token = self.open_session_token(session)
            claimed = session.waba_id
        granted = await graph.debug_token(token, meta_app.system_user_token)
        if not granted.is_valid or not granted.waba_ids:
            raise StepRefused("waba_not_granted", "The business token grants access to no WhatsApp Business Account.")
        if claimed and claimed not in granted.waba_ids:
            # FINISH data comes from the browser: a claim, not a proof.
            raise StepRefused(
                "waba_not_granted", f"The WhatsApp Business Account {claimed} is not among those the customer granted."
            )
        waba_id = claimed or granted.waba_ids[0]
        async with db.begin():
            session = await _lock(db, session_id)
            if await profiles.connected_elsewhere(db, waba_id, session.organization_id, session.livemode):
                raise StepRefused(
                    "waba_already_connected", "This WhatsApp Business Account is already connected to another organization."
                )
            session.waba_id = waba_id
            if not session.business_id and granted.business_ids:
                session.business_id = granted.business_ids[0]
            _finish_step(db, session, "resolve_assets", "succeeded", now_ms())

    async def _subscribe_app(self, db, session_id, meta_app: MetaApp, graph: GraphClient, mode: ModeSettings) -> None:
        async with db.begin():
            session = await _lock(db, session_id)
            token, waba_id = self.open_session_token(session), session.waba_id
        await graph.subscribe_app(waba_id, token)
        if mode.messages_callback_url:
            await graph.override_callback(waba_id, token, mode.messages_callback_url, meta_app.verify_token or "")
        async with db.begin():
            session = await _lock(db, session_id)
            _finish_step(db, session, "subscribe_app", "succeeded", now_ms())

    async def _share_credit_line(self, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
        async with db.begin():
            session = await _lock(db, session_id)
            waba_id = session.waba_id
        if not (meta_app.credit_line_id and meta_app.system_user_token):
            raise StepRefused(
                "credit_line_not_configured",
                "Solution Partners need a credit line id and a system user token to share the credit line.",
            )
        await graph.share_credit_line(meta_app.credit_line_id, waba_id, meta_app.system_user_token)
        async with db.begin():
            session = await _lock(db, session_id)
            _finish_step(db, session, "share_credit_line", "succeeded", now_ms())

    async def _create_profile(self, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
        async with db.begin():
            session = await _lock(db, session_id)
            token, waba_id = self.open_session_token(session), session.waba_id
        waba = await graph.waba(waba_id, token)
        phones = await graph.phone_numbers(waba_id, token)
        async with db.begin():
            session = await _lock(db, session_id)
            now = now_ms()
            if await profiles.connected_elsewhere(db, waba_id, session.organization_id, session.livemode):
                raise StepRefused(
                    "waba_already_connected", "This WhatsApp Business Account is already connected to another organization."
                )
            owner = waba.owner_business_info
            owner_id = owner.id if owner else None
            profile = await profiles.upsert_profile(
                db,
                organization_id=session.organization_id,
                livemode=session.livemode,
                session_id=session.id,
                waba_id=waba_id,
                business_id=session.business_id or owner_id,
                business_name=(owner.name if owner else None) or waba.name,
                coexistence=any(phone.is_on_biz_app for phone in phones),
                token_encrypted="",
                now=now,
            )
            profile.token_encrypted = self.seal_profile_token(profile.organization_id, profile.id, token)
            numbers = [await profiles.upsert_phone_number(db, profile, meta_phone, now) for meta_phone in phones]
            emit_webhook(db, session, "whatsapp.business_profile.connected", profiles.profile_object(profile, numbers), now)
            session.business_profile_id = profile.id
            session.business_id = session.business_id or owner_id
            if not session.phone_number_id and phones:
                session.phone_number_id = phones[0].id
            session.business_token_encrypted = None  # the profile holds it now
            _finish_step(db, session, "create_profile", "succeeded", now)
            claimed = session.status == SessionStatus.RECOVERED
            if claimed:
                session.error = None  # the lost code no longer matters: the account is connected
            transition(db, session, SessionStatus.COMPLETED, at=now, reason="claimed" if claimed else "provisioned")

    async def _register_phones(self, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
        async with db.begin():
            session = await _lock(db, session_id)
            profile_id = session.business_profile_id
            numbers = list(
                await db.scalars(
                    select(PhoneNumber).where(
                        PhoneNumber.business_profile_id == profile_id,
                        PhoneNumber.cloud_api_registered.is_(False),
                        PhoneNumber.is_on_biz_app.is_(False),
                        PhoneNumber.code_verification_status == "VERIFIED",
                        # not tried yet, or tried by a run of this step that a crash cut short
                        or_(
                            PhoneNumber.registration_attempts == 0,
                            and_(
                                PhoneNumber.registration_started_at.is_not(None),
                                PhoneNumber.registration_attempts < MAX_INTERRUPTED_ATTEMPTS,
                            ),
                        ),
                    )
                )
            )
            phone_ids = [phone.id for phone in numbers]
        failed = False
        for phone_id in phone_ids:
            ok = await self.register_number(phone_id)
            failed = failed or not ok
        async with db.begin():
            session = await _lock(db, session_id)
            _finish_step(db, session, "register_phone", "failed" if failed else ("succeeded" if phone_ids else "skipped"), now_ms())
            session.provisioning_next_at = session.provisioning_lease_until = None

    async def register_number(self, phone_id: str, pin: str | None = None) -> bool:
        """One registration attempt for one number (Meta counts them: never blindly repeated)."""
        async with self.sessions() as db:
            async with db.begin():
                phone = await db.scalar(
                    select(PhoneNumber).where(PhoneNumber.id == phone_id).with_for_update().execution_options(populate_existing=True)
                )
                profile = await db.get(profiles.BusinessProfile, phone.business_profile_id)
                context = f"pin:{phone.organization_id}:{phone.id}"
                if pin is None:
                    pin = self.keyring.decrypt(phone.pin_encrypted, context) if phone.pin_encrypted else f"{secrets.randbelow(10**6):06d}"
                phone.pin_encrypted = self.keyring.encrypt(pin, context)
                phone.registration_attempts += 1
                phone.registration_started_at = now_ms()
                token = self.open_profile_token(profile.organization_id, profile.id, profile.token_encrypted)
                session_id, phone_number_id = profile.session_id, phone.phone_number_id
                organization_id, livemode = profile.organization_id, profile.livemode
            _, graph, _ = await self.meta_for(organization_id, livemode)
            error: MetaError | None = None
            try:
                await graph.register_phone(phone_number_id, pin, token)
            except MetaError as problem:
                error = problem
            async with db.begin():
                phone = await db.scalar(
                    select(PhoneNumber).where(PhoneNumber.id == phone_id).with_for_update().execution_options(populate_existing=True)
                )
                now = now_ms()
                phone.registration_started_at = None
                phone.cloud_api_registered = error is None
                phone.registration_error = None if error is None else {**error.as_dict(), "at": to_iso(now)}
                phone.updated_at = now
                event_type = "whatsapp.phone_number.registered" if error is None else "whatsapp.phone_number.registration_failed"
                data = {**profiles.phone_object(phone), "business_profile_id": phone.business_profile_id}
                session = await db.get(SignupSession, session_id) if session_id else None
                if session is None:
                    outbox.emit(db, organization_id=organization_id, livemode=livemode, type=event_type, data=data, at=now)
                else:
                    record_event(
                        db, session, "provisioning.step", now,
                        {"step": "register_phone", "phone_number_id": phone_number_id,
                         "status": "succeeded" if error is None else "failed",
                         "error": None if error is None else error.as_dict()},
                    )
                    emit_webhook(db, session, event_type, data, now)
            return error is None


    async def register_newly_verified(self, now: int, limit: int = 20) -> int:
        """Numbers that finished signup unverified are registered once Meta says they are verified
        (checked every few minutes, for the 14 days in which Meta allows registration). An attempt
        made while the number was unverified (a platform's retry) does not take it off the list:
        that attempt failed for a reason that is now gone. Meta's answer VERIFIED is stored before
        registering, so each verification leads to one attempt at most, never a blind repeat."""
        async with self.sessions() as db:
            async with db.begin():
                phones = await _claim_phones(
                    db,
                    limit,
                    PhoneNumber.code_verification_status != "VERIFIED",
                    PhoneNumber.cloud_api_registered.is_(False),
                    PhoneNumber.is_on_biz_app.is_(False),
                    PhoneNumber.onboarded_at > now - REGISTRATION_WINDOW_MS,
                    PhoneNumber.updated_at < now - VERIFICATION_CHECK_EVERY_MS,
                )
                for phone in phones:
                    phone.updated_at = now  # checked now: the next look is a few minutes away
                work = [(phone.id, phone.business_profile_id, phone.phone_number_id) for phone in phones]
            registered = 0
            for phone_id, profile_id, phone_number_id in work:
                async with db.begin():
                    profile = await db.get(profiles.BusinessProfile, profile_id)
                    if profile.status != profiles.CONNECTED:
                        continue
                    token = self.open_profile_token(profile.organization_id, profile.id, profile.token_encrypted)
                    organization_id, livemode = profile.organization_id, profile.livemode
                try:
                    _, graph, _ = await self.meta_for(organization_id, livemode)
                    status = (await graph.phone_number(phone_number_id, token)).code_verification_status
                except MetaError:
                    continue  # asked again at the next check
                async with db.begin():
                    phone = await db.get(PhoneNumber, phone_id, with_for_update=True)
                    phone.code_verification_status = status
                if status == "VERIFIED" and await self.register_number(phone_id):
                    registered += 1
            return registered


    async def resume_interrupted_registrations(self, now: int, limit: int = 20) -> int:
        """Attempts a crash cut short (Meta called, its answer never stored) are made again, so
        the number ends registered or with its error, and its webhook sent. During provisioning
        the step's own resume does it first (its lease is shorter); this catches the rest: a
        number verified after signup, a platform's retry. Bounded: a number whose attempts keep
        dying is left alone after MAX_INTERRUPTED_ATTEMPTS."""
        async with self.sessions() as db:
            async with db.begin():
                phones = await _claim_phones(
                    db,
                    limit,
                    PhoneNumber.registration_started_at < now - REGISTRATION_LEASE_MS,
                    PhoneNumber.cloud_api_registered.is_(False),
                    PhoneNumber.registration_attempts < MAX_INTERRUPTED_ATTEMPTS,
                )
                for phone in phones:
                    phone.registration_started_at = now  # claimed: other processes pass it by
                work = [(phone.id, phone.business_profile_id) for phone in phones]
            resumed = 0
            for phone_id, profile_id in work:
                async with db.begin():
                    connected = (await db.get(profiles.BusinessProfile, profile_id)).status == profiles.CONNECTED
                    if not connected:  # disconnected meanwhile: its token is gone, nothing to register
                        phone = await db.get(PhoneNumber, phone_id, with_for_update=True)
                        phone.registration_started_at = None
                if connected:
                    await self.register_number(phone_id)
                    resumed += 1
            return resumed


async def _claim_phones(db, limit: int, *conditions: Any) -> list[PhoneNumber]:
    """Up to `limit` numbers matching `conditions`, locked; those another process holds are
    skipped (the caller marks what it took before committing, so they pass it by after)."""
    query = select(PhoneNumber).where(*conditions).limit(limit).with_for_update(skip_locked=True)
    return list(await db.scalars(query))


class StepRefused(Exception):
    """A step found a reason the account must not be connected (not a Meta failure)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


STEP_RUNNERS: dict[str, Callable[..., Awaitable[None]]] = {
    "claim_token": Provisioner._claim_token,
    "resolve_assets": Provisioner._resolve_assets,
    "subscribe_app": Provisioner._subscribe_app,
    "share_credit_line": Provisioner._share_credit_line,
    "create_profile": Provisioner._create_profile,
    "register_phone": Provisioner._register_phones,
}


# -- bookkeeping on the session row --------------------------------------------------------


async def _lock(db: AsyncSession, session_id: str) -> SignupSession | None:
    """The session row, locked, and read afresh: the AsyncSession keeps objects across
    transactions (expire_on_commit=False), and decisions must see what others committed."""
    return await db.scalar(
        select(SignupSession)
        .where(SignupSession.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def apply_finish(session: SignupSession, finish: SignupMessage) -> None:
    session.waba_id = session.waba_id or finish.waba_id
    session.phone_number_id = session.phone_number_id or finish.phone_number_id
    session.business_id = session.business_id or finish.business_id


CODE_STEPS = ("token_exchange", "resolve_assets", "subscribe_app", "share_credit_line", "create_profile", "register_phone")
# A claim (SPEC 5.3) replaces the code exchange with a token fetched by the system user.
CLAIM_STEPS = ("claim_token",) + CODE_STEPS[1:]


def _plan(meta_app: MetaApp, steps: tuple[str, ...] = CODE_STEPS) -> list[dict[str, Any]]:
    plan = [{"step": step, "status": "pending", "attempts": 0, "error": None, "finished_at": None} for step in steps]
    for record in plan:
        if record["step"] == "share_credit_line" and not meta_app.is_solution_partner:
            record["status"] = "skipped"  # Tech Providers' customers add their own payment method
    return plan


def start_claim(db: AsyncSession, session: SignupSession, meta_app: MetaApp, business_id: str, now: int, by: str) -> None:
    """Queue the claim of a recovered session (row locked; the proof already checked): the
    token fetch, then 5.1 from resolve_assets. Any runner (this process or a worker) runs it."""
    earlier = [record for record in session.provisioning or [] if record["step"] == "token_exchange"]
    session.provisioning = earlier + _plan(meta_app, CLAIM_STEPS)
    session.business_id = business_id
    session.business_token_encrypted = None
    session.claim_started_at = session.claim_started_at or now
    session.provisioning_next_at = now
    session.provisioning_lease_until = None
    record_event(db, session, "session.claim_started", now, {"by": by, "business_id": business_id})


def _step(session: SignupSession, step: str) -> dict[str, Any]:
    return next(record for record in session.provisioning if record["step"] == step)


def _next_step(session: SignupSession) -> str | None:
    for record in session.provisioning or []:
        if record["status"] in ("pending", "running"):
            return record["step"]
    return None


def _mark(session: SignupSession, step: str, status: str) -> None:
    records = [dict(record) for record in session.provisioning]
    for record in records:
        if record["step"] == step:
            record["status"] = status
            if status == "running":
                record["attempts"] += 1
    session.provisioning = records  # a new list, so the JSON column is written


def _finish_step(db: AsyncSession, session: SignupSession, step: str, status: str, now: int, error: dict | None = None) -> None:
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


def _error(code: str, message: str, error: MetaError | None) -> dict[str, Any]:
    return {"code": code, "message": message, "meta_code": error.code if error else None}


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
