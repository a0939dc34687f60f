"""What Roost keeps of Meta's inbound webhooks (SPEC 7.2): the changes it acts on, the payloads
waiting to be relayed to a forward URL, and which organization a simulated app belongs to."""

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db.base import Base


class MetaWebhookChange(Base):
    """One change of a field Roost applies (meta.events.APPLIED_FIELDS), stored once (by `dedupe_key`).

    Only what recovery and the review status need is kept; never message content."""

    __tablename__ = "meta_webhook_changes"
    __table_args__ = (
        # The claim's proof: an account_update for this WABA and app, received after the attempt started.
        Index("ix_meta_changes_proof", "waba_id", "app_id", "field", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # sha256 of app id, entry id, entry time, field and the change's value: a redelivery matches it.
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))
    livemode: Mapped[bool] = mapped_column(Boolean)
    field: Mapped[str] = mapped_column(String(40))
    event: Mapped[str | None] = mapped_column(String(64))
    waba_id: Mapped[str | None] = mapped_column(String(32))
    owner_business_id: Mapped[str | None] = mapped_column(String(32))
    decision: Mapped[str | None] = mapped_column(String(16))
    # PARTNER_ADDED into a Multi-Partner Solution: the solution and its partners' businesses.
    solution_id: Mapped[str | None] = mapped_column(String(32))
    solution_partner_business_ids: Mapped[list | None] = mapped_column(JSON)
    # Meta's entry.time (ms), when the change happened on Meta's side.
    occurred_at: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[int] = mapped_column(BigInteger)


class MetaWebhookRelay(Base):
    """A payload to pass on, unchanged, to an app's forward URL. The body (which may hold
    message content) is kept only until it is delivered or given up on."""

    __tablename__ = "meta_webhook_relays"
    __table_args__ = (
        Index(
            "ix_meta_relays_due",
            "next_attempt_at",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
        Index("ix_meta_relays_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    signature: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # None once delivered or abandoned. A sender moves it past its own attempt first, so a
    # crash mid-attempt is retried later and two senders never post at the same time.
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    abandoned_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class MetaSimulatedApp(Base):
    """Which organization a simulated (test-mode) app id belongs to. The id is derived from the
    organization id one way, so the inbound receiver keeps this table to go back."""

    __tablename__ = "meta_simulated_apps"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(40), unique=True)
