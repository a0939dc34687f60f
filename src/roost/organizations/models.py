from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from roost.db.base import Base


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Branding of the hosted connect page (organization-wide, both modes).
    logo_url: Mapped[str | None] = mapped_column(Text)
    accent_color: Mapped[str | None] = mapped_column(String(7))


class AdminKey(Base):
    __tablename__ = "admin_keys"
    __table_args__ = (Index("ix_admin_keys_org", "organization_id", "livemode", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    # sha256 of the whole key: the key has 256 bits of entropy, so no salt or KDF is needed.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)


class ModeSettings(Base):
    """The settings of one organization that exist once per mode (test, live)."""

    __tablename__ = "organization_mode_settings"
    __table_args__ = (Index("ix_mode_settings_meta_app", "meta_app_id"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    livemode: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    allowed_origins: Mapped[list] = mapped_column(JSON, default=list)
    allowed_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    redirect_secret_encrypted: Mapped[str] = mapped_column(Text)
    # Meta app overrides (live mode; test mode always uses the simulator). Secrets encrypted.
    meta_app_id: Mapped[str | None] = mapped_column(String(32))
    meta_app_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    meta_config_id: Mapped[str | None] = mapped_column(String(32))
    meta_system_user_token_encrypted: Mapped[str | None] = mapped_column(Text)
    meta_verify_token_encrypted: Mapped[str | None] = mapped_column(Text)
    meta_partner_type: Mapped[str | None] = mapped_column(String(20))
    # A Multi-Partner Solution new sessions onboard into (extras.setup.solutionID), unless they name one.
    meta_solution_id: Mapped[str | None] = mapped_column(String(32))
    meta_credit_line_id: Mapped[str | None] = mapped_column(String(32))
    # Where this organization's live app talks to Meta (None: the server's ROOST_META_* values).
    meta_graph_url: Mapped[str | None] = mapped_column(Text)
    meta_graph_version: Mapped[str | None] = mapped_column(String(16))
    meta_sdk_url: Mapped[str | None] = mapped_column(Text)
    meta_dialog_origins: Mapped[list | None] = mapped_column(JSON)
    # Where Meta sends this organization's WhatsApp messages (WABA override_callback_uri).
    messages_callback_url: Mapped[str | None] = mapped_column(Text)
    # SPEC 5.4: may an admin key of this mode read business tokens (access-token endpoint)?
    token_custody_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Where Meta's webhooks to this organization's own app are relayed unchanged (SPEC 7.2).
    meta_forward_url: Mapped[str | None] = mapped_column(Text)
    # Claim recovered sessions automatically once Meta's account_update proves them (SPEC 5.3).
    auto_claim: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Coexistence: request a WhatsApp Business app number's chat history after signup (the contacts always).
    coexistence_history_sync: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[int] = mapped_column(BigInteger)


class RateLimitWindow(Base):
    """Requests counted per admin key per minute, in the database so every process shares it."""

    __tablename__ = "rate_limit_windows"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
