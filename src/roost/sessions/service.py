"""Embedded signup sessions: create, read, list, cancel, new link, expire (SPEC 3)."""

import functools
import hashlib
import json
import operator
import secrets
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from roost.kit import errors, pagination
from roost.kit.crypto import sha256_hex
from roost.kit.ids import has_prefix, new_id
from roost.kit.timeutil import to_iso
from roost.organizations.service import Caller, find_owned
from roost.runtime import SessionPolicy
from roost.sessions.models import SessionEvent, SessionMetadataValue, SignupSession
from roost.sessions.schemas import EmbeddedSignupSession, SessionCreateParams
from roost.sessions.state import (
    EXPIRED_ERROR,
    SessionStatus,
    effective_status,
    expire_if_overdue,
    is_overdue,
    is_started,
    record_event,
    refuse_unless_awaiting_code,
    transition,
)



def present(session: SignupSession, now: int, url: str | None = None) -> dict[str, Any]:
    """The session object as the API shows it, with an overdue session already expired."""
    body = EmbeddedSignupSession.render(session, status=effective_status(session, now), url=url)
    if is_overdue(session, now) and body["error"] is None:
        body["error"] = EXPIRED_ERROR
    return body


def _new_link(policy: SessionPolicy) -> tuple[str, str]:
    """(url, token hash). The token carries 256 bits and only its hash is stored."""
    token = secrets.token_urlsafe(32)
    return f"{policy.public_url}/embed/connect?token={token}", sha256_hex(token)


