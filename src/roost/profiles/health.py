"""Account health (issue 16): what Meta's lifecycle webhooks say of a WABA and its numbers, kept
on the profile and applied once each, in the order of Meta's own timestamps.

Each kind of news is a *dimension* (who the WABA is shared with, whether the account exists,
its ban, its restrictions, its last violation, each event Roost only records…) stored in
`BusinessProfile.health` with Meta's time (`entry.time`) of the change that set it. A change
older than the one a dimension holds is stored (inbound.service dedupes and keeps it) but never
overwrites the newer one, so a webhook Meta delivers late cannot undo what followed it.

`health.status` is derived, never stored: the worst of the dimensions (health_view.STATUS_ORDER). A
restriction ends by itself at its `expiration`; Meta sends nothing then, so the status is worked
out when the object is rendered.

A pending review, or a number that is not yet verified or registered, is never `disconnected`:
only Roost's own link (the profile's `status`) and Meta's ACCOUNT_OFFBOARDED / ACCOUNT_DELETED say
the account is gone (peers show a false "reconnect" while Meta is still reviewing a new account).
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors
from roost.kit.timeutil import now_ms
from roost.meta import events as meta
from roost.meta.graph import MetaError
from roost.meta.nodes import BusinessPhoneNumber
from roost.organizations.meta_app import meta_for
from roost.organizations.service import Caller
from roost.profiles import service
from roost.profiles.health_view import LINK_ENDED, comparable, dimensions_of
from roost.profiles.lifecycle import mark_disconnected
from roost.profiles.models import BusinessProfile, PhoneNumber
from roost.profiles.numbers import provider_refusal
from roost.profiles.schemas import phone_object
from roost.profiles.service import profile_with_numbers
from roost.profiles.tokens import open_profile_token
from roost.runtime import Runtime
from roost.webhooks import outbox

HEALTH_UPDATED = "whatsapp.business_profile.health_updated"
REVIEW_UPDATED = "whatsapp.business_profile.review_updated"
QUALITY_UPDATED = "whatsapp.phone_number.quality_updated"
NAME_UPDATED = "whatsapp.phone_number.name_updated"

# account_update event -> the dimension it sets. Events not listed are only recorded (`notices`).
_DIMENSION = {
    meta.PARTNER_ADDED: "partner",
    meta.PARTNER_APP_INSTALLED: "partner",
    meta.PARTNER_APP_UNINSTALLED: "partner",
    meta.PARTNER_REMOVED: "partner",
    meta.ACCOUNT_DELETED: "account",
    meta.ACCOUNT_OFFBOARDED: "account",
    meta.ACCOUNT_RECONNECTED: "account",
    meta.DISABLED_UPDATE: "ban",
    meta.ACCOUNT_RESTRICTION: "restrictions",
    meta.ACCOUNT_VIOLATION: "violation",
}
# What a recorded-only event keeps of its value (Meta's keys, research §5.3).
_NOTICE_KEYS = {
    meta.MM_LITE_TERMS_SIGNED: (),
    meta.AD_ACCOUNT_LINKED: ("waba_info.ad_account_linked",),
    meta.AUTH_INTL_PRICE_ELIGIBILITY_UPDATE: ("auth_international_rate_eligibility",),
    meta.BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE: ("country",),
    meta.VOLUME_BASED_PRICING_TIER_UPDATE: ("volume_tier_info",),
    meta.PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE: ("partner_client_certification_info",),
}
NOTICE_MAX_BYTES = 8_192
# phone_number_name_update's decision as the phone number node's name_status (file 15402).
_NAME_STATUS = {"APPROVED": "APPROVED", "REJECTED": "DECLINED", "PENDING": "PENDING_REVIEW", "DEFERRED": "PENDING_REVIEW"}


@dataclass(frozen=True)
class Change:
    """One stored webhook change, as health applies it."""

    field: str
    event: str | None
    value: dict[str, Any]
    occurred_at: int  # Meta's entry.time in ms (the receipt time when Meta gave none)
    received_at: int


# -- applying a change ----------------------------------------------------------------------------


def _newer(stored: dict[str, Any] | None, occurred_at: int) -> bool:
    """Does a change at `occurred_at` come after (or with) what a dimension holds?"""
    return stored is None or stored.get("at") is None or occurred_at >= stored["at"]


def _pick(value: dict[str, Any], path: str) -> Any:
    current: Any = value
    for key in path.split("."):
        current = current.get(key) if isinstance(current, dict) else None
    return current


def _text(value: Any, limit: int = 64) -> str | None:
    return str(value)[:limit] if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


def _restrictions(value: dict[str, Any]) -> list[dict[str, Any]]:
    items = value.get("restriction_info")
    items = items if isinstance(items, list) else [items] if isinstance(items, dict) else []
    kept = []
    for item in items[:20]:
        if not isinstance(item, dict):
            continue
        expiration = item.get("expiration")
        kept.append({
            "restriction_type": _text(item.get("restriction_type")),
            "expiration": expiration if isinstance(expiration, int) and not isinstance(expiration, bool) else None,
            "remediation": _text(item.get("remediation"), 500),
        })
    return kept


def _set_dimension(dimensions: dict[str, Any], change: Change) -> bool:
    """Write the account_update `change` into its dimension; False when an older change is late."""
    event, value, at = change.event, change.value, change.occurred_at
    name = _DIMENSION.get(event or "")
    if name is None:
        if event not in _NOTICE_KEYS:
            return False  # an event Meta may add later: stored by inbound, not shown
        notices = dict(dimensions.get("notices") or {})
        if not _newer(notices.get(event), at):
            return False
        kept = {path.split(".")[-1]: _pick(value, path) for path in _NOTICE_KEYS[event]}
        kept = {key: item for key, item in kept.items() if item is not None}
        if len(json.dumps(kept)) > NOTICE_MAX_BYTES:
            kept = {}  # far beyond any of Meta's: the event is recorded, its payload is not
        notices[event] = {"at": at, "value": kept}
        dimensions["notices"] = notices
        return True
    if not _newer(dimensions.get(name), at):
        return False
    if name == "partner":
        info = value.get("disconnection_info") if isinstance(value.get("disconnection_info"), dict) else None
        dimensions[name] = {"event": event, "at": at, "disconnection_info": {
            "reason": _text(info.get("reason")), "initiated_by": _text(info.get("initiated_by"))} if info else None}
    elif name == "account":
        dimensions[name] = {"event": event, "at": at}
    elif name == "ban":
        ban = value.get("ban_info") if isinstance(value.get("ban_info"), dict) else {}
        dimensions[name] = {"state": _text(ban.get("waba_ban_state")), "date": _text(ban.get("waba_ban_date")), "at": at}
    elif name == "restrictions":
        dimensions[name] = {"items": _restrictions(value), "at": at}
    elif name == "violation":
        violation = value.get("violation_info") if isinstance(value.get("violation_info"), dict) else {}
        dimensions[name] = {"violation_type": _text(violation.get("violation_type")), "at": at}
    return True


async def _emit(db: AsyncSession, profile: BusinessProfile, type: str, at: int) -> None:
    outbox.emit(db, organization_id=profile.organization_id, livemode=profile.livemode, type=type,
                data=await profile_with_numbers(db, profile), at=at)


def _emit_number(db: AsyncSession, phone: PhoneNumber, type: str, at: int) -> None:
    """A number's event: the number as the API shows it, with its profile (as registration's)."""
    data = phone_object(phone)
    outbox.emit(db, organization_id=phone.organization_id, livemode=phone.livemode, type=type, data=data, at=at)


async def apply_to_profile(db: AsyncSession, profile: BusinessProfile, change: Change) -> None:
    """Apply one stored change of an applied field to a locked profile of the WABA, in the
    caller's transaction (which also stored the change: a redelivery finds it and stops)."""
    before = comparable(profile, change.received_at)
    if change.field == meta.ACCOUNT_REVIEW_UPDATE:
        await _apply_review(db, profile, change)
    elif change.field == meta.ACCOUNT_UPDATE:
        dimensions = dimensions_of(profile)
        if _set_dimension(dimensions, change):
            profile.health = dimensions
            reason = LINK_ENDED.get(change.event or "")
            # A removal from before the profile's last (re)connection is history, not news
            # (Meta's time is in whole seconds: one in the same second counts as news).
            if reason is not None and change.occurred_at // 1000 >= (profile.onboarding_completed_at or 0) // 1000:
                await mark_disconnected(db, profile, at=change.received_at, reason=reason)
    elif change.field in (meta.PHONE_NUMBER_QUALITY_UPDATE, meta.PHONE_NUMBER_NAME_UPDATE):
        await _apply_to_numbers(db, profile, change)
    if comparable(profile, change.received_at) != before:
        profile.health_updated_at = change.received_at
        profile.updated_at = change.received_at
        await _emit(db, profile, HEALTH_UPDATED, change.received_at)


