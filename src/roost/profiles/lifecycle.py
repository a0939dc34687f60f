"""Connecting and disconnecting business profiles (SPEC 5.2).

A DELETE disconnects the profile in Roost at once, then unsubscribes Roost's Meta app from the
WABA (`DELETE /{waba}/subscribed_apps`). That call can fail — Meta has outages — so it is a
durable task on the profile row: `unsubscribe_status = pending` until Meta confirms, retried
by the worker with back-off, so that a Meta outage never leaves the app subscribed to a WABA
the platform let go of. A Meta refusal that retrying cannot fix (the customer already removed
the app, so the token no longer works) ends as `failed`, with Meta's error on the profile.
"""

import asyncio

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.timeutil import now_ms, to_iso
from roost.meta.graph import MetaError
from roost.organizations.meta_app import meta_for
from roost.profiles.models import BusinessProfile
from roost.organizations.service import Caller
from roost.profiles.service import CONNECTED, DISCONNECTED, get_profile, profile_with_numbers
from roost.profiles.tokens import open_profile_token
from roost.runtime import ConfigurationError, Runtime
from roost.sessions.models import SignupSession
from roost.sessions.state import SessionStatus
from roost.webhooks import outbox

log = structlog.get_logger("roost.profiles")

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
UNSUBSCRIBE_LEASE_MS = 90_000
# After a transient failure: 1 min, 5 min, 30 min, 2 h, 6 h, then every 12 h until Meta answers.
UNSUBSCRIBE_BACKOFF_MS = (60_000, 300_000, 1_800_000, 7_200_000, 21_600_000, 43_200_000)
RECONNECT_WAIT_MS = 60_000
# How long a DELETE waits for Meta before answering with `pending` (a slow Meta must not hold the
# platform's request; the attempt is cancelled and the worker retries it when its lease runs out).
UNSUBSCRIBE_WAIT_SECONDS = 5.0


async def mark_disconnected(db: AsyncSession, profile: BusinessProfile, *, at: int, reason: str) -> bool:
    """Soft-delete a locked profile row and emit `whatsapp.business_profile.disconnected`.

    False when it already was disconnected (a second DELETE or a redelivered PARTNER_REMOVED
    changes nothing). Unsubscribing the app from the WABA is the caller's business: it is a call
    to Meta, made outside the transaction, and not wanted when Meta removed the partner itself.
    """
    if profile.status != CONNECTED:
        return False
    profile.status = DISCONNECTED
    profile.disconnected_at = at
    profile.disconnect_reason = reason
    profile.updated_at = at
    outbox.emit(
        db,
        organization_id=profile.organization_id,
        livemode=profile.livemode,
        type="whatsapp.business_profile.disconnected",
        data=await profile_with_numbers(db, profile),
        at=at,
    )
    return True


async def disconnect(db: AsyncSession, profile: BusinessProfile, *, at: int) -> bool:
    """The platform's DELETE, on a locked row: disconnect and queue the unsubscribe, in the
    caller's transaction. False when the profile already was disconnected (nothing changes).

    The unsubscribe is leased to the caller, who attempts it once the transaction commits; if
    the process dies first, the worker finds it when the lease runs out."""
    if profile.status != CONNECTED:
        return False
    profile.unsubscribe_status = PENDING
    profile.unsubscribe_attempts = 0
    profile.unsubscribe_error = None
    profile.unsubscribed_at = None
    profile.unsubscribe_next_at = at + UNSUBSCRIBE_LEASE_MS
    return await mark_disconnected(db, profile, at=at, reason="api")


async def disconnect_by_platform(runtime: Runtime, db: AsyncSession, caller: Caller, profile_id: str) -> None:
    """A disconnect asked for by the platform (the API's DELETE, the console): disconnect in
    `db`'s own transaction, then try the unsubscribe for up to UNSUBSCRIBE_WAIT_SECONDS."""
    async with db.begin():
        profile = await get_profile(db, caller, profile_id, for_update=True)
        queued = await disconnect(db, profile, at=now_ms())
    if queued:
        try:
            await asyncio.wait_for(attempt_unsubscribe(runtime, profile.id, leased=True), UNSUBSCRIBE_WAIT_SECONDS)
        except TimeoutError:
            log.info("profile_unsubscribe_deferred", profile_id=profile.id)  # the worker takes over when the lease ends


