"""The platform-run popup flow and recovery (SPEC 5.3), without HTTP.

A platform that runs FB.login on its own page starts an attempt (a `source: platform`
session), then either hands Roost the code (`callback`, provisioned as 5.1) or, when the code
was lost, the WABA from Meta's FINISH message (`mark-interrupted` → `recovered`). A recovered
session is claimed with no customer token, so the claim needs a proof from Meta itself: an
`account_update` (PARTNER_ADDED / PARTNER_APP_INSTALLED) for that WABA and the organization's
Meta app, received after the attempt started. The business token is then fetched with the
system user, and provisioning continues from resolve_assets.
"""

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import and_, case, exists, func, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors
from roost.kit.pagination import Page
from roost.kit.timeutil import now_ms, to_iso
from roost.meta.config import MetaApp
from roost.meta.events import ACCOUNT_UPDATE, PROOF_EVENTS, SignupMessage
from roost.meta.models import MetaSimulatedApp, MetaWebhookChange
from roost.organizations.models import ModeSettings
from roost.organizations.service import Caller, find_owned, mode_settings
from roost.profiles import service as profiles
from roost.provisioning.plan import start_claim
from roost.provisioning.runner import Provisioner
from roost.recovery.schemas import RecoveredAttempt
from roost.runtime import Runtime
from roost.sessions import flow
from roost.sessions import service as sessions
from roost.sessions.models import SignupSession
from roost.sessions.state import (
    SessionStatus,
    expire_if_overdue,
    is_claiming,
    record_event,
    refuse_unless_awaiting_code,
    transition,
)

log = structlog.get_logger("roost.recovery")

WAIT_SECONDS = 15  # how long callback and claim wait for provisioning before answering 202
AUTO_CLAIM_BATCH = 20


# -- start-attempt ---------------------------------------------------------------------------


def attempt_started(session: SignupSession) -> int:
    """When the user began Meta's flow (SPEC 5.3: a proof must come after it): the connect click
    of a hosted session, the creation of a platform attempt (which starts at once)."""
    return session.started_at or session.created_at


def launch_info(runtime: Runtime, meta_app: MetaApp, session: SignupSession) -> dict[str, Any]:
    """What the platform's page needs to open Meta's flow for this attempt with FB.login."""
    return {
        "app_id": meta_app.app_id,
        "config_id": meta_app.config_id,
        "graph_version": meta_app.graph_version,
        "sdk_url": meta_app.sdk_url_for("en_US"),
        "extras": flow.login_extras(session),
    }


def meta_app_for_new_work(runtime: Runtime, mode: ModeSettings) -> MetaApp:
    """The mode's Meta app, or the documented 400 when this mode cannot run a flow."""
    if not mode.livemode and not runtime.settings.simulator:
        raise errors.invalid(
            "simulator_disabled", "Test attempts run against the Meta simulator, which this server has switched off (ROOST_SIMULATOR=0)"
        )
    app = runtime.meta_app(mode)
    if app is None:
        raise errors.invalid(
            "meta_not_configured",
            "Live attempts need a Meta app: set ROOST_META_APP_ID, ROOST_META_APP_SECRET and ROOST_META_CONFIG_ID, "
            "or the organization's live Meta settings",
        )
    return app


async def start_attempt(db: AsyncSession, runtime: Runtime, caller: Caller, metadata: dict | None, now: int) -> dict[str, Any]:
    mode = await mode_settings(db, caller.organization_id, caller.livemode)
    meta_app = meta_app_for_new_work(runtime, mode)
    session = await sessions.create_platform_attempt(db, caller, metadata, runtime.session_policy, now)
    session.solution_id = mode.meta_solution_id  # the launch's extras onboard into the mode's solution
    return attempt_object(runtime, meta_app, session, now)


def attempt_object(runtime: Runtime, meta_app: MetaApp, session: SignupSession, now: int) -> dict[str, Any]:
    return {"attempt_id": session.id, **sessions.present(session, now), "launch": launch_info(runtime, meta_app, session)}


# -- reading attempts ----------------------------------------------------------------------------


async def get_attempt(db: AsyncSession, caller: Caller, attempt_id: str) -> SignupSession:
    """The caller's session, locked; 404 (param attempt_id) otherwise."""
    return await find_owned(
        db, caller, SignupSession, attempt_id, prefix="wss", noun="attempt", param="attempt_id", for_update=True
    )


