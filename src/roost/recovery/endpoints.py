"""The platform-run popup flow and recovery over HTTP (SPEC 5.3): thin handlers over recovery.service."""

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from roost.idempotency.service import IdempotencyKeyHeader, create_once, read_create_body, replay_headers
from roost.kit import pagination
from roost.kit.timeutil import now_ms
from roost.kit.web import parse_model, read_json_object
from roost.kit.query import QueryParams
from roost.openapi_support import IDEMPOTENCY_KEY_HEADER, body_of, errors_for
from roost.organizations.auth import require_admin_key
from roost.organizations.service import Caller
from roost.recovery import service
from roost.recovery.schemas import AttemptCreateParams, CallbackParams, ClaimParams, MarkInterruptedParams, RecoveredAttemptList
from roost.runtime import Runtime, get_db, runtime_dependency
from roost.sessions import service as sessions

router = APIRouter(prefix="/v1/organization/whatsapp/business-profiles", tags=["Platform-run flow and recovery"])
LIST_QUERY = QueryParams(page="A session id", metadata=True)



@router.post(
    "/start-attempt",
    status_code=201,
    summary="Start an attempt for a flow your own page runs with FB.login",
    description="Creates a `source: platform` session (no hosted page) and returns `attempt_id`, `expires_at`, "
    "the session and `launch` (the app id, configuration id and `extras` for FB.login). "
    "Send `Idempotency-Key` to retry safely.",
    openapi_extra={**body_of(AttemptCreateParams), **IDEMPOTENCY_KEY_HEADER},
    responses=errors_for(400, 401, 409, 413, 415),
)
async def start_attempt(
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    body = await read_create_body(request, idempotency_key)
    params = parse_model(AttemptCreateParams, body)

    async def work() -> tuple[int, dict]:
        result = await service.start_attempt(db, runtime, caller, params.metadata, now_ms())
        await db.flush()
        return 201, result

    stored = await create_once(db, runtime.keyring, caller, idempotency_key, body, work, scope="start-attempt")
    return JSONResponse(stored.body, status_code=stored.status, headers=replay_headers(stored))


@router.post(
    "/callback",
    summary="Hand over Meta's code for an attempt; returns the business profile",
    description="Exchanges the code at once (it lives 30 seconds) and provisions the account (SPEC 5.1). "
    "200 with the business profile; 202 with the session while a step waits out a transient Meta error; "
    "otherwise the attempt's error (a recovered attempt can still be claimed).",
    openapi_extra=body_of(CallbackParams),
    responses=errors_for(400, 401, 404, 409, 413, 415, 424, 502),
)
async def callback(
    request: Request, caller: Caller = Depends(require_admin_key), runtime: Runtime = Depends(runtime_dependency)
) -> JSONResponse:
    params = parse_model(CallbackParams, await read_json_object(request))
    outcome = await service.callback(runtime, caller, params)
    return JSONResponse(outcome.body, status_code=outcome.status)


@router.post(
    "/mark-interrupted",
    summary="Record that the user finished Meta's flow but the code was lost",
    description="The attempt becomes `recovered` with the WABA from Meta's FINISH message; claim it once Meta's "
    "account_update webhook has arrived (Roost does so itself when auto-claim is on).",
    openapi_extra=body_of(MarkInterruptedParams),
    responses=errors_for(400, 401, 404, 409, 413, 415),
)
async def mark_interrupted(
    request: Request,
    background: BackgroundTasks,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    params = parse_model(MarkInterruptedParams, await read_json_object(request))
    now = now_ms()
    async with db.begin():
        session, refusal = await service.mark_interrupted(db, caller, params, now)
    if refusal is not None:
        raise refusal
    background.add_task(_auto_claim, runtime)  # Meta's webhook may already be here
    return JSONResponse(sessions.present(session, now))


async def _auto_claim(runtime: Runtime) -> None:
    try:
        await service.auto_claim_now(runtime)
    except Exception:  # noqa: BLE001 - the worker tries again
        service.log.exception("auto_claim_failed")


@router.get(
    "/recovered-attempts",
    summary="List recovered attempts, newest first",
    description="Sessions (either source) whose user finished Meta's flow without a usable code. "
    "`proof_received_at` says when Meta's account_update arrived (a claim needs it). "
    "Cursor pagination (`limit`, `starting_after`, `ending_before`) and `metadata[<key>]=<value>` filters.",
    response_model=RecoveredAttemptList,
    responses=errors_for(400, 401),
    openapi_extra=LIST_QUERY.openapi(),
)
async def list_recovered(
    request: Request,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    parsed = LIST_QUERY.read(request.query_params)
    async with db.begin():
        items, has_more = await service.list_recovered(db, runtime, caller, parsed.metadata, parsed.page, now_ms())
    return JSONResponse(pagination.list_object(items, has_more))


@router.post(
    "/claim",
    summary="Claim a recovered attempt; returns the business profile",
    description="Needs Meta's account_update (PARTNER_ADDED / PARTNER_APP_INSTALLED) for the attempt's WABA and your "
    "Meta app, received after the attempt started, and a system user token. 409 `session_not_recovered` unless "
    "the attempt is recovered; 409 `claim_proof_missing` without Meta's webhook.",
    openapi_extra=body_of(ClaimParams),
    responses=errors_for(400, 401, 404, 409, 413, 415, 424),
)
async def claim(request: Request, caller: Caller = Depends(require_admin_key), runtime: Runtime = Depends(runtime_dependency)) -> JSONResponse:
    params = parse_model(ClaimParams, await read_json_object(request))
    outcome = await service.claim(runtime, caller, params.attempt_id)
    return JSONResponse(outcome.body, status_code=outcome.status)
