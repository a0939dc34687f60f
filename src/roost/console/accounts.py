"""Operator accounts: creating them, checking a password, lock-out, and signed-in browsers.

No HTTP here: the CLI and the console's pages both call these."""

import asyncio
import functools
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.console.models import ConsoleLogin, ConsoleMembership, ConsoleUser
from roost.kit.crypto import sha256_hex
from roost.kit.ids import new_id
from roost.organizations.models import Organization

ROLES = ("admin", "viewer")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a megabyte of "password" is only a way to burn CPU
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# A signed-in browser lasts LOGIN_HOURS from sign-in, then signs in again.
LOGIN_HOURS = 12
# Failed sign-ins in a row: each one answers a little later than the last (FAILURE_DELAY_S more,
# up to MAX_FAILURE_DELAY_S), and LOCK_AFTER of them lock the account for LOCK_MINUTES.
LOCK_AFTER = 5
LOCK_MINUTES = 15
FAILURE_DELAY_S = 0.2
MAX_FAILURE_DELAY_S = 2.0

_hasher = PasswordHasher()  # argon2id with argon2-cffi's default (RFC 9106 low-memory) parameters


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the e-mail is unknown, so an unknown address costs what a known one does."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A CLI input the rules refuse (shown to the operator as it is)."""


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.fullmatch(email) or len(email) > 254:
        raise AccountError(f"not an e-mail address: {email!r}")
    return email


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")


async def create_user(
    db: AsyncSession, organization_id: str, email: str, role: str, password: str | None, now: int
) -> tuple[ConsoleUser, bool]:
    """The user with this e-mail, given `role` in the organization; created when new (which needs a
    password). A password given for an existing user replaces theirs. Returns (user, created)."""
    if role not in ROLES:
        raise AccountError(f"the role must be one of {', '.join(ROLES)}")
    email = normalize_email(email)
    if await db.get(Organization, organization_id) is None:
        raise AccountError(f"no such organization: {organization_id}")
    user = await db.scalar(select(ConsoleUser).where(ConsoleUser.email == email))
    created = user is None
    if password is not None:
        check_password_rules(password)
    elif created:
        raise AccountError("a new user needs a password (--password-stdin)")
    if user is None:
        user = ConsoleUser(id=new_id("usr"), email=email, password_hash="", created_at=now, failed_logins=0)
        db.add(user)
        await db.flush()
    if password is not None:
        user.password_hash = _hasher.hash(password)
        user.failed_logins, user.locked_until = 0, None
    membership = await db.get(ConsoleMembership, (user.id, organization_id))
    if membership is None:
        db.add(ConsoleMembership(user_id=user.id, organization_id=organization_id, role=role, created_at=now))
    else:
        membership.role = role
    return user, created


async def list_users(db: AsyncSession) -> list[tuple[ConsoleUser, list[ConsoleMembership]]]:
    users = list(await db.scalars(select(ConsoleUser).order_by(ConsoleUser.created_at, ConsoleUser.id)))
    memberships = await db.scalars(select(ConsoleMembership).order_by(ConsoleMembership.created_at))
    by_user: dict[str, list[ConsoleMembership]] = {}
    for membership in memberships:
        by_user.setdefault(membership.user_id, []).append(membership)
    return [(user, by_user.get(user.id, [])) for user in users]


async def disable_user(db: AsyncSession, email: str, now: int) -> ConsoleUser | None:
    """Disables the account and signs out every browser it is signed in on."""
    user = await db.scalar(select(ConsoleUser).where(ConsoleUser.email == normalize_email(email)))
    if user is None:
        return None
    if user.disabled_at is None:
        user.disabled_at = now
    await db.execute(delete(ConsoleLogin).where(ConsoleLogin.user_id == user.id))
    return user


# -- signing in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    user: ConsoleUser | None  # None: refused
    locked: bool = False
    failures: int = 0  # failed sign-ins in a row, this one included


async def check_credentials(db: AsyncSession, email: str, password: str, now: int) -> SignIn:
    """Verifies a password, counting failures and locking the account after LOCK_AFTER of them.

    A locked account is refused without its password being checked, so guessing on stops nothing
    but the guesser. Unknown and disabled addresses are refused the same way as a wrong password."""
    try:
        email = normalize_email(email)
    except AccountError:
        email = ""
    user = await db.scalar(select(ConsoleUser).where(ConsoleUser.email == email).with_for_update()) if email else None
    if user is not None and user.locked_until is not None and user.locked_until > now:
        return SignIn(None, locked=True, failures=user.failed_logins)
    password = password[:MAX_PASSWORD_LENGTH + 1]
    if user is None or user.disabled_at is not None:
        await _verify(_dummy_hash(), password)
        return SignIn(None, failures=1)
    if not await _verify(user.password_hash, password):
        user.failed_logins = (0 if user.locked_until is not None else user.failed_logins) + 1
        user.locked_until = None
        if user.failed_logins >= LOCK_AFTER:
            user.locked_until = now + LOCK_MINUTES * 60_000
        return SignIn(None, locked=user.locked_until is not None, failures=user.failed_logins)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return SignIn(user)


