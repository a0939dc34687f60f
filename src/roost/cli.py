"""The `roost` command."""

import asyncio
import json
import shlex
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import typer

from roost.config import Settings
from roost.db import migrate
from roost.kit.command import roost_command
from roost.kit.crypto import new_key_text
from roost.kit.timeutil import now_ms, to_iso
from roost.organizations import service
from roost.organizations.models import Organization
from roost.runtime import ConfigurationError, Runtime, build_runtime

app = typer.Typer(
    help="Roost: WhatsApp Embedded Signup onboarding, self-hosted.", no_args_is_help=True, pretty_exceptions_enable=False
)
orgs_app = typer.Typer(help="Manage organizations (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="Manage admin API keys.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
app.add_typer(keys_app, name="keys")
users_app = typer.Typer(help="Manage the operator console's user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as problem:  # noqa: BLE001 - shown to the operator, not a traceback
        typer.echo(f"Configuration error: {problem}", err=True)
        raise typer.Exit(2) from None


def _with_database(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Migrate if allowed, then run `work` against the database and close it."""
    settings = _settings()
    try:
        runtime = build_runtime(settings)
    except (ConfigurationError, ValueError) as problem:
        typer.echo(f"Configuration error: {problem}", err=True)
        raise typer.Exit(2) from None
    if settings.migrate_on_start:
        migrate.upgrade(settings.database_url)

    async def main() -> T:
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
    no_worker: bool = typer.Option(False, "--no-worker", help="Do not run the background worker in this process"),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Processes answering on the one port (above 1: PostgreSQL only)"
    ),
) -> None:
    """Run the API, the hosted pages and (unless --no-worker) the background worker."""
    from roost import edge
    from roost.app import process_app
    from roost.db.engine import is_sqlite

    settings = _settings()
    try:
        runtime = build_runtime(settings, port=port)
    except (ConfigurationError, ValueError) as problem:
        typer.echo(f"Configuration error: {problem}", err=True)
        raise typer.Exit(2) from None
    if workers > 1 and is_sqlite(settings.database_url):
        asyncio.run(runtime.close())
        typer.echo("Configuration error: --workers above 1 needs PostgreSQL (SQLite serves from one process)", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps({"event": "roost_starting", "url": runtime.public_url, "listen": f"{host}:{port}", "workers": workers}))
    if workers == 1:
        factory = partial(process_app, port, not no_worker, runtime)
    else:
        asyncio.run(runtime.close())  # it checked the configuration; each process builds its own
        factory = partial(process_app, port, not no_worker)
    edge.run(factory, settings, host=host, port=port, workers=workers)


@app.command()
def worker() -> None:
    """Run only the background work (expiry, clean-up), e.g. beside several `serve --no-worker`."""
    from roost import worker as worker_loop
    from roost.wiring import build_simulator

    async def work(runtime: Runtime) -> None:
        build_simulator(runtime)  # test-mode provisioning talks to the simulator in-process
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await worker_loop.run(runtime, stop)

    _with_database(work)


@app.command(name="migrate")
def migrate_command() -> None:
    """Apply database migrations (also done at start unless ROOST_MIGRATE_ON_START=0)."""
    settings = _settings()
    migrate.upgrade(settings.database_url)
    typer.echo(f"Database is at revision {migrate.head_revision()}.")


@app.command(name="secret-key")
def secret_key() -> None:
    """Print a new random value for ROOST_SECRET_KEY."""
    typer.echo(new_key_text())


DEFAULT_PLATFORM_NAME = "My platform"


def _platform_name(name: str) -> str:
    """An organization's name as the hosted page shows it, or exit 2 saying why not."""
    if not 1 <= len(name.strip()) <= 200:
        typer.echo("Invalid value: --name must be 1 to 200 characters", err=True)
        raise typer.Exit(2)
    return name.strip()


def _name_hint(organization_id: str, name: str) -> str | None:
    if name != DEFAULT_PLATFORM_NAME:
        return None
    return (
        f'Your users see "{DEFAULT_PLATFORM_NAME}" on the connect page. Set your platform\'s name with: '
        f'{roost_command()} orgs set-branding {organization_id} --name "Your platform"'
    )


@app.command()
def init(
    name: str | None = typer.Option(
        None, "--name",
        help=f"Your platform's name, shown to your users on the connect page (asked for in a terminal; "
        f"otherwise {DEFAULT_PLATFORM_NAME!r})",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Create the first organization, named after your platform, and a test admin key, once."""

    def summary(organization: Organization, secret: str | None) -> dict[str, Any]:
        return {"organization_id": organization.id, "name": organization.name, "admin_key": secret, "created": bool(secret)}

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as db, db.begin():
            existing = await service.list_organizations(db)
        if existing:
            return summary(existing[0], None)
        chosen = name
        if chosen is None and not as_json and sys.stdin.isatty():  # asked outside any transaction
            chosen = typer.prompt("Your platform's name, shown to your users on the connect page", default=DEFAULT_PLATFORM_NAME)
        chosen = _platform_name(chosen if chosen is not None else DEFAULT_PLATFORM_NAME)
        async with runtime.sessions() as db, db.begin():
            existing = await service.list_organizations(db)  # another init may have won meanwhile
            if existing:
                return summary(existing[0], None)
            organization = await service.create_organization(db, runtime.keyring, chosen)
            await db.flush()
            _, secret = await service.create_admin_key(db, organization.id, livemode=False, name="created by roost init")
            return summary(organization, secret)

    result = _with_database(work)
    if as_json:
        _echo_json(result)
        return
    if result["created"]:
        typer.echo(f"Created organization {result['organization_id']} ({result['name']}).")
        typer.echo(f"Test admin key (shown once, keep it safe): {result['admin_key']}")
    else:
        typer.echo(
            f"Already initialised: organization {result['organization_id']} ({result['name']}) exists, nothing was "
            f"created. Create another key with: {roost_command()} keys create --org {result['organization_id']} --mode test"
        )
    if not result["created"] and name is not None and name.strip() != result["name"]:
        typer.echo(
            f"The name stays {result['name']!r}: init names the organization only when it creates it. Rename it with: "
            f"{roost_command()} orgs set-branding {result['organization_id']} --name {shlex.quote(name.strip())}"
        )
    elif hint := _name_hint(result["organization_id"], result["name"]):
        typer.echo(hint)


def _organization_summary(organization: Organization) -> dict[str, Any]:
    return {"id": organization.id, "name": organization.name, "created_at": to_iso(organization.created_at)}


@orgs_app.command("create")
def orgs_create(name: str, as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Create an organization with a test admin key."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as db, db.begin():
            organization = await service.create_organization(db, runtime.keyring, name)
            await db.flush()
            _, secret = await service.create_admin_key(db, organization.id, livemode=False)
            return {"organization_id": organization.id, "admin_key": secret}

    try:
        result = _with_database(work)
    except ValueError as problem:
        typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    if as_json:
        _echo_json(result)
    else:
        typer.echo(f"Created organization {result['organization_id']}.")
        typer.echo(f"Test admin key (shown once): {result['admin_key']}")


@orgs_app.command("list")
def orgs_list(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List organizations."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.sessions() as db, db.begin():
            return [_organization_summary(org) for org in await service.list_organizations(db)]

    rows = _with_database(work)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['id']}  {row['created_at']}  {row['name']}")
    if not rows:
        typer.echo(f"No organizations yet: run `{roost_command()} init`.")


@orgs_app.command("show")
def orgs_show(organization_id: str) -> None:
    """Show one organization with its keys (never their secrets)."""

    async def work(runtime: Runtime) -> dict[str, Any] | None:
        async with runtime.sessions() as db, db.begin():
            organization = await db.get(Organization, organization_id)
            if organization is None:
                return None
            keys = await service.list_admin_keys(db, organization.id)
            return {**_organization_summary(organization), "admin_keys": [_key_summary(key) for key in keys]}

    result = _with_database(work)
    if result is None:
        typer.echo(f"No such organization: {organization_id}", err=True)
        raise typer.Exit(1)
    _echo_json(result)


@orgs_app.command("set-meta")
def orgs_set_meta(
    organization_id: str,
    app_id: str | None = typer.Option(None, "--app-id", help="Meta app id"),
    app_secret: str | None = typer.Option(None, "--app-secret", help="Meta app secret (stored encrypted)"),
    config_id: str | None = typer.Option(None, "--config-id", help="Embedded Signup login configuration id"),
    system_user_token: str | None = typer.Option(None, "--system-user-token", help="System user token (encrypted)"),
    verify_token: str | None = typer.Option(None, "--verify-token", help="Webhook verify token (encrypted)"),
    partner_type: str | None = typer.Option(None, "--partner-type", help="tech_provider or solution_partner"),
    credit_line_id: str | None = typer.Option(None, "--credit-line-id", help="Solution Partners: credit line id"),
    forward_url: str | None = typer.Option(
        None, "--forward-url", help="Relay this app's Meta webhooks, unchanged, to this URL (needs --app-id)"
    ),
    graph_url: str | None = typer.Option(None, "--graph-url", help="Graph API base URL (default: ROOST_META_GRAPH_URL)"),
    graph_version: str | None = typer.Option(None, "--graph-version", help="Graph API version, e.g. v25.0"),
    sdk_url: str | None = typer.Option(None, "--sdk-url", help="Meta's JavaScript SDK URL; {locale} is replaced"),
    dialog_origins: list[str] | None = typer.Option(
        None, "--dialog-origin", help="An origin of Meta's dialog the hosted page accepts messages from (repeat it)"
    ),
) -> None:
    """Set the organization's live-mode Meta app (overrides the server's ROOST_META_* values)."""
    from pydantic import ValidationError

    from roost.organizations.schemas import META_SECRET_FIELDS, MetaSettingsParams

    given = {
        "app_id": app_id, "app_secret": app_secret, "config_id": config_id, "system_user_token": system_user_token,
        "verify_token": verify_token, "partner_type": partner_type, "credit_line_id": credit_line_id,
        "forward_url": forward_url, "graph_url": graph_url, "graph_version": graph_version, "sdk_url": sdk_url,
        "dialog_origins": dialog_origins or None,
    }
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        typer.echo("Nothing to set: pass at least one option (see --help).", err=True)
        raise typer.Exit(2)
    try:
        # The rules of the settings API (origins normalised); a stand-in of Meta on this machine
        # or network needs ROOST_WEBHOOK_ALLOW_PRIVATE=1, as the Graph calls check it anyway.
        context = {"allow_private_meta_urls": _settings().webhook_allow_private}
        given = MetaSettingsParams.model_validate(given, context=context).model_dump(include=set(given))
    except ValidationError as problem:
        typer.echo(f"Invalid value: {problem.errors()[0]['loc'][0]}: {problem.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from None

    async def work(runtime: Runtime) -> bool:
        async with runtime.sessions() as db, db.begin():
            if await db.get(Organization, organization_id) is None:
                return False
            settings = await service.mode_settings(db, organization_id, livemode=True, for_update=True)
            service.update_meta(runtime.keyring, settings, given, META_SECRET_FIELDS)
            if settings.meta_forward_url and not settings.meta_app_id:
                raise typer.BadParameter("--forward-url needs the organization's own --app-id", param_hint="--forward-url")
            return True

    if not _with_database(work):
        typer.echo(f"No such organization: {organization_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Updated the live Meta settings of {organization_id}: {', '.join(sorted(given))}.")


@orgs_app.command("set-branding")
def orgs_set_branding(
    organization_id: str,
    name: str | None = typer.Option(None, "--name", help="The name shown to your users on the hosted page"),
    logo_url: str | None = typer.Option(None, "--logo-url", help="An https:// image URL ('' removes the logo)"),
    accent_color: str | None = typer.Option(None, "--accent-color", help="#RRGGBB ('' restores the default)"),
) -> None:
    """Set what the hosted connect page shows of the organization (both modes)."""
    from pydantic import ValidationError

    from roost.organizations.schemas import BrandingParams

    if name is None and logo_url is None and accent_color is None:
        typer.echo("Nothing to set: pass --name, --logo-url or --accent-color (see --help).", err=True)
        raise typer.Exit(2)
    if name is not None:
        name = _platform_name(name)
    given = {field: (value or None) for field, value in (("logo_url", logo_url), ("accent_color", accent_color)) if value is not None}
    try:
        branding = BrandingParams.model_validate(given)
    except ValidationError as problem:
        first = problem.errors()[0]
        typer.echo(f"Invalid value: --{str(first['loc'][0]).replace('_', '-')}: {first['msg']}", err=True)
        raise typer.Exit(2) from None

    async def work(runtime: Runtime) -> dict[str, Any] | None:
        async with runtime.sessions() as db, db.begin():
            organization = await db.get(Organization, organization_id)
            if organization is None:
                return None
            if name is not None:
                organization.name = name
            for field in given:
                setattr(organization, field, getattr(branding, field))
            return {
                "id": organization.id, "name": organization.name,
                "logo_url": organization.logo_url, "accent_color": organization.accent_color,
            }

    result = _with_database(work)
    if result is None:
        typer.echo(f"No such organization: {organization_id}", err=True)
        raise typer.Exit(1)
    _echo_json(result)


def _key_summary(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "mode": service.mode_name(key.livemode),
        "name": key.name,
        "last4": key.last4,
        "created_at": to_iso(key.created_at),
        "revoked_at": to_iso(key.revoked_at),
    }


@keys_app.command("create")
def keys_create(
    org: str = typer.Option(..., "--org", help="Organization id (org_…)"),
    mode: str = typer.Option("test", "--mode", help="test or live"),
    name: str | None = typer.Option(None, "--name", help="A label"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Create an admin key; its secret is printed once."""
    if mode not in ("test", "live"):
        typer.echo("--mode must be test or live", err=True)
        raise typer.Exit(2)

    async def work(runtime: Runtime) -> dict[str, Any] | None:
        async with runtime.sessions() as db, db.begin():
            if await db.get(Organization, org) is None:
                return None
            key, secret = await service.create_admin_key(db, org, livemode=mode == "live", name=name)
            return {"id": key.id, "admin_key": secret, "mode": mode}

    result = _with_database(work)
    if result is None:
        typer.echo(f"No such organization: {org}", err=True)
        raise typer.Exit(1)
    if as_json:
        _echo_json(result)
    else:
        typer.echo(f"Created {mode} admin key {result['id']} (shown once): {result['admin_key']}")


@keys_app.command("list")
def keys_list(org: str = typer.Option(..., "--org", help="Organization id (org_…)"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List an organization's admin keys (never their secrets)."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.sessions() as db, db.begin():
            return [_key_summary(key) for key in await service.list_admin_keys(db, org)]

    rows = _with_database(work)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        typer.echo(f"{row['id']}  {row['mode']}  …{row['last4']}  {state}  {row['name'] or ''}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an admin key at once."""
    from roost.organizations.models import AdminKey

    async def work(runtime: Runtime) -> bool:
        async with runtime.sessions() as db, db.begin():
            key = await db.get(AdminKey, key_id)
            if key is None:
                return False
            await service.revoke_admin_key(db, key)
            return True

    if not _with_database(work):
        typer.echo(f"No such key: {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked {key_id}.")


@users_app.command("create")
def users_create(
    org: str = typer.Option(..., "--org", help="Organization id (org_…) the user may see"),
    email: str = typer.Option(..., "--email", help="The user's e-mail address (their sign-in name)"),
    role: str = typer.Option(..., "--role", help="admin (sees and acts) or viewer (only sees)"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (needed for a new user)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Create a console user, or give an existing one (same e-mail) another organization or role."""
    import sys

    from roost.console import accounts

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as db, db.begin():
            user, created = await accounts.create_user(db, org, email, role, password, now_ms())
            return {"id": user.id, "email": user.email, "organization_id": org, "role": role, "created": created}

    try:
        result = _with_database(work)
    except accounts.AccountError as problem:
        typer.echo(f"Invalid value: {problem}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        _echo_json(result)
    else:
        verb = "Created" if result["created"] else "Updated"
        typer.echo(f"{verb} console user {result['email']} ({result['id']}): {role} of {org}.")


@users_app.command("list")
def users_list(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List console users with their organizations and roles (never their passwords)."""
    from roost.console import accounts

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.sessions() as db, db.begin():
            return [
                {
                    "id": user.id,
                    "email": user.email,
                    "disabled_at": to_iso(user.disabled_at),
                    "locked_until": to_iso(user.locked_until),
                    "last_login_at": to_iso(user.last_login_at),
                    "organizations": [{"id": m.organization_id, "role": m.role} for m in memberships],
                }
                for user, memberships in await accounts.list_users(db)
            ]

    rows = _with_database(work)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        state = f"disabled {row['disabled_at']}" if row["disabled_at"] else "active"
        roles = ", ".join(f"{m['role']} of {m['id']}" for m in row["organizations"])
        typer.echo(f"{row['id']}  {row['email']}  {state}  {roles}")
    if not rows:
        typer.echo("No console users yet: roost users create --org ORG_ID --email EMAIL --role admin --password-stdin")


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable a console user at once (signed-in browsers are signed out)."""
    from roost.console import accounts

    async def work(runtime: Runtime) -> bool:
        async with runtime.sessions() as db, db.begin():
            return await accounts.disable_user(db, email, now_ms()) is not None

    try:
        found = _with_database(work)
    except accounts.AccountError as problem:
        typer.echo(f"Invalid value: {problem}", err=True)
        raise typer.Exit(2) from None
    if not found:
        typer.echo(f"No such console user: {email}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Disabled {email.strip().lower()}.")


@app.command()
def doctor(
    org: str | None = typer.Option(None, "--org", help="Check only this organization's live Meta app (org_…)"),
    port: int = typer.Option(8000, "--port", help="The port `roost serve` listens on (session links use it without ROOST_PUBLIC_URL)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Check the configuration and, for live mode, Meta (app credentials, system user token, webhook
    subscription, HTTPS). Exits 1 when a check fails."""
    from roost import doctor as checks
    from roost.observability import configure_logging

    settings = _settings()
    configure_logging("error")  # the report is the output; Graph call failures are in it already
    report = asyncio.run(checks.run(settings, organization_id=org, port=port))
    if as_json:
        _echo_json(report.as_dict())
    else:
        typer.echo(report.text())
    if not report.ok:
        raise typer.Exit(1)
