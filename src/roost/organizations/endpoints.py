"""Admin keys and organization settings over HTTP (thin: parse, call the service, shape)."""

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.idempotency.service import IdempotencyKeyHeader, create_once, read_create_body, replay_headers
from roost.kit import errors, pagination
from roost.kit.ids import has_prefix
from roost.kit.timeutil import now_ms
from roost.kit.web import parse_model, read_json_object, read_no_body
from roost.meta.config import live_endpoints
from roost.kit.query import QueryParams, one_of
from roost.openapi_support import IDEMPOTENCY_KEY_HEADER, body_of, errors_for
from roost.organizations import service
from roost.organizations.auth import require_admin_key, require_live_for
from roost.organizations.models import AdminKey, ModeSettings, Organization
from roost.organizations.schemas import (
    META_SECRET_FIELDS,
    TEST_MODE_META_FIELDS,
    AdminKeyCreateParams,
    AdminKeyList,
    AdminKeyObject,
    MetaSummary,
    OrganizationSettings,
    SettingsUpdateParams,
    admin_key_object,
    settings_object,
)
from roost.organizations.service import Caller
from roost.runtime import Runtime, get_db, runtime_dependency

router = APIRouter(prefix="/v1/organization", tags=["Organization"])
LIST_QUERY = QueryParams(page="An admin key id")


