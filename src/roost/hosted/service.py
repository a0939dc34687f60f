"""The hosted page's rules, without HTTP: finding a session by its link, binding it to one
browser, what the page shows, the lost-code rule, the result handed back, and the page's CSP."""

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.hosted import signing
from roost.kit.crypto import constant_time_equal, sha256_hex
from roost.kit.urls import LOOPBACK_HOSTS
from roost.meta.config import MetaApp
from roost.meta.events import SignupMessage
from roost.organizations.models import ModeSettings, Organization
from roost.profiles.models import PhoneNumber
from roost.sessions import flow
from roost.sessions.models import SessionEvent, SignupSession
from roost.sessions.state import (
    EXPIRED_ERROR,
    SessionStatus,
    effective_status,
    is_overdue,
    is_processing,
    is_started,
    record_event,
    takes_code,
)

# secrets.token_urlsafe(32) makes 43 characters; anything far from that shape is not a link.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
COOKIE_PREFIX = "roost_es_"
COOKIE_MAX_AGE_S = 24 * 3600
# SPEC 4.2: a FINISH whose code has not arrived 15 s later means the code is lost.
CODE_LOST_AFTER_MS = 15_000

# What Meta's SDK needs besides its own script host and dialog origins (SPEC 4.3).
META_EXTRA_FRAME_ORIGINS = ("https://staticxx.facebook.com",)
META_API_HOSTS = "https://*.facebook.com"


@dataclass
class PageSession:
    """A session found by its link, with what the page shows of its organization and mode."""

    session: SignupSession
    organization: Organization
    mode: ModeSettings


async def find_by_token(db: AsyncSession, token: Any, *, for_update: bool = False) -> PageSession | None:
    """The hosted session whose link carries `token` (only its hash is stored), or None."""
    if not isinstance(token, str) or not TOKEN_SHAPE.fullmatch(token):
        return None
    query = (
        select(SignupSession, Organization, ModeSettings)
        .join(Organization, Organization.id == SignupSession.organization_id)
        .join(
            ModeSettings,
            and_(
                ModeSettings.organization_id == SignupSession.organization_id,
                ModeSettings.livemode == SignupSession.livemode,
            ),
        )
        .where(SignupSession.token_hash == sha256_hex(token), SignupSession.source == "hosted")
    )
    if for_update:
        query = query.with_for_update(of=SignupSession)
    row = (await db.execute(query)).first()
    return PageSession(*row) if row else None


# -- binding a started session to one browser ------------------------------------------------


def cookie_name(session_id: str) -> str:
    return f"{COOKIE_PREFIX}{session_id}"


def new_binding() -> tuple[str, str]:
    """(cookie value, the hash stored on the session)."""
    value = secrets.token_urlsafe(32)
    return value, sha256_hex(value)


def is_bound(session: SignupSession, cookies: dict[str, str]) -> bool:
    """Whether this browser holds the session's cookie."""
    value = cookies.get(cookie_name(session.id))
    if not value or not session.browser_binding_hash:
        return False
    return constant_time_equal(sha256_hex(value), session.browser_binding_hash)


def cookie_is_secure(public_url: str) -> bool:
    """Secure everywhere except plain HTTP on a loopback address (local development, tests)."""
    parts = urlsplit(public_url)
    return not (parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS)


def public_origin(public_url: str) -> str:
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def public_path(public_url: str) -> str:
    return urlsplit(public_url).path.rstrip("/")


# -- what the page shows -------------------------------------------------------------------


def initial_screen(session: SignupSession, status: str, bound: bool) -> str:
    """The screen a page load starts on."""
    if status != SessionStatus.PENDING:
        return f"result-{status}"
    if is_started(session) and not bound:
        return "result-in-use"
    if is_processing(session) or (is_started(session) and session.waba_id):
        return "progress"  # Meta's flow is over for this browser: the outcome is on its way
    return "connect"


def session_error(session: SignupSession, now: int) -> dict[str, Any] | None:
    if is_overdue(session, now):
        return EXPIRED_ERROR
    return session.error


def registering(session: SignupSession) -> bool:
    """Whether phone registration is still to come (the page waits a few seconds for it)."""
    for record in session.provisioning or []:
        if record.get("step") == "register_phone":
            return record.get("status") in ("pending", "running")
    return False


async def connected_numbers(db: AsyncSession, session: SignupSession) -> list[dict[str, Any]]:
    if not session.business_profile_id:
        return []
    rows = await db.scalars(
        select(PhoneNumber)
        .where(PhoneNumber.business_profile_id == session.business_profile_id)
        .order_by(PhoneNumber.created_at, PhoneNumber.id)
    )
    return [
        {
            "display_phone_number": phone.display_phone_number,
            "verified_name": phone.verified_name,
            "registered": phone.cloud_api_registered,
            "verified": phone.code_verification_status == "VERIFIED",
        }
        for phone in rows
    ]


# -- Meta's messages, as the page relays them --------------------------------------------------


async def _latest_message(db: AsyncSession, session: SignupSession, kind: str) -> SessionEvent | None:
    events = await db.scalars(
        select(SessionEvent)
        .where(SessionEvent.session_id == session.id, SessionEvent.type == "meta.message")
        .order_by(SessionEvent.seq.desc())
        .limit(20)
    )
    return next((event for event in events if (event.data or {}).get("kind") == kind), None)


def _message_from(event: SessionEvent | None) -> SignupMessage | None:
    if event is None:
        return None
    fields = {name: value for name, value in (event.data or {}).items() if name in SignupMessage.__dataclass_fields__}
    try:
        return SignupMessage(**fields)
    except TypeError:
        return None


