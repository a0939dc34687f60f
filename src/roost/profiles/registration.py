"""Registering numbers on the Cloud API (SPEC 5.1, 5.2): one attempt at a time, never blindly
repeated (Meta counts them), during provisioning, on a platform's request, and from the worker's
sweeps for numbers verified after signup and attempts a crash cut short."""

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.crypto import Keyring
from roost.kit.timeutil import now_ms, to_iso
from roost.meta.graph import GraphClient, MetaError
from roost.organizations.meta_app import meta_for
from roost.profiles.models import BusinessProfile, PhoneNumber
from roost.profiles.service import CONNECTED, phone_object
from roost.profiles.tokens import open_profile_token
from roost.runtime import Runtime
from roost.sessions.models import SignupSession
from roost.sessions.state import emit_webhook, record_event
from roost.webhooks import outbox

# A registration attempt still marked in flight after this long died with its process. Longer
# than provisioning's lease, so during provisioning the step's own resume gets to it first.
REGISTRATION_LEASE_MS = 120_000
MAX_INTERRUPTED_ATTEMPTS = 5
REGISTRATION_WINDOW_MS = 14 * 24 * 3_600_000  # Meta: register within 14 days of signup
VERIFICATION_CHECK_EVERY_MS = 5 * 60_000


async def registrable_numbers(db: AsyncSession, profile_id: str) -> list[str]:
    """The ids of a new profile's numbers to register: verified, not on the Business app, and
    not tried yet, or tried by an attempt that a crash cut short."""
    return list(
        await db.scalars(
            select(PhoneNumber.id).where(
                PhoneNumber.business_profile_id == profile_id,
                PhoneNumber.cloud_api_registered.is_(False),
                PhoneNumber.is_on_biz_app.is_(False),
                PhoneNumber.code_verification_status == "VERIFIED",
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


@dataclass(frozen=True)
class Attempt:
    """A registration attempt, counted and marked in flight: what the call to Meta needs."""

    phone_id: str
    phone_number_id: str
    pin: str
    token: str
    data_localization_region: str | None = None


async def _locked_phone(db: AsyncSession, phone_id: str) -> PhoneNumber:
    return await db.scalar(
        select(PhoneNumber).where(PhoneNumber.id == phone_id).with_for_update().execution_options(populate_existing=True)
    )


async def begin_attempt(
    db: AsyncSession, keyring: Keyring, phone_id: str, pin: str | None = None, region: str | None = None
) -> Attempt:
    """Count the attempt and mark it in flight before Meta is called, so a crash leaves a trace
    (the PIN and local storage region are stored first: a later attempt uses the same)."""
    phone = await _locked_phone(db, phone_id)
    profile = await db.get(BusinessProfile, phone.business_profile_id)
    context = f"pin:{phone.organization_id}:{phone.id}"
    if pin is None:
        pin = keyring.decrypt(phone.pin_encrypted, context) if phone.pin_encrypted else f"{secrets.randbelow(10**6):06d}"
    phone.pin_encrypted = keyring.encrypt(pin, context)
    if region is not None:
        phone.data_localization_region = region
    phone.registration_attempts += 1
    phone.registration_started_at = now_ms()
    token = open_profile_token(keyring, profile.organization_id, profile.id, profile.token_encrypted)
    return Attempt(phone.id, phone.phone_number_id, pin, token, phone.data_localization_region)


async def call_meta(graph: GraphClient, attempt: Attempt) -> MetaError | None:
    try:
        await graph.register_phone(attempt.phone_number_id, attempt.pin, attempt.token, attempt.data_localization_region)
    except MetaError as problem:
        return problem
    return None


async def record_outcome(db: AsyncSession, attempt: Attempt, error: MetaError | None) -> None:
    """Meta's answer on the number, in its webhook, and on the timeline of the session that
    connected it (if it still exists)."""
    phone = await _locked_phone(db, attempt.phone_id)
    profile = await db.get(BusinessProfile, phone.business_profile_id)
    now = now_ms()
    phone.registration_started_at = None
    phone.cloud_api_registered = error is None
    phone.registration_error = None if error is None else {**error.as_dict(), "at": to_iso(now)}
    phone.updated_at = now
    event_type = "whatsapp.phone_number.registered" if error is None else "whatsapp.phone_number.registration_failed"
    data = phone_object(phone)
    session = await db.get(SignupSession, profile.session_id) if profile.session_id else None
    if session is None:
        outbox.emit(db, organization_id=profile.organization_id, livemode=profile.livemode, type=event_type, data=data, at=now)
    else:
        record_event(
            db, session, "provisioning.step", now,
            {"step": "register_phone", "phone_number_id": attempt.phone_number_id,
             "status": "succeeded" if error is None else "failed",
             "error": None if error is None else error.as_dict()},
        )
        emit_webhook(db, session, event_type, data, now)


async def register_number(runtime: Runtime, phone_id: str, pin: str | None = None, region: str | None = None) -> bool:
    """One registration attempt for one number (Meta counts them: never blindly repeated)."""
    async with runtime.sessions() as db:
        async with db.begin():
            attempt = await begin_attempt(db, runtime.keyring, phone_id, pin, region)
            profile = await db.get(BusinessProfile, (await db.get(PhoneNumber, phone_id)).business_profile_id)
            organization_id, livemode = profile.organization_id, profile.livemode
        _, graph, _ = await meta_for(runtime, organization_id, livemode)
        error = await call_meta(graph, attempt)
        async with db.begin():
            await record_outcome(db, attempt, error)
        return error is None


async def register_newly_verified(runtime: Runtime, now: int, limit: int = 20) -> int:
    """Numbers that finished signup unverified are registered once Meta says they are verified
    (checked every few minutes, for the 14 days in which Meta allows registration). An attempt
    made while the number was unverified (a platform's retry) does not take it off the list:
    that attempt failed for a reason that is now gone. Meta's answer VERIFIED is stored before
    registering, so each verification leads to one attempt at most, never a blind repeat."""
    async with runtime.sessions() as db:
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
                profile = await db.get(BusinessProfile, profile_id)
                if profile.status != CONNECTED:
                    continue
                token = open_profile_token(runtime.keyring, profile.organization_id, profile.id, profile.token_encrypted)
                organization_id, livemode = profile.organization_id, profile.livemode
            try:
                _, graph, _ = await meta_for(runtime, organization_id, livemode)
                status = (await graph.phone_number(phone_number_id, token)).code_verification_status
            except MetaError:
                continue  # asked again at the next check
            async with db.begin():
                phone = await db.get(PhoneNumber, phone_id, with_for_update=True)
                phone.code_verification_status = status
            if status == "VERIFIED" and await register_number(runtime, phone_id):
                registered += 1
        return registered


async def resume_interrupted_registrations(runtime: Runtime, now: int, limit: int = 20) -> int:
    """Attempts a crash cut short (Meta called, its answer never stored) are made again, so
    the number ends registered or with its error, and its webhook sent. During provisioning
    the step's own resume does it first (its lease is shorter); this catches the rest: a
    number verified after signup, a platform's retry. Bounded: a number whose attempts keep
    dying is left alone after MAX_INTERRUPTED_ATTEMPTS."""
    async with runtime.sessions() as db:
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
                connected = (await db.get(BusinessProfile, profile_id)).status == CONNECTED
                if not connected:  # disconnected meanwhile: its token is gone, nothing to register
                    phone = await db.get(PhoneNumber, phone_id, with_for_update=True)
                    phone.registration_started_at = None
            if connected:
                await register_number(runtime, phone_id)
                resumed += 1
        return resumed


async def _claim_phones(db, limit: int, *conditions: Any) -> list[PhoneNumber]:
    """Up to `limit` numbers matching `conditions`, locked; those another process holds are
    skipped (the caller marks what it took before committing, so they pass it by after)."""
    query = select(PhoneNumber).where(*conditions).limit(limit).with_for_update(skip_locked=True)
    return list(await db.scalars(query))
