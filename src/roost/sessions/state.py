"""The session state machine: the only place a session's status changes (SPEC 3.4).

Every change writes its `session.status_changed` event and its outbound webhook event
(`embedded_signup.session.<status>`) in the caller's transaction, so a status, its history and
what the platform is told are committed together or not at all.
"""

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.ids import new_id
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
