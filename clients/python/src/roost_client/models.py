"""Light typed objects built from the API's JSON.

Each object keeps the JSON it came from: the annotated fields are typed attributes (None when
the server did not send one), any other field the server adds later is readable too, as an
attribute or by key, so a newer server never breaks an older client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator


@dataclass(frozen=True)
class ResponseInfo:
    """What came with the HTTP answer: status, headers (lower-case names) and Request-Id."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def request_id(self) -> str | None:
        return self.headers.get("request-id")

    @property
    def idempotent_replayed(self) -> bool:
        return self.headers.get("idempotent-replayed") == "true"


def _all_fields(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "__annotations__", {}))
    return {name for name in names if not name.startswith("_")}


class RoostObject:
    """A JSON object from the API. `obj.field`, `obj["field"]`, `obj.get("field")`, `obj.to_dict()`."""

    # field -> the class its object (or each item of its list) becomes
    _nested: ClassVar[dict[str, type["RoostObject"]]] = {}

    def __init__(self, data: dict[str, Any] | None = None, *, response: ResponseInfo | None = None) -> None:
        raw = dict(data or {})
        values: dict[str, Any] = {}
        for name, value in raw.items():
            nested = self._nested.get(name)
            if nested is not None and isinstance(value, dict):
                value = nested(value)
            elif nested is not None and isinstance(value, list):
                value = [nested(item) if isinstance(item, dict) else item for item in value]
            values[name] = value
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_response", response)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        if name in _all_fields(type(self)):
            return None
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def keys(self):  # noqa: ANN201 - like dict.keys()
        return self._values.keys()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object exactly as the server sent it."""
        return dict(self._raw)

    @property
    def last_response(self) -> ResponseInfo | None:
        """The HTTP answer this object came in (None for nested objects and list items)."""
        return self._response

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RoostObject):
            return type(self) is type(other) and self._raw == other._raw
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        label = self._values.get("id")
        head = f"{type(self).__name__} {label}" if label else type(self).__name__
        return f"<{head} {self._raw!r}>"


class ErrorDetail(RoostObject):
    code: str | None
    message: str | None
    meta_code: str | None


class ProvisioningStep(RoostObject):
    _nested = {"error": ErrorDetail}

    step: str
    status: str
    attempts: int
    error: ErrorDetail | None
    finished_at: str | None


class EmbeddedSignupSession(RoostObject):
    _nested = {"error": ErrorDetail, "provisioning": ProvisioningStep}

    id: str
    object: str
    url: str | None
    livemode: bool
    source: str
    status: str
    created_at: str
    expires_at: str
    started_at: str | None
    code_received_at: str | None
    completed_at: str | None
    cancelled_at: str | None
    redirect_uri: str | None
    state: str | None
    metadata: dict[str, Any] | None
    prefill: dict[str, Any] | None
    locale: str | None
    coexistence: bool
    solution_id: str | None
    waba_id: str | None
    business_id: str | None
    phone_number_id: str | None
    business_profile_id: str | None
    last_step: str | None
    error: ErrorDetail | None
    provisioning: list[ProvisioningStep]


class SessionEvent(RoostObject):
    id: str
    object: str
    type: str
    created_at: str
    data: dict[str, Any]


class Funnel(RoostObject):
    created: int
    opened: int
    started: int
    finished_on_meta: int
    completed: int
    abandoned_at: dict[str, int]
    errors: dict[str, int]


class ContactsSync(RoostObject):
    """A WhatsApp Business app number's contacts sync (docs/coexistence.md)."""

    status: str  # not_requested | requested | in_progress | completed | declined | failed | expired
    requested_at: str | None
    completed_at: str | None
    error: dict[str, Any] | None


class HistorySync(RoostObject):
    """A WhatsApp Business app number's chat history sync (docs/coexistence.md)."""

    status: str
    progress: int | None
    phase: int | None
    requested_at: str | None
    completed_at: str | None
    error: dict[str, Any] | None


class Coexistence(RoostObject):
    _nested = {"contacts_sync": ContactsSync, "history_sync": HistorySync}

    contacts_sync: ContactsSync
    history_sync: HistorySync


class PhoneNumber(RoostObject):
    _nested = {"coexistence": Coexistence}

    id: str
    object: str
    business_profile_id: str
    phone_number_id: str
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None
    code_verification_status: str | None
    cloud_api_registered: bool
    registration_error: dict[str, Any] | None
    coexistence: Coexistence | None  # None unless a WhatsApp Business app number
    name_status: str | None
    name_rejection_reason: str | None
    messaging_limit_tier: str | None
    quality_event: str | None


class Health(RoostObject):
    """What Meta says of the account (docs/account-health.md): `status` is one of deleted,
    offboarded, disconnected, banned, restricted, in_review, ok."""

    status: str
    restrictions: list[dict[str, Any]]
    violation: dict[str, Any] | None
    ban: dict[str, Any] | None
    review_status: str | None
    disconnection: dict[str, Any] | None
    can_send_message: str | None
    notices: dict[str, Any]
    updated_at: str | None


class BusinessProfile(RoostObject):
    _nested = {"phone_numbers": PhoneNumber, "health": Health}

    id: str
    object: str
    livemode: bool
    session_id: str | None
    waba_id: str
    business_id: str | None
    business_name: str | None
    coexistence: bool
    solution_id: str | None
    solution_partner_business_ids: list[str]
    token_expires_at: str | None
    onboarding_completed_at: str | None
    review_status: str | None
    review_decided_at: str | None
    status: str
    disconnected_at: str | None
    health: Health
    unsubscribe: dict[str, Any] | None
    phone_numbers: list[PhoneNumber]
    created_at: str


