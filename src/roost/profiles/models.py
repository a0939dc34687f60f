from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db.base import Base


class BusinessProfile(Base):
    """A connected WhatsApp Business Account of one organization, in one mode."""

    __tablename__ = "business_profiles"
    __table_args__ = (
        # One record per WABA per tenant and mode: reconnecting reuses it.
        UniqueConstraint("organization_id", "livemode", "waba_id", name="uq_profiles_waba"),
        Index("ix_profiles_list", "organization_id", "livemode", "created_at", "id"),
        Index("ix_profiles_waba", "waba_id", "status"),
        Index("ix_profiles_unsubscribe_due", "unsubscribe_next_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    session_id: Mapped[str | None] = mapped_column(String(40))
    waba_id: Mapped[str] = mapped_column(String(32))
    business_id: Mapped[str | None] = mapped_column(String(32))
    business_name: Mapped[str | None] = mapped_column(String(255))
    coexistence: Mapped[bool] = mapped_column(Boolean, default=False)
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    onboarding_completed_at: Mapped[int | None] = mapped_column(BigInteger)
    # The Multi-Partner Solution the WABA is in, and its partners' businesses (Meta's PARTNER_ADDED).
    solution_id: Mapped[str | None] = mapped_column(String(32))
    solution_partner_business_ids: Mapped[list | None] = mapped_column(JSON)
    review_status: Mapped[str | None] = mapped_column(String(16))
    review_decided_at: Mapped[int | None] = mapped_column(BigInteger)
    # What Meta's lifecycle webhooks last said, per dimension, each with Meta's time (profiles.health).
    health: Mapped[dict | None] = mapped_column(JSON)
    health_updated_at: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    # Set while disconnected: when, and why (`api`: DELETE by the platform; `partner_removed`: Meta said so).
    disconnected_at: Mapped[int | None] = mapped_column(BigInteger)
    disconnect_reason: Mapped[str | None] = mapped_column(String(32))
    # Unsubscribing the app from the WABA after a DELETE (NULL: never asked for). `pending` is
    # retried by the worker at `unsubscribe_next_at`, which is also the lease of a running attempt.
    unsubscribe_status: Mapped[str | None] = mapped_column(String(16))
    unsubscribe_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unsubscribe_next_at: Mapped[int | None] = mapped_column(BigInteger)
    unsubscribe_error: Mapped[dict | None] = mapped_column(JSON)
    unsubscribed_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"
    __table_args__ = (
        UniqueConstraint("business_profile_id", "phone_number_id", name="uq_phone_numbers_profile_phone"),
        Index("ix_phone_numbers_pending_verification", "code_verification_status", "cloud_api_registered"),
        Index(
            "ix_phone_numbers_registration_in_flight", "registration_started_at",
            sqlite_where=text("registration_started_at IS NOT NULL"),
            postgresql_where=text("registration_started_at IS NOT NULL"),
        ),
        *(
            Index(
                f"ix_phone_numbers_{sync}_sync_due", f"{sync}_sync_next_at",
                sqlite_where=text(f"{sync}_sync_next_at IS NOT NULL"),
                postgresql_where=text(f"{sync}_sync_next_at IS NOT NULL"),
            )
            for sync in ("contacts", "history")
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    business_profile_id: Mapped[str] = mapped_column(ForeignKey("business_profiles.id"))
    organization_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean)
    phone_number_id: Mapped[str] = mapped_column(String(32))
    display_phone_number: Mapped[str | None] = mapped_column(String(40))
    verified_name: Mapped[str | None] = mapped_column(String(255))
    quality_rating: Mapped[str | None] = mapped_column(String(16))
    # Display name review (phone_number_name_update, or Meta's name_status on refresh).
    name_status: Mapped[str | None] = mapped_column(String(32))
    name_rejection_reason: Mapped[str | None] = mapped_column(String(64))
    # phone_number_quality_update's limit (or Meta's messaging_limit_tier on refresh), its last event.
    messaging_limit_tier: Mapped[str | None] = mapped_column(String(24))
    quality_event: Mapped[str | None] = mapped_column(String(32))
    # Meta's time (ms) of the last quality and name update applied: an older one never overwrites it.
    health_times: Mapped[dict | None] = mapped_column(JSON)
    code_verification_status: Mapped[str | None] = mapped_column(String(32))
    is_on_biz_app: Mapped[bool] = mapped_column(Boolean, default=False)
    cloud_api_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    registration_error: Mapped[dict | None] = mapped_column(JSON)
    registration_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set while an attempt is in flight (Meta called, answer not yet stored): one left set by a
    # crash is resumed (meta.provisioning), so a number is never left silently unregistered.
    registration_started_at: Mapped[int | None] = mapped_column(BigInteger)
    pin_encrypted: Mapped[str | None] = mapped_column(Text)
    # Where Meta keeps the number's messages at rest (local storage), asked for at registration
    # and kept, so an attempt resumed after a crash asks for the same.
    data_localization_region: Mapped[str | None] = mapped_column(String(2))
    onboarded_at: Mapped[int] = mapped_column(BigInteger)
    # Coexistence (a WhatsApp Business app number): when its latest signup finished, which opens
    # Meta's 24-hour window for the two syncs; NULL for other numbers. Each sync is a durable task
    # (profiles.coexistence): its status, Meta's request id, and `next_at`, when the worker acts
    # next (a retry, the lease of an attempt in flight, or settling the contacts).
    coexistence_onboarded_at: Mapped[int | None] = mapped_column(BigInteger)
    contacts_sync_status: Mapped[str | None] = mapped_column(String(16))
    contacts_sync_request_id: Mapped[str | None] = mapped_column(String(64))
    contacts_sync_requested_at: Mapped[int | None] = mapped_column(BigInteger)
    contacts_sync_completed_at: Mapped[int | None] = mapped_column(BigInteger)
    contacts_sync_error: Mapped[dict | None] = mapped_column(JSON)
    contacts_sync_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    contacts_sync_next_at: Mapped[int | None] = mapped_column(BigInteger)
    history_sync_status: Mapped[str | None] = mapped_column(String(16))
    history_sync_request_id: Mapped[str | None] = mapped_column(String(64))
    history_sync_requested_at: Mapped[int | None] = mapped_column(BigInteger)
    history_sync_completed_at: Mapped[int | None] = mapped_column(BigInteger)
    history_sync_error: Mapped[dict | None] = mapped_column(JSON)
    history_sync_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    history_sync_next_at: Mapped[int | None] = mapped_column(BigInteger)
    history_sync_progress: Mapped[int | None] = mapped_column(Integer)
    history_sync_phase: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