async def latest_finish(db: AsyncSession, session: SignupSession) -> SignupMessage | None:
    return _message_from(await _latest_message(db, session, "finish"))


async def latest_reported_error(db: AsyncSession, session: SignupSession) -> SignupMessage | None:
    return _message_from(await _latest_message(db, session, "error"))


async def settle_lost_code(db: AsyncSession, session: SignupSession, now: int) -> bool:
    """FINISH arrived but Meta's code did not within 15 seconds: the code is lost, the session
    is `recovered` (the account can still be claimed). The session row must be locked."""
    if not takes_code(session, now) or not is_started(session) or not session.waba_id:
        return False
    finish = await _latest_message(db, session, "finish")
    if finish is None or now - finish.created_at < CODE_LOST_AFTER_MS:
        return False
    flow.finished_without_code(db, session, now)
    return True


async def settle_lost_codes(db: AsyncSession, now: int, limit: int = 100) -> int:
    """The worker's side of the 15-second rule, for pages closed before it fired: started
    sessions with a FINISH (waba_id) and no code become `recovered`. Pending sessions are few,
    and the scan rides the pending-deadline index."""
    sessions = list(
        await db.scalars(
            select(SignupSession)
            .where(
                SignupSession.status == SessionStatus.PENDING,
                SignupSession.deadline_at > now,
                SignupSession.started_at.is_not(None),
                SignupSession.code_received_at.is_(None),
                SignupSession.waba_id.is_not(None),
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    settled = 0
    for session in sessions:
        settled += await settle_lost_code(db, session, now)
    return settled


# -- the result handed back (SPEC 4.4) -------------------------------------------------------


def result_parameters(session: SignupSession, now: int, *, in_use: bool = False) -> dict[str, str]:
    """The unsigned result parameters of a finished session (or of a link in use elsewhere)."""
    status = effective_status(session, now)
    if in_use:
        error: dict[str, Any] | None = {
            "code": "session_in_use",
            "message": "The link is in use in another browser; the session goes on there.",
        }
    else:
        error = session_error(session, now)
    return signing.result_parameters(
        session_id=session.id,
        state=session.state,
        status=status,
        timestamp=now // 1000,
        business_profile_id=session.business_profile_id,
        waba_id=session.waba_id,
        phone_number_id=session.phone_number_id,
        error=(error or {}).get("code"),
        error_description=(error or {}).get("message"),
    )


def hand_back(
    db: AsyncSession,
    page: PageSession,
    secret: str,
    now: int,
    *,
    opener: bool,
    opener_origin: str | None = None,
    in_use: bool = False,
) -> dict[str, Any]:
    """The signed result and where it goes: posted to the opener when the page has one and there
    are target origins, else the redirect URL (if any). Records how it was handed back.

    `opener_origin` is the origin roost.js says the opener has (a hint from the browser, never
    trusted to widen anything): when it is given and is not a target, a post could not reach the
    opener, so the result goes by redirect instead of being lost in a window that closes."""
    session = page.session
    parameters = signing.signed(secret, result_parameters(session, now, in_use=in_use))
    targets = signing.target_origins(session.redirect_uri, page.mode.allowed_origins)
    url = signing.redirect_url(session.redirect_uri, parameters) if session.redirect_uri else None
    popup = opener and bool(targets) and (opener_origin is None or opener_origin in targets)
    if not in_use:  # a link in use elsewhere has no outcome to record
        if popup:
            record_event(db, session, "result.posted", now, {"status": parameters["status"], "targets": targets})
        elif url:
            record_event(db, session, "result.redirected", now, {"status": parameters["status"]})
    return {
        "status": parameters["status"],
        "params": parameters,
        "targets": targets if popup else [],
        "redirect_url": url,
        "delivery": "popup" if popup else ("redirect" if url else "none"),
    }


# -- Content-Security-Policy (SPEC 4.3) ------------------------------------------------------


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(meta_app: MetaApp | None, logo_url: str | None = None) -> str:
    """No inline script anywhere; Meta's (or the simulator's) hosts only where the SDK needs them."""
    script, frame, connect, img = ["'self'"], [], ["'self'"], ["'self'", "data:"]
    if meta_app is not None:
        sdk_origin = _origin_of(meta_app.sdk_url_for("en_US"))
        if sdk_origin:
            script.append(sdk_origin)
        frame.extend(meta_app.dialog_origins)
        if meta_app.livemode:
            frame.extend(META_EXTRA_FRAME_ORIGINS)
            connect.append(META_API_HOSTS)
            img.append(META_API_HOSTS)
        else:
            connect.extend(meta_app.dialog_origins)
            img.extend(meta_app.dialog_origins)
    logo_origin = _origin_of(logo_url) if logo_url else None
    if logo_origin:
        img.append(logo_origin)

    def sources(values: list[str]) -> str:
        return " ".join(dict.fromkeys(values)) or "'none'"

    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {sources(script)}",
            "style-src 'self'",
            f"img-src {sources(img)}",
            f"connect-src {sources(connect)}",
            f"frame-src {sources(frame)}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def security_headers(csp: str) -> dict[str, str]:
    """On every hosted response. No Cross-Origin-Opener-Policy other than unsafe-none: a stricter
    one cuts window.opener, which both the popup hand-back and Meta's dialog rely on."""
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "unsafe-none",
    }


def accent_text_color(accent: str) -> str:
    """Black or white, whichever reads better on the accent colour (WCAG relative luminance)."""
    channels = [int(accent[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#111111" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#FFFFFF"
