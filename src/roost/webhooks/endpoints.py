"""Webhook endpoints and events over HTTP (SPEC 7.1): thin handlers over webhooks.service."""

from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from roost.idempotency.service import IdempotencyKeyHeader, create_once, read_create_body, replay_headers
from roost.kit import pagination
from roost.kit.timeutil import now_ms
from roost.kit.web import parse_model, read_json_object, read_no_body
from roost.kit.query import QueryParams, one_of, text
from roost.openapi_support import IDEMPOTENCY_KEY_HEADER, body_of, errors_for
from roost.organizations.auth import require_admin_key
from roost.organizations.service import Caller
from roost.runtime import Runtime, get_db, runtime_dependency
from roost.webhooks import service
from roost.webhooks.outbox import EVENT_TYPES, TEST_EVENT
from roost.webhooks.schemas import (
    DeletedWebhookEndpoint,
    DeliveryAttemptList,
    DeliveryAttemptObject,
    DeliveryObject,
    EndpointCreateParams,
    EndpointTest,
    EndpointUpdateParams,
    EventList,
    EventObject,
    EventResend,
    ResendParams,
    WebhookEndpointList,
    WebhookEndpointObject,
    WebhookEndpointWithSecret,
)

router = APIRouter(prefix="/v1/organization", tags=["Webhooks"])
ENDPOINTS_QUERY = QueryParams(page="An endpoint id")
ATTEMPTS_QUERY = QueryParams(text("event_id", "Only the attempts of this event"), page="A delivery attempt id")
EVENTS_QUERY = QueryParams(one_of("type", EVENT_TYPES + (TEST_EVENT,), "Events of this type"), page="An event id")


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _list(rows: list[Any], has_more: bool, present: Any) -> JSONResponse:
    return JSONResponse(pagination.list_object([present(row) for row in rows], has_more))


# -- endpoints ---------------------------------------------------------------------------------


@router.post(
    "/webhooks",
    status_code=201,
    summary="Create a webhook endpoint",
    description="The response holds the endpoint's signing `secret` (`whsec_…`), shown this once (and to a retry "
    "with the same `Idempotency-Key`).",
    openapi_extra={**body_of(EndpointCreateParams), **IDEMPOTENCY_KEY_HEADER},
    response_model=WebhookEndpointWithSecret,
    responses=errors_for(400, 401, 409, 413, 415),
)
async def create_endpoint(
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    body = await read_create_body(request, idempotency_key)
    params = parse_model(EndpointCreateParams, body, {"allow_private": runtime.settings.webhook_allow_private})

    async def work() -> tuple[int, dict]:
        endpoint, secret = await service.create_endpoint(
            db, runtime.keyring, caller, url=params.url, events=params.events, description=params.description,
            enabled=params.enabled, now=now_ms(),
        )
        return 201, WebhookEndpointObject.render(endpoint, secret=secret)

    stored = await create_once(db, runtime.keyring, caller, idempotency_key, body, work, scope="webhook-endpoint")
    return JSONResponse(stored.body, status_code=stored.status, headers=replay_headers(stored))


@router.get(
    "/webhooks",
    summary="List webhook endpoints, newest first",
    response_model=WebhookEndpointList,
    responses=errors_for(400, 401),
    openapi_extra=ENDPOINTS_QUERY.openapi(),
)
async def list_endpoints(request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)) -> JSONResponse:
    page = ENDPOINTS_QUERY.read(request.query_params).page
    async with db.begin():
        rows, has_more = await service.list_endpoints(db, caller, page)
    return _list(rows, has_more, WebhookEndpointObject.render)


@router.get(
    "/webhooks/{endpoint_id}", summary="Retrieve a webhook endpoint", response_model=WebhookEndpointObject, responses=errors_for(401, 404)
)
async def get_endpoint(endpoint_id: str, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)) -> JSONResponse:
    async with db.begin():
        endpoint = await service.get_endpoint(db, caller, endpoint_id)
    return JSONResponse(WebhookEndpointObject.render(endpoint))


