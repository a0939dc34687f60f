"""The console's pages and actions (thin: read the form, call the services the API uses, render)."""

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select

from roost.audit import service as audit
from roost.audit.schemas import AuditLogEntryObject
from roost.console import accounts, overview
from roost.console.accounts import Operator
from roost.console.models import ConsoleUser
from roost.console.web import (
    COOKIE,
    HERE,
    LOGIN_CSRF_COOKIE,
    ConsoleRoute,
    Forbidden,
    action_form,
    audit_action,
    audit_done,
    back_to,
    caller_of,
    cookie_secure,
    current_operator,
    new_login_csrf,
    read_form,
    render,
    runtime_of,
    safe_next,
)
from roost.kit import errors, pagination
from roost.kit.crypto import constant_time_equal
from roost.kit.timeutil import now_ms
from roost.kit.web import parse_model
from roost.organizations import service as organizations
from roost.organizations.models import AdminKey, Organization
from roost.organizations.schemas import SettingsUpdateParams, admin_key_object
from roost.profiles import health, lifecycle
from roost.profiles import service as profiles
from roost.profiles.endpoints import RegisterParams
from roost.profiles.registration import register_number
from roost.provisioning.simulation import SimulateParams, simulate
from roost.sessions import service as sessions
from roost.sessions.endpoints import _list_query as session_list_query
from roost.sessions.models import SignupSession
from roost.sessions.schemas import SessionEventObject
from roost.sessions.state import SessionStatus
from roost.webhooks import service as webhooks
from roost.webhooks.dispatcher import payload as delivery_payload
from roost.webhooks.schemas import DeliveryAttemptObject, WebhookEndpointObject

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

NOTICES = {
    "cancelled": "The session was cancelled.",
    "simulated": "The outcome was simulated.",
    "revoked": "The admin key was revoked.",
    "resent": "The event was queued for delivery again.",
    "tested": "A test event (webhook_endpoint.test) was queued for this endpoint.",
    "switched": "You are now looking at another organization or mode.",
    "disconnected": "The business profile was disconnected.",
    "registered": "The number was registered.",
    "refreshed": "The business profile was read from Meta again.",
    "saved": "The settings were saved.",
    "signed_out": "You are signed out.",
}
OUTCOMES = ("completed", "cancelled", "signup_error", "recovered")
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("notice", ""))


def _list_request(request: Request) -> Request:
    """The request as the API's list parsers should read it: without the console's `notice`."""
    kept = [(name, value) for name, value in request.query_params.multi_items() if name != "notice"]
    return Request({**request.scope, "query_string": urlencode(kept).encode()})


def _page_of(request: Request) -> pagination.Page:
    parsed = pagination.read_list_query(_list_request(request).query_params, ())
    if parsed.problems:
        raise errors.validation_error(parsed.problems)
    return parsed.page


# -- assets, sign-in, sign-out, switching ----------------------------------------------------------


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC:
        raise errors.not_found(f"No such file: {name}")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=300"})


@router.get("/login")
async def login_page(request: Request) -> Response:
    token = new_login_csrf()
    response = render(request, "login.html", None, csrf_token=token, next=safe_next(request.query_params.get("next")),
                      notice=_notice(request), problem=None, email="")
    _set_login_csrf(request, response, token)
    return response


