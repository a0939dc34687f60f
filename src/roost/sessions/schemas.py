"""What the sessions API accepts and what it returns."""

import json
import re
from datetime import datetime
from typing import Any

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from roost.kit.timeutil import to_iso
from roost.kit.urls import MAX_REDIRECT_URI_LENGTH, redirect_uri_problem
from roost.sessions.models import SessionEvent, SignupSession
from roost.sessions.prefill import Prefill

METADATA_MAX_BYTES = 10_240
METADATA_KEY_MAX = 200
_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?$")


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The metadata rules every endpoint that takes `metadata` applies (SPEC 3.1)."""
    if value is None:
        return None
    if len(compact_json(value).encode()) > METADATA_MAX_BYTES:
        raise ValueError(f"must be at most {METADATA_MAX_BYTES} bytes as compact JSON (10 KB)")
    for key in value:
        if not 1 <= len(key) <= METADATA_KEY_MAX:
            raise ValueError(f"keys must be 1 to {METADATA_KEY_MAX} characters")
    return value


def normalize_locale(value: str) -> str:
    """BCP 47 language[-Script][-REGION] in its usual casing: pt-br -> pt-BR, zh-hant-tw -> zh-Hant-TW."""
    match = _LOCALE.fullmatch(value.replace("_", "-"))
    if not match:
        raise ValueError("must be a BCP 47 language tag such as en, es or pt-BR")
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def _string_length(schema: dict[str, Any], low: int, high: int) -> None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch.update(minLength=low, maxLength=high)


class SessionCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redirect_uri: str | None = Field(
        None,
        description="Where to send the user with the result. https://, http:// to localhost only, or an app scheme.",
        examples=["https://example.com/whatsapp/callback"],
        # Checked by _redirect_uri with its own message; declared for the OpenAPI document.
        json_schema_extra=lambda schema: _string_length(schema, 1, MAX_REDIRECT_URI_LENGTH),
    )
    state: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="Returned unchanged with the result. Required when redirect_uri is given.",
        examples=["abc123-csrf-token"],
    )
    metadata: dict[str, Any] | None = Field(
        None,
        description="Your own data (≤ 10 KB as compact JSON). Top-level scalar values are filterable.",
        examples=[{"externalUserId": "user_123", "businessName": "Acme Corp"}],
    )
    prefill: Prefill | None = Field(None, description="Pre-fills Meta's Embedded Signup (extras.setup).")
    locale: str | None = Field(None, description="BCP 47 language tag for the hosted page", examples=["pt-BR"])
    coexistence: StrictBool | None = Field(
        None, description="Also offer connecting an existing WhatsApp Business app number"
    )

    @field_validator("redirect_uri")
    @classmethod
    def _redirect_uri(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        allow_insecure = bool((info.context or {}).get("allow_insecure_redirects"))
        problem = redirect_uri_problem(value, allow_insecure=allow_insecure)
        if problem:
            raise ValueError(problem)
        return value

    _metadata = field_validator("metadata")(check_metadata)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        return None if value is None else normalize_locale(value)

    @classmethod
    def cross_field_problems(cls, data: dict[str, Any]) -> list[dict[str, str]]:
        if data.get("redirect_uri") is not None and data.get("state") is None:
            return [
                {
                    "param": "state",
                    "code": "parameter_missing",
                    "message": "state is required when redirect_uri is given (it is returned with the result so you can check it)",
                }
            ]
        return []


def session_object(session: SignupSession, status: str, url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": session.id,
        "object": "embedded_signup_session",
    }
    if url is not None:
        body["url"] = url
    body.update(
        {
            "expires_at": to_iso(session.expires_at),
            "livemode": session.livemode,
            "source": session.source,
            "status": status,
            "created_at": to_iso(session.created_at),
            "started_at": to_iso(session.started_at),
            "code_received_at": to_iso(session.code_received_at),
            "completed_at": to_iso(session.completed_at),
            "cancelled_at": to_iso(session.cancelled_at),
            "redirect_uri": session.redirect_uri,
            "state": session.state,
            "metadata": session.metadata_ or {},
            "prefill": session.prefill,
            "locale": session.locale,
            "coexistence": session.coexistence,
            "waba_id": session.waba_id,
            "business_id": session.business_id,
            "phone_number_id": session.phone_number_id,
            "business_profile_id": session.business_profile_id,
            "last_step": session.last_step,
            "error": session.error,
            "provisioning": session.provisioning or [],
        }
    )
    return body


def event_object(event: SessionEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "object": "embedded_signup_session_event",
        "type": event.type,
        "created_at": to_iso(event.created_at),
        "data": event.data or {},
    }


# -- documentation models: what the OpenAPI document shows for the responses ------------------


class SessionError(BaseModel):
    code: str = Field(examples=["session_expired"])
    message: str
    meta_code: int | None = None


class ProvisioningStep(BaseModel):
    step: str = Field(examples=["token_exchange"])
    status: str = Field(examples=["succeeded"], description="pending | running | succeeded | failed | skipped")
    attempts: int
    error: dict[str, Any] | None = None
    finished_at: str | None = None


class EmbeddedSignupSession(BaseModel):
    """The session object (SPEC 3.4). `url` is present only on creation and new-link responses."""

    id: str = Field(pattern=r"^wss_[a-zA-Z0-9]+$", examples=["wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: str = Field("embedded_signup_session")
    url: AnyUrl | None = Field(None, examples=["https://roost.example.com/embed/connect?token=abc123..."])
    expires_at: datetime = Field(examples=["2024-01-15T12:30:00.000Z"])
    livemode: bool
    source: str = Field(examples=["hosted"], description="hosted | platform")
    status: str = Field(examples=["pending"], description="pending | completed | recovered | cancelled | failed | expired")
    created_at: datetime
    started_at: datetime | None
    code_received_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    redirect_uri: str | None
    state: str | None
    metadata: dict[str, Any]
    prefill: dict[str, Any] | None
    locale: str | None
    coexistence: bool
    waba_id: str | None
    business_id: str | None
    phone_number_id: str | None
    business_profile_id: str | None
    last_step: str | None
    error: SessionError | None
    provisioning: list[ProvisioningStep]


class CreatedEmbeddedSignupSession(EmbeddedSignupSession):
    """The create response: the seed's three fields are always present."""

    url: AnyUrl = Field(examples=["https://roost.example.com/embed/connect?token=abc123..."])


class EmbeddedSignupSessionList(BaseModel):
    object: str = "list"
    data: list[EmbeddedSignupSession]
    has_more: bool


class SessionEventObject(BaseModel):
    id: str = Field(examples=["sevt_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: str = "embedded_signup_session_event"
    type: str = Field(examples=["session.created"])
    created_at: datetime
    data: dict[str, Any]


class SessionEventList(BaseModel):
    object: str = "list"
    data: list[SessionEventObject]
    has_more: bool
