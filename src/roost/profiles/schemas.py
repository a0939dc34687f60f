"""What the business profiles API returns: each model documents the object and renders it (kit.objects)."""

from typing import Annotated, Any, Literal

from pydantic import Field

from roost.kit.objects import GIVEN, ApiObject, From, OptionalTimestamp, Timestamp, list_of
from roost.kit.timeutil import to_iso
from roost.profiles.health_view import STATUS_ORDER, health_object
from roost.profiles.models import BusinessProfile, PhoneNumber

META_ERROR = "Meta's error as `{code, subcode, message, fbtrace_id, at}`"


SYNC_STATUSES = "not_requested | requested | in_progress | completed | declined | failed | expired"


class ContactsSync(ApiObject):
    """The WhatsApp Business app contacts sync (Meta's `smb_app_state_sync`)."""

    status: Annotated[str, From("contacts_sync_status")] = Field(description=SYNC_STATUSES, examples=["completed"])
    requested_at: Annotated[OptionalTimestamp, From("contacts_sync_requested_at")] = Field(
        description="When Meta accepted the request"
    )
    completed_at: Annotated[OptionalTimestamp, From("contacts_sync_completed_at")] = Field(
        description="When the contacts stopped arriving (Meta's contacts sync has no end marker)"
    )
    error: Annotated[dict[str, Any] | None, From("contacts_sync_error")] = Field(
        description=f"{META_ERROR}: why the sync failed or expired, or the last transient error before a retry"
    )


class HistorySync(ApiObject):
    """The WhatsApp Business app chat history sync (Meta's `history`)."""

    status: Annotated[str, From("history_sync_status")] = Field(description=SYNC_STATUSES, examples=["in_progress"])
    progress: Annotated[int | None, From("history_sync_progress")] = Field(
        description="Meta's overall progress, 0-100 (the highest any chunk reported)", examples=[60]
    )
    phase: Annotated[int | None, From("history_sync_phase")] = Field(
        description="The latest phase reported: 0 (day 0-1), 1 (day 1-90), 2 (day 90-180)", examples=[1]
    )
    requested_at: Annotated[OptionalTimestamp, From("history_sync_requested_at")]
    completed_at: Annotated[OptionalTimestamp, From("history_sync_completed_at")] = Field(
        description="When the sync completed (progress 100) or the business declined"
    )
    error: Annotated[dict[str, Any] | None, From("history_sync_error")] = Field(
        description=f"{META_ERROR}: 2593109 when the business declined to share its chats"
    )


class Coexistence(ApiObject):
    """A WhatsApp Business app number's contacts and chat history syncs after signup (docs/coexistence.md)."""

    contacts_sync: Annotated[ContactsSync, GIVEN]
    history_sync: Annotated[HistorySync, GIVEN]