def metadata_text(value: Any) -> str | None:
    """The text a `metadata[key]=value` filter compares with; None for objects and arrays."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return None


def metadata_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- create ------------------------------------------------------------------------------


class SessionView(SimpleNamespace):
    """A session's columns as plain attributes (the names of SignupSession's), for presenting
    a session without an ORM object: a new one, or a row of a list."""


_COLUMN_NAMES = {prop.key: prop.columns[0].name for prop in SignupSession.__mapper__.column_attrs}
_NEW_SESSION_NULLS = dict.fromkeys(_COLUMN_NAMES)
_INSERT_SESSION = SignupSession.__table__.insert()
_INSERT_METADATA = SessionMetadataValue.__table__.insert()
_INSERT_EVENT = SessionEvent.__table__.insert()


async def create_session(
    db: AsyncSession,
    caller: Caller,
    params: SessionCreateParams,
    policy: SessionPolicy,
    now: int,
    *,
    allowed_redirect_uris: list[str],
    default_solution_id: str | None = None,
) -> tuple["SessionView", str]:
    if params.redirect_uri is not None and allowed_redirect_uris and params.redirect_uri not in allowed_redirect_uris:
        raise errors.invalid(
            "parameter_invalid",
            "redirect_uri must equal one of the organization's allowed redirect URIs for this mode "
            "(see GET /v1/organization/settings)",
            param="redirect_uri",
        )
    url, token_hash = _new_link(policy)
    # Core inserts of plain values: the ORM's unit of work cost more CPU than the rest of a create.
    metadata = params.metadata or {}
    given = dict(
        id=new_id("wss"),
        organization_id=caller.organization_id,
        livemode=caller.livemode,
        source="hosted",
        status=SessionStatus.PENDING.value,
        token_hash=token_hash,
        created_at=now,
        expires_at=now + policy.ttl_ms,
        deadline_at=now + policy.ttl_ms,
        redirect_uri=params.redirect_uri,
        state=params.state,
        metadata_=metadata,
        prefill=params.prefill.stored() if params.prefill else None,
        locale=params.locale,
        coexistence=bool(params.coexistence),
        solution_id=params.solution_id or default_solution_id,
        provisioning=[],
    )
    # Columns not given keep their defaults in the database; the view shows them as None.
    connection = await db.connection()  # Core statements need nothing of the ORM session
    await connection.execute(_INSERT_SESSION, {_COLUMN_NAMES[key]: value for key, value in given.items()})
    session = SessionView(**{**_NEW_SESSION_NULLS, **given})
    await _index_metadata(connection, session, now)
    await connection.execute(
        _INSERT_EVENT,
        {"id": new_id("sevt"), "session_id": session.id, "type": "session.created", "created_at": now, "data": {"source": "hosted"}},
    )
    return session, url


async def _index_metadata(connection: AsyncConnection, session: Any, now: int) -> None:
    """The side-table rows that `metadata[key]=value` filters use: one per top-level scalar."""
    rows = [
        {
            "session_id": session.id,
            "key": key,
            "value_digest": metadata_digest(text),
            "organization_id": session.organization_id,
            "livemode": session.livemode,
            "created_at": now,
            "status": session.status,
        }
        for key, text in ((key, metadata_text(value)) for key, value in (session.metadata_ or {}).items())
        if text is not None
    ]
    if rows:
        await connection.execute(_INSERT_METADATA, rows)


async def create_platform_attempt(
    db: AsyncSession, caller: Caller, metadata: dict[str, Any] | None, policy: SessionPolicy, now: int
) -> SignupSession:
    """A session for a platform that runs Meta's flow on its own page (SPEC 5.3, `source:
    platform`): no link and no hosted page. The platform opens Meta's flow right away, so the
    attempt counts as started: like a started hosted session it lasts until expires_at + grace."""
    session = SignupSession(
        id=new_id("wss"),
        organization_id=caller.organization_id,
        livemode=caller.livemode,
        source="platform",
        status=SessionStatus.PENDING,
        token_hash=None,
        created_at=now,
        expires_at=now + policy.ttl_ms,
        deadline_at=now + policy.ttl_ms + policy.grace_ms,
        started_at=now,
        metadata_=metadata or {},
        coexistence=False,
        provisioning=[],
    )
    db.add(session)
    await db.flush()  # the session row first: its metadata rows refer to it
    await _index_metadata(await db.connection(), session, now)
    record_event(db, session, "session.created", now, {"source": "platform"})
    record_event(db, session, "session.started", now)
    return session


# -- read --------------------------------------------------------------------------------


async def get_session(db: AsyncSession, caller: Caller, session_id: str, *, for_update: bool = False) -> SignupSession:
    """The caller's session in the caller's mode, or 404 (never saying whether it exists elsewhere)."""
    return await find_owned(
        db, caller, SignupSession, session_id, prefix="wss", noun="embedded signup session", for_update=for_update
    )



async def list_events(db: AsyncSession, session: SignupSession) -> list[SessionEvent]:
    rows = await db.scalars(
        select(SessionEvent)
        .where(SessionEvent.session_id == session.id)
        .order_by(SessionEvent.seq)
    )
    return list(rows)


@dataclass
class SessionFilters:
    status: SessionStatus | None = None
    source: str | None = None
    created_gte: int | None = None
    created_gt: int | None = None
    created_lt: int | None = None
    created_lte: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


# A list page is read as plain rows (labelled with SignupSession's attribute names, which
# present() reads), not ORM objects: loading 21 instances cost more than the query itself.
_LIST_COLUMNS = [
    prop.columns[0].label(prop.key)
    for prop in SignupSession.__mapper__.column_attrs
    if prop.key not in ("token_hash", "business_token_encrypted", "browser_binding_hash")
]


@dataclass(frozen=True)
class _ListShape:
    """What a list statement's SQL depends on; the values go in as parameters."""

    metadata_filters: int
    status: SessionStatus | None
    source: bool
    created_bounds: tuple[str, ...]  # of "gte", "gt", "lt", "lte"
    cursor: bool
    newest_first: bool
    fetch: int


_CREATED_BOUNDS = {"gte": operator.ge, "gt": operator.gt, "lt": operator.lt, "lte": operator.le}


async def list_sessions(
    db: AsyncSession, caller: Caller, filters: SessionFilters, page: pagination.Page, now: int
) -> tuple[list[SessionView], bool]:
    """Newest first by (created_at, id), keyset-paginated; every filter rides an index."""
    params: dict[str, Any] = {"organization_id": caller.organization_id, "livemode": caller.livemode, "now": now}
    for index, (key, value) in enumerate(filters.metadata.items()):
        params[f"key_{index}"], params[f"digest_{index}"] = key, metadata_digest(value)
    if filters.source:
        params["source"] = filters.source
    bounds = tuple(bound for bound in _CREATED_BOUNDS if getattr(filters, f"created_{bound}") is not None)
    for bound in bounds:
        params[f"created_{bound}"] = getattr(filters, f"created_{bound}")
    if page.cursor_id is not None:
        params["cursor_created"], params["cursor_id"] = await _cursor(db, caller, page.cursor_id, page.cursor_param)
    shape = _ListShape(
        len(filters.metadata), filters.status, bool(filters.source), bounds, page.cursor_id is not None,
        page.newest_first, page.limit + 1,
    )
    # Through the connection: the session's ORM execution layer costs ~0.2 ms here and adds nothing.
    result = await (await db.connection()).execute(_list_statement(shape), params)
    # Plain attributes read faster than a Row's named access, and present() reads ~25 of them.
    names = tuple(result.keys())
    return pagination.trim([SessionView(**dict(zip(names, row))) for row in result], page)


@functools.lru_cache(maxsize=512)
def _list_statement(shape: _ListShape) -> Select:
    """The list statement of one shape, built once: building it and its cache key per request
    cost about a fifth of a list request's CPU time."""
    S = SignupSession
    # With a metadata filter, its index row drives the scan and carries the sort keys and the
    # session's status (a trigger keeps that copy equal), so a status filter narrows the same
    # index range instead of checking each session of a common value.
    if shape.metadata_filters:
        driver = SessionMetadataValue
        sort_created, sort_id, stored_status = driver.created_at, driver.session_id, driver.status
        base = select(sort_created.label("created_at"), sort_id.label("id")).select_from(driver).join(S, S.id == driver.session_id)
        base = base.where(
            driver.organization_id == bindparam("organization_id"),
            driver.livemode == bindparam("livemode"),
            driver.key == bindparam("key_0"),
            driver.value_digest == bindparam("digest_0"),
            # Redundant, but leaves PostgreSQL's planner the choice of a tenant-led sessions
            # index for a status filter.
            S.organization_id == bindparam("organization_id"),
            S.livemode == bindparam("livemode"),
        )
        for index in range(1, shape.metadata_filters):
            other = SessionMetadataValue.__table__.alias(f"m{index}")
            base = base.join(
                other,
                and_(
                    other.c.session_id == S.id,
                    other.c.key == bindparam(f"key_{index}"),
                    other.c.value_digest == bindparam(f"digest_{index}"),
                ),
            )
    else:
        sort_created, sort_id, stored_status = S.created_at, S.id, S.status
        base = select(S.created_at.label("created_at"), S.id.label("id")).where(
            S.organization_id == bindparam("organization_id"), S.livemode == bindparam("livemode")
        )

    if shape.source:
        base = base.where(S.source == bindparam("source"))
    for bound in shape.created_bounds:
        base = base.where(_CREATED_BOUNDS[bound](sort_created, bindparam(f"created_{bound}")))
    if shape.cursor:
        cursor = (bindparam("cursor_created", type_=S.created_at.type), bindparam("cursor_id", type_=S.id.type))
        base = base.where(pagination.after_cursor(sort_created, sort_id, cursor, shape.newest_first))

    # A status filter can need two index ranges: stored status, and pending-but-overdue.
    now = bindparam("now", type_=S.deadline_at.type)
    branches: list[Select] = []
    if shape.status is None:
        branches.append(base)
    elif shape.status == SessionStatus.EXPIRED:
        branches.append(base.where(stored_status == SessionStatus.EXPIRED))
        branches.append(base.where(stored_status == SessionStatus.PENDING, S.deadline_at <= now))
    elif shape.status == SessionStatus.PENDING:
        branches.append(base.where(stored_status == SessionStatus.PENDING, or_(S.deadline_at.is_(None), S.deadline_at > now)))
    else:
        branches.append(base.where(stored_status == shape.status))

    order = pagination.order_by(sort_created, sort_id, shape.newest_first)
    limited = [branch.order_by(*order).limit(shape.fetch).subquery() for branch in branches]
    if len(limited) == 1:
        picked = limited[0]
    else:
        picked = union_all(*(select(sub.c.created_at, sub.c.id) for sub in limited)).subquery()
    picked_order = pagination.order_by(picked.c.created_at, picked.c.id, shape.newest_first)
    return select(*_LIST_COLUMNS).select_from(S).join(picked, S.id == picked.c.id).order_by(*picked_order).limit(shape.fetch)


_SESSIONS = SignupSession.__table__
_CURSOR = select(_SESSIONS.c.created_at, _SESSIONS.c.id).where(
    _SESSIONS.c.id == bindparam("id"),
    _SESSIONS.c.organization_id == bindparam("organization_id"),
    _SESSIONS.c.livemode == bindparam("livemode"),
)


async def _cursor(db: AsyncSession, caller: Caller, session_id: str, param: str) -> Any:
    row = None
    if has_prefix(session_id, "wss"):
        parameters = {"id": session_id, "organization_id": caller.organization_id, "livemode": caller.livemode}
        row = (await (await db.connection()).execute(_CURSOR, parameters)).first()
    if row is None:
        raise errors.invalid("parameter_invalid", f"{param} must be the id of one of your sessions: no session '{session_id}'", param=param)
    return row.created_at, row.id


# -- change ------------------------------------------------------------------------------


async def cancel_session(db: AsyncSession, session: SignupSession, now: int) -> errors.ApiError | None:
    """DELETE: the platform withdraws a session that Meta's code has not reached yet.

    Returns the refusal instead of raising it, so that an overdue session's expiry, written
    here, is still committed by the caller.
    """
    refusal = refuse_unless_awaiting_code(db, session, now)
    if refusal is not None:
        return refusal
    transition(
        db,
        session,
        SessionStatus.CANCELLED,
        at=now,
        reason="cancelled_by_platform",
        error={"code": "session_cancelled", "message": "The session was cancelled by the platform.", "meta_code": None},
    )
    return None


async def refresh_link(
    db: AsyncSession, session: SignupSession, policy: SessionPolicy, now: int
) -> tuple[str | None, errors.ApiError | None]:
    """A fresh url for an unstarted pending session; the old token stops working.

    Returns (url, None), or (None, refusal) like cancel_session."""
    expire_if_overdue(db, session, now)
    if session.status != SessionStatus.PENDING:
        return None, errors.conflict(
            "session_not_pending", f"This session is {session.status}; create a new session for a new link"
        )
    if is_started(session):
        return None, errors.conflict(
            "session_already_started",
            "The user has already started this session in a browser; its link cannot be replaced",
        )
    url, session.token_hash = _new_link(policy)
    session.expires_at = session.deadline_at = now + policy.ttl_ms
    record_event(db, session, "session.link_refreshed", now, {"expires_at": to_iso(session.expires_at)})
    return url, None


async def expire_overdue_sessions(db: AsyncSession, now: int, batch: int = 200) -> int:
    """The worker's sweep: write down the expiry of overdue sessions, each exactly once.

    Rows are locked with SKIP LOCKED (PostgreSQL), so several workers split the work instead
    of expiring a session twice; on SQLite the write transaction is already exclusive.
    """
    sessions = list(
        await db.scalars(
            select(SignupSession)
            .where(SignupSession.status == SessionStatus.PENDING, SignupSession.deadline_at <= now)
            .order_by(SignupSession.deadline_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    return sum(1 for session in sessions if expire_if_overdue(db, session, now))
