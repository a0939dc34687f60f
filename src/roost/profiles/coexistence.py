"""Coexistence sync (issue 16): a WhatsApp Business app number's contacts and chat history,
which Meta sends only if asked (`POST /{phone}/smb_app_data`) within 24 hours of onboarding,
once per sync type.

Each sync is a durable task on the phone number row, like registration: an attempt is counted
and leased (`{sync}_sync_next_at`) before Meta is called, so a crash leaves a trace and the
worker makes it again after the lease. A repeat whose first call did reach Meta is answered
2593107 ("already requested"): the sync is then `requested`, never failed. Meta's webhooks
(`history`, `smb_app_state_sync`) move the status on; progress never goes backwards."""

import asyncio
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.timeutil import now_ms, to_iso
from roost.meta.graph import MetaError
from roost.organizations.meta_app import meta_for
from roost.profiles.models import BusinessProfile, PhoneNumber
from roost.profiles.schemas import phone_object
from roost.profiles.tokens import open_profile_token
from roost.runtime import ConfigurationError, Runtime
from roost.webhooks import outbox

CONTACTS, HISTORY = "contacts", "history"
SYNCS = (CONTACTS, HISTORY)
SYNC_TYPES = {CONTACTS: "smb_app_state_sync", HISTORY: "history"}  # Meta's sync_type of each

NOT_REQUESTED, REQUESTED, IN_PROGRESS = "not_requested", "requested", "in_progress"
COMPLETED, DECLINED, FAILED, EXPIRED = "completed", "declined", "failed", "expired"
STATUSES = (NOT_REQUESTED, REQUESTED, IN_PROGRESS, COMPLETED, DECLINED, FAILED, EXPIRED)
FINAL = (COMPLETED, DECLINED)  # nothing Meta sends later changes these

ALREADY_REQUESTED = 2593107  # this sync type was already started for the number
WINDOW_CLOSED = 2593108  # more than 24 hours after onboarding
HISTORY_DECLINED = 2593109  # in a history webhook: the business chose not to share its chats

WINDOW_MS = 24 * 3_600_000  # Meta: both syncs must be started within 24 hours of onboarding
ATTEMPT_LEASE_MS = 120_000  # an attempt still in flight after this long died with its process
RETRY_BACKOFF_MS = (5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000)  # then hourly, inside the window
# Meta's contacts sync has no progress and no end marker: the contacts arrive in one or more
# smb_app_state_sync webhooks, and the sync counts as completed once none came for this long.
CONTACTS_SETTLE_MS = 120_000

EVENT = "whatsapp.phone_number.coexistence_sync_updated"


def _get(phone: PhoneNumber, sync: str, name: str) -> Any:
    return getattr(phone, f"{sync}_sync_{name}")


def _put(phone: PhoneNumber, sync: str, **values: Any) -> None:
    for name, value in values.items():
        setattr(phone, f"{sync}_sync_{name}", value)


def start(phone: PhoneNumber, *, history_sync: bool, now: int) -> None:
    """A signup finished with this Business app number: both syncs are due now (the history
    only when the mode's `coexistence.history_sync` is on). A new signup opens a new window,
    so a number connected again starts afresh, as Meta allows after a new Embedded Signup."""
    phone.coexistence_onboarded_at = now
    for sync in SYNCS:
        wanted = sync == CONTACTS or history_sync
        _put(
            phone, sync, status=NOT_REQUESTED, request_id=None, requested_at=None, completed_at=None, error=None,
            attempts=0, next_at=now if wanted else None,
        )
    phone.history_sync_progress = phone.history_sync_phase = None


def _meta_error(error: MetaError, now: int) -> dict[str, Any]:
    return {**error.as_dict(), "at": to_iso(now)}


def _code_of(error: MetaError) -> int | None:
    """Meta's coexistence codes come as the error's code or, on some answers, its subcode."""
    for code in (error.code, error.subcode):
        if code in (ALREADY_REQUESTED, WINDOW_CLOSED):
            return code
    return error.code


def emit_update(db: AsyncSession, phone: PhoneNumber, now: int) -> None:
    """The outbound event for a status change of either sync (not for each progress step)."""
    outbox.emit(
        db,
        organization_id=phone.organization_id,
        livemode=phone.livemode,
        type=EVENT,
        data=phone_object(phone),
        at=now,
    )


