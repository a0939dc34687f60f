"""Connecting and disconnecting business profiles (SPEC 5.2)."""

from sqlalchemy.ext.asyncio import AsyncSession

from roost.profiles.models import BusinessProfile
from roost.profiles.service import CONNECTED, DISCONNECTED, phone_numbers_of, profile_object
from roost.webhooks import outbox


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
    phones = (await phone_numbers_of(db, [profile.id])).get(profile.id, [])
    outbox.emit(
        db,
        organization_id=profile.organization_id,
        livemode=profile.livemode,
        type="whatsapp.business_profile.disconnected",
        data=profile_object(profile, phones),
        at=at,
    )
    return True
