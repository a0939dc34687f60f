"""Operator accounts of the console, the organizations each may see, and their signed-in sessions."""

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db.base import Base


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Stored lower-cased: one account per address, whatever the case it is typed in.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # argon2id, in the PHC string format (parameters and salt included).
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    disabled_at: Mapped[int | None] = mapped_column(BigInteger)
    # Failed sign-ins in a row; reset by a successful one. Enough of them lock the account until locked_until.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)
    last_login_at: Mapped[int | None] = mapped_column(BigInteger)


class ConsoleMembership(Base):
    """A user may see one organization, with one role there (admin acts; viewer only reads)."""

    __tablename__ = "console_memberships"

    user_id: Mapped[str] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)


class ConsoleLogin(Base):
    """One signed-in browser. Only the sha256 of its cookie is stored."""

    __tablename__ = "console_logins"
    __table_args__ = (Index("ix_console_logins_user", "user_id"), Index("ix_console_logins_expires", "expires_at"))

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    # What the console shows now: one organization, one mode (the user switches them).
    organization_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