def _pending_platform_attempt(db: AsyncSession, session: SignupSession, now: int) -> errors.ApiError | None:
    """The refusal for a callback or mark-interrupted on this session, if any (an overdue
    session's expiry is written down first, so it is committed with the refusal)."""
    if session.source != "platform":
        return errors.invalid(
            "parameter_invalid",
            "attempt_id must be an attempt made with start-attempt: a hosted session gets Meta's code through its own page",
            param="attempt_id",
        )
    return refuse_unless_awaiting_code(db, session, now, noun="attempt")


# -- callback --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]


async def callback(runtime: Runtime, caller: Caller, params: Any) -> Outcome:
    now = now_ms()
    async with runtime.sessions() as db:
        async with db.begin():
            session = await get_attempt(db, caller, params.attempt_id)
            refusal = _pending_platform_attempt(db, session, now)
            if refusal is None:
                mode = await mode_settings(db, caller.organization_id, caller.livemode)
                meta_app_for_new_work(runtime, mode)
                if params.coexistence is not None:
                    session.coexistence = params.coexistence
                record_event(
                    db, session, "platform.callback", now,
                    {key: value for key, value in (("waba_id", params.waba_id), ("phone_number_id", params.phone_number_id),
                                                   ("business_id", params.business_id), ("coexistence", params.coexistence))
                     if value is not None},
                )
        if refusal is not None:
            raise refusal
    finish = None
    if params.waba_id or params.phone_number_id or params.business_id:
        event = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING" if params.coexistence else "FINISH"
        finish = SignupMessage(
            kind="finish", event=event, waba_id=params.waba_id, phone_number_id=params.phone_number_id, business_id=params.business_id
        )
    provisioner = Provisioner(runtime)
    taken = await provisioner.accept_code(params.attempt_id, params.code, finish, params.redirect_uri)
    if not taken:
        raise errors.conflict(
            "session_processing", "This attempt takes no code any more: one was already accepted, or it has ended (see its status)"
        )
    await provisioner.wait_until_idle(params.attempt_id, WAIT_SECONDS)
    return await outcome_of(runtime, caller, params.attempt_id)


# -- mark-interrupted -------------------------------------------------------------------------------


async def mark_interrupted(db: AsyncSession, caller: Caller, params: Any, now: int) -> tuple[SignupSession, errors.ApiError | None]:
    """Returns the refusal instead of raising it, so that an expiry written here is committed."""
    session = await get_attempt(db, caller, params.attempt_id)
    if session.status == SessionStatus.RECOVERED and session.waba_id == params.waba_id and session.source == "platform":
        return session, None  # the same call again (a retry): nothing changes
    refusal = _pending_platform_attempt(db, session, now)
    if refusal is not None:
        return session, refusal
    # FINISH data from the browser: a claim about the WABA until Meta's webhook proves it.
    flow.record_message(
        db, session, SignupMessage(kind="finish", event="FINISH", waba_id=params.waba_id, business_id=params.business_id), now
    )
    session.waba_id = params.waba_id
    session.business_id = params.business_id or session.business_id
    transition(
        db, session, SessionStatus.RECOVERED, at=now, reason="marked_interrupted",
        error={
            "code": "code_not_exchanged",
            "message": "The user finished Meta's flow but the platform did not receive Meta's code; the account can be claimed.",
            "meta_code": None,
        },
    )
    return session, None


# -- claim -------------------------------------------------------------------------------------------


async def claim(runtime: Runtime, caller: Caller, attempt_id: str) -> Outcome:
    now = now_ms()
    async with runtime.sessions() as db:
        async with db.begin():
            session = await get_attempt(db, caller, attempt_id)
            expire_if_overdue(db, session, now)
            refusal = await _claim_refusal(db, runtime, session, now)
            if refusal is None:
                meta_app = runtime.meta_app(await mode_settings(db, caller.organization_id, caller.livemode))
                proof = await proof_for(db, meta_app.app_id, session.livemode, session.waba_id, attempt_started(session))
                start_claim(db, session, meta_app, proof.owner_business_id or session.business_id, now, by="platform")
        if refusal is not None:
            raise refusal
    provisioner = Provisioner(runtime)
    await provisioner.run(attempt_id)
    await provisioner.wait_until_idle(attempt_id, WAIT_SECONDS)
    return await outcome_of(runtime, caller, attempt_id)


