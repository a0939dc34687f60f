"""The simulator's state: Meta's side of every test-mode signup, in Roost's own database.

Everything lives in `sim_` tables so several Roost processes agree on it (a code minted by one
process is exchanged through another). Secrets the simulator hands out (codes, business tokens,
PINs) are stored as SHA-256 digests only. Times are integer milliseconds, like the rest of Roost.
"""

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from roost.db.base import Base


class SimApp(Base):
    """A simulated Meta app the simulator has met. Its credentials are derived from the app id
    (roost.kit.simulated_meta); the row lets a system user token or partner id be looked up,
    and holds the app's webhook subscription (`POST /{app_id}/subscriptions`)."""

    __tablename__ = "sim_apps"
    __table_args__ = (
        Index("ix_sim_apps_system_token", "system_user_token_hash", unique=True),
        Index("ix_sim_apps_partner", "partner_business_id"),
    )

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    system_user_token_hash: Mapped[str] = mapped_column(String(64))
    partner_business_id: Mapped[str] = mapped_column(String(32))
    credit_line_id: Mapped[str] = mapped_column(String(32))
    # NULL until the app POSTs its own subscription: then Meta's default (Roost's receiver) applies.
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_verify_token: Mapped[str | None] = mapped_column(String(255))
    callback_fields: Mapped[list | None] = mapped_column(JSON)
    callback_version: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class SimBusiness(Base):
    """A customer's business portfolio."""

    __tablename__ = "sim_businesses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    details: Mapped[dict] = mapped_column(JSON)
    created_by_app_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)


class SimWaba(Base):
    __tablename__ = "sim_wabas"
    __table_args__ = (Index("ix_sim_wabas_business", "business_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    business_id: Mapped[str] = mapped_column(ForeignKey("sim_businesses.id"))
    name: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(8))
    timezone_id: Mapped[str] = mapped_column(String(8))
    message_template_namespace: Mapped[str] = mapped_column(String(64))
    account_review_status: Mapped[str] = mapped_column(String(16))
    # DISABLED_UPDATE's waba_ban_state and ACCOUNT_RESTRICTION's restriction_info, as sent last:
    # the WABA's health_status shows them (BLOCKED, LIMITED).
    ban_state: Mapped[str | None] = mapped_column(String(24))
    restrictions: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)


