"""Liveness, readiness and metrics: the endpoints an orchestrator and Prometheus call."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from roost.db.migrate import current_revision, head_revision

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Liveness: the process answers (no database call)")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and migrations current",
    responses={503: {"description": "Not ready: the database is unreachable or its migrations are behind (same shape)"}},
)
async def readyz(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await current_revision(runtime.engine)
    except Exception as problem:  # noqa: BLE001 - any failure means "not ready"
        return JSONResponse({"status": "unavailable", "database": f"unreachable: {type(problem).__name__}"}, status_code=503)
    head = head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "migrations": {"current": current, "head": head}}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": "ok", "migrations": {"current": current, "head": head}})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
