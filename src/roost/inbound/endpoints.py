"""`GET/POST /meta/webhooks/{app_id}`: Meta's handshake and webhooks (SPEC 7.2), thin over inbound.service.

Meta retries anything but a 200 for days, so a verified POST is answered 200 at once: the
relays and any automatic claim run after the response (and again from the worker if this
process stops first)."""

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from roost.kit import errors
from roost.kit.timeutil import now_ms
from roost.kit.validation import is_ascii_digits
from roost.inbound import service as inbound
from roost.openapi_support import error_responses
from roost.recovery import service as recovery
from roost.runtime import Runtime, runtime_dependency

router = APIRouter(prefix="/meta/webhooks", tags=["Meta webhooks"])

SIGNATURE_HEADER = "X-Hub-Signature-256"


async def _app(runtime: Runtime, app_id: str) -> inbound.InboundApp:
    async with runtime.sessions() as db, db.begin():
        app = await inbound.find_app(db, runtime.settings, runtime.keyring, app_id)
    if app is None:
        raise errors.not_found(f"No Meta app {app_id} is configured on this server", param="app_id")
    return app


@router.get(
    "/{app_id}",
    summary="Meta's verification handshake",
    description="Answers `hub.challenge` (as plain text) when `hub.mode=subscribe` and `hub.verify_token` is the app's verify token.",
    response_class=PlainTextResponse,
    responses=error_responses(
        {
            400: "hub.mode is not subscribe, or hub.challenge is missing",
            403: "hub.verify_token is not this app's verify token",
            404: "No Meta app with this id is configured on this server",
        }
    ),
)
async def handshake(app_id: str, request: Request, runtime: Runtime = Depends(runtime_dependency)) -> PlainTextResponse:
    app = await _app(runtime, app_id)
    query = request.query_params
    if query.get("hub.mode") != "subscribe":
        raise errors.invalid("parameter_invalid", "hub.mode must be subscribe", param="hub.mode")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise errors.invalid("parameter_missing", "hub.challenge is required", param="hub.challenge")
    if not inbound.verify_token_matches(app, query.get("hub.verify_token", "")):
        raise errors.forbidden("verify_token_invalid", "hub.verify_token is not this Meta app's verify token")
    return PlainTextResponse(challenge)


async def _raw_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if is_ascii_digits(declared) and int(declared) > inbound.MAX_BODY_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > inbound.MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> errors.ApiError:
    return errors.ApiError(
        413, "invalid_request_error", "body_too_large", f"A webhook body must be at most {inbound.MAX_BODY_BYTES // (1024 * 1024)} MB"
    )


@router.post(
    "/{app_id}",
    summary="Meta's webhooks for one app",
    description="Checks `X-Hub-Signature-256` over the raw body with the app's secret (401 otherwise, nothing stored), "
    "applies account_update, account_review_update, phone_number_quality_update and phone_number_name_update once "
    "each, follows a coexistence WABA's history and smb_app_state_sync (and forwards its override-able entries, one "
    "per POST, to the organization's messages_callback_url), and relays the payload unchanged to the app's forward URL.",
    responses=error_responses(
        {
            401: "X-Hub-Signature-256 is missing or does not match the body",
            404: "No Meta app with this id is configured on this server",
            413: f"Body larger than {inbound.MAX_BODY_BYTES // (1024 * 1024)} MB",
        }
    ),
)
async def receive(app_id: str, request: Request, background: BackgroundTasks, runtime: Runtime = Depends(runtime_dependency)) -> JSONResponse:
    raw = await _raw_body(request)
    app = await _app(runtime, app_id)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise errors.unauthenticated("signature_missing", f"The {SIGNATURE_HEADER} header is required")
    if not inbound.signature_matches(app, raw, signature):
        raise errors.unauthenticated("signature_invalid", f"{SIGNATURE_HEADER} does not match the body and this app's secret")
    async with runtime.sessions() as db, db.begin():
        received = await inbound.receive(db, app, raw, signature, now_ms())
    for relay_id in received.relay_ids:
        background.add_task(_relay, runtime, relay_id)
    if received.proof_wabas:
        background.add_task(_auto_claim, runtime)
    return JSONResponse({"received": True, "stored": received.stored, "duplicates": received.duplicates})


async def _relay(runtime: Runtime, relay_id: str) -> None:
    async with runtime.relay_slots:  # a free connection first (Runtime.relay_slots)
        try:
            await inbound.deliver_relays(runtime.sessions, runtime.relay_http, now_ms(), relay_id=relay_id)
        except Exception:  # noqa: BLE001 - the worker retries it
            inbound.log.exception("meta_relay_failed", relay_id=relay_id)


async def _auto_claim(runtime: Runtime) -> None:
    try:
        await recovery.auto_claim_now(runtime)
    except Exception:  # noqa: BLE001 - the worker finds the session again
        recovery.log.exception("auto_claim_failed")
