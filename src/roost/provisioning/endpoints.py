"""`POST …/sessions/{id}/simulate`: the test helper that plays a signup through the Meta
simulator and provisions it, on the hosted page's backend path (SPEC 3)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from roost.kit.timeutil import now_ms
from roost.kit.web import parse_model, read_json_object
from roost.openapi_support import body_of, errors_for
from roost.organizations.auth import require_admin_key
from roost.organizations.service import Caller
from roost.provisioning.simulation import SimulateParams, simulate
from roost.runtime import Runtime, runtime_dependency
from roost.sessions import service
from roost.sessions.endpoints import router as sessions_router
from roost.sessions.schemas import EmbeddedSignupSession

router = APIRouter(prefix=sessions_router.prefix, tags=sessions_router.tags)


@router.post(
    "/sessions/{session_id}/simulate",
    summary="Test helper: play a signup outcome without a browser (test keys only)",
    description="Runs the same backend path as the hosted page with the Meta simulator: `completed` connects a "
    "simulated account, `cancelled` gives up at `cancel_step`, `signup_error` reports Meta's `error_code`, "
    "`recovered` finishes Meta's flow but loses the code.",
    openapi_extra=body_of(SimulateParams),
    response_model=EmbeddedSignupSession,
    responses=errors_for(
        400, 401, 403, 404, 409, 413, 415, 502,
        own={
            403: "A live key or a live session (test_mode_required): simulate is a test helper",
            502: "The simulator refused the signup (simulator_error)",
        },
    ),
)
async def simulate_session(
    session_id: str,
    request: Request,
    caller: Caller = Depends(require_admin_key),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    params = parse_model(SimulateParams, await read_json_object(request))
    session = await simulate(runtime, caller, session_id, params, request.headers["authorization"])
    return JSONResponse(service.present(session, now_ms()))