async def _apply_review(db: AsyncSession, profile: BusinessProfile, change: Change) -> None:
    decision = change.value.get("decision")
    if decision not in meta.REVIEW_DECISIONS:
        return
    if profile.review_decided_at is not None and profile.review_decided_at > change.occurred_at:
        return  # an older decision delivered late never overwrites a newer one
    profile.review_status = decision
    profile.review_decided_at = change.occurred_at
    profile.updated_at = change.received_at
    await _emit(db, profile, REVIEW_UPDATED, change.received_at)


def _digits(text: str | None) -> str:
    return "".join(char for char in text or "" if char.isdigit())


async def _apply_to_numbers(db: AsyncSession, profile: BusinessProfile, change: Change) -> None:
    """phone_number_quality_update / _name_update: Meta names the number by its display number."""
    wanted = _digits(_text(change.value.get("display_phone_number"), 40))
    if not wanted:
        return
    phones = await db.scalars(
        select(PhoneNumber).where(PhoneNumber.business_profile_id == profile.id).order_by(PhoneNumber.id).with_for_update()
    )
    for phone in phones:
        if _digits(phone.display_phone_number) != wanted:
            continue
        dimension = "quality" if change.field == meta.PHONE_NUMBER_QUALITY_UPDATE else "name"
        times = dict(phone.health_times or {})
        if times.get(dimension) is not None and times[dimension] > change.occurred_at:
            continue
        times[dimension] = change.occurred_at
        phone.health_times = times
        if dimension == "quality":
            event = _text(change.value.get("event"), 32)
            # current_limit is the number's own limit (Meta retires it for the portfolio's
            # max_daily_conversations_per_business, which then stands for it).
            limit = _text(change.value.get("current_limit"), 24) or _text(change.value.get("max_daily_conversations_per_business"), 24)
            phone.quality_event = event
            phone.messaging_limit_tier = limit or phone.messaging_limit_tier
            type = QUALITY_UPDATED
        else:
            decision = _text(change.value.get("decision"), 16)
            phone.name_status = _NAME_STATUS.get(decision or "", phone.name_status)
            phone.name_rejection_reason = _text(change.value.get("rejection_reason")) if decision == "REJECTED" else None
            requested = _text(change.value.get("requested_verified_name"), 255)
            if decision == "APPROVED" and requested:
                phone.verified_name = requested
            type = NAME_UPDATED
        phone.updated_at = change.received_at
        _emit_number(db, phone, type, change.received_at)


