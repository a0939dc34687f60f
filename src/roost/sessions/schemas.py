"""What the sessions API accepts and what it returns (documented and rendered by one model each)."""

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from roost.kit.objects import GIVEN, WHEN_GIVEN, ApiObject, From, OptionalTimestamp, Timestamp, list_of
from roost.kit.urls import MAX_REDIRECT_URI_LENGTH, redirect_uri_problem
from roost.sessions.models import SignupSession
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
    solution_id: str | None = Field(
        None,
        pattern=r"^[0-9]{1,32}$",
        description="Onboard into this Multi-Partner Solution (Meta's extras.setup.solutionID); "
        "defaults to the mode's meta.solution_id",
        examples=["1234567890123456"],
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


# -- what the API returns: each model documents the object and renders it (kit.objects) ----------


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


class EmbeddedSignupSession(ApiObject):
    """The session object (SPEC 3.4). `url` is present only on creation and new-link responses."""

    id: str = Field(pattern=r"^wss_[a-zA-Z0-9]+$", examples=["wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["embedded_signup_session"] = "embedded_signup_session"
    url: Annotated[AnyUrl | None, WHEN_GIVEN] = Field(None, examples=["https://roost.example.com/embed/connect?token=abc123..."])
    expires_at: Timestamp = Field(examples=["2024-01-15T12:30:00.000Z"])
    livemode: bool
    source: str = Field(examples=["hosted"], description="hosted | platform")
    status: Annotated[str, GIVEN] = Field(
        examples=["pending"], description="pending | completed | recovered | cancelled | failed | expired"
    )
    created_at: Timestamp
    started_at: OptionalTimestamp
    code_received_at: OptionalTimestamp
    completed_at: OptionalTimestamp
    cancelled_at: OptionalTimestamp
    redirect_uri: str | None
    state: str | None
    metadata: Annotated[dict[str, Any], From("metadata_", empty=dict)]
    prefill: dict[str, Any] | None
    locale: str | None
    coexistence: bool
    solution_id: str | None = Field(description="The Multi-Partner Solution Meta's flow onboards into")
    waba_id: str | None
    business_id: str | None
    phone_number_id: str | None
    business_profile_id: str | None
    last_step: str | None
    error: SessionError | None
    provisioning: Annotated[list[ProvisioningStep], From("provisioning", empty=list)]


class CreatedEmbeddedSignupSession(EmbeddedSignupSession):
    """The create response: the seed's three fields are always present."""

    url: AnyUrl = Field(examples=["https://roost.example.com/embed/connect?token=abc123..."])  # type: ignore[assignment]


def session_object(session: SignupSession, status: str, url: str | None = None) -> dict[str, Any]:
    return EmbeddedSignupSession.render(session, status=status, url=url)


EmbeddedSignupSessionList = list_of(EmbeddedSignupSession, "EmbeddedSignupSessionList")


class SessionEventObject(ApiObject):
    id: str = Field(examples=["sevt_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["embedded_signup_session_event"] = "embedded_signup_session_event"
    type: str = Field(examples=["session.created"])
    created_at: Timestamp
    data: Annotated[dict[str, Any], From("data", empty=dict)]


SessionEventList = list_of(SessionEventObject, "SessionEventList")


class EmbeddedSignupFunnel(ApiObject):
    """Counts over the caller's hosted sessions created in the range (sessions.funnel says how)."""

    all_given = True

    object: Literal["embedded_signup_funnel"] = "embedded_signup_funnel"
    livemode: bool
    created: int
    opened: int = Field(description="Whose page was shown in a browser")
    started: int = Field(description="Whose user clicked connect")
    finished_on_meta: int = Field(description="Whose user finished Meta's flow")
    completed: int
    abandoned_at: dict[str, int] = Field(description="Sessions that did not complete, by Meta's current_step, most first")
    errors: dict[str, int] = Field(description="Sessions by error code, most first")