async def _claim_refusal(db: AsyncSession, runtime: Runtime, session: SignupSession, now: int) -> errors.ApiError | None:
    """Why this session cannot be claimed now (checked before anything is stored), or None."""
    if session.status != SessionStatus.RECOVERED:
        return errors.conflict("session_not_recovered", f"This attempt is {session.status}; only a recovered attempt can be claimed")
    if session.provisioning_next_at is not None:
        return errors.conflict("session_processing", "A claim of this attempt is already running")
    mode = await mode_settings(db, session.organization_id, session.livemode)
    try:
        meta_app = meta_app_for_new_work(runtime, mode)
    except errors.ApiError as problem:
        return problem
    if not meta_app.system_user_token:
        return errors.invalid(
            "system_user_token_missing",
            "Claiming fetches the customer's token with your Meta app's system user token: set meta.system_user_token "
            "(or ROOST_META_SYSTEM_USER_TOKEN)",
        )
    proof = await proof_for(db, meta_app.app_id, session.livemode, session.waba_id, attempt_started(session))
    if proof is None:
        return errors.conflict(
            "claim_proof_missing",
            f"Meta has not confirmed that WhatsApp Business Account {session.waba_id} was shared with your Meta app "
            "since this attempt started (no account_update PARTNER_ADDED or PARTNER_APP_INSTALLED webhook yet); "
            "retry once it has arrived",
        )
    if not (proof.owner_business_id or session.business_id):
        return errors.conflict(
            "claim_proof_missing", "Meta's account_update did not name the customer's business portfolio, and the attempt has none"
        )
    if await profiles.connected_elsewhere(db, session.waba_id, session.organization_id, session.livemode):
        return errors.conflict(
            "waba_already_connected", "This WhatsApp Business Account is already connected to another organization"
        )
    return None


# -- what a callback or claim answers --------------------------------------------------------------------


async def outcome_of(runtime: Runtime, caller: Caller, attempt_id: str) -> Outcome:
    """The business profile once connected; the session (202) while work goes on; else the error."""
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        session = await sessions.get_session(db, caller, attempt_id)
        if session.status == SessionStatus.COMPLETED and session.business_profile_id:
            return Outcome(200, await profiles.present_profile(db, caller, session.business_profile_id))
        body = sessions.present(session, now)
    if session.provisioning_next_at is not None:
        return Outcome(202, body)  # a step is waiting out a transient Meta error: watch the session
    raise _error_of(session, body["status"])


def _failed_step(session: SignupSession) -> dict[str, Any] | None:
    failed = [record for record in session.provisioning or [] if record["status"] == "failed"]
    return failed[-1] if failed else None


def _error_of(session: SignupSession, status: str) -> errors.ApiError:
    extra = {"attempt_id": session.id, "attempt_status": status}
    step = _failed_step(session)
    step_error = (step or {}).get("error") or {}
    if is_claiming(session) and step is not None:
        if isinstance(step_error.get("code"), str):  # Roost refused to connect (not a Meta failure)
            http = 400 if step_error["code"] in ("system_user_token_missing", "business_id_unknown") else 409
            return errors.ApiError(http, "invalid_request_error", step_error["code"], step_error.get("message", ""), extra=extra)
        return _provider("claim_failed", f"Meta refused the {step['step'].replace('_', ' ')} step of the claim", step_error, extra)
    error = session.error or {}
    code = error.get("code") or "provisioning_failed"
    message = error.get("message") or f"The attempt is {status}"
    if code in ("waba_already_connected", "waba_not_granted"):
        return errors.ApiError(409, "invalid_request_error", code, message, extra=extra)
    if code == "meta_unavailable":
        return errors.ApiError(502, "api_error", code, message, extra=extra)
    if status in (SessionStatus.EXPIRED, SessionStatus.CANCELLED):
        return errors.conflict("session_not_pending", f"This attempt is {status}")
    return _provider(code, message, step_error, extra)


def _provider(code: str, message: str, meta_error: dict[str, Any], extra: dict[str, Any]) -> errors.ApiError:
    provider = {key: meta_error.get(key) for key in ("code", "message", "fbtrace_id")}
    return errors.ApiError(424, "provider_error", code, message, extra={**extra, "provider": provider})


# -- recovered attempts ------------------------------------------------------------------------------


