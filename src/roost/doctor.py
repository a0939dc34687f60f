"""`roost doctor` (SPEC 8): checks this deployment's configuration and, for live mode, Meta itself.

Every check yields one line: ok, fail (with the fix), warn (works, but probably not what you
want), skip (could not be checked because an earlier check failed) or manual (Meta settings that
the Graph API does not show: the operator verifies them by hand). Any fail makes the command exit
non-zero. The doctor only reads: it never migrates, writes a key file or changes Meta's settings.
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from roost.config import Settings
from roost.db.engine import create_engine, is_sqlite, session_factory, sqlite_path
from roost.db.migrate import current_revision, head_revision
from roost.kit.command import roost_command
from roost.kit.crypto import Keyring
from roost.kit.urls import LOOPBACK_HOSTS
from roost.meta.config import MetaApp, resolve_meta_app
from roost.meta.graph import GraphClient, MetaError
from roost.organizations.models import ModeSettings, Organization
from roost.organizations.service import redirect_secret

OK, FAIL, WARN, SKIP, MANUAL = "ok", "fail", "warn", "skip", "manual"
SYMBOLS = {OK: "✓", FAIL: "✗", WARN: "!", SKIP: "-", MANUAL: "?"}
SERVER = "Server"
BY_HAND = "Check by hand in Meta's App Dashboard"
REQUIRED_WEBHOOK_FIELD = "account_update"
# Coexistence: the sync webhooks Roost follows, and the app's messages it forwards for those WABAs.
COEXISTENCE_WEBHOOK_FIELDS = ("history", "smb_app_state_sync", "smb_message_echoes")


@dataclass
class Check:
    section: str
    id: str
    status: str
    message: str
    fix: str | None = None


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, section: str, id: str, status: str, message: str, fix: str | None = None) -> Check:
        check = Check(section, id, status, message, fix)
        self.checks.append(check)
        return check

    @property
    def ok(self) -> bool:
        return not any(check.status == FAIL for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        counts = {status: sum(check.status == status for check in self.checks) for status in SYMBOLS}
        return {"ok": self.ok, "counts": counts, "checks": [asdict(check) for check in self.checks]}

    def text(self) -> str:
        sections: dict[str, list[Check]] = {}
        for check in self.checks:
            sections.setdefault(check.section, []).append(check)
        lines: list[str] = []
        for title, checks in sections.items():
            lines.append(title)
            for check in checks:
                lines.append(f"  {SYMBOLS[check.status]} {check.message}")
                if check.fix:
                    lines.append(f"      fix: {check.fix}")
            lines.append("")
        counts = self.as_dict()["counts"]
        lines.append(
            f"{counts[FAIL]} failed, {counts[WARN]} warnings, {counts[OK]} passed, {counts[MANUAL]} to check by hand."
        )
        return "\n".join(lines)


@dataclass
class LiveApp:
    """One live Meta app to check, and who uses it."""

    app: MetaApp
    source: str  # "server" (ROOST_META_*) or "organization"
    organizations: list[str]


# -- the server's own settings ----------------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or f"[{host}]" in LOOPBACK_HOSTS


def _keyring(settings: Settings, report: Report) -> Keyring | None:
    if settings.secret_key is not None:
        try:
            keyring = Keyring(settings.secret_key.get_secret_value())
        except ValueError as problem:
            report.add(SERVER, "secret_key", FAIL, f"ROOST_SECRET_KEY is not valid: {problem}",
                       f"Generate a key with `{roost_command()} secret-key`; to rotate, put the new key first: <new>,<old>")
            return None
        report.add(SERVER, "secret_key", OK, "ROOST_SECRET_KEY is set and valid")
        return keyring
    path = sqlite_path(settings.database_url) if is_sqlite(settings.database_url) else None
    if path is None:
        report.add(SERVER, "secret_key", FAIL, "ROOST_SECRET_KEY is not set (required with PostgreSQL)",
                   f"Generate one with `{roost_command()} secret-key`, keep it in your secret manager, set ROOST_SECRET_KEY")
        return None
    key_file = path.with_name(path.name + ".key")
    if not key_file.exists():
        report.add(SERVER, "secret_key", WARN, f"No ROOST_SECRET_KEY; the key file {key_file} does not exist yet",
                   "It is generated at first start; back it up with the database, or set ROOST_SECRET_KEY")
        return None
    try:
        keyring = Keyring(key_file.read_text().strip())
    except ValueError as problem:
        report.add(SERVER, "secret_key", FAIL, f"The key file {key_file} is not valid: {problem}",
                   "Restore the key file from your backup")
        return None
    report.add(SERVER, "secret_key", OK, f"Secret key from {key_file} (back it up with the database)")
    return keyring


async def _database(settings: Settings, report: Report) -> AsyncEngine | None:
    path = sqlite_path(settings.database_url) if is_sqlite(settings.database_url) else None
    if path is not None and not path.exists():
        report.add(SERVER, "database.reachable", FAIL, f"The SQLite database {path} does not exist",
                   f"Run `{roost_command()} migrate` (or `{roost_command()} init`), or correct ROOST_DATABASE_URL")
        return None
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await current_revision(engine)
    except Exception as problem:  # noqa: BLE001 - any failure is the finding
        report.add(SERVER, "database.reachable", FAIL, f"The database does not answer: {type(problem).__name__}: {problem}",
                   "Check ROOST_DATABASE_URL, that the server runs and accepts this user")
        await engine.dispose()
        return None
    report.add(SERVER, "database.reachable", OK, f"Database reachable ({engine.url.get_backend_name()})")
    head = head_revision()
    if current != head:
        report.add(SERVER, "database.migrations", FAIL, f"Migrations are not current (database at {current}, code at {head})",
                   f"Run `{roost_command()} migrate` (or start Roost with ROOST_MIGRATE_ON_START=1)")
        await engine.dispose()
        return None
    report.add(SERVER, "database.migrations", OK, f"Migrations current ({head})")
    return engine


async def _stored_data_readable(engine: AsyncEngine, keyring: Keyring, report: Report) -> None:
    """The key must open what is stored: a changed ROOST_SECRET_KEY loses every secret."""
    async with session_factory(engine)() as db:
        settings_row = await db.scalar(select(ModeSettings).limit(1))
        if settings_row is None:
            return
        try:
            redirect_secret(keyring, settings_row)
        except Exception:  # noqa: BLE001 - wrong key or damaged data: the same finding
            report.add(SERVER, "secret_key.decrypts", FAIL, "The secret key cannot decrypt data stored in the database",
                       "Put back the key the data was written with (several keys: ROOST_SECRET_KEY=<new>,<old>)")
            return
    report.add(SERVER, "secret_key.decrypts", OK, "The secret key decrypts the stored data")


def _loopback_url(port: int) -> str:
    """Where session links point without ROOST_PUBLIC_URL (as `roost serve --port` makes them)."""
    return f"http://127.0.0.1:{port}"


def _public_url(settings: Settings, report: Report, live: bool, port: int) -> None:
    url = settings.public_url
    if not url:
        status = FAIL if live else WARN
        report.add(SERVER, "public_url", status,
                   f"ROOST_PUBLIC_URL is not set: session links point at {_loopback_url(port)} (this machine only)",
                   "Set ROOST_PUBLIC_URL to the https:// address your users reach Roost at "
                   "(serving on another port for now? give the doctor the same --port)")
        return
    scheme = urlsplit(url).scheme.lower()
    if scheme == "https":
        report.add(SERVER, "public_url", OK, f"Public URL {url} (HTTPS)")
    elif live:
        report.add(SERVER, "public_url", FAIL, f"Public URL {url} is not HTTPS, which live mode requires",
                   "Meta's Embedded Signup only runs on HTTPS pages: serve Roost over HTTPS and set ROOST_PUBLIC_URL=https://…")
    elif _is_loopback(url):
        report.add(SERVER, "public_url", OK, f"Public URL {url} (loopback, test mode only)")
    else:
        report.add(SERVER, "public_url", WARN, f"Public URL {url} is not HTTPS",
                   "Serve Roost over HTTPS: link tokens and cookies travel in the clear otherwise")


def _other_settings(settings: Settings, report: Report, port: int) -> None:
    if settings.simulator:
        where = (settings.simulator_url or settings.public_url or _loopback_url(port)).rstrip("/")
        report.add(SERVER, "simulator", OK, f"Simulator on: test mode available ({where}/_sim)")
    else:
        report.add(SERVER, "simulator", WARN, "Simulator off: test keys get simulator_disabled",
                   "Fine for a live-only deployment; set ROOST_SIMULATOR=1 to offer test mode")
    if settings.rate_limit_per_minute == 0:
        report.add(SERVER, "rate_limit", WARN, "Rate limit off (ROOST_RATE_LIMIT_PER_MINUTE=0)",
                   "Set a limit per admin key, e.g. 600 requests per minute")
    else:
        report.add(SERVER, "rate_limit", OK, f"Rate limit {settings.rate_limit_per_minute} requests per minute per admin key")
    if settings.allow_insecure_redirects:
        report.add(SERVER, "redirects", WARN, "ROOST_ALLOW_INSECURE_REDIRECTS=1 accepts plain http:// redirect URIs",
                   "Development only: unset it in production")
    if getattr(settings, "webhook_allow_private", False):
        report.add(SERVER, "webhook_allow_private", WARN, "ROOST_WEBHOOK_ALLOW_PRIVATE=1: outbound webhooks may reach private addresses",
                   "Development only: unset it in production")


# -- live Meta apps ------------------------------------------------------------------------------------


async def _live_apps(
    engine: AsyncEngine, settings: Settings, keyring: Keyring, organization_id: str | None, report: Report, port: int
) -> list[LiveApp]:
    simulator_url = (settings.simulator_url or settings.public_url or _loopback_url(port)).rstrip("/")
    found: dict[tuple[str, str], LiveApp] = {}
    undecryptable = False
    async with session_factory(engine)() as db:
        query = select(ModeSettings).where(ModeSettings.livemode.is_(True)).order_by(ModeSettings.organization_id)
        if organization_id is not None:
            if await db.get(Organization, organization_id) is None:
                report.add("Live mode", "organization", FAIL, f"No such organization: {organization_id}",
                           f"List them with `{roost_command()} orgs list`")
                return []
            query = query.where(ModeSettings.organization_id == organization_id)
        for mode in await db.scalars(query):
            try:
                app = resolve_meta_app(settings, keyring, simulator_url, mode)
            except Exception:  # noqa: BLE001 - its secrets do not decrypt (reported above)
                report.add("Live mode", "organization.meta", FAIL,
                           f"The live Meta settings of {mode.organization_id} cannot be decrypted",
                           f"Put back the secret key they were stored with, or set them again: `{roost_command()} orgs set-meta`")
                undecryptable = True
                continue
            if app is None:
                continue
            own = bool(mode.meta_app_id or mode.meta_app_secret_encrypted)
            entry = found.setdefault(
                (app.app_id, app.app_secret), LiveApp(app, "organization" if own else "server", [])
            )
            entry.organizations.append(mode.organization_id)
    if organization_id is None and settings.live_meta_configured():
        server_app = resolve_meta_app(settings, keyring, simulator_url, ModeSettings(organization_id="", livemode=True))
        if server_app is not None:
            found.setdefault((server_app.app_id, server_app.app_secret), LiveApp(server_app, "server", []))
    if organization_id is not None and not found and not undecryptable:
        report.add("Live mode", "organization.meta", FAIL, f"{organization_id} has no live Meta app",
                   f"Set ROOST_META_APP_ID/_APP_SECRET/_CONFIG_ID, or `{roost_command()} orgs set-meta {organization_id} …`")
    return list(found.values())


def _meta_problem(error: MetaError) -> str:
    code = f" (code {error.code})" if error.code is not None else ""
    return f"{error.message}{code}"


def _expected_callback(public_url: str, app_id: str) -> str:
    return f"{public_url.rstrip('/')}/meta/webhooks/{app_id}"


async def _check_app(live: LiveApp, graph: GraphClient, public_url: str, report: Report) -> None:
    app = live.app
    users = ", ".join(live.organizations) if live.organizations else "no organization yet"
    origin = "ROOST_META_*" if live.source == "server" else "organization settings"
    section = f"Live Meta app {app.app_id} (from {origin}; used by {users})"

    try:
        info = await graph.inspect_token(graph.app_token)
    except MetaError as error:
        report.add(section, "meta.app_credentials", FAIL, f"Meta refused the app id and secret: {_meta_problem(error)}",
                   "Copy the App ID and App secret from App settings → Basic into ROOST_META_APP_ID / "
                   f"ROOST_META_APP_SECRET (or `{roost_command()} orgs set-meta … --app-id … --app-secret …`)")
        report.add(section, "meta.system_user_token", SKIP, "System user token not checked (needs valid app credentials)")
        report.add(section, "meta.webhook_subscription", SKIP, "Webhook subscription not checked (needs valid app credentials)")
        return
    if not info.get("is_valid") or str(info.get("app_id")) != app.app_id:
        report.add(section, "meta.app_credentials", FAIL, "Meta does not accept the app token of this app id and secret",
                   "Copy the App ID and App secret from App settings → Basic")
        return
    name = f" ({info['application']})" if info.get("application") else ""
    report.add(section, "meta.app_credentials", OK, f"App id and secret accepted by Meta{name}")

    await _check_system_user_token(section, app, graph, report)
    await _check_subscription(section, app, graph, public_url, report)
    if not app.verify_token:
        report.add(section, "meta.verify_token", WARN, "No webhook verify token: Meta cannot verify Roost's callback URL",
                   f"Set ROOST_META_VERIFY_TOKEN (or `{roost_command()} orgs set-meta … --verify-token …`) to the value in the App Dashboard")
    if app.is_solution_partner and not app.credit_line_id:
        report.add(section, "meta.credit_line", FAIL, "Solution Partner without a credit line id: provisioning cannot share it",
                   "Find it with GET /{your business id}/extendedcredits and set ROOST_META_CREDIT_LINE_ID")


async def _check_system_user_token(section: str, app: MetaApp, graph: GraphClient, report: Report) -> None:
    if not app.system_user_token:
        status = FAIL if app.is_solution_partner else WARN
        report.add(section, "meta.system_user_token", status,
                   "No system user token: flows whose code was lost cannot be recovered"
                   + (", and credit lines cannot be shared" if app.is_solution_partner else ""),
                   "Business settings → System users: generate a token for this app with expiry Never, "
                   "set ROOST_META_SYSTEM_USER_TOKEN")
        return
    fix = ("Business settings → System users → Generate new token for this app, expiry Never, with "
           "whatsapp_business_management and whatsapp_business_messaging (and business_management for a "
           "Solution Partner); set it as ROOST_META_SYSTEM_USER_TOKEN")
    try:
        info = await graph.inspect_token(app.system_user_token)
    except MetaError as error:
        report.add(section, "meta.system_user_token", FAIL, f"Meta could not check the system user token: {_meta_problem(error)}", fix)
        return
    if not info.get("is_valid"):
        reason = (info.get("error") or {}).get("message") or "invalid or expired"
        report.add(section, "meta.system_user_token", FAIL, f"The system user token is not valid: {reason}", fix)
        return
    if str(info.get("app_id")) != app.app_id:
        report.add(section, "meta.system_user_token", FAIL, f"The system user token belongs to another app ({info.get('app_id')})", fix)
        return
    scopes = set(info.get("scopes") or [])
    if "whatsapp_business_management" not in scopes:
        report.add(section, "meta.system_user_token", FAIL, "The system user token lacks whatsapp_business_management", fix)
        return
    expires_at = int(info.get("expires_at") or 0)
    if expires_at:
        when = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        report.add(section, "meta.system_user_token", WARN, f"The system user token is valid but expires on {when}", fix)
    else:
        report.add(section, "meta.system_user_token", OK, "System user token valid, never expires")
    if app.is_solution_partner and "business_management" not in scopes:
        report.add(section, "meta.system_user_scopes", WARN,
                   "The system user token lacks business_management (credit line sharing needs it)", fix)


async def _check_subscription(section: str, app: MetaApp, graph: GraphClient, public_url: str, report: Report) -> None:
    expected = _expected_callback(public_url, app.app_id)
    fix = (f"App Dashboard → WhatsApp → Configuration → Webhook: callback URL {expected}, your verify token, "
           f"and subscribe to {REQUIRED_WEBHOOK_FIELD} (or POST /{app.app_id}/subscriptions with "
           f"object=whatsapp_business_account, callback_url, verify_token, fields={REQUIRED_WEBHOOK_FIELD})")
    try:
        subscriptions = await graph.app_subscriptions()
    except MetaError as error:
        report.add(section, "meta.webhook_subscription", FAIL, f"Meta could not list the app's webhooks: {_meta_problem(error)}", fix)
        return
    waba = next((item for item in subscriptions if item.get("object") == "whatsapp_business_account"), None)
    if waba is None:
        report.add(section, "meta.webhook_subscription", FAIL, "The app has no WhatsApp Business Account webhook", fix)
        return
    callback = str(waba.get("callback_url") or "")
    fields = [field.get("name") if isinstance(field, dict) else field for field in waba.get("fields") or []]
    if callback.rstrip("/") != expected:
        report.add(section, "meta.webhook_subscription", FAIL,
                   f"The app's webhook goes to {callback or 'nowhere'}, not to Roost ({expected})", fix)
    elif REQUIRED_WEBHOOK_FIELD not in fields:
        report.add(section, "meta.webhook_subscription", FAIL,
                   f"The webhook to Roost is not subscribed to {REQUIRED_WEBHOOK_FIELD} (fields: {', '.join(fields) or 'none'})", fix)
    elif waba.get("active") is False:
        report.add(section, "meta.webhook_subscription", FAIL, "The app's webhook subscription is not active", fix)
    else:
        report.add(section, "meta.webhook_subscription", OK, f"Webhook {callback} with {REQUIRED_WEBHOOK_FIELD}")
        if "account_review_update" not in fields:
            report.add(section, "meta.webhook_review_field", WARN,
                       "Not subscribed to account_review_update: business profiles' review_status will not follow Meta's",
                       "Subscribe the app's webhook to account_review_update too")
        missing = [name for name in COEXISTENCE_WEBHOOK_FIELDS if name not in fields]
        if missing:
            report.add(section, "meta.webhook_coexistence_fields", WARN,
                       f"Not subscribed to {', '.join(missing)}: WhatsApp Business app numbers' contacts and chat "
                       "history will not reach Roost, nor be forwarded to messages_callback_url (docs/coexistence.md)",
                       f"Subscribe the app's webhook to {', '.join(COEXISTENCE_WEBHOOK_FIELDS)} too")
        missing = [name for name in ("phone_number_quality_update", "phone_number_name_update") if name not in fields]
        if missing:
            report.add(section, "meta.webhook_health_fields", WARN,
                       f"Not subscribed to {', '.join(missing)}: phone numbers' messaging limits and display names "
                       "will follow Meta's only on refresh (docs/account-health.md)",
                       f"Subscribe the app's webhook to {', '.join(missing)} too")


def _by_hand(apps: list[LiveApp], public_url: str, report: Report) -> None:
    host = urlsplit(public_url).hostname or public_url
    configs = ", ".join(sorted({live.app.config_id for live in apps}))
    report.add(BY_HAND, "manual.allowed_domains", MANUAL,
               f"Facebook Login for Business → Settings: {host} is in Allowed domains (JavaScript SDK) and "
               "in Valid OAuth redirect URIs",
               "Without it Meta returns neither the code nor the WABA id to the hosted page: add it to both lists")
    report.add(BY_HAND, "manual.oauth_settings", MANUAL,
               "Facebook Login for Business → Settings: Client OAuth login, Web OAuth login, Enforce HTTPS, Embedded "
               "Browser OAuth Login, Use Strict Mode and Login with the JavaScript SDK are all Yes",
               "Turn each of them on")
    report.add(BY_HAND, "manual.login_configuration", MANUAL,
               f"Login configuration {configs} is an Embedded Signup configuration (template \"WhatsApp Embedded "
               "Signup Configuration\", or the WhatsApp Embedded Signup login variation) with token expiration Never",
               "Facebook Login for Business → Configurations → Create from template; set its id as ROOST_META_CONFIG_ID")
    report.add(BY_HAND, "manual.permissions", MANUAL,
               "whatsapp_business_management and whatsapp_business_messaging have Advanced Access, and the app is Live",
               "App Review → Permissions and features (Advanced Access is needed to serve other businesses)")
    report.add(BY_HAND, "manual.partner", MANUAL,
               "Your business is a verified Tech Provider or Solution Partner (Solution Partners: with a credit line)",
               "Complete business verification and the Tech Provider onboarding in the App Dashboard")


# -- the whole run -----------------------------------------------------------------------------------


async def run(
    settings: Settings, *, organization_id: str | None = None, http: httpx.AsyncClient | None = None, port: int = 8000
) -> Report:
    """`port` is the one `roost serve` listens on: without ROOST_PUBLIC_URL, session links use it."""
    report = Report()
    keyring = _keyring(settings, report)
    engine = await _database(settings, report)
    try:
        if engine is not None and keyring is not None:
            await _stored_data_readable(engine, keyring, report)
        apps: list[LiveApp] = []
        if engine is not None and keyring is not None:
            apps = await _live_apps(engine, settings, keyring, organization_id, report, port)
        elif settings.live_meta_configured() or organization_id:
            report.add("Live mode", "meta", SKIP, "Live Meta apps not checked (needs the database and the secret key)")
        live = bool(apps) or settings.live_meta_configured()
        _public_url(settings, report, live, port)
        _other_settings(settings, report, port)
        if not apps:
            if organization_id is None and engine is not None and keyring is not None:
                report.add("Live mode", "meta", WARN, "No live Meta app is configured: live keys get meta_not_configured",
                           f"Fine for test mode only; to go live see docs/live-mode.md (ROOST_META_* or `{roost_command()} orgs set-meta`)")
            return report
        public_url = (settings.public_url or _loopback_url(port)).rstrip("/")
        client = http or httpx.AsyncClient(timeout=settings.meta_timeout_seconds, follow_redirects=False)
        try:
            for live_app in apps:
                app = live_app.app
                graph = GraphClient(client, app.graph_base_url, app.graph_version, app.app_id, app.app_secret)
                await _check_app(live_app, graph, public_url, report)
        finally:
            if http is None:
                await client.aclose()
        _by_hand(apps, public_url, report)
        return report
    finally:
        if engine is not None:
            await engine.dispose()
