"""What the platform-run flow and recovery endpoints accept (SPEC 5.3)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from roost.kit.urls import redirect_uri_problem
from roost.sessions.schemas import check_metadata

ATTEMPT_ID = r"^wss_[a-zA-Z0-9]+$"
META_ID = r"^[0-9]{1,32}$"


class AttemptCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Any] | None = Field(
        None,
        description="Your own data (≤ 10 KB as compact JSON). Top-level scalar values are filterable.",
        examples=[{"externalUserId": "user_123"}],
    )

    _metadata = field_validator("metadata")(check_metadata)


class CallbackParams(BaseModel):
    """What FB.login and Meta's session-logging message gave the platform's page."""

    model_config = ConfigDict(extra="forbid")

    attempt_id: str = Field(pattern=ATTEMPT_ID, description="From start-attempt")
    code: str = Field(min_length=1, max_length=4096, description="authResponse.code of FB.login (valid 30 seconds)")
    waba_id: str | None = Field(None, pattern=META_ID, description="From Meta's FINISH message (checked against the token)")
    phone_number_id: str | None = Field(None, pattern=META_ID, description="From Meta's FINISH message")
    business_id: str | None = Field(None, pattern=META_ID, description="From Meta's FINISH message")
    coexistence: StrictBool | None = Field(
        None, description="true when Meta's message was FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
    )
    redirect_uri: str | None = Field(
        None, max_length=2048, description="Only for a code from a redirect-based OAuth dialog: the redirect_uri it used"
    )

    @field_validator("redirect_uri")
    @classmethod
    def _redirect_uri(cls, value: str | None) -> str | None:
        if value is not None:
            problem = redirect_uri_problem(value, allow_insecure=True)
            if problem:
                raise ValueError(problem)
        return value


class MarkInterruptedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempt_id: str = Field(pattern=ATTEMPT_ID)
    waba_id: str = Field(pattern=META_ID, description="From Meta's FINISH message")
    business_id: str | None = Field(None, pattern=META_ID, description="From Meta's FINISH message")


class ClaimParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempt_id: str = Field(pattern=ATTEMPT_ID, description="A recovered attempt (any recovered session)")
