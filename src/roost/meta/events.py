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
