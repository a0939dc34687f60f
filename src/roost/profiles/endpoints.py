"""Business profiles and phone numbers over HTTP (SPEC 5.2, read side and registration)."""

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from roost.audit import service as audit
from roost.kit import errors, pagination
from roost.kit.timeutil import now_ms
from roost.kit.web import parse_model, read_json_object, read_no_body
from roost.kit.query import QueryParams, one_of, text
from roost.idempotency.service import IdempotencyKeyHeader, create_once, read_create_body, replay_headers
from roost.meta.graph import MetaError
from roost.meta.nodes import LOCAL_STORAGE_REGIONS
from roost.openapi_support import IDEMPOTENCY_KEY_HEADER, body_of, errors_for
from roost.organizations.auth import require_admin_key
from roost.organizations.service import Caller, mode_settings
from roost.profiles import health, lifecycle, numbers, service
from roost.profiles.models import PhoneNumber
from roost.profiles.registration import register_number
from roost.profiles.schemas import (
    BusinessProfileList,
    BusinessProfileObject,
    BusinessToken,
    PhoneNumberObject,
    phone_object,
    profile_object,
)
from roost.profiles.tokens import open_profile_token
from roost.runtime import Runtime, get_db, runtime_dependency

router = APIRouter(prefix="/v1/organization/whatsapp", tags=["Business profiles"])
LIST_QUERY = QueryParams(
    text("session_id", "The session that connected the profile"),
    text("waba_id", "The WhatsApp Business Account's id"),
    one_of(
        "status",
        [service.CONNECTED, service.DISCONNECTED],
        "Profiles in this status",
        refusal=f"must be {service.CONNECTED} or {service.DISCONNECTED}",
    ),
    page="A profile id",
    metadata=True,
)


class RegisterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str | None = Field(
        None, pattern=r"^[0-9]{6}$", description="The number's two-step verification PIN, if it already has one"
    )
    data_localization_region: Literal[LOCAL_STORAGE_REGIONS] | None = Field(  # type: ignore[valid-type]
        None,
        description="Meta's local storage: the country where the number's messages are kept at rest (ISO 3166 code). "
        "Kept for later attempts on this number.",
    )


class PhoneNumberCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cc: str = Field(pattern=r"^[1-9][0-9]{0,2}$", description="The country calling code, without +", examples=["1"])
    phone_number: str = Field(
        pattern=r"^[0-9]{4,14}$", description="The number without its country code, digits only", examples=["6315551000"]
    )
    verified_name: str = Field(
        min_length=2, max_length=75, description="The display name Meta reviews for this number", examples=["Jasper's Market"]
    )


class RequestCodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["sms", "voice"] = Field(description="How Meta sends the code: a text message or a voice call")
    language: str = Field(
        "en_US", pattern=r"^[a-z]{2}_[A-Z]{2}$", description="The language of the message or call", examples=["en_US"]
    )


class VerifyCodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9]{6}$", description="The 6-digit code the number received", examples=["123456"])