@router.patch(
    "/webhooks/{endpoint_id}",
    summary="Update a webhook endpoint",
    description="Send only what changes. `enabled: true` on a disabled endpoint sends its waiting deliveries at once.",
    openapi_extra=body_of(EndpointUpdateParams),
    response_model=WebhookEndpointObject,
    responses=errors_for(400, 401, 404, 413, 415),
)
async def update_endpoint(
    endpoint_id: str,
    request: Request,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    body = await read_json_object(request)
    params = parse_model(EndpointUpdateParams, body, {"allow_private": runtime.settings.webhook_allow_private})
    async with db.begin():
        endpoint = await service.get_endpoint(db, caller, endpoint_id, for_update=True)
        await service.update_endpoint(db, endpoint, params.model_dump(include=params.model_fields_set), now_ms())
    return JSONResponse(WebhookEndpointObject.render(endpoint))


@router.delete(
    "/webhooks/{endpoint_id}",
    summary="Delete a webhook endpoint",
    description="Deliveries it was still owed are dropped with its delivery log; events stay.",
    response_model=DeletedWebhookEndpoint,
    responses=errors_for(400, 401, 404, 413, 415),
)
async def delete_endpoint(
    request: Request, endpoint_id: str, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    await read_no_body(request)
    async with db.begin():
        endpoint = await service.get_endpoint(db, caller, endpoint_id, for_update=True)
        await service.delete_endpoint(db, endpoint)
    return JSONResponse(DeletedWebhookEndpoint.render(id=endpoint_id))


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    summary="Rotate a webhook endpoint's secret",
    description="Returns the endpoint with its new `secret`, shown this once. For 24 hours every delivery is "
    "signed with both the new and the previous secret, so receivers can switch without losing a webhook.",
    response_model=WebhookEndpointWithSecret,
    responses=errors_for(400, 401, 404, 413, 415),
)
async def rotate_secret(
    endpoint_id: str,
    request: Request,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    parse_model(_NoParams, await read_json_object(request))
    async with db.begin():
        endpoint = await service.get_endpoint(db, caller, endpoint_id, for_update=True)
        secret = service.rotate_secret(runtime.keyring, endpoint, now_ms())
    return JSONResponse(WebhookEndpointObject.render(endpoint, secret=secret))


@router.post(
    "/webhooks/{endpoint_id}/test",
    status_code=202,
    summary="Send a test event to a webhook endpoint",
    description="Queues one event of type `webhook_endpoint.test` (`data`: the endpoint, with `test: true`) to this "
    "endpoint only, whatever it subscribes to, signed and retried like any other. `409 webhook_endpoint_disabled` "
    "if the endpoint is disabled.",
    response_model=EndpointTest,
    responses=errors_for(400, 401, 404, 409, 413, 415),
)
async def send_test_event(
    endpoint_id: str, request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    parse_model(_NoParams, await read_json_object(request))
    async with db.begin():
        endpoint = await service.get_endpoint(db, caller, endpoint_id)
        event_id, row = await service.send_test_event(db, endpoint, now_ms())
    body = EndpointTest.render(event_id=event_id, delivery=DeliveryObject.render(SimpleNamespace(**row)))
    return JSONResponse(body, status_code=202)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    summary="List an endpoint's delivery attempts, newest first",
    description="Every HTTP request Roost made to the endpoint: status code, latency, error. Filter: `event_id`.",
    response_model=DeliveryAttemptList,
    responses=errors_for(400, 401, 404),
    openapi_extra=ATTEMPTS_QUERY.openapi(),
)
async def list_deliveries(
    endpoint_id: str, request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    parsed = ATTEMPTS_QUERY.read(request.query_params)
    async with db.begin():
        endpoint = await service.get_endpoint(db, caller, endpoint_id)
        rows, has_more = await service.list_attempts(db, endpoint, parsed.filters["event_id"], parsed.page)
    return _list(rows, has_more, DeliveryAttemptObject.render)


# -- events ------------------------------------------------------------------------------------------


@router.get(
    "/events",
    summary="List events, newest first",
    description="Filter: `type` (one event type).",
    response_model=EventList,
    responses=errors_for(400, 401),
    openapi_extra=EVENTS_QUERY.openapi(),
)
async def list_events(request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)) -> JSONResponse:
    parsed = EVENTS_QUERY.read(request.query_params)
    async with db.begin():
        rows, has_more = await service.list_events(db, caller, parsed.filters["type"], parsed.page)
    return _list(rows, has_more, EventObject.render)


@router.get("/events/{event_id}", summary="Retrieve an event", response_model=EventObject, responses=errors_for(401, 404))
async def get_event(event_id: str, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)) -> JSONResponse:
    async with db.begin():
        event = await service.get_event(db, caller, event_id)
    return JSONResponse(EventObject.render(event))


@router.post(
    "/events/{event_id}/resend",
    status_code=202,
    summary="Send an event again",
    description="Queues a new delivery (same `webhook-id`: the event id) to `endpoint_id`, or to every enabled "
    "endpoint subscribed to the event's type.",
    openapi_extra=body_of(ResendParams),
    response_model=EventResend,
    responses=errors_for(400, 401, 404, 409, 413, 415),
)
async def resend_event(
    event_id: str, request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    params = parse_model(ResendParams, await read_json_object(request))
    async with db.begin():
        event = await service.get_event(db, caller, event_id)
        rows = await service.resend(db, caller, event, params.endpoint_id, now_ms())
    deliveries = [DeliveryObject.render(SimpleNamespace(**row)) for row in rows]  # rows as inserted: dicts
    body = EventResend.render(event_id=event_id, deliveries=deliveries)
    return JSONResponse(body, status_code=202)
