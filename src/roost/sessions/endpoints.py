"""The embedded signup sessions API (SPEC 3): thin handlers over sessions.service."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from roost.idempotency.service import IdempotencyKeyHeader, create_once, read_create_body, replay_headers
from roost.kit import errors, pagination
from roost.kit.timeutil import now_ms
from roost.kit.web import parse_model, read_no_body, read_no_query
from roost.kit.query import QueryParams, one_of, timestamp
from roost.openapi_support import IDEMPOTENCY_KEY_HEADER, body_of, errors_for
from roost.organizations.auth import require_admin_key
from roost.organizations.models import ModeSettings
from roost.organizations.service import Caller, cached_mode_settings
from roost.runtime import Runtime, get_db, runtime_dependency
from roost.sessions import service
from roost.sessions.funnel import funnel
from roost.sessions.schemas import (
    CreatedEmbeddedSignupSession,
    EmbeddedSignupFunnel,
    EmbeddedSignupSession,
    EmbeddedSignupSessionList,
    SessionCreateParams,
    SessionEventList,
    SessionEventObject,
)
from roost.sessions.state import SessionStatus

router = APIRouter(prefix="/v1/organization/embedded-signup", tags=["Embedded signup sessions"])

LIST_QUERY = QueryParams(
    one_of(
        "status",
        SessionStatus,
        "Sessions in this status (a pending session past its deadline is expired)",
        convert=SessionStatus,
    ),
    one_of("source", ["hosted", "platform"], "hosted: made by this endpoint; platform: by start-attempt", refusal="must be hosted or platform"),
    timestamp("created[gte]", "Created at or after"),
    timestamp("created[gt]", "Created after"),
    timestamp("created[lt]", "Created before"),
    timestamp("created[lte]", "Created at or before"),
    page="A session id",
    metadata=True,
)
FUNNEL_QUERY = QueryParams(timestamp("created[gte]", "Created at or after"), timestamp("created[lt]", "Created before"))


def _ensure_mode_available(runtime: Runtime, mode: ModeSettings) -> None:
    if mode.livemode and runtime.meta_app(mode) is None:
        raise errors.invalid(
            "meta_not_configured",
            "Live sessions need a Meta app: set ROOST_META_APP_ID, ROOST_META_APP_SECRET and ROOST_META_CONFIG_ID, "
            "or the organization's live Meta settings",
        )
    if not mode.livemode and not runtime.settings.simulator:
        raise errors.invalid(
            "simulator_disabled", "Test sessions run against the Meta simulator, which this server has switched off (ROOST_SIMULATOR=0)"
        )


@router.post(
    "/sessions",
    status_code=201,
    summary="Create an embedded signup session",
    description="Returns the session with its one-time `url`. Send `Idempotency-Key` to retry safely.",
    openapi_extra={**body_of(SessionCreateParams), **IDEMPOTENCY_KEY_HEADER},
    response_model=CreatedEmbeddedSignupSession,
    responses=errors_for(400, 401, 409, 413, 415),
)
async def create_session(
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    body = await read_create_body(request, idempotency_key)
    params = parse_model(
        SessionCreateParams, body, {"allow_insecure_redirects": runtime.settings.allow_insecure_redirects}
    )

    async def work() -> tuple[int, dict]:
        now = now_ms()
        settings = await cached_mode_settings(
            db, caller.organization_id, caller.livemode, check=lambda mode: _ensure_mode_available(runtime, mode)
        )
        session, url = await service.create_session(
            db, caller, params, runtime.session_policy, now, allowed_redirect_uris=settings.allowed_redirect_uris,
            default_solution_id=settings.meta_solution_id,
        )
        return 201, service.present(session, now, url)

    stored = await create_once(db, runtime.keyring, caller, idempotency_key, body, work, scope=None)
    if not stored.replayed:
        runtime.metrics.sessions_created.labels("live" if caller.livemode else "test").inc()
    return JSONResponse(stored.body, status_code=stored.status, headers=replay_headers(stored))


@router.get(
    "/sessions",
    summary="List sessions, newest first",
    description="Filters: `status`, `source`, `created[gte|gt|lt|lte]` (ISO 8601 or Unix seconds), "
    "and any number of `metadata[<key>]=<value>` (AND).",
    response_model=EmbeddedSignupSessionList,
    responses=errors_for(400, 401),
    openapi_extra=LIST_QUERY.openapi(),
)
async def list_sessions(
    request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    filters, page = _list_query(request)
    now = now_ms()
    async with db.begin():
        rows, has_more = await service.list_sessions(db, caller, filters, page, now)
    return JSONResponse(pagination.list_object([service.present(row, now) for row in rows], has_more))


def _list_query(request: Request) -> tuple[service.SessionFilters, pagination.Page]:
    parsed = LIST_QUERY.read(request.query_params)
    return service.SessionFilters(metadata=parsed.metadata, **parsed.filters), parsed.page


@router.get(
    "/sessions/{session_id}", summary="Retrieve a session", response_model=EmbeddedSignupSession, responses=errors_for(401, 404)
)
async def get_session(session_id: str, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)) -> JSONResponse:
    now = now_ms()
    async with db.begin():
        session = await service.get_session(db, caller, session_id)
    return JSONResponse(service.present(session, now))


@router.delete(
    "/sessions/{session_id}",
    summary="Cancel a pending session",
    description="409 `session_processing` once Meta's code has arrived; 409 `session_not_pending` otherwise.",
    response_model=EmbeddedSignupSession,
    responses=errors_for(400, 401, 404, 409, 413, 415),
)
async def cancel_session(
    request: Request, session_id: str, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    await read_no_body(request)
    now = now_ms()
    async with db.begin():
        session = await service.get_session(db, caller, session_id, for_update=True)
        refusal = await service.cancel_session(db, session, now)
    if refusal is not None:
        raise refusal
    return JSONResponse(service.present(session, now))


@router.post(
    "/sessions/{session_id}/link",
    summary="Issue a fresh url for an unstarted pending session",
    description="The old link stops working and `expires_at` moves to now + the session TTL.",
    response_model=CreatedEmbeddedSignupSession,
    responses=errors_for(400, 401, 404, 409, 413, 415),
)
async def refresh_link(
    request: Request,
    session_id: str,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    await read_no_body(request)
    now = now_ms()
    async with db.begin():
        session = await service.get_session(db, caller, session_id, for_update=True)
        url, refusal = await service.refresh_link(db, session, runtime.session_policy, now)
    if refusal is not None:
        raise refusal
    return JSONResponse(service.present(session, now, url))


@router.get(
    "/sessions/{session_id}/events",
    summary="The session's timeline, oldest first",
    response_model=SessionEventList,
    responses=errors_for(400, 401, 404),
)
async def list_events(
    session_id: str, request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    read_no_query(request)
    async with db.begin():
        session = await service.get_session(db, caller, session_id)
        events = await service.list_events(db, session)
    return JSONResponse(pagination.list_object([SessionEventObject.render(event) for event in events], False))




@router.get(
    "/funnel",
    summary="Conversion funnel of hosted sessions",
    description="Counts over the sessions created in `created[gte]` ≤ t < `created[lt]` (ISO 8601 or Unix seconds; "
    "both optional): created, opened, started, finished_on_meta, completed; `abandoned_at` by Meta's "
    "`current_step`; `errors` by session error code.",
    response_model=EmbeddedSignupFunnel,
    responses=errors_for(400, 401),
    openapi_extra=FUNNEL_QUERY.openapi(),
)
async def get_funnel(
    request: Request,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
) -> JSONResponse:
    parsed = FUNNEL_QUERY.read(request.query_params)
    async with db.begin():
        result = await funnel(db, caller, **parsed.filters, now=now_ms())
    return JSONResponse(result)
