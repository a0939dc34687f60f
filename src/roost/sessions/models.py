from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db.base import Base


class SignupSession(Base):
    __tablename__ = "embedded_signup_sessions"
    __table_args__ = (
        # One index per list filter, each led by tenant and mode, ending in the list order.
        Index("ix_sessions_list", "organization_id", "livemode", "created_at", "id"),
        Index("ix_sessions_status", "organization_id", "livemode", "status", "created_at", "id"),
        Index("ix_sessions_source", "organization_id", "livemode", "source", "created_at", "id"),
        # The expiry sweep looks only at pending sessions by deadline. Not usable by a
        # `status=pending` list (which also wants sessions without a deadline), so that list
        # takes the tenant-led index below (0009).
        Index(
            "ix_sessions_pending_deadline",
            "deadline_at",
            sqlite_where=text("status = 'pending' AND deadline_at IS NOT NULL"),
            postgresql_where=text("status = 'pending' AND deadline_at IS NOT NULL"),
        ),
        # `status=pending` lists: the tenant's pending sessions only, in list order.
        Index(
            "ix_sessions_pending_list",
            "organization_id",
            "livemode",
            "created_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_sessions_provisioning_due",
            "provisioning_next_at",
            sqlite_where=text("provisioning_next_at IS NOT NULL"),
            postgresql_where=text("provisioning_next_at IS NOT NULL"),
        ),
        # Auto-claim looks for recovered sessions by WABA (SPEC 5.3).
        Index(
            "ix_sessions_recovered_waba",
            "waba_id",
            sqlite_where=text("status = 'recovered'"),
            postgresql_where=text("status = 'recovered'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    livemode: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    # When a pending session expires: expires_at, + grace once started, none once the code arrived.
    deadline_at: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger)
    code_received_at: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger)
    redirect_uri: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    prefill: Mapped[dict | None] = mapped_column(JSON)
    locale: Mapped[str | None] = mapped_column(String(35))
    coexistence: Mapped[bool] = mapped_column(Boolean, default=False)
    # The Multi-Partner Solution Meta's flow onboards into (extras.setup.solutionID): the create's,
    # else the mode's meta.solution_id at creation.
    solution_id: Mapped[str | None] = mapped_column(String(32))
    waba_id: Mapped[str | None] = mapped_column(String(32))
    business_id: Mapped[str | None] = mapped_column(String(32))
    phone_number_id: Mapped[str | None] = mapped_column(String(32))
    business_profile_id: Mapped[str | None] = mapped_column(String(40))
    last_step: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[dict | None] = mapped_column(JSON)
    provisioning: Mapped[list] = mapped_column(JSON, default=list)
    # Held only until the business profile exists (then it moves there); AES-GCM encrypted.
    business_token_encrypted: Mapped[str | None] = mapped_column(Text)
    # Meta's code (with its redirect_uri), encrypted, only while its exchange is in flight: if the
    # process dies there, another takes the exchange over within the code's 30 seconds.
    code_encrypted: Mapped[str | None] = mapped_column(Text)
    # Provisioning is resumable: the worker takes sessions whose next attempt is due and whose
    # lease (held by whoever is running the steps) has run out.
    provisioning_next_at: Mapped[int | None] = mapped_column(BigInteger)
    provisioning_lease_until: Mapped[int | None] = mapped_column(BigInteger)
    # The hosted page binds a started session to one browser: sha256 of that browser's cookie.
    browser_binding_hash: Mapped[str | None] = mapped_column(String(64))
    recovered_at: Mapped[int | None] = mapped_column(BigInteger)
    # When a claim of this recovered session was first started (by the platform or by Roost):
    # auto-claim tries each session once; the platform can claim again by hand.
    claim_started_at: Mapped[int | None] = mapped_column(BigInteger)


class SessionMetadataValue(Base):
    """One filterable top-level metadata value of a session (its text form, hashed so any
    length fits an index), copied with the list's sort keys so the filter is one index range.

    `status` is the session's stored status, kept equal by a database trigger on the sessions
    table (migration 0010), so that a metadata filter with a status filter is one index range
    too, however rare sessions matching both are.
    """

    __tablename__ = "session_metadata_values"
    __table_args__ = (
        Index(
            "ix_session_metadata_lookup",
            "organization_id", "livemode", "key", "value_digest", "created_at", "session_id",
        ),
        Index(
            "ix_session_metadata_status",
            "organization_id", "livemode", "key", "value_digest", "status", "created_at", "session_id",
        ),
    )

    session_id: Mapped[str] = mapped_column(
        ForeignKey("embedded_signup_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value_digest: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Metadata is indexed when its session is created, which is always pending.
    status: Mapped[str] = mapped_column(String(16), server_default="pending")


class SessionEvent(Base):
    __tablename__ = "session_events"
    __table_args__ = (
        Index("ix_session_events_timeline", "session_id", "seq"),
        Index("ix_session_events_created", "created_at"),  # retention purges by age
    )

    # Insertion order: several events can share a millisecond, and a KSUID is random within
    # its second, so neither orders a timeline.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("embedded_signup_sessions.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
