"""Business profiles and their phone numbers: storage and presentation (SPEC 5.2)."""

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors, pagination
from roost.kit.ids import new_id
from roost.meta.events import ACCOUNT_REVIEW_UPDATE, PARTNER_ADDED, REVIEW_DECISIONS
from roost.meta.models import MetaWebhookChange
from roost.meta.nodes import BusinessPhoneNumber
from roost.organizations.service import Caller, find_owned, mode_settings
from roost.profiles.models import BusinessProfile, PhoneNumber
from roost.profiles.schemas import phone_object, profile_object, unsubscribe_object  # noqa: F401 - callers use service.*
from roost.sessions.models import SessionMetadataValue
from roost.sessions.service import metadata_digest

CONNECTED = "connected"
DISCONNECTED = "disconnected"


async def connected_elsewhere(db: AsyncSession, waba_id: str, organization_id: str, livemode: bool) -> bool:
    """Is this WABA connected to another organization (in the same mode)?"""
    other = await db.scalar(
        select(BusinessProfile.id).where(
            BusinessProfile.waba_id == waba_id,
            BusinessProfile.status == CONNECTED,
            BusinessProfile.livemode == livemode,
            BusinessProfile.organization_id != organization_id,
        )
    )
    return other is not None


async def upsert_profile(
    db: AsyncSession,
    *,
    organization_id: str,
    livemode: bool,
    session_id: str,
    waba_id: str,
    business_id: str | None,
    business_name: str | None,
    coexistence: bool,
    token_encrypted: str,
    now: int,
) -> BusinessProfile:
    """Create the profile, or reconnect the one this organization had for the same WABA."""
    # Two sessions finishing with the same WABA at once (several processes on PostgreSQL) would
    # both find no profile and both insert one: the second failing on the unique constraint.
    # Taking the mode's settings row first makes them create-or-reconnect one after the other.
    await mode_settings(db, organization_id, livemode, for_update=True)
    profile = await db.scalar(
        select(BusinessProfile)
        .where(
            BusinessProfile.organization_id == organization_id,
            BusinessProfile.livemode == livemode,
            BusinessProfile.waba_id == waba_id,
        )
        .with_for_update()
    )
    if profile is None:
        profile = BusinessProfile(id=new_id("wabp"), organization_id=organization_id, livemode=livemode, waba_id=waba_id, created_at=now)
        db.add(profile)
    profile.session_id = session_id
    profile.business_id = business_id or profile.business_id
    profile.business_name = business_name or profile.business_name
    profile.coexistence = coexistence
    profile.token_encrypted = token_encrypted
    profile.token_expires_at = None  # Embedded Signup business tokens do not expire
    profile.onboarding_completed_at = now
    profile.status = CONNECTED
    profile.disconnected_at = profile.disconnect_reason = None  # a reconnection reuses the record
    # A reconnection also calls off an unsubscribe still waiting for a retry: the new session has
    # just subscribed the app again, and a late unsubscribe would silence the WABA.
    profile.unsubscribe_status = profile.unsubscribe_next_at = profile.unsubscribe_error = None
    profile.unsubscribed_at = None
    profile.unsubscribe_attempts = 0
    profile.updated_at = now
    await db.flush()
    return profile


async def upsert_phone_number(db: AsyncSession, profile: BusinessProfile, meta_phone: BusinessPhoneNumber, now: int) -> PhoneNumber:
    phone = await db.scalar(
        select(PhoneNumber).where(
            PhoneNumber.business_profile_id == profile.id, PhoneNumber.phone_number_id == meta_phone.id
        )
    )
    if phone is None:
        phone = PhoneNumber(
            id=new_id("wapn"),
            business_profile_id=profile.id,
            organization_id=profile.organization_id,
            livemode=profile.livemode,
            phone_number_id=meta_phone.id,
            onboarded_at=now,
            created_at=now,
            registration_attempts=0,
            cloud_api_registered=False,
        )
        db.add(phone)
    phone.display_phone_number = meta_phone.display_phone_number
    phone.verified_name = meta_phone.verified_name
    phone.quality_rating = meta_phone.quality_rating
    phone.code_verification_status = meta_phone.code_verification_status
    phone.is_on_biz_app = meta_phone.is_on_biz_app
    phone.name_status = meta_phone.name_status or phone.name_status
    phone.messaging_limit_tier = meta_phone.whatsapp_business_manager_messaging_limit or phone.messaging_limit_tier
    # A number Meta already reports as connected (coexistence) needs no registration.
    if meta_phone.status == "CONNECTED" and meta_phone.platform_type == "CLOUD_API":
        phone.cloud_api_registered = True
    phone.updated_at = now
    return phone


async def _latest_change(db: AsyncSession, profile: BusinessProfile, app_id: str, *conditions: Any, order_by: tuple) -> MetaWebhookChange | None:
    """The newest of Meta's stored changes for the profile's WABA and this app that meets `conditions`."""
    return await db.scalar(
        select(MetaWebhookChange)
        .where(
            MetaWebhookChange.waba_id == profile.waba_id,
            MetaWebhookChange.app_id == app_id,
            MetaWebhookChange.livemode == profile.livemode,
            *conditions,
        )
        .order_by(*order_by, MetaWebhookChange.id.desc())
        .limit(1)
    )


