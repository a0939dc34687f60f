"""Builds the ASGI app: features, error handlers, middleware, lifespan (migrations, worker)."""

import asyncio
import gc
from collections.abc import Iterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from roost import __version__, health, home, worker
from roost.db.migrate import upgrade_async
from roost.kit import errors
from roost.kit.validation import dotted
from roost.kit.web import error_response
from roost.observability import RequestContextMiddleware
from roost.openapi_support import build_openapi
from roost.hosted.endpoints import platform_router as roost_js_router
from roost.audit.endpoints import router as audit_router
from roost.console.pages import router as console_router
from roost.console.web import console_error_page, is_console_path
from roost.hosted.endpoints import is_hosted_path, with_security_headers
from roost.hosted.endpoints import router as hosted_router
from roost.inbound.endpoints import router as inbound_router
from roost.organizations.endpoints import router as organization_router
from roost.profiles.endpoints import router as profiles_router
from roost.provisioning.endpoints import router as simulate_router
from roost.recovery.endpoints import router as recovery_router
from roost.config import Settings
from roost.runtime import Runtime, build_runtime
from roost.wiring import build_simulator
from roost.sessions.endpoints import router as sessions_router
from roost.webhooks.endpoints import router as webhooks_router

DESCRIPTION = """Roost onboards your customers' WhatsApp Business accounts through Meta's Embedded Signup.
Authenticate with `Authorization: Bearer sk_admin_test_…` (test mode, Meta simulator) or
`sk_admin_live_…` (live mode). Every error has the shape `{"error": {"type", "code", "message", "param", "request_id"}}`."""


def create_app(runtime: Runtime, *, run_worker: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if runtime.settings.migrate_on_start:
            await upgrade_async(runtime.settings.database_url)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(runtime, stop)) if run_worker else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            await runtime.stop_background()
            await runtime.close()

    # No redirect for a trailing slash: it would be a 307 to an address built from the request's
    # Host header (not ROOST_PUBLIC_URL); such a path is a 404 like any other unknown one.
    app = FastAPI(title="Roost", version=__version__, description=DESCRIPTION, lifespan=lifespan, redirect_slashes=False)
    app.state.runtime = runtime
    app.include_router(sessions_router)
    app.include_router(simulate_router)
    app.include_router(organization_router)
    app.include_router(recovery_router)  # before profiles: /business-profiles/recovered-attempts is not a profile id
    app.include_router(profiles_router)
    app.include_router(audit_router)
    app.include_router(inbound_router)
    app.include_router(webhooks_router)
    app.include_router(health.router)
    app.include_router(home.router)
    app.include_router(hosted_router)
    app.include_router(roost_js_router)
    app.include_router(console_router)
    simulator = build_simulator(runtime)
    if simulator is not None:
        app.mount("/_sim", simulator)

    def request_id(request: Request) -> str | None:
        return request.scope.get("state", {}).get("request_id")

    @app.exception_handler(errors.ApiError)
    async def _api_error(request: Request, error: errors.ApiError):
        return error_response(error, request_id(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException):
        if error.status_code == 405:
            problem = errors.ApiError(
                405,
                "invalid_request_error",
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}",
                headers={"Allow": ", ".join(allowed_methods(app.routes, request.url.path))},
            )
        else:
            problem = errors.not_found(f"Unrecognized request URL ({request.method} {request.url.path})")
        if is_console_path(request.url.path):
            return console_error_page(request, error.status_code, problem.message)
        response = error_response(problem, request_id(request))
        # No route answered, so no HostedRoute added the page's headers (SPEC 4.3: every response).
        return with_security_headers(response) if is_hosted_path(request.url.path) else response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError):
        problems = []
        for item in error.errors():
            param = dotted(item["loc"][1:] or item["loc"])
            problems.append({"param": param, "code": "parameter_invalid", "message": f"{param} is invalid: {item['msg']}"})
        return error_response(errors.validation_error(problems), request_id(request))

    app.add_middleware(RequestContextMiddleware, metrics=runtime.metrics)
    app.openapi = lambda: build_openapi(app)
    return app


def process_app(port: int, run_worker: bool, runtime: Runtime | None = None) -> FastAPI:
    """The app of one `roost serve` process, from the runtime given or (in each process of
    `serve --workers N`) one built here from the environment."""
    application = create_app(runtime or build_runtime(Settings(), port=port), run_worker=run_worker)
    # What exists now (modules, the app, SQLAlchemy's mappings: ~150,000 objects) lives as long as
    # the process. Freezing it keeps the garbage collector's full passes from walking it all,
    # which otherwise stalls a request for tens of milliseconds now and then.
    gc.collect()
    gc.freeze()
    return application


def allowed_methods(routes: list, path: str) -> list[str]:
    """The methods of the resource at `path`, for a 405's Allow header: every route with the path
    template of the first route that matches it (the router's own header names only that route's
    method, and each method has a route of its own). /business-profiles/claim is its own resource,
    though the later /business-profiles/{profile_id} routes match it too."""
    matching = [route for route in _routes(routes) if getattr(route, "methods", None) and route.path_regex.match(path)]
    if not matching:
        return []
    return sorted({method for route in matching if route.path == matching[0].path for method in route.methods})


def _routes(routes: list) -> Iterator:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route