async def list_recovered(
    db: AsyncSession, runtime: Runtime, caller: Caller, metadata: dict[str, str], page: Page, now: int
) -> tuple[list[dict[str, Any]], bool]:
    filters = sessions.SessionFilters(status=SessionStatus.RECOVERED, metadata=metadata)
    rows, has_more = await sessions.list_sessions(db, caller, filters, page, now)
    mode = await mode_settings(db, caller.organization_id, caller.livemode)
    meta_app = runtime.meta_app(mode) if (mode.livemode or runtime.settings.simulator) else None
    items = []
    for session in rows:
        proof = None
        if meta_app is not None and session.waba_id:
            proof = await proof_for(db, meta_app.app_id, session.livemode, session.waba_id, attempt_started(session))
        items.append(recovered_object(session, proof))
    return items, has_more


def recovered_object(session: SignupSession, proof: MetaWebhookChange | None) -> dict[str, Any]:
    step = _failed_step(session) if session.claim_started_at is not None else None
    return RecoveredAttempt.render(
        session,
        proof_received_at=to_iso(proof.received_at) if proof else None,
        claim_running=session.provisioning_next_at is not None,
        claim_error=(step or {}).get("error"),
    )


# -- auto-claim ---------------------------------------------------------------------------------------


async def queue_auto_claims(runtime: Runtime, now: int, limit: int = AUTO_CLAIM_BATCH) -> list[str]:
    """Start the claim of recovered sessions that Meta's webhook has proved, once each, in
    organizations that keep auto-claim on and have a system user token. Only the organization
    whose Meta app received the webhook is considered (never across organizations). Durable:
    the webhook and the session are both in the database, so the worker finds them again."""
    settings = runtime.settings
    S, M, C, A = SignupSession, ModeSettings, MetaWebhookChange, MetaSimulatedApp
    app_of_session = case(
        (S.livemode == true(), func.coalesce(M.meta_app_id, literal(settings.meta_app_id))),
        else_=A.app_id,
    )
    proved = exists(
        select(1).where(
            C.waba_id == S.waba_id,
            C.field == ACCOUNT_UPDATE,
            C.event.in_(PROOF_EVENTS),
            C.livemode == S.livemode,
            C.received_at >= S.created_at,
            C.app_id == app_of_session,
        )
    )
    conditions = [
        S.status == SessionStatus.RECOVERED,
        S.waba_id.is_not(None),
        S.claim_started_at.is_(None),
        M.auto_claim == true(),
        proved,
    ]
    if settings.meta_system_user_token is None:
        conditions.append(or_(S.livemode == False, M.meta_system_user_token_encrypted.is_not(None)))  # noqa: E712
    if not settings.simulator:
        conditions.append(S.livemode == true())
    started: list[str] = []
    async with runtime.sessions() as db, db.begin():
        rows = list(
            await db.execute(
                select(S, M)
                .join(M, and_(M.organization_id == S.organization_id, M.livemode == S.livemode))
                .outerjoin(A, A.organization_id == S.organization_id)
                .where(*conditions)
                .order_by(S.recovered_at)
                .limit(limit)
                .with_for_update(of=S, skip_locked=True)
            )
        )
        for session, mode in rows:
            meta_app = runtime.meta_app(mode)
            if meta_app is None or not meta_app.system_user_token:
                continue
            proof = await proof_for(db, meta_app.app_id, session.livemode, session.waba_id, attempt_started(session))
            business_id = (proof.owner_business_id if proof else None) or session.business_id
            if proof is None or business_id is None:
                continue
            start_claim(db, session, meta_app, business_id, now, by="auto")
            started.append(session.id)
    if started:
        log.info("auto_claims_started", count=len(started))
    return started


async def auto_claim_now(runtime: Runtime) -> int:
    """Queue and run what is claimable now (after a webhook or a mark-interrupted)."""
    started = await queue_auto_claims(runtime, now_ms())
    for session_id in started:
        await Provisioner(runtime).run(session_id)
    return len(started)


# -- the claim's proof --------------------------------------------------------------------------


async def proof_for(db: AsyncSession, app_id: str, livemode: bool, waba_id: str, since: int) -> MetaWebhookChange | None:
    """The newest account_update (PARTNER_ADDED / PARTNER_APP_INSTALLED) for this WABA and app
    received at or after `since` (SPEC 5.3)."""
    return await db.scalar(
        select(MetaWebhookChange)
        .where(
            MetaWebhookChange.waba_id == waba_id,
            MetaWebhookChange.app_id == app_id,
            MetaWebhookChange.field == ACCOUNT_UPDATE,
            MetaWebhookChange.received_at >= since,
            MetaWebhookChange.livemode == livemode,
            MetaWebhookChange.event.in_(PROOF_EVENTS),
        )
        .order_by(MetaWebhookChange.received_at.desc())
        .limit(1)
    )