class PhoneNumberObject(ApiObject):
    id: str = Field(examples=["wapn_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["phone_number"] = "phone_number"
    business_profile_id: str = Field(description="The business profile (WABA) the number belongs to")
    phone_number_id: str = Field(description="Meta's id of the number", examples=["106540352242922"])
    display_phone_number: str | None = Field(examples=["+1 415-555-1234"])
    verified_name: str | None
    quality_rating: str | None = Field(examples=["GREEN"])
    code_verification_status: str | None = Field(examples=["VERIFIED"])
    cloud_api_registered: bool = Field(description="Registered on the Cloud API (it can send and receive messages)")
    # -- account health (issue 16): kept current by Meta's webhooks and by refresh
    name_status: str | None = Field(
        description="The display name's review, as Meta's name_status: APPROVED | AVAILABLE_WITHOUT_REVIEW | "
        "PENDING_REVIEW | DECLINED | EXPIRED | NONE",
        examples=["APPROVED"],
    )
    name_rejection_reason: str | None = Field(description="Meta's rejection_reason while the name is DECLINED")
    messaging_limit_tier: str | None = Field(
        description="Meta's messaging limit (TIER_50 … TIER_UNLIMITED, TIER_NOT_SET)", examples=["TIER_250"]
    )
    quality_event: str | None = Field(
        description="The last phone_number_quality_update event (ONBOARDING, THROUGHPUT_UPGRADE, UPGRADE, DOWNGRADE, "
        "FLAGGED, UNFLAGGED)"
    )
    registration_error: dict[str, Any] | None = Field(description=f"{META_ERROR}, when the last attempt failed")
    coexistence: Annotated[Coexistence | None, GIVEN] = Field(
        description="The contacts and chat history syncs of a WhatsApp Business app number; null for other numbers"
    )


class Restriction(ApiObject):
    all_given = True

    type: str | None = Field(description="Meta's restriction_type", examples=["RESTRICTED_BIZ_INITIATED_MESSAGING"])
    expires_at: str | None = Field(description="When the restriction ends (ISO 8601); null: until Meta lifts it")
    remediation: str | None


class Violation(ApiObject):
    all_given = True

    type: str | None = Field(description="Meta's violation_type", examples=["SCAM"])
    at: str | None = Field(description="Meta's time of the ACCOUNT_VIOLATION")


class Ban(ApiObject):
    all_given = True

    state: str | None = Field(description="Meta's waba_ban_state: DISABLE | SCHEDULE_FOR_DISABLE | REINSTATE")
    date: str | None = Field(description="Meta's waba_ban_date, as Meta writes it", examples=["April 17, 2025"])
    at: str | None = Field(description="Meta's time of the DISABLED_UPDATE")


class Disconnection(ApiObject):
    all_given = True

    reason: str | None = Field(description="api | partner_removed | partner_app_uninstalled")
    meta_reason: str | None = Field(description="Meta's disconnection_info.reason (coexistence), e.g. PRIMARY_INACTIVITY")
    initiated_by: str | None = Field(description="USER | SYSTEM (Meta's disconnection_info)")
    at: str | None


class Health(ApiObject):
    """What Meta says of the account (docs/account-health.md)."""

    all_given = True

    status: Literal[STATUS_ORDER] = Field(  # type: ignore[valid-type]
        description="The worst that applies, in this order: deleted | offboarded | disconnected | banned | restricted | "
        "in_review | ok"
    )
    restrictions: list[Restriction] = Field(description="Meta's restrictions still in force")
    violation: Violation | None = Field(description="The last ACCOUNT_VIOLATION")
    ban: Ban | None = Field(description="The last DISABLED_UPDATE (REINSTATE included)")
    review_status: str | None = Field(description="The WABA's review: APPROVED | PENDING | DEFERRED | REJECTED …")
    disconnection: Disconnection | None = Field(description="Why the profile is disconnected (null while connected)")
    can_send_message: str | None = Field(description="Meta's health_status.can_send_message at the last refresh")
    notices: dict[str, dict[str, Any]] = Field(
        description="The last of each event Roost only records (MM_LITE_TERMS_SIGNED, AD_ACCOUNT_LINKED, "
        "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE, BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE, VOLUME_BASED_PRICING_TIER_UPDATE, "
        "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE), with Meta's time `at` and Meta's payload keys"
    )
    updated_at: str | None = Field(description="When the health last changed")


class Unsubscribe(ApiObject):
    """Where unsubscribing Roost's Meta app from the WABA stands after a disconnection."""

    status: Annotated[str, From("unsubscribe_status")] = Field(description="pending | succeeded | failed", examples=["succeeded"])
    attempts: Annotated[int, From("unsubscribe_attempts")]
    next_attempt_at: Annotated[OptionalTimestamp, GIVEN] = Field(description="When the worker tries again (pending only)")
    completed_at: Annotated[OptionalTimestamp, From("unsubscribed_at")]
    error: Annotated[dict[str, Any] | None, From("unsubscribe_error")] = Field(
        description=f"{META_ERROR}, when the last attempt failed"
    )


class BusinessProfileObject(ApiObject):
    id: str = Field(examples=["wabp_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["business_profile"] = "business_profile"
    livemode: bool
    session_id: str | None = Field(description="The session that connected (or last reconnected) the profile")
    waba_id: str = Field(description="The WhatsApp Business Account's id", examples=["102290129340398"])
    business_id: str | None
    business_name: str | None
    coexistence: bool
    solution_id: str | None = Field(description="The Multi-Partner Solution the WABA joined (from Meta's PARTNER_ADDED)")
    solution_partner_business_ids: Annotated[list[str], From("solution_partner_business_ids", empty=list)] = Field(
        description="The businesses of the solution's partners"
    )
    token_expires_at: OptionalTimestamp
    onboarding_completed_at: OptionalTimestamp
    review_status: str | None
    review_decided_at: OptionalTimestamp
    status: str = Field(description="connected | disconnected")
    disconnected_at: OptionalTimestamp
    health: Annotated[Health, GIVEN]
    unsubscribe: Annotated[Unsubscribe | None, GIVEN] = Field(description="null unless the profile was disconnected")
    phone_numbers: Annotated[list[PhoneNumberObject], GIVEN]
    created_at: Timestamp


BusinessProfileList = list_of(BusinessProfileObject, "BusinessProfileList")


class BusinessToken(ApiObject):
    object: Literal["business_token"] = "business_token"
    business_profile_id: Annotated[str, From("id")]
    access_token: Annotated[str, GIVEN] = Field(description="The business token, for the WhatsApp Cloud API")
    token_expires_at: OptionalTimestamp


def coexistence_object(phone: PhoneNumber) -> dict[str, Any] | None:
    if phone.coexistence_onboarded_at is None:
        return None
    return Coexistence.render(contacts_sync=ContactsSync.render(phone), history_sync=HistorySync.render(phone))


def phone_object(phone: PhoneNumber) -> dict[str, Any]:
    return PhoneNumberObject.render(phone, coexistence=coexistence_object(phone))


def unsubscribe_object(profile: BusinessProfile) -> dict[str, Any] | None:
    """Where unsubscribing the app from the WABA stands after a DELETE (None: never asked for)."""
    if profile.unsubscribe_status is None:
        return None
    pending = profile.unsubscribe_status == "pending"
    return Unsubscribe.render(profile, next_attempt_at=to_iso(profile.unsubscribe_next_at) if pending else None)


def profile_object(profile: BusinessProfile, phones: list[PhoneNumber]) -> dict[str, Any]:
    return BusinessProfileObject.render(
        profile,
        health=health_object(profile),
        unsubscribe=unsubscribe_object(profile),
        phone_numbers=[phone_object(phone) for phone in phones],
    )
