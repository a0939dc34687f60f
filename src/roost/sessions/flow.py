"""What happens to a session as the user goes through Meta's flow (hosted page, platform
callbacks, and the test helper all call these, so every path behaves the same)."""

from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.validation import is_ascii_digits
from roost.meta.events import SignupMessage
from roost.sessions.models import SignupSession
from roost.sessions.prefill import meta_setup
from roost.sessions.state import SessionStatus, apply_finish, record_event, transition


def record_message(db: AsyncSession, session: SignupSession, message: SignupMessage, now: int) -> None:
    """A WA_EMBEDDED_SIGNUP message, kept on the timeline; its facts are claims until verified."""
    record_event(db, session, "meta.message", now, message.as_event_data())
    if message.kind == "cancel" and message.current_step:
        session.last_step = message.current_step
    elif message.kind == "finish" and session.code_received_at is None:
        apply_finish(session, message)


def user_cancelled(db: AsyncSession, session: SignupSession, now: int) -> None:
    """The user chose to go back to the platform without connecting."""
    transition(
        db, session, SessionStatus.CANCELLED, at=now, reason="user_cancelled",
        error={"code": "user_cancelled", "message": "The user went back without connecting an account.", "meta_code": None},
    )


def signup_error(db: AsyncSession, session: SignupSession, message: SignupMessage, now: int) -> None:
    """The user gave up after Meta reported an error inside its flow."""
    meta_code = int(message.error_code) if message.error_code and is_ascii_digits(message.error_code) else None
    transition(
        db, session, SessionStatus.FAILED, at=now, reason="signup_error",
        error={"code": "signup_error", "message": message.error_message or "Meta reported an error.", "meta_code": meta_code},
    )


def finished_without_code(db: AsyncSession, session: SignupSession, now: int) -> None:
    """Meta's flow finished (FINISH with a WABA) but no code came: the account can be claimed."""
    transition(
        db, session, SessionStatus.RECOVERED, at=now, reason="code_not_received",
        error={
            "code": "code_not_exchanged",
            "message": "The user finished Meta's flow but no code arrived; the account can be claimed.",
            "meta_code": None,
        },
    )


def login_extras(session: SignupSession) -> dict:
    """`extras` for FB.login: the prefill in Meta's form (with the Multi-Partner Solution, if
    any, as `setup.solutionID`), coexistence, session info v3."""
    setup = meta_setup(session.prefill or {})
    if session.solution_id:
        setup = {**setup, "solutionID": session.solution_id}
    return {
        "setup": setup,
        "featureType": "whatsapp_business_app_onboarding" if session.coexistence else "",
        "sessionInfoVersion": "3",
    }