class AccessToken(RoostObject):
    """A business profile's token (`object: business_token`; live keys only; each read is audited)."""

    object: str
    business_profile_id: str
    access_token: str
    token_expires_at: str | None


class AdminKey(RoostObject):
    id: str
    object: str
    livemode: bool
    name: str | None
    redacted_key: str
    admin_key: str | None  # the full key: only in the create response
    created_at: str
    revoked_at: str | None


class MetaSettings(RoostObject):
    configured: bool
    source: str | None
    app_id: str | None
    config_id: str | None
    graph_version: str | None
    app_secret_set: bool
    system_user_token_set: bool
    verify_token_set: bool
    partner_type: str | None
    credit_line_id: str | None
    solution_id: str | None
    forward_url: str | None


class Branding(RoostObject):
    logo_url: str | None
    accent_color: str | None


class CoexistenceSettings(RoostObject):
    history_sync: bool


class OrganizationSettings(RoostObject):
    _nested = {"meta": MetaSettings, "branding": Branding, "coexistence": CoexistenceSettings}

    object: str
    organization_id: str
    mode: str
    livemode: bool
    name: str
    branding: Branding | None
    allowed_origins: list[str]
    allowed_redirect_uris: list[str]
    redirect_secret: str
    messages_callback_url: str | None
    auto_claim: bool | None
    token_custody_enabled: bool | None
    coexistence: CoexistenceSettings | None
    meta: MetaSettings | None
    updated_at: str


class WebhookEndpoint(RoostObject):
    id: str
    object: str
    livemode: bool
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None  # api | gone | failing
    disabled_at: str | None
    failing_since: str | None
    previous_secret_expires_at: str | None
    secret: str | None  # whsec_…: in the create and rotate-secret responses only
    created_at: str
    updated_at: str | None


class WebhookDelivery(RoostObject):
    """One event owed to one endpoint (`object: webhook_delivery`)."""

    id: str
    object: str
    endpoint_id: str
    event_id: str
    status: str  # pending | delivered | failed
    next_attempt_at: str | None
    created_at: str


class WebhookDeliveryAttempt(RoostObject):
    """One HTTP request Roost made to an endpoint (`object: webhook_delivery_attempt`)."""

    id: str
    object: str
    endpoint_id: str
    event_id: str
    event_type: str
    delivery_id: str
    attempt: int
    succeeded: bool
    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str | None
    response_body_truncated: bool
    next_attempt_at: str | None
    created_at: str


class Event(RoostObject):
    id: str
    object: str
    type: str
    livemode: bool
    created_at: str
    data: dict[str, Any]


class EventResend(RoostObject):
    _nested = {"deliveries": WebhookDelivery}

    object: str
    event_id: str
    deliveries: list[WebhookDelivery]


class EndpointTest(RoostObject):
    """The answer to a test event: its id (`webhook_endpoint.test`) and its one delivery."""

    _nested = {"delivery": WebhookDelivery}

    object: str
    event_id: str
    delivery: WebhookDelivery


class RecoveryAttempt(EmbeddedSignupSession):
    """The answer to start-attempt: a platform-run session (`source: platform`, no `url`) with
    `attempt_id` (= `id`) and `launch`, what FB.login needs on your page."""

    attempt_id: str
    launch: dict[str, Any]


class RecoveredAttempt(RoostObject):
    attempt_id: str
    object: str
    livemode: bool
    source: str
    waba_id: str | None
    business_id: str | None
    phone_number_id: str | None
    metadata: dict[str, Any]
    created_at: str
    recovered_at: str | None
    proof_received_at: str | None
    claim_started_at: str | None
    claim_running: bool
    claim_error: dict[str, Any] | None


class AuditLogEntry(RoostObject):
    id: str
    object: str
    livemode: bool
    action: str
    admin_key_id: str | None
    console_user_id: str | None
    resource_id: str | None
    created_at: str


class DeletedObject(RoostObject):
    id: str
    object: str
    deleted: bool


# The class for each `object` value, so an answer becomes what it says it is (for example a
# 202 session from recovery.callback while provisioning backs off, instead of a profile).
OBJECT_TYPES: dict[str, type[RoostObject]] = {
    "embedded_signup_session": EmbeddedSignupSession,
    "embedded_signup_session_event": SessionEvent,
    "business_profile": BusinessProfile,
    "phone_number": PhoneNumber,
    "business_token": AccessToken,
    "admin_key": AdminKey,
    "organization_settings": OrganizationSettings,
    "webhook_endpoint": WebhookEndpoint,
    "webhook_delivery": WebhookDelivery,
    "webhook_delivery_attempt": WebhookDeliveryAttempt,
    "event": Event,
    "event_resend": EventResend,
    "webhook_endpoint_test": EndpointTest,
    "recovered_attempt": RecoveredAttempt,
    "audit_log_entry": AuditLogEntry,
}


def model_for(default: type[RoostObject] | None, body: Any) -> type[RoostObject] | None:
    """The class for a JSON object: the call's own unless the body's `object` names another kind
    (a deletion answer `{id, object, deleted: true}` is a DeletedObject)."""
    if not isinstance(body, dict):
        return default
    if body.get("deleted") is True:
        return DeletedObject
    kind = OBJECT_TYPES.get(body.get("object"))  # type: ignore[arg-type]
    if kind is None or (default is not None and issubclass(default, kind)):
        return default
    return kind
