"""What the webhooks API accepts and what it returns (documented and rendered by one model each)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from roost.kit.objects import GIVEN, WHEN_GIVEN, ApiObject, From, OptionalTimestamp, Timestamp, list_of

from roost.webhooks.outbox import ALL_EVENTS, EVENT_TYPES
from roost.webhooks.service import MAX_URL_LENGTH, url_problem

EventType = Literal[EVENT_TYPES + (ALL_EVENTS,)]  # type: ignore[valid-type]


def _check_url(value: str, info: ValidationInfo) -> str:
    problem = url_problem(value, allow_private=bool((info.context or {}).get("allow_private")))
    if problem:
        raise ValueError(problem)
    return value


def _check_events(value: list[str]) -> list[str]:
    value = list(dict.fromkeys(value))  # duplicates add nothing
    if ALL_EVENTS in value and len(value) > 1:
        raise ValueError('must be ["*"] alone or a list of event types')
    return value


def _check_description(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


# Documented only: url_problem enforces it with a message of its own.
URL_LENGTH = {"minLength": 1, "maxLength": MAX_URL_LENGTH}


class EndpointCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        description="https:// URL that receives the events", examples=["https://example.com/webhooks/roost"], json_schema_extra=URL_LENGTH
    )
    events: list[EventType] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description='Event types to send, or ["*"] for all',
        examples=[["*"]]
    )
    description: str | None = Field(None, max_length=500)
    enabled: StrictBool = True

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_check_events)
    _description = field_validator("description")(_check_description)


class EndpointUpdateParams(BaseModel):
    """Only the fields sent change; `description: null` clears it."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(None, description="https:// URL that receives the events", json_schema_extra=URL_LENGTH)  # type: ignore[assignment]
    events: list[EventType] = Field(None, min_length=1, max_length=len(EVENT_TYPES))  # type: ignore[assignment]
    description: str | None = Field(None, max_length=500)
    enabled: StrictBool = Field(
        None,  # type: ignore[assignment]
        description="false stops deliveries (pending ones wait); true sends what waits at once and clears disabled_reason",
    )

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_check_events)
    _description = field_validator("description")(_check_description)


class ResendParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: str | None = Field(
        None, description="Send to this endpoint only; by default to every enabled endpoint subscribed to the type"
    )


# -- what the API returns: each model documents the object and renders it (kit.objects) ----------


class WebhookEndpointObject(ApiObject):
    id: str = Field(examples=["whk_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    livemode: bool
    url: str
    events: Annotated[list[str], From("events", empty=list)] = Field(examples=[["embedded_signup.session.completed"]])
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why deliveries are off: api (you disabled it), gone (it answered 410), failing (5 days of failures)"
    )
    disabled_at: OptionalTimestamp
    failing_since: OptionalTimestamp = Field(description="First failed attempt since the last success")
    previous_secret_expires_at: OptionalTimestamp = Field(description="Until then the previous secret signs too")
    created_at: Timestamp
    updated_at: Timestamp
    secret: Annotated[str | None, WHEN_GIVEN] = Field(
        None,
        description="Shown once (on creation and rotation): verify signatures with it",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookEndpointWithSecret(WebhookEndpointObject):
    secret: str = Field(description="Shown once: verify signatures with it", examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])  # type: ignore[assignment]


WebhookEndpointList = list_of(WebhookEndpointObject, "WebhookEndpointList")


class DeletedWebhookEndpoint(ApiObject):
    id: Annotated[str, GIVEN]
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    deleted: Literal[True] = True


class EventObject(ApiObject):
    id: str = Field(examples=["evt_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["event"] = "event"
    type: str = Field(examples=["embedded_signup.session.completed"])
    livemode: bool
    created_at: Timestamp
    data: dict[str, Any] = Field(description="The object the event is about, as the API shows it")


EventList = list_of(EventObject, "EventList")


class DeliveryObject(ApiObject):
    id: str = Field(examples=["whd_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["webhook_delivery"] = "webhook_delivery"
    endpoint_id: str
    event_id: str
    status: str = Field(description="pending | delivered | failed")
    next_attempt_at: OptionalTimestamp
    created_at: Timestamp


class EventResend(ApiObject):
    object: Literal["event_resend"] = "event_resend"
    event_id: Annotated[str, GIVEN]
    deliveries: Annotated[list[DeliveryObject], GIVEN]


class EndpointTest(ApiObject):
    object: Literal["webhook_endpoint_test"] = "webhook_endpoint_test"
    event_id: Annotated[str, GIVEN] = Field(description="The test event (type `webhook_endpoint.test`): its `webhook-id`")
    delivery: Annotated[DeliveryObject, GIVEN]


class DeliveryAttemptObject(ApiObject):
    id: str = Field(examples=["wha_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["webhook_delivery_attempt"] = "webhook_delivery_attempt"
    endpoint_id: str
    event_id: str
    event_type: str
    delivery_id: str
    attempt: int = Field(description="1 for the first attempt of this delivery")
    succeeded: bool
    status_code: int | None = Field(description="The endpoint's HTTP status; null when no response came")
    latency_ms: int
    error: str | None
    response_body: str | None = Field(
        description="The start of the endpoint's answer (its first 1,024 bytes, as UTF-8 text with invalid bytes "
        "replaced); null when no answer came", examples=["ok"]
    )
    response_body_truncated: bool = Field(description="true when the answer was longer than what `response_body` shows")
    next_attempt_at: OptionalTimestamp = Field(description="When the next attempt is due, if one is")
    created_at: Timestamp


DeliveryAttemptList = list_of(DeliveryAttemptObject, "DeliveryAttemptList")