async def record_solution(db: AsyncSession, profile: BusinessProfile, app_id: str) -> None:
    """The Multi-Partner Solution the WABA joined, from the latest PARTNER_ADDED for it and this
    app that names one (it may arrive before the profile exists, or after)."""
    change = await _latest_change(
        db, profile, app_id,
        MetaWebhookChange.event == PARTNER_ADDED, MetaWebhookChange.solution_id.is_not(None),
        order_by=(MetaWebhookChange.received_at.desc(),),
    )
    if change is not None:
        profile.solution_id = change.solution_id
        profile.solution_partner_business_ids = list(change.solution_partner_business_ids or [])


async def record_review(db: AsyncSession, profile: BusinessProfile, app_id: str) -> None:
    """Meta's latest review decision for the WABA and this app, when it came before the profile
    existed (Meta commonly reviews a new account while provisioning still runs) and is newer than
    what the profile holds. The profile's own event (connected) carries it."""
    change = await _latest_change(
        db, profile, app_id,
        MetaWebhookChange.field == ACCOUNT_REVIEW_UPDATE, MetaWebhookChange.decision.in_(REVIEW_DECISIONS),
        order_by=(MetaWebhookChange.occurred_at.desc(), MetaWebhookChange.received_at.desc()),
    )
    if change is None:
        return
    decided_at = change.occurred_at or change.received_at
    if profile.review_decided_at is None or profile.review_decided_at <= decided_at:
        profile.review_status = change.decision
        profile.review_decided_at = decided_at


async def phone_numbers_of(db: AsyncSession, profile_ids: list[str]) -> dict[str, list[PhoneNumber]]:
    grouped: dict[str, list[PhoneNumber]] = {profile_id: [] for profile_id in profile_ids}
    if profile_ids:
        rows = await db.scalars(
            select(PhoneNumber)
            .where(PhoneNumber.business_profile_id.in_(profile_ids))
            .order_by(PhoneNumber.created_at, PhoneNumber.id)
        )
        for phone in rows:
            grouped[phone.business_profile_id].append(phone)
    return grouped


async def get_profile(db: AsyncSession, caller: Caller, profile_id: str, *, for_update: bool = False) -> BusinessProfile:
    return await find_owned(db, caller, BusinessProfile, profile_id, prefix="wabp", noun="business profile", for_update=for_update)



async def profile_with_numbers(db: AsyncSession, profile: BusinessProfile) -> dict[str, Any]:
    """The profile object with its phone numbers read now (for responses and webhook events)."""
    phones = await phone_numbers_of(db, [profile.id])
    return profile_object(profile, phones.get(profile.id, []))


async def present_profile(db: AsyncSession, caller: Caller, profile_id: str) -> dict[str, Any]:
    """The caller's profile, as the API shows it (404 otherwise)."""
    return await profile_with_numbers(db, await get_profile(db, caller, profile_id))


async def get_phone_number(db: AsyncSession, caller: Caller, phone_id: str, *, for_update: bool = False) -> PhoneNumber:
    return await find_owned(db, caller, PhoneNumber, phone_id, prefix="wapn", noun="phone number", for_update=for_update)



async def registrable_phone(db: AsyncSession, caller: Caller, phone_id: str) -> PhoneNumber:
    """The caller's number, if an attempt to register it may be made now (else 404 or 409)."""
    phone = await get_phone_number(db, caller, phone_id)
    profile = await db.get(BusinessProfile, phone.business_profile_id)
    if profile.status != CONNECTED:
        raise errors.conflict("profile_disconnected", "This number's business profile is disconnected")
    if phone.cloud_api_registered:
        raise errors.conflict("phone_already_registered", "This number is already registered on the Cloud API")
    return phone


async def list_profiles(
    db: AsyncSession,
    caller: Caller,
    *,
    session_id: str | None,
    waba_id: str | None,
    status: str | None,
    metadata: dict[str, str],
    page: pagination.Page,
) -> tuple[list[BusinessProfile], bool]:
    P = BusinessProfile
    query = select(P).where(P.organization_id == caller.organization_id, P.livemode == caller.livemode)
    if session_id:
        query = query.where(P.session_id == session_id)
    if waba_id:
        query = query.where(P.waba_id == waba_id)
    if status:
        query = query.where(P.status == status)
    for index, (key, value) in enumerate(metadata.items()):
        # The metadata of the session that connected the profile.
        meta = SessionMetadataValue.__table__.alias(f"pm{index}")
        query = query.join(
            meta, and_(meta.c.session_id == P.session_id, meta.c.key == key, meta.c.value_digest == metadata_digest(value))
        )
    if page.cursor_id:
        row = (
            await db.execute(
                select(P.created_at, P.id).where(
                    P.id == page.cursor_id, P.organization_id == caller.organization_id, P.livemode == caller.livemode
                )
            )
        ).first()
        if row is None:
            param = page.cursor_param
            raise errors.invalid("parameter_invalid", f"{param} must be the id of one of your business profiles", param=param)
        query = query.where(pagination.after_cursor(P.created_at, P.id, (row.created_at, row.id), page.newest_first))
    rows = list(await db.scalars(query.order_by(*pagination.order_by(P.created_at, P.id, page.newest_first)).limit(page.limit + 1)))
    return pagination.trim(rows, page)
