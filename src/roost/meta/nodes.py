"""What Roost reads of Meta's Graph nodes: one frozen dataclass per read.

A class's fields are at once the `fields` parameter the read sends (`graph_fields`) and the only
attributes the rest of Roost can read of the answer (`from_graph` keeps nothing else). Meta
answers only the fields a read names (a few defaults aside), so a field read but never asked for
would be missing in live mode: here it cannot be read without being asked for.
"""

from dataclasses import dataclass, fields
from typing import Any, Self, get_args, get_type_hints


class GraphNode:
    """Base of the typed results: the `fields` to ask for and the answer, built from them alone."""

    @classmethod
    def graph_fields(cls) -> str:
        """`id,name,owner_business_info{id,name}`: every declared field, nested ones with theirs."""
        parts = []
        for name, kind in _declared(cls):
            nested = _nested(kind)
            parts.append(f"{name}{{{nested.graph_fields()}}}" if nested else name)
        return ",".join(parts)

    @classmethod
    def from_graph(cls, body: dict[str, Any]) -> Self:
        """The answer's declared fields; Meta leaves out a field that has no value (None here)."""
        values: dict[str, Any] = {}
        for name, kind in _declared(cls):
            value = body.get(name)
            nested = _nested(kind)
            if nested is not None:
                values[name] = nested.from_graph(value) if isinstance(value, dict) else None
            elif kind is bool:
                values[name] = value is True
            else:
                values[name] = None if value is None else str(value)
        return cls(**values)


def _declared(cls: type) -> list[tuple[str, Any]]:
    hints = get_type_hints(cls)
    return [(field.name, hints[field.name]) for field in fields(cls)]


def _nested(kind: Any) -> type[GraphNode] | None:
    for candidate in (kind, *get_args(kind)):
        if isinstance(candidate, type) and issubclass(candidate, GraphNode):
            return candidate
    return None


@dataclass(frozen=True)
class OwnerBusiness(GraphNode):
    id: str | None
    name: str | None


@dataclass(frozen=True)
class WhatsAppBusinessAccount(GraphNode):
    """GET /{waba-id}: the account's name and the portfolio that owns it (the profile's business)."""

    id: str | None
    name: str | None
    owner_business_info: OwnerBusiness | None


@dataclass(frozen=True)
class BusinessPhoneNumber(GraphNode):
    """GET /{phone-number-id} and /{waba-id}/phone_numbers: what profiles store of a number and
    what provisioning decides on (verified? already on the Cloud API? on the business app?), and
    its health (the display name's review, the messaging limit)."""

    id: str | None
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None
    code_verification_status: str | None
    status: str | None
    platform_type: str | None
    is_on_biz_app: bool
    name_status: str | None = None
    # The messaging limit: Meta deprecated the number's `messaging_limit_tier` when limits moved to
    # the business portfolio (October 2025) and names this field instead (its messaging limits page).
    whatsapp_business_manager_messaging_limit: str | None = None


@dataclass(frozen=True)
class HealthStatus(GraphNode):
    """A node's `health_status` (Meta's health status guide): can it send messages now?
    AVAILABLE | LIMITED | BLOCKED."""

    can_send_message: str | None


@dataclass(frozen=True)
class WabaHealth(GraphNode):
    """GET /{waba-id} for refresh: the account's review and its messaging health."""

    id: str | None
    account_review_status: str | None
    health_status: HealthStatus | None


# Where Meta can keep a number's messages at rest (local storage): the ISO 3166 codes `register`
# takes as `data_localization_region` (Meta's local storage page: APAC, Europe, LATAM, MEA, NORAM).
LOCAL_STORAGE_REGIONS = ("AU", "ID", "IN", "JP", "SG", "KR", "DE", "CH", "GB", "BR", "BH", "ZA", "AE", "CA")
