"""Outbound webhooks: endpoints, events, the outbox of deliveries, and the log of attempts."""

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db.base import Base


class WebhookEndpoint(Base):
    """A URL of the platform's that receives events of one organization and mode."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_list", "organization_id", "livemode", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    url: Mapped[str] = mapped_column(Text)
    # Event types, or ["*"] for every type.
    events: Mapped[list] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # whsec_… AES-GCM encrypted with the runtime keyring; the previous one signs too until it expires.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    # Why Roost switched it off (`gone`: the URL answered 410; `failing`: 5 days of failures).
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    disabled_at: Mapped[int | None] = mapped_column(BigInteger)
    # Set by the first failed attempt after a success, cleared by the next success.
    failing_since: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class WebhookEvent(Base):
    """Something that happened, as the platform is told about it (GET /v1/organization/events)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_list", "organization_id", "livemode", "created_at", "id"),
        Index("ix_webhook_events_type", "organization_id", "livemode", "type", "created_at", "id"),
        Index("ix_webhook_events_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)


class WebhookDelivery(Base):
    """The outbox: one event owed to one endpoint, written in the event's transaction.

    `pending` until an attempt gets a 2xx (`delivered`) or the schedule runs out (`failed`).
    A worker takes a due row by setting `lease_until`/`lease_token`; while the lease runs no
    other worker sends it, and if that worker dies the lease runs out and another one does.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "status"),
        Index("ix_webhook_deliveries_event", "event_id"),
        Index("ix_webhook_deliveries_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"))
    endpoint_id: Mapped[str] = mapped_column(String(40))
    organization_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    lease_until: Mapped[int | None] = mapped_column(BigInteger)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)


class WebhookAttempt(Base):
    """One HTTP request made for a delivery, and what came of it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_list", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_attempts_delivery", "delivery_id"),
        Index("ix_webhook_attempts_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(40))
    endpoint_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean)
    attempt: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)  # the answer's first KEPT_ANSWER_BYTES, as text
    response_body_truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
