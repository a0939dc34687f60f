"""An example platform that connects its users' WhatsApp with Roost (test mode).

What a real integration does, in one small FastAPI app:

- signs users in (a name in a cookie: this is an example, not an auth system);
- creates one Roost session per connection attempt, tagged with the user's id in `metadata`;
- offers the redirect flow (a form that 303s to the session URL) and the popup flow
  (`roost.js`, with a session created when the page is rendered, so the popup opens in the click);
- verifies the redirect/popup result's signature and `state`, then asks Roost for the session;
- receives Roost's webhooks, verified with the Standard Webhooks signature, and shows each user
  the ones about their own connections;
- shows the user's connected numbers, read from Roost.

State lives in memory: restart the app and it forgets its users (Roost keeps everything).
"""

import html
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from roost_client import Roost, redirects, webhooks
from roost_client.errors import AuthenticationError, RoostError

USER_COOKIE = "platform_user"


@dataclass
class User:
    id: str
    name: str
    # state values this user may come back with, by session id (one per attempt)
    pending_states: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    popup_session: Any = None  # created with the page, so the popup can open inside the click


@dataclass
class Platform:
    roost: Roost
    public_url: str  # where this app is reached, e.g. http://127.0.0.1:8001
    roost_public_url: str  # where browsers reach Roost (its /static/roost.js)
    redirect_secret: str = ""
    webhook_secret: str = ""
    users: dict[str, User] = field(default_factory=dict)
    webhook_log: list[dict[str, Any]] = field(default_factory=list)
    # Whose is an event: the platform knows whom it created each session for; a webhook about a
    # business profile or a phone number leads back to the session that connected the profile.
    session_owners: dict[str, str] = field(default_factory=dict)
    profile_sessions: dict[str, str] = field(default_factory=dict)

    @property
    def callback_url(self) -> str:
        return f"{self.public_url}/whatsapp/callback"

    def set_up_roost(self) -> None:
        """Once at start: allow this app's callback and origin, read the redirect secret, and
        (re)create the webhook endpoint (its secret is only shown when it is created)."""
        settings = self.roost.settings.update(
            allowed_redirect_uris=[self.callback_url], allowed_origins=[self.public_url]
        )
        self.redirect_secret = settings.redirect_secret
        url = f"{self.public_url}/webhooks/roost"
        for endpoint in self.roost.webhook_endpoints.list():
            if endpoint.url == url:
                self.roost.webhook_endpoints.delete(endpoint.id)
        self.webhook_secret = self.roost.webhook_endpoints.create(
            url=url, events=["*"], description="example platform"
        ).secret

    def new_session(self, user: User) -> Any:
        state = secrets.token_urlsafe(24)
        session = self.roost.sessions.create(
            redirect_uri=self.callback_url,  # also the popup's fallback when it is blocked
            state=state,
            metadata={"externalUserId": user.id},
            prefill={"business": {"name": f"{user.name}'s business"}},
        )
        user.pending_states[session.id] = state
        self.session_owners[session.id] = user.id
        return session

    def accept_result(self, user: User, result: dict[str, str]) -> Any:
        """Verify a redirect or popup result and return the session as Roost has it now."""
        expected_state = user.pending_states.get(result.get("session_id", ""))
        if expected_state is None or not secrets.compare_digest(expected_state, result.get("state", "")):
            raise PermissionError("this result does not belong to one of your connection attempts")
        if result.get("status") != "pending":  # "pending" = the link is in use elsewhere: not over
            user.pending_states.pop(result["session_id"], None)
        return self.roost.sessions.get(result["session_id"])

    def record_webhook(self, webhook_id: str, event: dict[str, Any]) -> None:
        """Keep each webhook-id once (delivery is at least once), with the session it is about."""
        if any(entry["id"] == webhook_id for entry in self.webhook_log):
            return
        data, kind = event.get("data") or {}, event["type"]
        session_id = data.get("id") if kind.startswith("embedded_signup.session.") else data.get("session_id")
        profile_id = data.get("id") if kind.startswith("whatsapp.business_profile.") else data.get("business_profile_id")
        if session_id and profile_id:
            self.profile_sessions[profile_id] = session_id
        self.webhook_log.append({
            "id": webhook_id, "type": kind, "object_id": data.get("id"),
            "session_id": session_id, "business_profile_id": profile_id,
        })

    def webhooks_of(self, user: User) -> list[dict[str, Any]]:
        def owner(entry: dict[str, Any]) -> str | None:
            session_id = entry["session_id"] or self.profile_sessions.get(entry["business_profile_id"] or "")
            return self.session_owners.get(session_id or "")

        return [entry for entry in self.webhook_log if owner(entry) == user.id]

    def connected_numbers(self, user: User) -> list[dict[str, Any]]:
        numbers = []
        for profile in self.roost.business_profiles.list(metadata={"externalUserId": user.id}, status="connected"):
            for phone in profile.phone_numbers or []:
                numbers.append({
                    "business": profile.business_name,
                    "waba_id": profile.waba_id,
                    "number": phone.display_phone_number,
                    "registered": phone.cloud_api_registered,
                })
        return numbers


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(title="Example platform")

    def current_user(request: Request) -> User | None:
        return platform.users.get(request.cookies.get(USER_COOKIE, ""))

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        user = current_user(request)
        if user is None:
            return HTMLResponse(SIGN_IN)
        if not usable(user):
            user.popup_session = platform.new_session(user)
        notices, user.notices = user.notices, []
        return HTMLResponse(render_dashboard(platform, user, user.popup_session.url, notices))

    @app.post("/signin")
    async def sign_in(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())  # a one-field form: no multipart parser needed
        name = (form.get("name") or [""])[0]
        user = User(id=f"user_{secrets.token_hex(6)}", name=name.strip()[:60] or "Someone")
        platform.users[user.id] = user
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(USER_COOKIE, user.id, httponly=True, samesite="lax")
        return response

    @app.post("/connect/redirect")
    def connect_by_redirect(request: Request) -> Response:
        user = current_user(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        return RedirectResponse(platform.new_session(user).url, status_code=303)

    @app.get("/whatsapp/callback")
    def redirect_callback(request: Request) -> Response:
        user = current_user(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        try:
            result = redirects.verify(str(request.url), platform.redirect_secret)
            session = platform.accept_result(user, result)
        except (redirects.RedirectVerificationError, PermissionError) as problem:
            return HTMLResponse(f"<p>Refused: {html.escape(str(problem))}</p>", status_code=400)
        user.notices.append(describe(session))
        return RedirectResponse("/", status_code=303)

    @app.post("/whatsapp/popup-result")
    async def popup_result(request: Request) -> Response:
        user = current_user(request)
        if user is None:
            return JSONResponse({"error": "signed out"}, status_code=401)
        try:
            result = redirects.verify(await request.json(), platform.redirect_secret)
            session = platform.accept_result(user, result)
        except (redirects.RedirectVerificationError, PermissionError, ValueError) as problem:
            return JSONResponse({"error": str(problem)}, status_code=400)
        user.notices.append(describe(session))
        return JSONResponse({"status": session.status})

    @app.post("/webhooks/roost")
    async def roost_webhook(request: Request) -> Response:
        body = await request.body()
        try:
            event = webhooks.verify(body, request.headers, platform.webhook_secret)
        except webhooks.WebhookVerificationError:
            return Response(status_code=400)
        platform.record_webhook(request.headers["webhook-id"], event)
        return Response(status_code=204)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def usable(user: User) -> bool:
    """Keep offering the same popup session until its result came back or it nearly expired."""
    session = user.popup_session
    if session is None or session.id not in user.pending_states:
        return False
    expires = datetime.fromisoformat(session.expires_at.replace("Z", "+00:00"))
    return expires - datetime.now(timezone.utc) > timedelta(minutes=3)


def describe(session: Any) -> str:
    if session.status == "completed":
        return "WhatsApp connected."
    if session.status == "pending":
        return "Your connection is still in progress (or open in another browser)."
    reason = (session.error or {}).get("message") if isinstance(session.error, dict) else None
    return f"Not connected ({session.status}){': ' + reason if reason else '.'}"


SIGN_IN = """<!doctype html><meta charset="utf-8"><title>Example platform</title>
<h1>Example platform</h1>
<form method="post" action="/signin"><label>Your name <input name="name" data-testid="name" required></label>
<button data-testid="sign-in">Sign in</button></form>"""


def render_dashboard(platform: Platform, user: User, popup_url: str, notices: list[str]) -> str:
    numbers = platform.connected_numbers(user)
    rows = "".join(
        f"<li data-testid='number'>{html.escape(n['number'] or '')} — {html.escape(n['business'] or '')}"
        f" (WABA {html.escape(n['waba_id'])}, {'registered' if n['registered'] else 'not registered yet'})</li>"
        for n in numbers
    ) or "<li>No WhatsApp number connected yet.</li>"
    events = "".join(
        f"<li data-testid='webhook'>{html.escape(entry['type'])} {html.escape(entry['object_id'] or '')}</li>"
        for entry in platform.webhooks_of(user)
    ) or "<li>None yet.</li>"
    notice_html = "".join(f"<p data-testid='notice'>{html.escape(text)}</p>" for text in notices)
    return f"""<!doctype html><meta charset="utf-8"><title>Example platform</title>
<script src="{html.escape(platform.roost_public_url)}/static/roost.js"></script>
<h1>Hello, {html.escape(user.name)}</h1>{notice_html}
<h2>Connect WhatsApp</h2>
<form method="post" action="/connect/redirect"><button data-testid="connect-redirect">Connect (redirect)</button></form>
<p><button data-testid="connect-popup" id="connect-popup">Connect (popup)</button>
<span data-testid="popup-status" id="popup-status"></span></p>
<h2>Your numbers</h2><ul>{rows}</ul>
<h2>Webhooks received</h2><ul>{events}</ul>
<script>
const sessionUrl = {json.dumps(popup_url)};
document.getElementById('connect-popup').addEventListener('click', () => {{
  Roost.connect(sessionUrl, {{onResult: async (result) => {{
    const status = document.getElementById('popup-status');
    if (result.status === 'closed') {{ status.textContent = 'Window closed.'; return; }}
    const answer = await fetch('/whatsapp/popup-result', {{method: 'POST',
      headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify(result)}});
    status.textContent = answer.ok ? 'Done.' : 'Refused.';
    location.reload();
  }}}});
}});
</script>"""


def app_from_environment() -> FastAPI:
    roost_url = os.environ.get("ROOST_URL", "http://127.0.0.1:8000")
    platform = Platform(
        roost=Roost(os.environ["ROOST_KEY"], base_url=roost_url),
        public_url=os.environ.get("PLATFORM_URL", "http://127.0.0.1:8001"),
        roost_public_url=roost_url,
    )
    try:
        platform.set_up_roost()
    except AuthenticationError as problem:
        raise SystemExit(
            f"could not set Roost up for the example: {problem}. The Roost at {roost_url} does not know this "
            "example's key: is it another Roost (e.g. the one ./scripts/start runs)? Point ROOST_URL at the "
            "example's own, or start the example with ./examples/platform/run.sh, which finds a free port."
        ) from problem
    except RoostError as problem:
        raise SystemExit(f"could not set Roost up for the example: {problem}") from problem
    return create_app(platform)
