"""The session state machine: the only place a session's status changes (SPEC 3.4), its
sub-states, and the guards every path checks before acting on a session.

Sub-states (not statuses: the API shows none of them): a pending session is *started* once the
user first clicks connect (`started_at`), and *processing* once Meta's code has arrived
(`code_received_at`): from then on provisioning decides its outcome and nothing else may end
it. A recovered session is *claiming* once a claim has begun (`claim_started_at`).

Every change of status writes its `session.status_changed` event and its outbound webhook event
(`embedded_signup.session.<status>`) in the caller's transaction, so a status, its history and
what the platform is told are committed together or not at all.
"""

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors
from roost.kit.ids import new_id
from roost.meta.events import SignupMessage
from roost.sessions.models import SessionEvent, SignupSession
from roost.sessions.schemas import session_object
from roost.webhooks import outbox


class SessionStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    RECOVERED = "recovered"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXPIRED = "expired"


TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.PENDING: frozenset(
        {
            SessionStatus.COMPLETED,
            SessionStatus.RECOVERED,
            SessionStatus.CANCELLED,
            SessionStatus.FAILED,
            SessionStatus.EXPIRED,
        }
    ),
    SessionStatus.RECOVERED: frozenset({SessionStatus.COMPLETED}),
}


EXPIRED_ERROR = {"code": "session_expired", "message": "The session expired before it was finished.", "meta_code": None}


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a {current} session cannot become {target}")
        self.current = current
        self.target = target


def is_overdue(session: SignupSession, now: int) -> bool:
    """Pending with its deadline passed: it is expired, whether or not the worker has run."""
    return (
        session.status == SessionStatus.PENDING
        and session.deadline_at is not None
        and session.deadline_at <= now
    )


def effective_status(session: SignupSession, now: int) -> str:
    return SessionStatus.EXPIRED if is_overdue(session, now) else session.status


# -- sub-states ----------------------------------------------------------------------------


def is_started(session: SignupSession) -> bool:
    return session.started_at is not None


def is_processing(session: SignupSession) -> bool:
    """Pending with Meta's code received: provisioning decides the outcome."""
    return session.status == SessionStatus.PENDING and session.code_received_at is not None


def is_claiming(session: SignupSession) -> bool:
    return session.status == SessionStatus.RECOVERED and session.claim_started_at is not None


def may_provision(session: SignupSession) -> bool:
    """Provisioning steps may run: pending (processing), completed (the last step after the
    hand-back), or a claim under way."""
    return session.status in (SessionStatus.PENDING, SessionStatus.COMPLETED) or is_claiming(session)


def takes_code(session: SignupSession, now: int) -> bool:
    """Meta's code would be accepted now: pending, not overdue, no code yet."""
    return session.status == SessionStatus.PENDING and session.code_received_at is None and not is_overdue(session, now)


def start(db: AsyncSession, session: SignupSession, now: int, grace_ms: int) -> bool:
    """The user's first action: the session is started and gets its grace period."""
    if session.started_at is not None or session.status != SessionStatus.PENDING:
        return False
    session.started_at = now
    if session.code_received_at is None:
        session.deadline_at = session.expires_at + grace_ms
    record_event(db, session, "session.started", now)
    return True


def apply_finish(session: SignupSession, finish: SignupMessage) -> None:
    """Meta's FINISH: the assets the user chose, kept as claims (the token's scopes verify the
    WABA later); a value already known is never replaced."""
    session.waba_id = session.waba_id or finish.waba_id
    session.phone_number_id = session.phone_number_id or finish.phone_number_id
    session.business_id = session.business_id or finish.business_id


def receive_code(db: AsyncSession, session: SignupSession, now: int, finish: SignupMessage | None) -> None:
    """Meta's code arrived (`takes_code` held, row locked): the session is processing and its
    deadline is gone, since provisioning decides the outcome from here on."""
    session.code_received_at = now
    session.deadline_at = None
    if finish is not None:
        apply_finish(session, finish)
    record_event(db, session, "meta.code_received", now, {"with_finish": finish is not None})


def begin_claim(db: AsyncSession, session: SignupSession, business_id: str, now: int, by: str) -> None:
    """A recovered session starts (or restarts) being claimed."""
    session.business_id = business_id
    session.claim_started_at = session.claim_started_at or now
    record_event(db, session, "session.claim_started", now, {"by": by, "business_id": business_id})


# -- guards --------------------------------------------------------------------------------


def refuse_unless_pending(db: AsyncSession, session: SignupSession, now: int, noun: str = "session") -> errors.ApiError | None:
    """The refusal for acting on a session that is no longer pending. An overdue session's
    expiry is written down first; the caller decides whether that commits with the refusal."""
    expire_if_overdue(db, session, now)
    if session.status != SessionStatus.PENDING:
        return errors.conflict("session_not_pending", f"This {noun} is {session.status}; only a pending {noun} can take this call")
    return None


def refuse_unless_awaiting_code(db: AsyncSession, session: SignupSession, now: int, noun: str = "session") -> errors.ApiError | None:
    """`refuse_unless_pending`, and a processing session refused too: once Meta's code has
    arrived only provisioning may end the session."""
    return refuse_unless_pending(db, session, now, noun) or refuse_if_processing(session, noun)


def refuse_if_processing(session: SignupSession, noun: str = "session") -> errors.ApiError | None:
    if is_processing(session):
        return errors.conflict(
            "session_processing", f"Meta's code for this {noun} has already arrived: Roost is connecting the account"
        )
    return None


def record_event(db: AsyncSession, session: SignupSession, type: str, at: int, data: dict[str, Any] | None = None) -> SessionEvent:
    event = SessionEvent(id=new_id("sevt"), session_id=session.id, type=type, created_at=at, data=data or {})
    db.add(event)
    return event


def transition(
    db: AsyncSession,
    session: SignupSession,
    target: SessionStatus,
    *,
    at: int,
    reason: str,
    error: dict[str, Any] | None = None,
) -> None:
    current = SessionStatus(session.status)
    if target not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(current, target)
    session.status = target
    session.deadline_at = None  # only pending sessions have a deadline
    if target == SessionStatus.COMPLETED:
        session.completed_at = at
    elif target == SessionStatus.CANCELLED:
        session.cancelled_at = at
    elif target == SessionStatus.RECOVERED:
        session.recovered_at = at
    if error is not None:
        session.error = error
    record_event(db, session, "session.status_changed", at, {"from": current.value, "to": target.value, "reason": reason})
    emit_webhook(db, session, f"embedded_signup.session.{target.value}", session_object(session, target.value), at)


def emit_webhook(db: AsyncSession, session: SignupSession, type: str, data: dict[str, Any], at: int) -> None:
    """An outbound webhook event about this session (SPEC 7.1), and the `webhook.emitted` entry
    of the session's timeline that names it (SPEC 3.5)."""
    event_id = outbox.emit(db, organization_id=session.organization_id, livemode=session.livemode, type=type, data=data, at=at)
    record_event(db, session, "webhook.emitted", at, {"event_id": event_id, "type": type})


def expire_if_overdue(db: AsyncSession, session: SignupSession, now: int) -> bool:
    """Write down an expiry that reads already report. The session row must be locked."""
    if not is_overdue(session, now):
        return False
    transition(
        db,
        session,
        SessionStatus.EXPIRED,
        at=now,
        reason="started_session_deadline" if session.started_at else "link_expired",
        error=EXPIRED_ERROR,
    )
    return True
