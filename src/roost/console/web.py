"""What every console page shares: the signed-in operator, CSRF, forms, templates and headers."""

import json
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from roost.audit import service as audit
from roost.console.accounts import Operator, operator_for
from roost.hosted.service import security_headers
from roost.kit import errors
from roost.kit.crypto import constant_time_equal
from roost.kit.timeutil import now_ms, to_iso
from roost.kit.web import read_limited_body
from roost.organizations.service import Caller
from roost.runtime import Runtime

HERE = Path(__file__).parent
COOKIE = "roost_console"
LOGIN_CSRF_COOKIE = "roost_console_login"  # the sign-in form's CSRF token (double submit: no session yet)

# The hosted page's policy, without Meta's hosts, and with forms that post to the console itself.
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",  # an organization's logo, in the branding preview
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class SignInNeeded(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["iso"] = lambda ms: (to_iso(ms) or "")[:19].replace("T", " ") if ms else "—"
    environment.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)  # autoescaped
    environment.filters["short"] = lambda text: (text or "")[:19].replace("T", " ") if text else "—"
    return environment


TEMPLATES = _environment()


def render(request: Request, template: str, operator: Operator | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    body = TEMPLATES.get_template(template).render(operator=operator, path=request.url.path, **context)
    return HTMLResponse(body, status_code=status_code)


def with_headers(response: Response) -> Response:
    for name, value in security_headers(CSP).items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class ConsoleRoute(APIRoute):
    """Console responses: a sign-in redirect, error pages in HTML, and the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInNeeded:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303)
            except Forbidden as refusal:
                return console_error_page(request, 403, refusal.message)
            except errors.ApiError as error:
                title = "Not found" if error.status == 404 else "Not done"
                response = render(request, "error.html", None, error.status, title=title, message=error.message)
            return with_headers(response)

        return route


def is_console_path(path: str) -> bool:
    return path == "/console" or path.startswith("/console/")


def console_error_page(request: Request, status_code: int, message: str) -> Response:
    """A refusal (403), or an address under /console that no page answers (404; 405 for a wrong method)."""
    title = "Not found" if status_code == 404 else "Not allowed"
    return with_headers(render(request, "error.html", None, status_code, title=title, message=message))


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


async def current_operator(request: Request) -> Operator:
    """The signed-in operator (a dependency of every page but sign-in)."""
    runtime = runtime_of(request)
    async with runtime.sessions() as db, db.begin():
        operator = await operator_for(db, request.cookies.get(COOKIE), now_ms())
    if operator is None:
        raise SignInNeeded()
    return operator


def caller_of(operator: Operator) -> Caller:
    """The services' view of the operator: its organization and mode, like an admin key's."""
    return Caller(key_id=operator.user_id, organization_id=operator.organization_id, livemode=operator.livemode)


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the console's forms), last value of a name wins."""
    body = await read_limited_body(request)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def check_csrf(form: dict[str, str], expected: str) -> None:
    given = form.get("csrf_token", "")
    if not given or not constant_time_equal(given, expected):
        raise Forbidden("This form has expired or did not come from the console (CSRF token missing or wrong). Reload the page and try again.")


async def action_form(request: Request, operator: Operator, *, act: bool = True) -> dict[str, str]:
    """The form of a POST, its CSRF token checked; `act`: a change of data, which a viewer may not make."""
    form = await read_form(request)
    check_csrf(form, operator.csrf_token)
    if act and not operator.can_act:
        raise Forbidden(f"You are a viewer of {operator.organization_name}: you can see everything but change nothing.")
    return form


def back_to(path: str, notice: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (f"?notice={quote(notice)}" if notice else ""), status_code=303)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def cookie_secure(request: Request) -> bool:
    return runtime_of(request).public_url.startswith("https://")


def audit_action(db: AsyncSession, request: Request, operator: Operator, action: str, resource_type: str, resource_id: str) -> None:
    """Write the operator's action to the audit log, in `db`'s transaction (the action's own, when it has one)."""
    audit.record(db, caller_of(operator), action=action, resource_type=resource_type, resource_id=resource_id,
                 **audit.origin(request), at=now_ms(), console_user_id=operator.user_id)


async def audit_done(request: Request, operator: Operator, action: str, resource_type: str, resource_id: str) -> None:
    """The same, after an action whose service commits on its own (simulate, disconnect, register)."""
    async with runtime_of(request).sessions() as db, db.begin():
        audit_action(db, request, operator, action, resource_type, resource_id)