# -- refresh: Meta's current answer ---------------------------------------------------------------


def record_refresh(profile: BusinessProfile, *, review_status: str | None, can_send_message: str | None, at: int) -> None:
    """What a refresh read of the WABA: its review status and its messaging health now. Newer
    than any webhook so far, so the dimensions take `at` as their time."""
    if review_status is not None and review_status != profile.review_status:
        profile.review_status = review_status
        profile.review_decided_at = at
    dimensions = dimensions_of(profile)
    dimensions["can_send_message"] = {"value": can_send_message, "at": at}
    profile.health = dimensions


async def finish_refresh(db: AsyncSession, profile: BusinessProfile, before: dict[str, Any], review_before: str | None, at: int) -> None:
    """Events for what the refresh changed on the profile (the numbers emit their own)."""
    if profile.review_status != review_before:
        await _emit(db, profile, REVIEW_UPDATED, at)
    if comparable(profile, at) != before:
        profile.health_updated_at = at
        await _emit(db, profile, HEALTH_UPDATED, at)
    profile.updated_at = at


async def refresh(runtime: Runtime, caller: Caller, profile_id: str) -> dict[str, Any]:
    """POST …/refresh: read the WABA and its numbers from Meta again, store what changed (with
    events), return the profile. Only reads at Meta, so it is safe to repeat (no Idempotency-Key).
    Meta is called outside any transaction; its refusal is a 424, no answer a 502."""
    async with runtime.sessions() as db, db.begin():
        profile = await service.get_profile(db, caller, profile_id)
        if profile.status != service.CONNECTED or not profile.token_encrypted:
            raise errors.conflict("profile_disconnected", "This business profile is disconnected: Roost holds no token for it")
        token = open_profile_token(runtime.keyring, profile.organization_id, profile.id, profile.token_encrypted)
        organization_id, livemode, waba_id = profile.organization_id, profile.livemode, profile.waba_id
    _, graph, _ = await meta_for(runtime, organization_id, livemode)
    try:
        waba = await graph.waba_health(waba_id, token)
        meta_phones = await graph.phone_numbers(waba_id, token)
    except MetaError as problem:
        raise provider_refusal(problem, "refresh_failed", "give this account's state") from None
    async with runtime.sessions() as db, db.begin():
        profile = await db.get(BusinessProfile, profile_id, with_for_update=True, populate_existing=True)
        now = now_ms()
        # Meta's webhooks carry whole seconds: one sent in the same second as this read is newer.
        as_meta_time = now // 1000 * 1000
        before, review_before = comparable(profile, now), profile.review_status
        record_refresh(
            profile,
            review_status=waba.account_review_status,
            can_send_message=waba.health_status.can_send_message if waba.health_status else None,
            at=as_meta_time,
        )
        for meta_phone in meta_phones:
            await _refresh_number(db, profile, meta_phone, now, as_meta_time)
        await finish_refresh(db, profile, before, review_before, now)
        await db.flush()
        return await profile_with_numbers(db, profile)


async def _refresh_number(
    db: AsyncSession, profile: BusinessProfile, meta_phone: BusinessPhoneNumber, now: int, as_meta_time: int
) -> None:
    existing = await db.scalar(
        select(PhoneNumber)
        .where(PhoneNumber.business_profile_id == profile.id, PhoneNumber.phone_number_id == meta_phone.id)
        .with_for_update()
    )
    quality_before = (existing.quality_rating, existing.messaging_limit_tier) if existing else None
    name_before = (existing.name_status, existing.verified_name) if existing else None
    phone = await service.upsert_phone_number(db, profile, meta_phone, now)
    # Meta's answer now is newer than any webhook sent before it.
    phone.health_times = {"quality": as_meta_time, "name": as_meta_time}
    if phone.name_status != "DECLINED":
        phone.name_rejection_reason = None
    if existing is None:
        return  # a number added outside Roost: recorded, no change to report on it
    if (phone.quality_rating, phone.messaging_limit_tier) != quality_before:
        _emit_number(db, phone, QUALITY_UPDATED, now)
    if (phone.name_status, phone.verified_name) != name_before:
        _emit_number(db, phone, NAME_UPDATED, now)
