"""Meta's `WA_EMBEDDED_SIGNUP` message events, parsed (research §3).

The browser relays them, so they are claims: a FINISH's `waba_id` is checked against the
business token's scopes before Roost trusts it.
"""

import json
from dataclasses import dataclass
from typing import Any

from roost.kit.validation import unstorable_text

# Meta's webhook fields and events Roost acts on (SPEC 7.2).
ACCOUNT_UPDATE = "account_update"
ACCOUNT_REVIEW_UPDATE = "account_review_update"
# account_update events that show a customer shared a WABA with the app: a claim's proof (SPEC 5.3).
PROOF_EVENTS = ("PARTNER_ADDED", "PARTNER_APP_INSTALLED")
PARTNER_REMOVED = "PARTNER_REMOVED"
PARTNER_ADDED = "PARTNER_ADDED"  # also names the Multi-Partner Solution the WABA joined, if any
REVIEW_DECISIONS = ("APPROVED", "REJECTED", "PENDING", "DEFERRED")
# Coexistence: the two fields that carry a Business app number's syncs (research §4.8).
HISTORY = "history"
SMB_APP_STATE_SYNC = "smb_app_state_sync"
# The fields Meta sends to a WABA's override_callback_uri when one is set (else to the app's
# callback); every other field (account_update, templates, …) always goes to the app's (research §4.3).
OVERRIDABLE_FIELDS = frozenset({
    "messages", "message_echoes", "calls", "consumer_profile", "messaging_handovers", "smb_message_echoes",
    SMB_APP_STATE_SYNC, HISTORY, "account_settings_update",
})


def overridable(field: Any) -> bool:
    return isinstance(field, str) and (field in OVERRIDABLE_FIELDS or field.startswith("group_"))
# A number's throughput / messaging limit and its display name review (WABA webhook fields).
PHONE_NUMBER_QUALITY_UPDATE = "phone_number_quality_update"
PHONE_NUMBER_NAME_UPDATE = "phone_number_name_update"
# The fields that move a profile's account health (profiles.health).
HEALTH_FIELDS = (ACCOUNT_UPDATE, ACCOUNT_REVIEW_UPDATE, PHONE_NUMBER_QUALITY_UPDATE, PHONE_NUMBER_NAME_UPDATE)
# Every webhook field whose changes Roost stores and applies (inbound.service).
APPLIED_FIELDS = HEALTH_FIELDS