class SimWabaShare(Base):
    """A WABA shared with an app (a finished signup): what grants the app's tokens access.
    Also the app's subscription to the WABA (`subscribed_apps`) and its credit line."""

    __tablename__ = "sim_waba_shares"
    __table_args__ = (Index("ix_sim_waba_shares_app", "app_id", "shared_at"),)

    waba_id: Mapped[str] = mapped_column(ForeignKey("sim_wabas.id"), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    shared_at: Mapped[int] = mapped_column(BigInteger)
    subscribed: Mapped[bool] = mapped_column(Boolean)
    override_callback_uri: Mapped[str | None] = mapped_column(Text)
    override_verify_token: Mapped[str | None] = mapped_column(String(255))
    allocation_config_id: Mapped[str | None] = mapped_column(String(32))
    credit_currency: Mapped[str | None] = mapped_column(String(8))


class SimPhoneNumber(Base):
    __tablename__ = "sim_phone_numbers"
    __table_args__ = (Index("ix_sim_phone_numbers_waba", "waba_id", "onboarded_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    waba_id: Mapped[str] = mapped_column(ForeignKey("sim_wabas.id"))
    country_code: Mapped[str] = mapped_column(String(4))
    number: Mapped[str] = mapped_column(String(20))
    display_phone_number: Mapped[str] = mapped_column(String(32))
    verified_name: Mapped[str] = mapped_column(String(255))
    code_verification_status: Mapped[str] = mapped_column(String(16))
    quality_rating: Mapped[str] = mapped_column(String(8))
    # NULL: Meta's usual answer (APPROVED, TIER_250); set by the control API's name and quality updates.
    name_status: Mapped[str | None] = mapped_column(String(32))
    messaging_limit_tier: Mapped[str | None] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))
    platform_type: Mapped[str] = mapped_column(String(16))
    is_on_biz_app: Mapped[bool] = mapped_column(Boolean)
    # sha256(phone id + ":" + PIN): two-step verification is on when this is set.
    pin_hash: Mapped[str | None] = mapped_column(String(64))
    onboarded_at: Mapped[int] = mapped_column(BigInteger)
    registered_at: Mapped[int | None] = mapped_column(BigInteger)
    register_blocked_until: Mapped[int | None] = mapped_column(BigInteger)
    # Coexistence: the business chose not to share its chat history (a control sets it).
    history_declined: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[int] = mapped_column(BigInteger)


class SimSyncRequest(Base):
    """Every `POST /{phone}/smb_app_data` that reached the rules: one `accepted` per sync type at
    most (Meta starts each sync once), the refusals beside it."""

    __tablename__ = "sim_sync_requests"
    __table_args__ = (Index("ix_sim_sync_requests_phone", "phone_number_id", "sync_type", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    phone_number_id: Mapped[str] = mapped_column(ForeignKey("sim_phone_numbers.id"))
    app_id: Mapped[str] = mapped_column(String(32))
    sync_type: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)


class SimRegisterAttempt(Base):
    """Every `POST /{phone}/register` that reached the rules, for the 10-per-72-hours limit."""

    __tablename__ = "sim_register_attempts"
    __table_args__ = (Index("ix_sim_register_attempts_phone", "phone_number_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    phone_number_id: Mapped[str] = mapped_column(ForeignKey("sim_phone_numbers.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(32))


class SimSignup(Base):
    """One finished Embedded Signup (through the dialog or `POST /control/signups`)."""

    __tablename__ = "sim_signups"
    __table_args__ = (
        Index("ix_sim_signups_nonce", "app_id", "nonce", unique=True),
        Index("ix_sim_signups_app", "app_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))
    variant: Mapped[str] = mapped_column(String(64))
    business_id: Mapped[str] = mapped_column(String(32))
    waba_id: Mapped[str] = mapped_column(String(32))
    phone_number_id: Mapped[str | None] = mapped_column(String(32))
    extras: Mapped[dict] = mapped_column(JSON)
    fault_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[int] = mapped_column(BigInteger)


class SimCode(Base):
    """An authorization code: single use, 30 seconds (`oauth/access_token`)."""

    __tablename__ = "sim_codes"
    __table_args__ = (Index("ix_sim_codes_app", "app_id", "created_at"),)

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    business_id: Mapped[str] = mapped_column(String(32))
    signup_id: Mapped[str | None] = mapped_column(String(40))
    # Codes from the popup (the SDK) have none; a redirect-based dialog would record it.
    redirect_uri: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class SimToken(Base):
    """A business token (BISU): one customer business, for one app; never expires."""

    __tablename__ = "sim_tokens"
    __table_args__ = (Index("ix_sim_tokens_business", "app_id", "business_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    business_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)


class SimFault(Base):
    """A fault injected through the control API, consumed atomically (`remaining`, NULL = until cleared)."""

    __tablename__ = "sim_faults"
    __table_args__ = (Index("ix_sim_faults_lookup", "app_id", "call", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    call: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    delay_ms: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[int | None] = mapped_column(Integer)
    meta_code: Mapped[int | None] = mapped_column(Integer)
    meta_subcode: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    count: Mapped[int | None] = mapped_column(Integer)
    remaining: Mapped[int | None] = mapped_column(Integer)
    hits: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)


class SimWebhookDelivery(Base):
    """One attempt of the emitter to deliver one webhook (or the record that a fault lost it)."""

    __tablename__ = "sim_webhook_deliveries"
    __table_args__ = (
        Index("ix_sim_webhook_deliveries_app", "app_id", "created_at"),
        Index("ix_sim_webhook_deliveries_webhook", "webhook_id", "attempt"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(40))
    app_id: Mapped[str] = mapped_column(String(32))
    field: Mapped[str] = mapped_column(String(64))
    event: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(80))
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class SimVerificationCode(Base):
    """A code `POST /{phone}/request_code` "sent" by SMS or voice. Sealed, not hashed: the control
    API reads it back (`GET /control/phone-numbers/{id}/verification-code`), standing in for the
    phone that would have received it. A new request replaces the codes before it."""

    __tablename__ = "sim_verification_codes"
    __table_args__ = (Index("ix_sim_verification_codes_phone", "phone_number_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    phone_number_id: Mapped[str] = mapped_column(ForeignKey("sim_phone_numbers.id"))
    code_encrypted: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(8))
    wrong_guesses: Mapped[int] = mapped_column(Integer)
    # Set when the guesses ran out: neither a check nor a new code before this time.
    blocked_until: Mapped[int | None] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