@router.get(
    "/business-profiles",
    summary="List business profiles, newest first",
    description="Filters: `session_id`, `waba_id`, `status` (connected | disconnected) and "
    "`metadata[<key>]=<value>` of the session that connected the profile.",
    response_model=BusinessProfileList,
    responses=errors_for(400, 401),
    openapi_extra=LIST_QUERY.openapi(),
)
async def list_profiles(
    request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    parsed = LIST_QUERY.read(request.query_params)
    async with db.begin():
        rows, has_more = await service.list_profiles(db, caller, **parsed.filters, metadata=parsed.metadata, page=parsed.page)
        phones = await service.phone_numbers_of(db, [row.id for row in rows])
    return JSONResponse(pagination.list_object([profile_object(row, phones[row.id]) for row in rows], has_more))


@router.get(
    "/business-profiles/{profile_id}",
    summary="Retrieve a business profile",
    response_model=BusinessProfileObject,
    responses=errors_for(401, 404),
)
async def get_profile(
    profile_id: str, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    async with db.begin():
        return JSONResponse(await service.present_profile(db, caller, profile_id))


@router.delete(
    "/business-profiles/{profile_id}",
    summary="Disconnect a business profile (soft delete; unsubscribes the app from the WABA)",
    description="The profile becomes `disconnected` at once and `whatsapp.business_profile.disconnected` is sent. "
    "Roost then unsubscribes its Meta app from the WABA; if Meta fails, `unsubscribe.status` stays `pending` and "
    "the worker retries with back-off. A second DELETE changes nothing and returns the profile. A new session "
    "for the same WABA reconnects this same record.",
    response_model=BusinessProfileObject,
    responses=errors_for(400, 401, 404, 413, 415),
)
async def disconnect_profile(
    request: Request,
    profile_id: str,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    await read_no_body(request)
    await lifecycle.disconnect_by_platform(runtime, db, caller, profile_id)
    async with runtime.sessions() as fresh, fresh.begin():  # the attempt changed it elsewhere
        return JSONResponse(await service.present_profile(fresh, caller, profile_id))


@router.post(
    "/business-profiles/{profile_id}/refresh",
    summary="Read the profile's WABA and numbers from Meta again (account health)",
    description="Re-reads the WABA (`account_review_status`, `health_status`) and its numbers (`quality_rating`, "
    "`name_status`, `whatsapp_business_manager_messaging_limit`, `code_verification_status`, `status`) and stores what changed, sending "
    "`whatsapp.business_profile.health_updated`, `…review_updated`, `whatsapp.phone_number.quality_updated` and "
    "`…name_updated` for what did. Only reads at Meta: safe to repeat, no Idempotency-Key. A disconnected profile is "
    "`409 profile_disconnected`; Meta's refusal `424 refresh_failed` with Meta's error in `error.provider` "
    "(`502 meta_unavailable` if Meta could not be reached). See docs/account-health.md.",
    response_model=BusinessProfileObject,
    responses=errors_for(400, 401, 404, 409, 413, 415, 424, 502),
)
async def refresh_profile(
    profile_id: str, request: Request, caller: Caller = Depends(require_admin_key), runtime: Runtime = Depends(runtime_dependency)
) -> JSONResponse:
    await read_no_body(request)
    return JSONResponse(await health.refresh(runtime, caller, profile_id))


@router.get(
    "/business-profiles/{profile_id}/access-token",
    summary="Read the profile's business token (token custody; live keys only, audited)",
    description="For platforms that call the WhatsApp Cloud API with the customer's business token themselves. "
    "Only live admin keys may read it (403 `live_mode_required`), only while the organization's "
    "`token_custody_enabled` setting is on (403 `token_custody_disabled`), and only for a connected profile "
    "(409 `profile_disconnected`). Every read is recorded in the audit log (`GET /v1/organization/audit-log`).",
    response_model=BusinessToken,
    responses=errors_for(
        401, 403, 404, 409,
        own={403: "A test key (live_mode_required), or token custody is switched off (token_custody_disabled)"},
    ),
)
async def read_access_token(
    profile_id: str,
    request: Request,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    if not caller.livemode:
        raise errors.forbidden(
            "live_mode_required",
            "Business tokens are given to live admin keys only; test profiles hold simulator tokens",
        )
    now = now_ms()
    async with db.begin():
        settings = await mode_settings(db, caller.organization_id, caller.livemode)
        if not settings.token_custody_enabled:
            raise errors.forbidden(
                "token_custody_disabled",
                "Reading business tokens is switched off for this organization (setting token_custody_enabled)",
            )
        profile = await service.get_profile(db, caller, profile_id)
        if profile.status != service.CONNECTED or not profile.token_encrypted:
            raise errors.conflict("profile_disconnected", "This business profile is disconnected: Roost holds no token for it")
        token = open_profile_token(runtime.keyring, profile.organization_id, profile.id, profile.token_encrypted)
        audit.record(
            db,
            caller,
            action=audit.TOKEN_READ,
            resource_type="business_profile",
            resource_id=profile.id,
            **audit.origin(request),
            at=now,
        )
    # The entry is committed before the token leaves: no read goes unrecorded.
    body = BusinessToken.render(profile, access_token=token)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get(
    "/phone-numbers/{phone_id}",
    summary="Retrieve a phone number",
    response_model=PhoneNumberObject,
    responses=errors_for(401, 404),
)
async def get_phone(phone_id: str, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)) -> JSONResponse:
    async with db.begin():
        return JSONResponse(phone_object(await service.get_phone_number(db, caller, phone_id)))


@router.post(
    "/phone-numbers/{phone_id}/register",
    summary="Register a phone number on the Cloud API (one attempt)",
    description="Meta allows 10 registration attempts per number in 72 hours, so Roost never retries on its "
    "own: call this after fixing the cause in `registration_error` (for example with the number's existing PIN). "
    "If Meta refuses, the answer is `424 registration_failed` with Meta's error in `error.provider` "
    "(`502 meta_unavailable` if Meta could not be reached); the number's `registration_error` says the same.",
    openapi_extra=body_of(RegisterParams),
    response_model=PhoneNumberObject,
    responses=errors_for(400, 401, 404, 409, 413, 415, 424, 502),
)
async def register_phone(
    phone_id: str,
    request: Request,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    params = parse_model(RegisterParams, await read_json_object(request))
    async with db.begin():
        phone = await service.registrable_phone(db, caller, phone_id)
    registered = await register_number(runtime, phone.id, params.pin, params.data_localization_region)
    async with runtime.sessions() as fresh, fresh.begin():  # the attempt changed it elsewhere
        phone = await service.get_phone_number(fresh, caller, phone_id)
    if not registered:
        raise _registration_refused(phone)
    return JSONResponse(phone_object(phone))


def _registration_refused(phone: PhoneNumber) -> errors.ApiError:
    """The attempt's outcome as an error (SPEC 2): Meta's refusal, or Meta out of reach."""
    meta = phone.registration_error or {}
    problem = MetaError(str(meta.get("message")), code=meta.get("code"), fbtrace_id=meta.get("fbtrace_id"))
    return numbers.provider_refusal(problem, "registration_failed", "register this number", phone_number_id=phone.id)


# -- numbers after signup ------------------------------------------------------------------------


@router.post(
    "/business-profiles/{profile_id}/phone-numbers",
    status_code=201,
    summary="Add a phone number to the profile's WABA (then request a code, verify it, register)",
    description="For a profile whose signup finished with an unverified number or none. Meta adds the number "
    "`NOT_VERIFIED`; continue with `request-code` and `verify-code`. Meta's refusal (a number already on WhatsApp, "
    "the WABA's limit of numbers) is `424 phone_number_not_added` with Meta's error in `error.provider`. "
    "Send `Idempotency-Key` to retry safely: Meta refuses a number added twice.",
    openapi_extra={**body_of(PhoneNumberCreateParams), **IDEMPOTENCY_KEY_HEADER},
    response_model=PhoneNumberObject,
    responses=errors_for(400, 401, 404, 409, 413, 415, 424, 502),
)
async def add_phone_number(
    profile_id: str,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
    runtime: Runtime = Depends(runtime_dependency),
) -> JSONResponse:
    body = await read_create_body(request, idempotency_key)
    params = parse_model(PhoneNumberCreateParams, body)

    async def work() -> tuple[int, dict]:
        added = await numbers.add_number(runtime, db, caller, profile_id, params.cc, params.phone_number, params.verified_name)
        return 201, added

    # Scoped by profile: the same key on two profiles is two requests.
    stored = await create_once(db, runtime.keyring, caller, idempotency_key, body, work, scope=f"phone-number:{profile_id}")
    return JSONResponse(stored.body, status_code=stored.status, headers=replay_headers(stored))


@router.post(
    "/phone-numbers/{phone_id}/request-code",
    summary="Have Meta send the number its verification code (SMS or voice call)",
    description="Meta limits how often a code may be requested; its refusal is `424 code_request_failed` with "
    "Meta's error in `error.provider`. A verified number is `409 phone_already_verified`.",
    openapi_extra=body_of(RequestCodeParams),
    response_model=PhoneNumberObject,
    responses=errors_for(400, 401, 404, 409, 413, 415, 424, 502),
)
async def request_verification_code(
    phone_id: str, request: Request, caller: Caller = Depends(require_admin_key), runtime: Runtime = Depends(runtime_dependency)
) -> JSONResponse:
    params = parse_model(RequestCodeParams, await read_json_object(request))
    return JSONResponse(await numbers.request_code(runtime, caller, phone_id, params.method, params.language))


@router.post(
    "/phone-numbers/{phone_id}/verify-code",
    summary="Check the code the number received; the number becomes VERIFIED",
    description="A wrong or expired code is `424 verification_failed` with Meta's error in `error.provider` "
    "(Meta counts wrong guesses and blocks the number for hours after a few). Register the number next.",
    openapi_extra=body_of(VerifyCodeParams),
    response_model=PhoneNumberObject,
    responses=errors_for(400, 401, 404, 409, 413, 415, 424, 502),
)
async def verify_code(
    phone_id: str, request: Request, caller: Caller = Depends(require_admin_key), runtime: Runtime = Depends(runtime_dependency)
) -> JSONResponse:
    params = parse_model(VerifyCodeParams, await read_json_object(request))
    return JSONResponse(await numbers.verify_code(runtime, caller, phone_id, params.code))
