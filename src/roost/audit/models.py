from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from roost.db.base import Base


class AuditLogEntry(Base):
    """One sensitive action: of an admin key (reading a business token) or of a console user (an
    operator's action). Exactly one of the two actors is set. Kept forever: retention purges
    events and delivery logs, never the audit log."""

    __tablename__ = "audit_log_entries"
    __table_args__ = (Index("ix_audit_log_list", "organization_id", "livemode", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    action: Mapped[str] = mapped_column(String(64))
    admin_key_id: Mapped[str | None] = mapped_column(String(40))
    console_user_id: Mapped[str | None] = mapped_column(String(40))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(40))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