@router.get(
    "/admin-keys",
    summary="List admin keys of this mode, newest first",
    response_model=AdminKeyList,
    responses=errors_for(400, 401),
    openapi_extra=LIST_QUERY.openapi(),
)
async def list_admin_keys(
    request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    parsed = LIST_QUERY.read(request.query_params)
    async with db.begin():
        keys, has_more = await service.page_admin_keys(db, caller, parsed.page)
    return JSONResponse(pagination.list_object([admin_key_object(key) for key in keys], has_more))


@router.post(
    "/admin-keys",
    status_code=201,
    summary="Create an admin key of the caller's mode (the secret is shown once)",
    description="The response holds the key (`admin_key`), shown this once (and to a retry with the same "
    "`Idempotency-Key`).",
    openapi_extra={**body_of(AdminKeyCreateParams), **IDEMPOTENCY_KEY_HEADER},
    response_model=AdminKeyObject,
    responses=errors_for(400, 401, 409, 413, 415),
)
async def create_admin_key(
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    body = await read_create_body(request, idempotency_key)
    params = parse_model(AdminKeyCreateParams, body)

    async def work() -> tuple[int, dict]:
        key, secret = await service.create_admin_key(db, caller.organization_id, caller.livemode, params.name)
        return 201, admin_key_object(key, secret)

    stored = await create_once(db, runtime.keyring, caller, idempotency_key, body, work, scope="admin-key")
    return JSONResponse(stored.body, status_code=stored.status, headers=replay_headers(stored))


@router.delete(
    "/admin-keys/{key_id}",
    summary="Revoke an admin key",
    response_model=AdminKeyObject,
    responses=errors_for(400, 401, 404, 413, 415),
)
async def revoke_admin_key(
    request: Request, key_id: str, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    await read_no_body(request)
    async with db.begin():
        key = None
        if has_prefix(key_id, "key"):
            key = await db.scalar(
                select(AdminKey).where(
                    AdminKey.id == key_id,
                    AdminKey.organization_id == caller.organization_id,
                    AdminKey.livemode == caller.livemode,
                )
            )
        if key is None:
            raise errors.not_found(f"No such admin key: '{key_id}'", param="key_id")
        await service.revoke_admin_key(db, key)
    return JSONResponse(admin_key_object(key))


# Read by FastAPI (Query below), documented here: the settings calls take this one parameter.
MODE_PARAMETER = QueryParams(one_of("mode", ["test", "live"], "The mode addressed; by default the key's own")).openapi()


def _mode(caller: Caller, mode: str | None) -> bool:
    """The mode a settings call addresses: ?mode=test|live, by default the key's own."""
    if mode is None:
        return caller.livemode
    if mode not in ("test", "live"):
        raise errors.invalid("parameter_invalid", "mode must be 'test' or 'live'", param="mode")
    livemode = mode == "live"
    require_live_for(caller, livemode)
    return livemode


def _meta_summary(runtime: Runtime, settings: ModeSettings) -> dict[str, Any]:
    """The mode's Meta app as the API shows it: ids, never secrets."""
    app = runtime.meta_app(settings)
    # Where it talks to Meta. Live: the organization's values, else the server's, with or without
    # an app. Test: the simulator's app, whose Graph API is reached in process, at no URL of its own.
    where = live_endpoints(runtime.settings, settings) if settings.livemode else app
    if not settings.livemode:
        source = "simulator"
    elif settings.meta_app_id or settings.meta_app_secret_encrypted or settings.meta_config_id:
        source = "organization"
    else:
        source = "server" if app is not None else None
    return MetaSummary.render(
        configured=app is not None,
        source=source,
        app_id=app.app_id if app else settings.meta_app_id,
        config_id=app.config_id if app else settings.meta_config_id,
        graph_url=where.graph_url if settings.livemode else None,
        graph_version=where.graph_version,
        sdk_url=where.sdk_url,
        dialog_origins=list(where.dialog_origins),
        app_secret_set=bool(app and app.app_secret),
        system_user_token_set=bool(app and app.system_user_token),
        verify_token_set=bool(app and app.verify_token),
        partner_type=app.partner_type if app else (settings.meta_partner_type or runtime.settings.meta_partner_type),
        credit_line_id=app.credit_line_id if app else settings.meta_credit_line_id,
        solution_id=settings.meta_solution_id,
        forward_url=_forward_url(runtime, settings),
    )


def _forward_url(runtime: Runtime, settings: ModeSettings) -> str | None:
    """Where this mode's webhooks are relayed: test mode and an organization's own live app use
    the organization's URL; the server-wide app uses ROOST_META_FORWARD_URL."""
    if not settings.livemode or settings.meta_app_id:
        return settings.meta_forward_url
    return runtime.settings.meta_forward_url


async def _settings_response(db: AsyncSession, runtime: Runtime, caller: Caller, livemode: bool) -> JSONResponse:
    organization = await db.get(Organization, caller.organization_id)
    settings = await service.mode_settings(db, caller.organization_id, livemode)
    return JSONResponse(
        settings_object(
            organization, settings, service.redirect_secret(runtime.keyring, settings), _meta_summary(runtime, settings)
        )
    )


@router.get(
    "/settings",
    summary="Read the organization's settings for one mode",
    response_model=OrganizationSettings,
    responses=errors_for(400, 401, 403),
    openapi_extra=MODE_PARAMETER,
)
async def get_settings(
    mode: str | None = Query(None, include_in_schema=False),  # documented by MODE_PARAMETER
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    livemode = _mode(caller, mode)
    async with db.begin():
        return await _settings_response(db, runtime, caller, livemode)


@router.patch(
    "/settings",
    summary="Change the organization's settings for one mode",
    response_model=OrganizationSettings,
    openapi_extra={**body_of(SettingsUpdateParams), **MODE_PARAMETER},
    responses=errors_for(400, 401, 403, 413, 415),
)
async def update_settings(
    request: Request,
    mode: str | None = Query(None, include_in_schema=False),  # documented by MODE_PARAMETER
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    livemode = _mode(caller, mode)
    params = parse_model(
        SettingsUpdateParams,
        await read_json_object(request),
        {"allow_private_meta_urls": runtime.settings.webhook_allow_private},
    )
    meta_changes = {name: getattr(params.meta, name) for name in params.meta.model_fields_set} if params.meta else {}
    if not livemode and set(meta_changes) - TEST_MODE_META_FIELDS:
        wrong = sorted(set(meta_changes) - TEST_MODE_META_FIELDS)[0]
        raise errors.invalid(
            "parameter_invalid",
            f"meta.{wrong} can only be set for live mode: test mode always uses the Meta simulator "
            "(only meta.partner_type, to simulate a Solution Partner, meta.forward_url and meta.solution_id can be chosen)",
            param=f"meta.{wrong}",
        )
    async with db.begin():
        settings = await service.mode_settings(db, caller.organization_id, livemode, for_update=True)
        if params.name is not None or params.branding is not None:
            organization = await db.get(Organization, caller.organization_id)
            if params.name is not None:
                organization.name = params.name
            if params.branding is not None:
                for field in params.branding.model_fields_set:
                    setattr(organization, field, getattr(params.branding, field))
        if params.allowed_origins is not None:
            settings.allowed_origins = params.allowed_origins
        if params.allowed_redirect_uris is not None:
            settings.allowed_redirect_uris = params.allowed_redirect_uris
        if "messages_callback_url" in params.model_fields_set:
            settings.messages_callback_url = params.messages_callback_url
        if params.token_custody_enabled is not None:
            settings.token_custody_enabled = params.token_custody_enabled
        if params.auto_claim is not None:
            settings.auto_claim = params.auto_claim
        if params.coexistence is not None and params.coexistence.history_sync is not None:
            settings.coexistence_history_sync = params.coexistence.history_sync
        service.update_meta(runtime.keyring, settings, meta_changes, META_SECRET_FIELDS)
        if livemode and settings.meta_forward_url and not settings.meta_app_id:
            # The server-wide app carries every tenant's messages: only the operator relays it.
            raise errors.invalid(
                "parameter_invalid",
                "meta.forward_url needs the organization's own Meta app (meta.app_id): the server-wide app's "
                "webhooks are relayed to ROOST_META_FORWARD_URL",
                param="meta.forward_url",
            )
        settings.updated_at = now_ms()
        await db.flush()
        return await _settings_response(db, runtime, caller, livemode)


@router.post(
    "/settings/redirect-secret/rotate",
    summary="Replace the redirect-signing secret of one mode",
    response_model=OrganizationSettings,
    responses=errors_for(400, 401, 403, 413, 415),
    openapi_extra=MODE_PARAMETER,
)
async def rotate_redirect_secret(
    request: Request,
    mode: str | None = Query(None, include_in_schema=False),  # documented by MODE_PARAMETER
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    await read_no_body(request)
    livemode = _mode(caller, mode)
    async with db.begin():
        settings = await service.mode_settings(db, caller.organization_id, livemode, for_update=True)
        service.rotate_redirect_secret(runtime.keyring, settings)
        await db.flush()
        return await _settings_response(db, runtime, caller, livemode)
