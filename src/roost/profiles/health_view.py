"""How a profile's account health reads (profiles.health stores it): its status and the
`health` object of the API. Kept apart from the applying side so that schemas can render it."""

from typing import Any

from roost.kit.timeutil import now_ms, to_iso
from roost.meta import events as meta
from roost.profiles.models import BusinessProfile

DISCONNECTED = "disconnected"  # the profile's own status (profiles.service.DISCONNECTED)
OK, IN_REVIEW, RESTRICTED, BANNED = "ok", "in_review", "restricted", "banned"
HEALTH_DISCONNECTED, OFFBOARDED, DELETED = "disconnected", "offboarded", "deleted"
# Worst first: the status is the first that applies.
STATUS_ORDER = (DELETED, OFFBOARDED, HEALTH_DISCONNECTED, BANNED, RESTRICTED, IN_REVIEW, OK)

# The partner events that end Roost's access: removed from the WABA, or the app's permissions withdrawn.
LINK_ENDED = {meta.PARTNER_REMOVED: "partner_removed", meta.PARTNER_APP_UNINSTALLED: "partner_app_uninstalled"}


# -- reading the stored dimensions ------------------------------------------------------------------


def dimensions_of(profile: BusinessProfile) -> dict[str, Any]:
    return dict(profile.health or {})


def active_restrictions(dimensions: dict[str, Any], now: int) -> list[dict[str, Any]]:
    items = (dimensions.get("restrictions") or {}).get("items") or []
    return [item for item in items if item.get("expiration") is None or item["expiration"] * 1000 > now]


def status_of(profile: BusinessProfile, now: int) -> str:
    dimensions = dimensions_of(profile)
    account = (dimensions.get("account") or {}).get("event")
    ban = (dimensions.get("ban") or {}).get("state")
    if account == meta.ACCOUNT_DELETED:
        return DELETED
    if account == meta.ACCOUNT_OFFBOARDED:
        return OFFBOARDED
    if profile.status == DISCONNECTED:
        return HEALTH_DISCONNECTED
    if ban == "DISABLE":
        return BANNED
    if active_restrictions(dimensions, now) or profile.review_status in ("REJECTED", "RESTRICTED"):
        return RESTRICTED
    if profile.review_status in ("PENDING", "DEFERRED"):
        return IN_REVIEW
    return OK


def health_object(profile: BusinessProfile, now: int | None = None) -> dict[str, Any]:
    """The profile's `health`, as the API shows it (schemas.Health)."""
    now = now_ms() if now is None else now
    dimensions = dimensions_of(profile)
    ban = dimensions.get("ban")
    violation = dimensions.get("violation")
    partner = dimensions.get("partner") or {}
    disconnection = None
    if profile.status == DISCONNECTED:
        info = partner.get("disconnection_info") if partner.get("event") in LINK_ENDED else None
        disconnection = {
            "reason": profile.disconnect_reason,
            "meta_reason": (info or {}).get("reason"),
            "initiated_by": (info or {}).get("initiated_by"),
            "at": to_iso(profile.disconnected_at),
        }
    return {
        "status": status_of(profile, now),
        "restrictions": [
            {"type": item.get("restriction_type"), "expires_at": to_iso(item["expiration"] * 1000) if item.get("expiration") else None,
             "remediation": item.get("remediation")}
            for item in active_restrictions(dimensions, now)
        ],
        "violation": {"type": violation.get("violation_type"), "at": to_iso(violation["at"])} if violation else None,
        "ban": {"state": ban.get("state"), "date": ban.get("date"), "at": to_iso(ban["at"])} if ban else None,
        "review_status": profile.review_status,
        "disconnection": disconnection,
        "can_send_message": (dimensions.get("can_send_message") or {}).get("value"),
        "notices": {
            event: {"at": to_iso(notice["at"]), **notice.get("value", {})}
            for event, notice in sorted((dimensions.get("notices") or {}).items())
        },
        "updated_at": to_iso(profile.health_updated_at),
    }


def comparable(profile: BusinessProfile, now: int) -> dict[str, Any]:
    body = health_object(profile, now)
    body.pop("updated_at")
    return body
