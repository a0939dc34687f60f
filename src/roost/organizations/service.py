"""Organizations, admin keys and per-mode settings: the rules, without HTTP."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors
from roost.kit.crypto import Keyring, sha256_hex
from roost.kit.ids import has_prefix, new_id, random_base62
from roost.kit.pagination import Page, fetch_page
from roost.kit.timeutil import now_ms
from roost.kit.ttlcache import TtlCache
from roost.meta.config import meta_secret_context
from roost.organizations.models import AdminKey, ModeSettings, Organization

KEY_PATTERN = re.compile(r"^sk_admin_(test|live)_[A-Za-z0-9]{40,64}$")


def mode_name(livemode: bool) -> str:
    return "live" if livemode else "test"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the admin key, its organization and the mode the key belongs to."""

    key_id: str
    organization_id: str
    livemode: bool


Owned = TypeVar("Owned")


async def find_owned(
    db: AsyncSession,
    caller: Caller,
    model: type[Owned],
    object_id: str,
    *,
    prefix: str,
    noun: str,
    param: str = "id",
    for_update: bool = False,
) -> Owned:
    """The caller's object (its organization, its mode) or 404 — never saying whether the id
    exists in another organization or mode. `for_update` locks the row and reads it afresh."""
    found: Any = None
    if has_prefix(object_id, prefix):
        query = select(model).where(
            model.id == object_id,  # type: ignore[attr-defined]
            model.organization_id == caller.organization_id,  # type: ignore[attr-defined]
            model.livemode == caller.livemode,  # type: ignore[attr-defined]
        )
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        found = await db.scalar(query)
    if found is None:
        raise errors.not_found(f"No such {noun}: '{object_id}'", param=param)
    return found


# -- organizations -------------------------------------------------------------------------


async def create_organization(db: AsyncSession, keyring: Keyring, name: str) -> Organization:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("the organization name must be 1 to 200 characters")
    organization = Organization(id=new_id("org"), name=name, created_at=now_ms())
    db.add(organization)
    await db.flush()
    for livemode in (False, True):
        db.add(
            ModeSettings(
                organization_id=organization.id,
                livemode=livemode,
                allowed_origins=[],
                allowed_redirect_uris=[],
                redirect_secret_encrypted=_seal_redirect_secret(keyring, organization.id, livemode),
                updated_at=organization.created_at,
            )
        )
    return organization


async def list_organizations(db: AsyncSession) -> list[Organization]:
    rows = await db.scalars(select(Organization).order_by(Organization.created_at, Organization.id))
    return list(rows)


# -- admin keys ----------------------------------------------------------------------------


async def create_admin_key(
    db: AsyncSession, organization_id: str, livemode: bool, name: str | None = None
) -> tuple[AdminKey, str]:
    """Returns the stored key and the full secret, which is never retrievable again."""
    secret = f"sk_admin_{mode_name(livemode)}_{random_base62(32)}"
    key = AdminKey(
        id=new_id("key"),
        organization_id=organization_id,
        livemode=livemode,
        key_hash=sha256_hex(secret),
        last4=secret[-4:],
        name=name,
        created_at=now_ms(),
    )
    db.add(key)
    return key, secret


async def list_admin_keys(db: AsyncSession, organization_id: str, livemode: bool | None = None) -> list[AdminKey]:
    query = select(AdminKey).where(AdminKey.organization_id == organization_id)
    if livemode is not None:
        query = query.where(AdminKey.livemode == livemode)
    rows = await db.scalars(query.order_by(AdminKey.created_at.desc(), AdminKey.id.desc()))
    return list(rows)


async def page_admin_keys(db: AsyncSession, caller: Caller, page: Page) -> tuple[list[AdminKey], bool]:
    """The caller's mode's keys, a page of them (the API's list; the CLI lists them all)."""
    scope = [AdminKey.organization_id == caller.organization_id, AdminKey.livemode == caller.livemode]
    return await fetch_page(db, select(AdminKey).where(*scope), AdminKey, scope, page, what="admin keys")


# Admin keys that authenticated recently, by the hash of their secret: most requests then need
# no database read to authenticate. A revocation in this process applies at once (forget); one
# made by another process applies here within KEY_CACHE_SECONDS (docs/decisions.md).
KEY_CACHE_SECONDS = 1.0
_key_cache: TtlCache[str, Caller] = TtlCache(KEY_CACHE_SECONDS)


async def revoke_admin_key(db: AsyncSession, key: AdminKey) -> AdminKey:
    if key.revoked_at is None:
        key.revoked_at = now_ms()
    _key_cache.forget(key.key_hash)
    return key


