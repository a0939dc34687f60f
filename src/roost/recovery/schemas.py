"""What the platform-run flow and recovery endpoints accept (SPEC 5.3), and the recovered attempt they list."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from roost.kit.objects import GIVEN, ApiObject, From, OptionalTimestamp, Timestamp, list_of
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


class RecoveredAttempt(ApiObject):
    """A session whose user finished Meta's flow without a usable code (SPEC 5.3)."""

    attempt_id: Annotated[str, From("id")] = Field(examples=["wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["recovered_attempt"] = "recovered_attempt"
    livemode: bool
    source: str = Field(description="hosted | platform")
    waba_id: str | None
    business_id: str | None
    phone_number_id: str | None
    metadata: Annotated[dict[str, Any], From("metadata_", empty=dict)]
    created_at: Timestamp
    recovered_at: OptionalTimestamp
    proof_received_at: Annotated[OptionalTimestamp, GIVEN] = Field(
        description="When Meta's account_update for the WABA arrived (a claim needs it)"
    )
    claim_started_at: OptionalTimestamp
    claim_running: Annotated[bool, GIVEN] = Field(description="A claim is being provisioned (or waits for a retry)")
    claim_error: Annotated[dict[str, Any] | None, GIVEN] = Field(description="Why the last claim failed")


RecoveredAttemptList = list_of(RecoveredAttempt, "RecoveredAttemptList")