async def _verify(password_hash: str, password: str) -> bool:
    """In a thread: argon2 takes tens of milliseconds of CPU, which the event loop must not wait for."""
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def slow_down(failures: int) -> None:
    """The answer to a failed sign-in waits longer the more failures came before it."""
    await asyncio.sleep(min(MAX_FAILURE_DELAY_S, FAILURE_DELAY_S * max(1, failures)))


async def memberships_of(db: AsyncSession, user_id: str) -> list[tuple[ConsoleMembership, str]]:
    """(membership, organization name) of each organization the user may see, oldest first."""
    rows = await db.execute(
        select(ConsoleMembership, Organization.name)
        .join(Organization, Organization.id == ConsoleMembership.organization_id)
        .where(ConsoleMembership.user_id == user_id)
        .order_by(ConsoleMembership.created_at, ConsoleMembership.organization_id)
    )
    return [(membership, name) for membership, name in rows]


async def start_login(db: AsyncSession, user: ConsoleUser, organization_id: str, now: int) -> str:
    """A signed-in browser; returns the cookie's value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    db.add(
        ConsoleLogin(
            token_hash=sha256_hex(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            organization_id=organization_id,
            livemode=False,
            created_at=now,
            expires_at=now + LOGIN_HOURS * 3_600_000,
        )
    )
    # Expired sign-ins of this user go now; those of users who never come back stay until then (small rows).
    await db.execute(delete(ConsoleLogin).where(ConsoleLogin.user_id == user.id, ConsoleLogin.expires_at <= now))
    return token


@dataclass(frozen=True)
class Operator:
    """Who is looking at the console, and at what."""

    user_id: str
    email: str
    csrf_token: str
    token_hash: str
    organization_id: str
    organization_name: str
    livemode: bool
    role: str
    organizations: tuple[tuple[str, str], ...]  # (id, name) of every organization the user may see

    @property
    def can_act(self) -> bool:
        return self.role == "admin"


async def operator_for(db: AsyncSession, token: str | None, now: int) -> Operator | None:
    """The signed-in operator of a cookie, or None (unknown, expired, disabled, or no longer a member).

    One query on every page: the sign-in, its user, and each organization the user may see."""
    if not token:
        return None
    token_hash = sha256_hex(token)
    rows = (await db.execute(_OPERATOR_ROWS, {"token_hash": token_hash, "now": now})).all()
    if not rows:
        return None
    first = rows[0]
    current = next((row for row in rows if row.organization_id == first.current_organization_id), first)
    return Operator(
        user_id=first.user_id,
        email=first.email,
        csrf_token=first.csrf_token,
        token_hash=token_hash,
        organization_id=current.organization_id,  # removed from the one it was looking at: the first one left
        organization_name=current.name,
        livemode=first.livemode,
        role=current.role,
        organizations=tuple((row.organization_id, row.name) for row in rows),
    )


_OPERATOR_ROWS = (
    select(
        ConsoleLogin.user_id, ConsoleLogin.csrf_token, ConsoleLogin.livemode,
        ConsoleLogin.organization_id.label("current_organization_id"), ConsoleUser.email,
        ConsoleMembership.organization_id, ConsoleMembership.role, Organization.name,
    )
    .join(ConsoleUser, ConsoleUser.id == ConsoleLogin.user_id)
    .join(ConsoleMembership, ConsoleMembership.user_id == ConsoleUser.id)
    .join(Organization, Organization.id == ConsoleMembership.organization_id)
    .where(
        ConsoleLogin.token_hash == bindparam("token_hash"),
        ConsoleLogin.expires_at > bindparam("now"),
        ConsoleUser.disabled_at.is_(None),
    )
    .order_by(ConsoleMembership.created_at, ConsoleMembership.organization_id)
)


async def switch(db: AsyncSession, operator: Operator, organization_id: str, livemode: bool) -> bool:
    """Look at another organization or mode; False when the user is not a member of it."""
    if organization_id not in {org_id for org_id, _ in operator.organizations}:
        return False
    login = await db.get(ConsoleLogin, operator.token_hash)
    if login is None:
        return False
    login.organization_id, login.livemode = organization_id, livemode
    return True


async def end_login(db: AsyncSession, token_hash: str) -> None:
    await db.execute(delete(ConsoleLogin).where(ConsoleLogin.token_hash == token_hash))