def _set_status(phone: PhoneNumber, sync: str, status: str, now: int) -> bool:
    if _get(phone, sync, "status") == status:
        return False
    _put(phone, sync, status=status)
    if status in FINAL:
        _put(phone, sync, completed_at=now)
    phone.updated_at = now
    return True


async def _locked(db: AsyncSession, phone_id: str) -> PhoneNumber | None:
    return await db.scalar(
        select(PhoneNumber).where(PhoneNumber.id == phone_id).with_for_update().execution_options(populate_existing=True)
    )


# -- asking Meta ---------------------------------------------------------------------------------


async def request(runtime: Runtime, phone_id: str, sync: str) -> None:
    """One attempt to start one sync: counted and leased, Meta called with no transaction
    open, the answer recorded."""
    async with runtime.sessions() as db:
        async with db.begin():
            phone = await _locked(db, phone_id)
            if phone is None or _get(phone, sync, "status") != NOT_REQUESTED:
                return
            profile = await db.get(BusinessProfile, phone.business_profile_id)
            now = now_ms()
            if profile.status != "connected" or phone.coexistence_onboarded_at is None:
                _put(phone, sync, next_at=None)  # disconnected: the token is gone, nothing to ask
                return
            if now >= phone.coexistence_onboarded_at + WINDOW_MS:
                _put(phone, sync, next_at=None, error={
                    "code": None, "subcode": None, "fbtrace_id": None, "at": to_iso(now),
                    "message": "Meta's 24-hour window after onboarding passed before the sync could be started",
                })
                if _set_status(phone, sync, EXPIRED, now):
                    emit_update(db, phone, now)
                return
            _put(phone, sync, attempts=_get(phone, sync, "attempts") + 1, next_at=now + ATTEMPT_LEASE_MS)
            token = open_profile_token(runtime.keyring, profile.organization_id, profile.id, profile.token_encrypted)
            organization_id, livemode, phone_number_id = profile.organization_id, profile.livemode, phone.phone_number_id
        error: MetaError | None = None
        request_id: str | None = None
        try:
            _, graph, _ = await meta_for(runtime, organization_id, livemode)
        except ConfigurationError:
            return  # no Meta app (any more): asked again once the lease runs out, after an operator fixes it
        try:
            request_id = await graph.request_sync(phone_number_id, SYNC_TYPES[sync], token)
        except MetaError as problem:
            error = problem
        async with db.begin():
            await record_answer(db, phone_id, sync, request_id, error)


async def record_answer(db: AsyncSession, phone_id: str, sync: str, request_id: str | None, error: MetaError | None) -> None:
    phone = await _locked(db, phone_id)
    now = now_ms()
    pending = _get(phone, sync, "status") == NOT_REQUESTED  # else a webhook got here first
    code = _code_of(error) if error is not None else None
    if error is None or code == ALREADY_REQUESTED:
        # 2593107 on a repeat means an earlier attempt reached Meta: Meta has the request.
        _put(phone, sync, request_id=request_id or _get(phone, sync, "request_id"), error=None)
        _put(phone, sync, requested_at=_get(phone, sync, "requested_at") or now)
        if pending:
            _put(phone, sync, next_at=None)
            _set_status(phone, sync, REQUESTED, now)
            emit_update(db, phone, now)
        return
    if not pending:
        return
    _put(phone, sync, error=_meta_error(error, now), next_at=None)
    if code == WINDOW_CLOSED:
        status = EXPIRED
    elif error.transient:
        attempts = _get(phone, sync, "attempts")
        retry_at = now + RETRY_BACKOFF_MS[min(attempts, len(RETRY_BACKOFF_MS)) - 1]
        if retry_at < phone.coexistence_onboarded_at + WINDOW_MS:
            _put(phone, sync, next_at=retry_at)
            phone.updated_at = now
            return
        status = EXPIRED
    else:
        status = FAILED
    _set_status(phone, sync, status, now)
    emit_update(db, phone, now)


