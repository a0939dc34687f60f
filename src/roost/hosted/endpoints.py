"""The hosted connect page over HTTP (SPEC 4): the page, its assets, and the page's own API.

The page's API is POST-only JSON under /embed/api/. The link's token travels in the body,
never in a path (paths are logged); after the session is started, every call must also come
from the browser it is bound to (its cookie), and every call must come from the public URL's
origin. Every response carries the page's security headers.
"""

import asyncio
import hashlib
from collections.abc import Callable, Coroutine
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from roost.hosted import i18n, service, signing
from roost.hosted.service import PageSession
from roost.kit import errors
from roost.kit.timeutil import now_ms
from roost.kit.urls import normalize_origin, origin_problem
from roost.kit.web import error_response, read_json_object
from roost.meta.config import MetaApp
from roost.meta.events import parse_message
from roost.organizations.service import redirect_secret
from roost.runtime import Runtime, get_runtime
from roost.sessions import flow
from roost.provisioning.runner import Provisioner
from roost.sessions.state import (
    SessionStatus,
    effective_status,
    is_started,
    record_event,
    refuse_if_processing,
    refuse_unless_pending,
    start,
)

log = structlog.get_logger("roost.hosted")

HERE = Path(__file__).parent
TIMING = {
    "poll_ms": 1000,  # while Roost is working
    "idle_poll_ms": 3000,  # otherwise (notices a cancellation by the platform or an expiry)
    "registration_wait_ms": 6000,
    "slow_progress_ms": 8000,  # after this long on "Connecting your account…" the page says it is still working
    "no_event_grace_ms": 1200,
    "redirect_delay_ms": 1500,
    "close_delay_ms": 400,
    "payment_note_ms": 8000,  # how long a completed page with the payment-method note stays before it goes
    "sdk_timeout_ms": 15000,
    "deliver_for_ms": 25000,  # how long the page resends Meta's code if Roost is unreachable (a code lives ~30 s)
}
MAX_CODE_LENGTH = 2048


class HostedRoute(APIRoute):
    """Every hosted response, errors included, carries the security headers (SPEC 4.3)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except errors.ApiError as error:
                response = error_response(error, request.scope.get("state", {}).get("request_id"))
            return with_security_headers(response)

        return route


def with_security_headers(response: Response) -> Response:
    """The hosted headers, where a route has not set its own (the page sets its own CSP)."""
    for name, value in service.security_headers(service.API_CSP).items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _payment_note(meta_app: MetaApp | None, livemode: bool) -> str | None:
    """A Tech Provider's customer adds a payment method in WhatsApp Manager after connecting: live,
    the completed page says so with the link and stays long enough to be read; in test mode there
    is no real account to pay for, so the page only says what a live customer will see, and goes."""
    if meta_app is None or meta_app.is_solution_partner:
        return None
    return "live" if livemode else "test"


def is_hosted_path(path: str) -> bool:
    return path == "/embed" or path.startswith("/embed/")


router = APIRouter(prefix="/embed", route_class=HostedRoute, include_in_schema=False)


# -- templates and assets ------------------------------------------------------------------------


def _environment(language: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_translations(i18n.CATALOGS[language], newstyle=True)  # type: ignore[attr-defined]
    return environment


TEMPLATES = {language: _environment(language).get_template("connect.html") for language in i18n.LANGUAGES}
CONFIG_SLOT = "<roost-config/>"  # escaped text never holds a '<', so only the slot matches


@lru_cache(maxsize=512)
def _skeleton(
    language: str, screen: str, *, platform: str | None, logo_url: str | None, has_redirect: bool, has_targets: bool,
    payment_note: str | None = None,
) -> str:
    """The translated page for one organization's branding and one screen, rendered once; each
    request only fills in its configuration (rendering is most of the page's server time)."""

    def hidden(name: str) -> Markup:
        return Markup("") if name == screen else Markup(" hidden")

    return TEMPLATES[language].render(
        screen=screen,
        hidden=hidden,
        platform=platform,
        logo_url=logo_url,
        has_redirect=has_redirect,
        has_targets=has_targets,
        payment_note=payment_note,
        config_json=Markup(CONFIG_SLOT),
        html_lang=i18n.LANGUAGES[language],
        asset_version=ASSET_VERSION,
    )

ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSETS = {path.name: path.read_bytes() for path in sorted((HERE / "static").iterdir()) if path.suffix in ASSET_TYPES}
ASSET_VERSION = hashlib.sha256(b"".join(ASSETS.values())).hexdigest()[:12]


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    body = ASSETS.get(name)
    if body is None:
        raise errors.not_found(f"No such file: {name}")
    response = Response(body, media_type=ASSET_TYPES[Path(name).suffix])
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["ETag"] = f'"{ASSET_VERSION}"'
    return response


# -- roost.js, the platform's popup helper ----------------------------------------------------------

# Served outside /embed: platforms include it from their own pages, so it needs none of the page's
# headers, but must be loadable from any origin (with or without `crossorigin`, SRI or COEP).
platform_router = APIRouter(include_in_schema=False)
ROOST_JS = (HERE / "platform" / "roost.js").read_bytes()
ROOST_JS_ETAG = f'"{hashlib.sha256(ROOST_JS).hexdigest()[:16]}"'


@platform_router.get("/favicon.ico")
async def favicon() -> Response:
    # Browsers ask for it on every hosted page: "nothing" rather than a 404 in their console.
    return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})