async def _lock(db: AsyncSession, profile_id: str) -> BusinessProfile | None:
    return await db.scalar(
        select(BusinessProfile)
        .where(BusinessProfile.id == profile_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _reconnect_in_progress(db: AsyncSession, profile: BusinessProfile) -> bool:
    """Is a session of this organization provisioning the same WABA right now? Its
    `subscribe_app` step may already have run: unsubscribing now would undo it."""
    found = await db.scalar(
        select(SignupSession.id).where(
            SignupSession.organization_id == profile.organization_id,
            SignupSession.livemode == profile.livemode,
            SignupSession.waba_id == profile.waba_id,
            SignupSession.status == SessionStatus.PENDING,
            SignupSession.code_received_at.is_not(None),
        )
    )
    return found is not None


async def attempt_unsubscribe(runtime: Runtime, profile_id: str, *, leased: bool = False) -> bool | None:
    """One attempt to unsubscribe the app from a disconnected profile's WABA.

    `leased`: the caller holds the lease (the DELETE that just queued it); otherwise the
    attempt only runs when it is due. Returns True (unsubscribed), False (failed or retry
    scheduled) or None (nothing to do now)."""
    async with runtime.sessions() as db:
        async with db.begin():
            profile = await _lock(db, profile_id)
            now = now_ms()
            if profile is None or profile.status != DISCONNECTED or profile.unsubscribe_status != PENDING:
                return None
            if not leased and (profile.unsubscribe_next_at or 0) > now:
                return None
            if await _reconnect_in_progress(db, profile):
                profile.unsubscribe_next_at = now + RECONNECT_WAIT_MS
                return None
            profile.unsubscribe_next_at = now + UNSUBSCRIBE_LEASE_MS
            profile.unsubscribe_attempts += 1
            token = open_profile_token(runtime.keyring, profile.organization_id, profile.id, profile.token_encrypted)
            organization_id, livemode, waba_id = profile.organization_id, profile.livemode, profile.waba_id
        error: MetaError | None = None
        try:
            _, graph, _ = await meta_for(runtime, organization_id, livemode)
            await graph.unsubscribe_app(waba_id, token)
        except MetaError as problem:
            error = problem
        except ConfigurationError as problem:  # no Meta app configured any more: an operator can fix that
            error = MetaError(f"Meta is not reachable: {problem}", code=None, transient=True)
        async with db.begin():
            profile = await _lock(db, profile_id)
            if profile is None or profile.status != DISCONNECTED or profile.unsubscribe_status != PENDING:
                return None  # reconnected meanwhile: the new session owns the subscription
            now = now_ms()
            if error is None:
                profile.unsubscribe_status = SUCCEEDED
                profile.unsubscribed_at = now
                profile.unsubscribe_next_at = None
                profile.unsubscribe_error = None
                # Roost no longer acts for this customer: it forgets the token (a reconnection brings a new one).
                profile.token_encrypted = None
            elif error.transient:
                delay = UNSUBSCRIBE_BACKOFF_MS[min(profile.unsubscribe_attempts, len(UNSUBSCRIBE_BACKOFF_MS)) - 1]
                profile.unsubscribe_next_at = now + delay
                profile.unsubscribe_error = {**error.as_dict(), "at": to_iso(now)}
            else:
                profile.unsubscribe_status = FAILED
                profile.unsubscribe_next_at = None
                profile.unsubscribe_error = {**error.as_dict(), "at": to_iso(now)}
            profile.updated_at = now
            log.info(
                "profile_unsubscribe",
                profile_id=profile_id,
                outcome=profile.unsubscribe_status,
                attempt=profile.unsubscribe_attempts,
                code=None if error is None else error.code,
            )
            return error is None


async def unsubscribe_due(runtime: Runtime, now: int, limit: int = 20) -> int:
    """The worker's step: unsubscribes whose retry (or abandoned lease) is due. Returns how many succeeded."""
    async with runtime.sessions() as db, db.begin():
        due = list(
            await db.scalars(
                select(BusinessProfile.id)
                .where(BusinessProfile.unsubscribe_next_at <= now, BusinessProfile.unsubscribe_status == PENDING)
                .order_by(BusinessProfile.unsubscribe_next_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
    done = 0
    for profile_id in due:
        if await attempt_unsubscribe(runtime, profile_id):
            done += 1
    return done