async def run_due(runtime: Runtime, now: int, limit: int = 20) -> int:
    """The worker's pass: syncs due to be asked for (new, retried, or left in flight by a crash)
    are asked for, concurrently; contacts quiet for CONTACTS_SETTLE_MS are completed."""
    work: list[tuple[str, str]] = []
    async with runtime.sessions() as db:
        async with db.begin():
            phones = await db.scalars(
                select(PhoneNumber)
                .where(or_(PhoneNumber.contacts_sync_next_at <= now, PhoneNumber.history_sync_next_at <= now))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            for phone in phones:
                for sync in SYNCS:
                    due = _get(phone, sync, "next_at")
                    if due is None or due > now:
                        continue
                    status = _get(phone, sync, "status")
                    if status == NOT_REQUESTED:
                        _put(phone, sync, next_at=now + ATTEMPT_LEASE_MS)  # claimed: others pass it by
                        work.append((phone.id, sync))
                        continue
                    _put(phone, sync, next_at=None)
                    if sync == CONTACTS and status == IN_PROGRESS and _set_status(phone, sync, COMPLETED, now):
                        emit_update(db, phone, now)
    await asyncio.gather(*(request(runtime, phone_id, sync) for phone_id, sync in work))
    return len(work)


# -- Meta's webhooks -------------------------------------------------------------------------------


def _integer(value: Any) -> int | None:
    """Meta's numbers, which some copies of its payloads quote."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _history_errors(value: dict[str, Any]) -> list[dict[str, Any]]:
    found = [item for item in value.get("errors") or [] if isinstance(item, dict)]
    for chunk in value.get("history") or []:
        if isinstance(chunk, dict):
            found += [item for item in chunk.get("errors") or [] if isinstance(item, dict)]
    return found


def history_arrived(db: AsyncSession, phone: PhoneNumber, value: dict[str, Any], now: int) -> None:
    """A `history` webhook for this number: chunks in any order, each with its phase and the
    overall progress (100: done), or Meta's error (2593109: the business declined)."""
    status = phone.history_sync_status
    if status in FINAL:
        return
    errors = _history_errors(value)
    if errors:
        error = errors[0]
        code = _integer(error.get("code"))
        phone.history_sync_error = {
            "code": code, "subcode": None, "fbtrace_id": None, "at": to_iso(now),
            "message": str(error.get("message") or error.get("title") or "Meta reported an error in the history sync")[:500],
        }
        phone.history_sync_next_at = None
        if _set_status(phone, HISTORY, DECLINED if code == HISTORY_DECLINED else FAILED, now):
            emit_update(db, phone, now)
        return
    progress, phase = phone.history_sync_progress, phone.history_sync_phase
    for chunk in value.get("history") or []:
        metadata = chunk.get("metadata") if isinstance(chunk, dict) else None
        if not isinstance(metadata, dict):
            continue
        chunk_progress, chunk_phase = _integer(metadata.get("progress")), _integer(metadata.get("phase"))
        if chunk_progress is not None:
            progress = max(progress or 0, min(chunk_progress, 100))  # never backwards: chunks come out of order
        if chunk_phase is not None:
            phase = max(phase or 0, chunk_phase)
    if progress == phone.history_sync_progress and phase == phone.history_sync_phase and status == IN_PROGRESS:
        return  # a redelivery, or a chunk older than what is known
    phone.history_sync_progress, phone.history_sync_phase = progress, phase
    phone.history_sync_requested_at = phone.history_sync_requested_at or now
    phone.history_sync_error = None
    if status == NOT_REQUESTED:
        phone.history_sync_next_at = None  # Meta has the request: an attempt in flight records its id
    phone.updated_at = now
    if _set_status(phone, HISTORY, COMPLETED if (progress or 0) >= 100 else IN_PROGRESS, now):
        emit_update(db, phone, now)


def contacts_arrived(db: AsyncSession, phone: PhoneNumber, now: int) -> None:
    """An `smb_app_state_sync` webhook for this number: the contacts sync is under way, and
    completed once no more arrive for CONTACTS_SETTLE_MS (the worker settles it). After that,
    the business's own edits keep coming: they are forwarded, the status stays."""
    if phone.contacts_sync_status in FINAL:
        return
    phone.contacts_sync_requested_at = phone.contacts_sync_requested_at or now
    phone.contacts_sync_error = None
    phone.contacts_sync_next_at = now + CONTACTS_SETTLE_MS
    phone.updated_at = now
    if _set_status(phone, CONTACTS, IN_PROGRESS, now):
        emit_update(db, phone, now)