def key_hash_of(authorization: str | None) -> tuple[str, str]:
    """(hash, secret) of the admin key in an Authorization header; 401 when it is missing or malformed."""
    if not authorization or not authorization.strip():
        raise errors.unauthenticated(
            "api_key_missing", "No API key provided: send 'Authorization: Bearer sk_admin_…'"
        )
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not KEY_PATTERN.fullmatch(secret):
        raise errors.unauthenticated(
            "api_key_invalid", "The Authorization header must be 'Bearer sk_admin_test_…' or 'Bearer sk_admin_live_…'"
        )
    return sha256_hex(secret), secret


def cached_caller(key_hash: str) -> Caller | None:
    return _key_cache.get(key_hash)


_KEY_LOOKUP = select(
    AdminKey.id, AdminKey.organization_id, AdminKey.livemode, AdminKey.revoked_at, AdminKey.last4
).where(AdminKey.key_hash == bindparam("key_hash"))


async def lookup_key(db: AsyncSession, key_hash: str, secret: str) -> Caller:
    """The caller for a key hash, read from the database (and remembered briefly); 401 otherwise."""
    key = (await db.execute(_KEY_LOOKUP, {"key_hash": key_hash})).first()
    if key is None:
        raise errors.unauthenticated("api_key_invalid", f"Invalid API key: …{secret[-4:]}")
    if key.revoked_at is not None:
        raise errors.unauthenticated("api_key_revoked", f"This API key (…{key.last4}) has been revoked")
    caller = Caller(key_id=key.id, organization_id=key.organization_id, livemode=key.livemode)
    _key_cache.put(key_hash, caller)
    return caller


async def authenticate(db: AsyncSession, authorization: str | None) -> Caller:
    key_hash, secret = key_hash_of(authorization)
    return await lookup_key(db, key_hash, secret)


# -- per-mode settings ---------------------------------------------------------------------


def _redirect_secret_context(organization_id: str, livemode: bool) -> str:
    return f"redirect_secret:{organization_id}:{mode_name(livemode)}"


def _seal_redirect_secret(keyring: Keyring, organization_id: str, livemode: bool) -> str:
    secret = f"rsec_{mode_name(livemode)}_{random_base62(24)}"
    return keyring.encrypt(secret, _redirect_secret_context(organization_id, livemode))


def redirect_secret(keyring: Keyring, settings: ModeSettings) -> str:
    return keyring.decrypt(
        settings.redirect_secret_encrypted,
        _redirect_secret_context(settings.organization_id, settings.livemode),
    )


async def mode_settings(db: AsyncSession, organization_id: str, livemode: bool, *, for_update: bool = False) -> ModeSettings:
    query = select(ModeSettings).where(
        ModeSettings.organization_id == organization_id, ModeSettings.livemode == livemode
    )
    if for_update:
        # Every writer of mode settings reads them for update first: drop the cached copy.
        _mode_cache.forget((organization_id, livemode))
        query = query.with_for_update()
    return (await db.scalars(query)).one()


# Mode settings as the session-create path reads them, for a second: a change made in this
# process applies at once, one made by another process within MODE_CACHE_SECONDS.
MODE_CACHE_SECONDS = 1.0
_mode_cache: TtlCache[tuple[str, bool], ModeSettings] = TtlCache(MODE_CACHE_SECONDS)


async def cached_mode_settings(
    db: AsyncSession, organization_id: str, livemode: bool, check: Callable[[ModeSettings], None] | None = None
) -> ModeSettings:
    """mode_settings for hot read-only paths. The object may be shared between requests: never change it.

    `check` raises when the settings do not allow the work; settings it refuses are not cached,
    so fixing them (from any process) applies to the very next request."""
    settings = _mode_cache.get((organization_id, livemode))
    if settings is None:
        settings = await mode_settings(db, organization_id, livemode)
        db.expunge(settings)  # detached: a rollback of this session must not expire the shared copy
        if check is not None:
            check(settings)
        _mode_cache.put((organization_id, livemode), settings)
    return settings


def rotate_redirect_secret(keyring: Keyring, settings: ModeSettings) -> None:
    settings.redirect_secret_encrypted = _seal_redirect_secret(keyring, settings.organization_id, settings.livemode)
    settings.updated_at = now_ms()


# -- Meta app overrides (live mode) ----------------------------------------------------------


def update_meta(keyring: Keyring, settings: ModeSettings, changes: dict[str, str | None], secret_fields: tuple[str, ...]) -> None:
    """Write the given Meta fields (None clears one); secrets are stored encrypted."""
    for name, value in changes.items():
        if name in secret_fields:
            sealed = keyring.encrypt(value, meta_secret_context(settings.organization_id, name)) if value else None
            setattr(settings, f"meta_{name}_encrypted", sealed)
        else:
            setattr(settings, f"meta_{name}", value)
