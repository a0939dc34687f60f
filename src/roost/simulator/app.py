"""The simulator's ASGI app, mounted by Roost at `/_sim` (and reached in-process by the core)."""

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from roost.kit import errors
from roost.kit.crypto import Keyring
from roost.kit.ids import random_base62
from roost.kit.web import error_response
from roost.simulator import control, dialog, graph
from roost.simulator.errors import GraphError
from roost.simulator.service import Simulator
from roost.simulator.webhooks import WebhookEmitter


def _request_id(request: Request) -> str:
    """The id Roost's middleware gave the request when mounted; a fresh one in-process."""
    request_id = request.scope.get("state", {}).get("request_id")
    return request_id or f"req_{random_base62(12)}"


def create_simulator_app(
    *,
    keyring: Keyring,
    sessions: async_sessionmaker,
    public_url: str,
    simulator_url: str,
    webhook_client: httpx.AsyncClient,
) -> FastAPI:
    app = FastAPI(title="Roost Meta simulator", docs_url=None, redoc_url=None, openapi_url=None)
    simulator = Simulator(
        keyring=keyring, sessions=sessions, public_url=public_url.rstrip("/"), simulator_url=simulator_url.rstrip("/")
    )
    app.state.simulator = simulator
    app.state.webhook_client = webhook_client
    app.state.emitter = WebhookEmitter(simulator, webhook_client)

    app.include_router(graph.router)
    app.include_router(control.router)
    app.include_router(dialog.router)
    app.mount("/static", StaticFiles(directory=dialog.STATIC), name="static")

    @app.exception_handler(errors.ApiError)
    async def _api_error(request: Request, error: errors.ApiError) -> JSONResponse:
        return error_response(error, _request_id(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/graph/"):
            return GraphError(100, f"Unsupported {request.method.lower()} request.", error_type="GraphMethodException").response()
        if error.status_code == 405:
            problem = errors.ApiError(
                405, "invalid_request_error", "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
            )
        else:
            problem = errors.not_found(f"Unrecognized request URL ({request.method} {request.url.path})")
        return error_response(problem, _request_id(request))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        problem = errors.invalid("parameter_invalid", "The request is invalid")
        return error_response(problem, _request_id(request))

    return app