def _set_login_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/console/login", httponly=True,
                        samesite="strict", secure=cookie_secure(request))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not constant_time_equal(form.get("csrf_token", ""), expected):
        raise Forbidden("This sign-in form has expired or did not come from the console. Reload the page and try again.")
    runtime = runtime_of(request)
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        outcome = await accounts.check_credentials(db, form.get("email", ""), form.get("password", ""), now)
        memberships = await accounts.memberships_of(db, outcome.user.id) if outcome.user else []
        token = await accounts.start_login(db, outcome.user, memberships[0][0].organization_id, now) if memberships else None
    if token is None:
        await accounts.slow_down(outcome.failures)
        if outcome.locked:
            problem = (f"Too many failed sign-ins: this account is locked for {accounts.LOCK_MINUTES} minutes. "
                       "Try again later, or ask your Roost operator.")
        elif outcome.user is not None:
            problem = "This account may not see any organization yet: ask your Roost operator."
        else:
            problem = "Wrong e-mail or password."
        csrf = new_login_csrf()
        response = render(request, "login.html", None, 429 if outcome.locked else 401, csrf_token=csrf,
                          next=safe_next(form.get("next")), notice=None, problem=problem, email=form.get("email", "")[:254])
        _set_login_csrf(request, response, csrf)
        return response
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    response.set_cookie(COOKIE, token, max_age=accounts.LOGIN_HOURS * 3600, path="/console", httponly=True,
                        samesite="strict", secure=cookie_secure(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/logout")
async def logout(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    await action_form(request, operator, act=False)
    async with runtime_of(request).sessions() as db, db.begin():
        await accounts.end_login(db, operator.token_hash)
    response = RedirectResponse("/console/login?notice=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.post("/switch")
async def switch(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    form = await action_form(request, operator, act=False)
    async with runtime_of(request).sessions() as db, db.begin():
        switched = await accounts.switch(db, operator, form.get("organization_id", ""), form.get("mode") == "live")
    if not switched:
        raise Forbidden("You are not a member of that organization.")
    # Back to the page the operator was on; an object's own page becomes its list (its id is of the other scope).
    path = safe_next(form.get("next")).split("?")[0]
    parts = path.split("/")
    return back_to("/".join(parts[:3]) if len(parts) > 3 else path, "switched")


# -- overview -----------------------------------------------------------------------------------------


@router.get("")
async def overview_page(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    periods, counted_at = await overview.funnels(runtime_of(request).sessions, caller_of(operator), now_ms())
    return render(request, "overview.html", operator, periods=periods, counted_at=counted_at, notice=_notice(request))


# -- sessions -----------------------------------------------------------------------------------------

FORM_ONLY = ("metadata_key", "metadata_value")


@router.get("/sessions")
async def sessions_page(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    query = request.query_params
    # The filter form sends empty fields and a key/value pair: answer with the address of the same
    # filter as a link would write it (`metadata[key]=value`), so it can be copied and pasted.
    if any(name in query for name in FORM_ONLY) or any(value == "" for value in query.values()):
        items = [(name, value) for name, value in query.multi_items() if value != "" and name not in FORM_ONLY]
        if query.get("metadata_key") and query.get("metadata_value"):
            items.append((f"metadata[{query['metadata_key']}]", query["metadata_value"]))
        return RedirectResponse("/console/sessions" + (f"?{urlencode(items)}" if items else ""), status_code=303)
    filters, page = session_list_query(_list_request(request))
    now = now_ms()
    async with runtime_of(request).sessions() as db, db.begin():
        rows, has_more = await sessions.list_sessions(db, caller_of(operator), filters, page, now)
    shown = [sessions.present(row, now) for row in rows]  # newest first, whichever way the page was reached
    base = [(name, value) for name, value in query.multi_items() if name not in ("starting_after", "ending_before", "notice")]
    newer = older = None
    if shown and (page.cursor_id is not None and page.newest_first or (not page.newest_first and has_more)):
        newer = "/console/sessions?" + urlencode([*base, ("ending_before", shown[0]["id"])])
    if shown and (has_more and page.newest_first or not page.newest_first):
        older = "/console/sessions?" + urlencode([*base, ("starting_after", shown[-1]["id"])])
    return render(
        request, "sessions.html", operator, sessions=shown, filters=filters, statuses=[status.value for status in SessionStatus],
        metadata=list(filters.metadata.items()), created_gte=query.get("created[gte]", ""), created_lt=query.get("created[lt]", ""),
        newer=newer, older=older, notice=_notice(request),
    )


@router.get("/sessions/{session_id}")
async def session_page(request: Request, session_id: str, operator: Operator = Depends(current_operator)) -> Response:
    now = now_ms()
    async with runtime_of(request).sessions() as db, db.begin():
        try:
            session = await sessions.get_session(db, caller_of(operator), session_id)
        except errors.ApiError:
            # A pasted link to a session of another organization or mode the operator may see:
            # switch to it, then show it.
            owner = (await db.execute(
                select(SignupSession.organization_id, SignupSession.livemode).where(SignupSession.id == session_id)
            )).first()
            if owner is None or not await accounts.switch(db, operator, owner.organization_id, owner.livemode):
                raise
            session = None
        events = [SessionEventObject.render(event) for event in await sessions.list_events(db, session)] if session else []
    if session is None:
        return RedirectResponse(f"/console/sessions/{session_id}", status_code=303)
    body = sessions.present(session, now)
    hand_back = [event for event in events if event["type"].startswith("result.") or event["type"] == "webhook.emitted"]
    return render(request, "session.html", operator, session=body, events=events, hand_back=hand_back,
                  notice=_notice(request), outcomes=OUTCOMES)


@router.post("/sessions/{session_id}/cancel")
async def cancel_session(request: Request, session_id: str, operator: Operator = Depends(current_operator)) -> Response:
    await action_form(request, operator)
    now = now_ms()
    async with runtime_of(request).sessions() as db, db.begin():
        session = await sessions.get_session(db, caller_of(operator), session_id, for_update=True)
        refusal = await sessions.cancel_session(db, session, now)
        if refusal is None:
            audit_action(db, request, operator, audit.SESSION_CANCEL, "embedded_signup_session", session.id)
    if refusal is not None:
        raise refusal
    return back_to(f"/console/sessions/{session_id}", "cancelled")


@router.post("/sessions/{session_id}/link")
async def new_link(request: Request, session_id: str, operator: Operator = Depends(current_operator)) -> Response:
    await action_form(request, operator)
    runtime = runtime_of(request)
    now = now_ms()
    async with runtime.sessions() as db, db.begin():
        session = await sessions.get_session(db, caller_of(operator), session_id, for_update=True)
        url, refusal = await sessions.refresh_link(db, session, runtime.session_policy, now)
        if refusal is None:
            audit_action(db, request, operator, audit.SESSION_NEW_LINK, "embedded_signup_session", session.id)
    if refusal is not None:
        raise refusal
    return render(request, "secret.html", operator, title="A new link for this session",
                  explain="Send this link to your user. It is shown this once; the old link no longer works.",
                  secret=url, back=f"/console/sessions/{session_id}", label="Session link")


@router.post("/sessions/{session_id}/simulate")
async def simulate_session(request: Request, session_id: str, operator: Operator = Depends(current_operator)) -> Response:
    form = await action_form(request, operator)
    if operator.livemode:
        raise Forbidden("Simulating an outcome is for test data only.")
    params = parse_model(SimulateParams, {"outcome": form.get("outcome", "")})
    await simulate(runtime_of(request), caller_of(operator), session_id, params)
    await audit_done(request, operator, audit.SESSION_SIMULATE, "embedded_signup_session", session_id)
    return back_to(f"/console/sessions/{session_id}", "simulated")


# -- business profiles --------------------------------------------------------------------------------


@router.get("/profiles")
async def profiles_page(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    page = _page_of(request)
    async with runtime_of(request).sessions() as db, db.begin():
        rows, has_more = await profiles.list_profiles(
            db, caller_of(operator), session_id=None, waba_id=None, status=None, metadata={}, page=page
        )
        phones = await profiles.phone_numbers_of(db, [row.id for row in rows])
    shown = [profiles.profile_object(row, phones[row.id]) for row in rows]
    older = f"/console/profiles?starting_after={shown[-1]['id']}" if has_more and shown else None
    return render(request, "profiles.html", operator, profiles=shown, older=older, notice=_notice(request))


@router.post("/profiles/{profile_id}/disconnect")
async def disconnect_profile(request: Request, profile_id: str, operator: Operator = Depends(current_operator)) -> Response:
    await action_form(request, operator)
    runtime = runtime_of(request)
    async with runtime.sessions() as db:
        await lifecycle.disconnect_by_platform(runtime, db, caller_of(operator), profile_id)
    await audit_done(request, operator, audit.PROFILE_DISCONNECT, "business_profile", profile_id)
    return back_to("/console/profiles", "disconnected")


@router.post("/profiles/{profile_id}/refresh")
async def refresh_profile(request: Request, profile_id: str, operator: Operator = Depends(current_operator)) -> Response:
    await action_form(request, operator)
    await health.refresh(runtime_of(request), caller_of(operator), profile_id)  # Meta's refusal: the API's 424, shown as such
    await audit_done(request, operator, audit.PROFILE_REFRESH, "business_profile", profile_id)
    return back_to("/console/profiles", "refreshed")


@router.post("/phone-numbers/{phone_id}/register")
async def register_phone(request: Request, phone_id: str, operator: Operator = Depends(current_operator)) -> Response:
    form = await action_form(request, operator)
    params = parse_model(RegisterParams, {"pin": form.get("pin") or None})
    runtime = runtime_of(request)
    caller = caller_of(operator)
    async with runtime.sessions() as db, db.begin():
        phone = await profiles.registrable_phone(db, caller, phone_id)
    registered = await register_number(runtime, phone.id, params.pin)
    await audit_done(request, operator, audit.PHONE_REGISTER, "phone_number", phone.id)  # Meta was asked, whatever it said
    if not registered:
        async with runtime.sessions() as db, db.begin():  # the attempt wrote Meta's answer elsewhere
            phone = await profiles.get_phone_number(db, caller, phone_id)
        meta = phone.registration_error or {}
        raise errors.ApiError(
            424, "provider_error", "registration_failed",
            f"Meta refused to register this number: {meta.get('message') or 'Meta could not be reached; try again later'}"
            + (f" (code {meta['code']}, fbtrace_id {meta.get('fbtrace_id')})" if meta.get("code") is not None else ""),
        )
    return back_to("/console/profiles", "registered")


# -- webhooks -----------------------------------------------------------------------------------------


@router.get("/webhooks")
async def webhooks_page(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    async with runtime_of(request).sessions() as db, db.begin():
        rows, has_more = await webhooks.list_endpoints(db, caller_of(operator), pagination.Page(limit=100))
    return render(request, "webhooks.html", operator, endpoints=[WebhookEndpointObject.render(row) for row in rows],
                  notice=_notice(request))


@router.get("/webhooks/{endpoint_id}")
async def webhook_page(request: Request, endpoint_id: str, operator: Operator = Depends(current_operator)) -> Response:
    page = _page_of(request)
    caller = caller_of(operator)
    async with runtime_of(request).sessions() as db, db.begin():
        endpoint = await webhooks.get_endpoint(db, caller, endpoint_id)
        attempts, has_more = await webhooks.list_attempts(db, endpoint, None, page)
        events = {}
        for event_id in {attempt.event_id for attempt in attempts}:
            events[event_id] = delivery_payload(await webhooks.get_event(db, caller, event_id))
    shown = [DeliveryAttemptObject.render(attempt) for attempt in attempts]
    older = f"/console/webhooks/{endpoint_id}?starting_after={shown[-1]['id']}" if has_more and shown else None
    return render(request, "webhook.html", operator, endpoint=WebhookEndpointObject.render(endpoint), attempts=shown,
                  payloads=events, older=older, notice=_notice(request))


@router.post("/webhooks/{endpoint_id}/rotate-secret")
async def rotate_webhook_secret(request: Request, endpoint_id: str, operator: Operator = Depends(current_operator)) -> Response:
    await action_form(request, operator)
    runtime = runtime_of(request)
    async with runtime.sessions() as db, db.begin():
        endpoint = await webhooks.get_endpoint(db, caller_of(operator), endpoint_id, for_update=True)
        secret = webhooks.rotate_secret(runtime.keyring, endpoint, now_ms())
        audit_action(db, request, operator, audit.ENDPOINT_ROTATE_SECRET, "webhook_endpoint", endpoint.id)
    return render(request, "secret.html", operator, title="The endpoint's new signing secret",
                  explain="Shown this once. For 24 hours deliveries are signed with both the new and the previous secret.",
                  secret=secret, back=f"/console/webhooks/{endpoint_id}", label="Signing secret")


@router.post("/webhooks/{endpoint_id}/test")
async def send_test_event(request: Request, endpoint_id: str, operator: Operator = Depends(current_operator)) -> Response:
    await action_form(request, operator)
    async with runtime_of(request).sessions() as db, db.begin():
        endpoint = await webhooks.get_endpoint(db, caller_of(operator), endpoint_id)
        await webhooks.send_test_event(db, endpoint, now_ms())
        audit_action(db, request, operator, audit.ENDPOINT_TEST, "webhook_endpoint", endpoint.id)
    return back_to(f"/console/webhooks/{endpoint_id}", "tested")


@router.post("/events/{event_id}/resend")
async def resend_event(request: Request, event_id: str, operator: Operator = Depends(current_operator)) -> Response:
    form = await action_form(request, operator)
    endpoint_id = form.get("endpoint_id") or None
    caller = caller_of(operator)
    async with runtime_of(request).sessions() as db, db.begin():
        event = await webhooks.get_event(db, caller, event_id)
        await webhooks.resend(db, caller, event, endpoint_id, now_ms())
        audit_action(db, request, operator, audit.EVENT_RESEND, "event", event.id)
    return back_to(f"/console/webhooks/{endpoint_id}" if endpoint_id else "/console/webhooks", "resent")


# -- admin keys ---------------------------------------------------------------------------------------


@router.get("/keys")
async def keys_page(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    async with runtime_of(request).sessions() as db, db.begin():
        keys = await organizations.list_admin_keys(db, operator.organization_id, operator.livemode)
    return render(request, "keys.html", operator, keys=[admin_key_object(key) for key in keys], notice=_notice(request))


@router.post("/keys")
async def create_key(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    form = await action_form(request, operator)
    name = form.get("name", "").strip()[:100] or None
    async with runtime_of(request).sessions() as db, db.begin():
        key, secret = await organizations.create_admin_key(db, operator.organization_id, operator.livemode, name)
        audit_action(db, request, operator, audit.KEY_CREATE, "admin_key", key.id)
    return render(request, "secret.html", operator, title="Your new admin key",
                  explain="Copy it now: it is shown this once. Roost keeps only its hash.",
                  secret=secret, back="/console/keys", label="Admin key")


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, operator: Operator = Depends(current_operator)) -> Response:
    await action_form(request, operator)
    async with runtime_of(request).sessions() as db, db.begin():
        key = await db.scalar(select(AdminKey).where(
            AdminKey.id == key_id, AdminKey.organization_id == operator.organization_id, AdminKey.livemode == operator.livemode
        ))
        if key is None:
            raise errors.not_found(f"No such admin key: '{key_id}'")
        await organizations.revoke_admin_key(db, key)
        audit_action(db, request, operator, audit.KEY_REVOKE, "admin_key", key.id)
    return back_to("/console/keys", "revoked")


# -- settings and audit log ---------------------------------------------------------------------------


@router.get("/settings")
async def settings_page(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    async with runtime_of(request).sessions() as db, db.begin():
        organization = await db.get(Organization, operator.organization_id)
        settings = await organizations.mode_settings(db, operator.organization_id, operator.livemode)
    return render(request, "settings.html", operator, organization=organization, settings=settings, notice=_notice(request))


@router.get("/audit")
async def audit_page(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    page = _page_of(request)
    async with runtime_of(request).sessions() as db, db.begin():
        rows, has_more = await audit.list_entries(db, caller_of(operator), page, action=None, resource_id=None)
        user_ids = {row.console_user_id for row in rows if row.console_user_id}
        emails = dict((await db.execute(select(ConsoleUser.id, ConsoleUser.email).where(ConsoleUser.id.in_(user_ids)))).all())
    shown = [AuditLogEntryObject.render(row) for row in rows]
    older = f"/console/audit?starting_after={shown[-1]['id']}" if has_more and shown else None
    return render(request, "audit.html", operator, entries=shown, emails=emails, older=older)


@router.post("/settings")
async def save_settings(request: Request, operator: Operator = Depends(current_operator)) -> Response:
    form = await action_form(request, operator)

    def lines(name: str) -> list[str]:
        return [line.strip() for line in form.get(name, "").splitlines() if line.strip()]

    # The API's own validation: the same rules for names, logos, colours, URIs and origins.
    params = parse_model(
        SettingsUpdateParams,
        {
            "name": form.get("name", ""),
            "branding": {"logo_url": form.get("logo_url", "").strip() or None, "accent_color": form.get("accent_color") or None},
            "allowed_redirect_uris": lines("allowed_redirect_uris"),
            "allowed_origins": lines("allowed_origins"),
        },
    )
    async with runtime_of(request).sessions() as db, db.begin():
        settings = await organizations.mode_settings(db, operator.organization_id, operator.livemode, for_update=True)
        organization = await db.get(Organization, operator.organization_id)
        organization.name = params.name
        organization.logo_url, organization.accent_color = params.branding.logo_url, params.branding.accent_color
        settings.allowed_redirect_uris, settings.allowed_origins = params.allowed_redirect_uris, params.allowed_origins
        settings.updated_at = now_ms()
        audit_action(db, request, operator, audit.SETTINGS_UPDATE, "organization", organization.id)
    return back_to("/console/settings", "saved")