# Every account_update event Meta documents (research §5.3), and what each carries besides `event`.
PARTNER_APP_INSTALLED = "PARTNER_APP_INSTALLED"
PARTNER_APP_UNINSTALLED = "PARTNER_APP_UNINSTALLED"
PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE = "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE"
ACCOUNT_DELETED = "ACCOUNT_DELETED"
ACCOUNT_OFFBOARDED = "ACCOUNT_OFFBOARDED"
ACCOUNT_RECONNECTED = "ACCOUNT_RECONNECTED"
ACCOUNT_RESTRICTION = "ACCOUNT_RESTRICTION"
ACCOUNT_VIOLATION = "ACCOUNT_VIOLATION"
DISABLED_UPDATE = "DISABLED_UPDATE"
AD_ACCOUNT_LINKED = "AD_ACCOUNT_LINKED"
MM_LITE_TERMS_SIGNED = "MM_LITE_TERMS_SIGNED"
AUTH_INTL_PRICE_ELIGIBILITY_UPDATE = "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE"
BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE = "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE"
VOLUME_BASED_PRICING_TIER_UPDATE = "VOLUME_BASED_PRICING_TIER_UPDATE"
ACCOUNT_UPDATE_EVENTS = (
    PARTNER_ADDED, PARTNER_APP_INSTALLED, PARTNER_APP_UNINSTALLED, PARTNER_REMOVED, PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE,
    ACCOUNT_DELETED, ACCOUNT_OFFBOARDED, ACCOUNT_RECONNECTED, ACCOUNT_RESTRICTION, ACCOUNT_VIOLATION, DISABLED_UPDATE,
    AD_ACCOUNT_LINKED, MM_LITE_TERMS_SIGNED, AUTH_INTL_PRICE_ELIGIBILITY_UPDATE, BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE,
    VOLUME_BASED_PRICING_TIER_UPDATE,
)
BAN_STATES = ("DISABLE", "REINSTATE", "SCHEDULE_FOR_DISABLE")
DISCONNECTION_REASONS = (
    "PRIMARY_INACTIVITY", "COMPANION_INACTIVITY", "CHANGE_NUMBER", "USER_RE_REGISTERED", "BUSINESS_DOWNGRADE", "ACCOUNT_DISCONNECTED",
)
# phone_number_quality_update: Meta's current reference names ONBOARDING and THROUGHPUT_UPGRADE;
# its earlier messaging-limit events are still documented by partners relaying them (decisions.md).
QUALITY_EVENTS = ("ONBOARDING", "THROUGHPUT_UPGRADE", "UPGRADE", "DOWNGRADE", "FLAGGED", "UNFLAGGED")
MESSAGING_LIMITS = ("TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_NOT_SET", "TIER_UNLIMITED")
NAME_REJECTION_REASONS = (
    "NAME_EMPLOYEE_ISSUE", "NAME_ENDCLIENT_NOTRELATED", "NAME_FORMAT_UNACCEPTABLE", "NAME_INDIVIDUAL_ISSUE",
    "NAME_NOT_CONSISTENT", "UNKNOWN",
)

FINISH_EVENTS = frozenset(
    {
        "FINISH",
        "FINISH_ONLY_WABA",
        "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
        "FINISH_OBO_MIGRATION",
        "FINISH_GRANT_ONLY_API_ACCESS",
    }
)
CANCEL_STEPS = (
    "BUSINESS_ACCOUNT_SELECTION",
    "WABA_PHONE_PROFILE_PICKER",
    "WHATSAPP_BUSINESS_PROFILE_SETUP",
    "PHONE_NUMBER_SETUP",
    "PHONE_NUMBER_VERIFICATION",
    "PERMISSIONS",
)


@dataclass(frozen=True)
class SignupMessage:
    kind: str  # finish | cancel | error
    event: str
    waba_id: str | None = None
    phone_number_id: str | None = None
    business_id: str | None = None
    current_step: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def coexistence(self) -> bool:
        return self.event == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"

    def as_event_data(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


def _text(value: Any, limit: int = 64) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value)[:limit]


def parse_message(raw: str | dict[str, Any]) -> SignupMessage | None:
    """A WA_EMBEDDED_SIGNUP event from its JSON string (or object); None for anything else."""
    try:
        if isinstance(raw, str):
            raw = json.loads(raw)
        if not isinstance(raw, dict) or raw.get("type") != "WA_EMBEDDED_SIGNUP":
            return None
        if any(unstorable_text(raw)):  # never from Meta, and no database could store it
            return None
    except (ValueError, RecursionError):  # not JSON, or nested past any message of Meta's
        return None
    event = _text(raw.get("event")) or ""
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    if event in FINISH_EVENTS:
        return SignupMessage(
            kind="finish",
            event=event,
            waba_id=_text(data.get("waba_id")),
            phone_number_id=_text(data.get("phone_number_id")),
            business_id=_text(data.get("business_id")),
        )
    # A reported error arrives as CANCEL with error_message (current docs) or as ERROR (older).
    if event == "ERROR" or (event.startswith("CANCEL") and data.get("error_message")):
        return SignupMessage(
            kind="error",
            event=event,
            error_code=_text(data.get("error_code") or data.get("error_id")),
            error_message=_text(data.get("error_message"), 500),
        )
    if event.startswith("CANCEL"):
        return SignupMessage(kind="cancel", event=event, current_step=_text(data.get("current_step")))
    return None