@platform_router.get("/static/roost.js")
async def roost_js(request: Request) -> Response:
    headers = {
        # Unversioned URL: cached for an hour, then revalidated cheaply with the ETag.
        "Cache-Control": "public, max-age=3600",
        "ETag": ROOST_JS_ETAG,
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if ROOST_JS_ETAG in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(ROOST_JS, media_type="text/javascript; charset=utf-8", headers=headers)


# -- the page -------------------------------------------------------------------------------------


def _meta_config(meta_app: MetaApp, page: PageSession, meta_locale: str) -> dict[str, Any]:
    return {
        "sdk_url": meta_app.sdk_url_for(meta_locale),
        "app_id": meta_app.app_id,
        "version": meta_app.graph_version,
        "dialog_origins": list(meta_app.dialog_origins),
        "login": {
            "config_id": meta_app.config_id,
            "response_type": "code",
            "override_default_response_type": True,
            "extras": flow.login_extras(page.session),
        },
    }


@router.get("/connect")
async def connect_page(request: Request) -> Response:
    """Shows the session's screen. A GET never changes the session: link scanners and previews
    cannot use it up (the page records `page.opened` itself, once per load, from the browser)."""
    runtime: Runtime = get_runtime(request)
    token = request.query_params.get("token")
    accept_language = request.headers.get("accept-language")
    page = None
    if token is not None:
        async with runtime.sessions() as db, db.begin():
            page = await service.find_by_token(db, token)
    now = now_ms()

    session_locale = page.session.locale if page else None
    language = i18n.choose_language(session_locale, accept_language)
    meta_locale = i18n.meta_locale(session_locale, accept_language, language)
    meta_app = None
    config: dict[str, Any] = {"timing": TIMING, "has_redirect": False, "has_targets": False, "meta": None}
    context: dict[str, Any] = {"platform": None, "logo_url": None, "has_redirect": False, "has_targets": False}
    if page is None:
        screen = "loading" if token is None else "result-unknown"
    else:
        session, organization = page.session, page.organization
        status = effective_status(session, now)
        screen = service.initial_screen(session, status, service.is_bound(session, request.cookies))
        meta_app = runtime.meta_app(page.mode)
        has_targets = bool(signing.target_origins(session.redirect_uri, page.mode.allowed_origins))
        if screen in ("connect", "progress"):
            if meta_app is None:  # live Meta settings removed after the session was made
                screen = "result-failed"
            else:
                config["meta"] = _meta_config(meta_app, page, meta_locale)
        if organization.accent_color:
            config["accent"] = organization.accent_color
            config["accent_text"] = service.accent_text_color(organization.accent_color)
        config["has_redirect"] = bool(session.redirect_uri)
        config["has_targets"] = has_targets
        context.update(
            platform=organization.name,
            logo_url=organization.logo_url,
            has_redirect=bool(session.redirect_uri),
            has_targets=has_targets,
            payment_note=_payment_note(meta_app, page.mode.livemode),
        )
    config["screen"] = screen
    html = _skeleton(language, screen, **context).replace(CONFIG_SLOT, htmlsafe_json_dumps(config), 1)
    csp = service.content_security_policy(meta_app, page.organization.logo_url if page else None)
    headers = service.security_headers(csp)
    headers["Cache-Control"] = "no-store"
    headers["Content-Language"] = i18n.LANGUAGES[language]
    headers["Vary"] = "Accept-Language, Cookie"
    # An unknown link is a page too (saying so), with the status a link checker understands.
    return HTMLResponse(html, status_code=404 if screen == "result-unknown" else 200, headers=headers)


# -- the page's API ---------------------------------------------------------------------------------


def _check_origin(request: Request, runtime: Runtime) -> None:
    """Only the page itself (served from the public URL) may call its API."""
    origin = (request.headers.get("origin") or "").lower()
    if origin != service.public_origin(runtime.public_url):
        raise errors.forbidden("origin_not_allowed", "This endpoint only answers the hosted page itself")


async def _page_call(request: Request) -> tuple[Runtime, dict[str, Any]]:
    runtime: Runtime = get_runtime(request)
    _check_origin(request, runtime)
    return runtime, await read_json_object(request)


def _opener_origin(body: dict[str, Any]) -> str | None:
    """The opener's origin as roost.js declared it (see service.hand_back); anything that is not
    a web origin counts as an origin that matches no target."""
    value = body.get("opener_origin")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 300 or origin_problem(value) is not None:
        return "invalid:"
    return normalize_origin(value)


def _link_invalid() -> errors.ApiError:
    return errors.ApiError(
        404, "invalid_request_error", "link_invalid", "This link is not valid (unknown, or replaced by a newer one)"
    )


async def _find(db, body: dict[str, Any]) -> PageSession:
    page = await service.find_by_token(db, body.get("token"), for_update=True)
    if page is None:
        raise _link_invalid()
    return page


def _require_browser(request: Request, page: PageSession) -> None:
    """After the first click, the session belongs to the browser that made it."""
    if is_started(page.session) and not service.is_bound(page.session, request.cookies):
        raise errors.conflict("session_in_use", "This link is in use in another browser")


def _require(refusal: errors.ApiError | None) -> None:
    if refusal is not None:
        raise refusal


@router.post("/api/opened")
async def opened(request: Request) -> JSONResponse:
    """The page was shown in a browser (the funnel's `opened`); changes nothing else."""
    runtime, body = await _page_call(request)
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        page = await _find(db, body)
        status = effective_status(page.session, now)
        if status == SessionStatus.PENDING:
            record_event(db, page.session, "page.opened", now, {"bound": service.is_bound(page.session, request.cookies)})
    return JSONResponse({"status": status})


@router.post("/api/launch")
async def launch(request: Request) -> JSONResponse:
    """The connect click: the first one starts the session and binds it to this browser."""
    runtime, body = await _page_call(request)
    now = now_ms()
    cookie = None
    async with runtime.sessions() as db, db.begin():
        page = await _find(db, body)
        _require(refuse_unless_pending(db, page.session, now))
        _require_browser(request, page)
        _require(refuse_if_processing(page.session))
        session = page.session
        if start(db, session, now, runtime.session_policy.grace_ms):
            cookie, session.browser_binding_hash = service.new_binding()
        record_event(db, session, "meta.launched", now)
        session_id = session.id
    response = JSONResponse({"status": "pending"})
    if cookie is not None:
        response.set_cookie(
            service.cookie_name(session_id),
            cookie,
            max_age=service.COOKIE_MAX_AGE_S,
            path=f"{service.public_path(runtime.public_url)}/embed",
            secure=service.cookie_is_secure(runtime.public_url),
            httponly=True,
            samesite="lax",
        )
    return response


@router.post("/api/message")
async def message(request: Request) -> JSONResponse:
    """A WA_EMBEDDED_SIGNUP message the page received from Meta's dialog (a claim, kept on the
    timeline; a FINISH's WABA is verified against the business token later)."""
    runtime, body = await _page_call(request)
    raw = body.get("message")
    parsed = parse_message(raw) if isinstance(raw, (str, dict)) else None
    if parsed is None:
        raise errors.invalid("parameter_invalid", "message must be a WA_EMBEDDED_SIGNUP event", param="message")
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        page = await _find(db, body)
        _require(refuse_unless_pending(db, page.session, now))
        _require_browser(request, page)
        if not is_started(page.session):
            raise errors.conflict("session_not_started", "Start the session before relaying Meta's messages")
        flow.record_message(db, page.session, parsed, now)
    return JSONResponse({"kind": parsed.kind})


def _provisioning_done(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        # Seen here when the page went away before the answer (otherwise the request logs it);
        # the worker resumes provisioning from the last finished step.
        log.error("provisioning_error", error=repr(task.exception()))


@router.post("/api/code")
async def code(request: Request) -> JSONResponse:
    """Meta's code, exchanged at once (it lives about 30 seconds), then the account is provisioned.
    Provisioning goes on even if the page goes away mid-request."""
    runtime, body = await _page_call(request)
    value = body.get("code")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CODE_LENGTH:
        raise errors.invalid(
            "parameter_invalid", f"code must be Meta's code (1 to {MAX_CODE_LENGTH} characters)", param="code"
        )
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        page = await _find(db, body)
        _require(refuse_unless_pending(db, page.session, now))
        _require_browser(request, page)
        _require(refuse_if_processing(page.session))
        if not is_started(page.session):
            raise errors.conflict("session_not_started", "Start the session before sending Meta's code")
        session_id = page.session.id
        finish = await service.latest_finish(db, page.session)
    task = runtime.run_in_background(Provisioner(runtime).accept_code(session_id, value, finish))
    task.add_done_callback(_provisioning_done)
    accepted = await asyncio.shield(task)
    return JSONResponse({"accepted": accepted})


@router.post("/api/status")
async def status(request: Request) -> JSONResponse:
    """What the page shows next. A FINISH whose code is 15 s late is settled here (recovered)."""
    runtime, body = await _page_call(request)
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        page = await _find(db, body)
        session = page.session
        bound = service.is_bound(session, request.cookies)
        if bound:
            await service.settle_lost_code(db, session, now)
        current = effective_status(session, now)
        in_use = current == SessionStatus.PENDING and is_started(session) and not bound
        answer: dict[str, Any] = {
            "status": current,
            "in_use": in_use,
            "code_received": session.code_received_at is not None,
            "registering": current == SessionStatus.COMPLETED and service.registering(session),
            "error": None,
            "numbers": [],
        }
        if current != SessionStatus.PENDING:
            error = service.session_error(session, now)
            if error:
                answer["error"] = {"code": error.get("code"), "message": error.get("message")}
            if current == SessionStatus.COMPLETED and (bound or not is_started(session)):
                answer["numbers"] = await service.connected_numbers(db, session)
    return JSONResponse(answer)


@router.post("/api/return")
async def give_up(request: Request) -> JSONResponse:
    """The user goes back to the platform without connecting: after a cancel (user_cancelled),
    or after an error Meta reported in its flow (signup_error, with Meta's message)."""
    runtime, body = await _page_call(request)
    reason = body.get("reason")
    if reason not in ("user_cancelled", "signup_error"):
        raise errors.invalid("parameter_invalid", "reason must be user_cancelled or signup_error", param="reason")
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        page = await _find(db, body)
        _require(refuse_unless_pending(db, page.session, now))
        _require_browser(request, page)
        _require(refuse_if_processing(page.session))
        session = page.session
        reported = await service.latest_reported_error(db, session) if reason == "signup_error" else None
        if reported is not None:
            flow.signup_error(db, session, reported, now)
        else:
            flow.user_cancelled(db, session, now)
        secret = redirect_secret(runtime.keyring, page.mode)
        answer = service.hand_back(
            db, page, secret, now, opener=body.get("opener") is True, opener_origin=_opener_origin(body)
        )
    return JSONResponse(answer)


@router.post("/api/result")
async def result(request: Request) -> JSONResponse:
    """The signed result to hand back, for a finished session (or for a link in use in another
    browser: status `pending`, error `session_in_use`). Records how it is handed back."""
    runtime, body = await _page_call(request)
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        page = await _find(db, body)
        session = page.session
        pending = effective_status(session, now) == SessionStatus.PENDING
        in_use = pending and is_started(session) and not service.is_bound(session, request.cookies)
        if pending and not in_use:
            raise errors.conflict("session_pending", "The session is not finished yet: there is no result to hand back")
        secret = redirect_secret(runtime.keyring, page.mode)
        answer = service.hand_back(
            db, page, secret, now, opener=body.get("opener") is True, opener_origin=_opener_origin(body), in_use=in_use
        )
    return JSONResponse(answer)
