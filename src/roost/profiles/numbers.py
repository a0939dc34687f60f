"""Numbers after signup (issue 16): a profile whose signup finished with an unverified number or
none adds one to its WABA, has Meta send it a code, and checks the code; registration then
follows as for any verified number (profiles.registration).

Each Meta call here is made once, outside any transaction: Meta rate-limits code requests and
counts wrong guesses, so nothing is repeated on Roost's own initiative. Meta's refusal becomes a
424 with its error in `error.provider`; no answer at all, a 502."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors
from roost.kit.timeutil import now_ms
from roost.meta.graph import MetaError
from roost.meta.nodes import BusinessPhoneNumber
from roost.organizations.meta_app import meta_for
from roost.organizations.service import Caller
from roost.profiles import service
from roost.profiles.models import BusinessProfile, PhoneNumber
from roost.profiles.schemas import phone_object
from roost.profiles.tokens import open_profile_token
from roost.runtime import Runtime


def provider_refusal(problem: MetaError, code: str, doing: str, **extra: Any) -> errors.ApiError:
    """Meta's answer to a call as Roost's error: 424 with Meta's error, or 502 if Meta was not reached."""
    body = {**extra, "provider": {"code": problem.code, "message": problem.message, "fbtrace_id": problem.fbtrace_id}}
    if problem.code is None:
        return errors.ApiError(502, "api_error", "meta_unavailable", "Meta could not be reached; try again later", extra=body)
    return errors.ApiError(424, "provider_error", code, f"Meta refused to {doing}: {problem.message}", extra=body)


def _connected(profile: BusinessProfile) -> None:
    if profile.status != service.CONNECTED or not profile.token_encrypted:
        raise errors.conflict("profile_disconnected", "This business profile is disconnected: Roost holds no token for it")


async def add_number(
    runtime: Runtime, db: AsyncSession, caller: Caller, profile_id: str, cc: str, phone_number: str, verified_name: str
) -> dict[str, Any]:
    """Add a number to the profile's WABA at Meta and record it (NOT_VERIFIED): the work of the
    create's transaction (`db`, Idempotency-Key), which is first used after Meta has answered."""
    async with runtime.sessions() as reading, reading.begin():
        profile = await service.get_profile(reading, caller, profile_id)
        _connected(profile)
        token = open_profile_token(runtime.keyring, profile.organization_id, profile.id, profile.token_encrypted)
    _, graph, _ = await meta_for(runtime, profile.organization_id, profile.livemode)
    try:
        phone_number_id = await graph.add_phone_number(profile.waba_id, cc, phone_number, verified_name, token)
    except MetaError as problem:
        raise provider_refusal(problem, "phone_number_not_added", "add this number") from None
    try:
        meta_phone = await graph.phone_number(phone_number_id, token)
    except MetaError:
        # Meta has the number: record it with what was sent rather than lose it.
        meta_phone = BusinessPhoneNumber(
            id=phone_number_id, display_phone_number=f"+{cc} {phone_number}", verified_name=verified_name,
            quality_rating=None, code_verification_status="NOT_VERIFIED", status=None, platform_type=None,
            is_on_biz_app=False,
        )
    profile = await db.get(BusinessProfile, profile.id)
    phone = await service.upsert_phone_number(db, profile, meta_phone, now_ms())
    await db.flush()
    return phone_object(phone)


async def _unverified(runtime: Runtime, caller: Caller, phone_id: str) -> tuple[PhoneNumber, str, Any]:
    """The caller's number, still to verify, with its profile's token and Graph client."""
    async with runtime.sessions() as db, db.begin():
        phone = await service.get_phone_number(db, caller, phone_id)
        profile = await db.get(BusinessProfile, phone.business_profile_id)
        _connected(profile)
        if phone.code_verification_status == "VERIFIED":
            raise errors.conflict("phone_already_verified", "This number is already verified: register it")
        token = open_profile_token(runtime.keyring, profile.organization_id, profile.id, profile.token_encrypted)
        organization_id, livemode = profile.organization_id, profile.livemode
    _, graph, _ = await meta_for(runtime, organization_id, livemode)
    return phone, token, graph


async def request_code(runtime: Runtime, caller: Caller, phone_id: str, method: str, language: str) -> dict[str, Any]:
    phone, token, graph = await _unverified(runtime, caller, phone_id)
    try:
        await graph.request_code(phone.phone_number_id, method.upper(), language, token)
    except MetaError as problem:
        raise provider_refusal(problem, "code_request_failed", "send a code", phone_number_id=phone.id) from None
    return phone_object(phone)


async def verify_code(runtime: Runtime, caller: Caller, phone_id: str, code: str) -> dict[str, Any]:
    phone, token, graph = await _unverified(runtime, caller, phone_id)
    try:
        await graph.verify_code(phone.phone_number_id, code, token)
    except MetaError as problem:
        raise provider_refusal(problem, "verification_failed", "verify this number", phone_number_id=phone.id) from None
    async with runtime.sessions() as db, db.begin():
        phone = await db.get(PhoneNumber, phone.id, with_for_update=True)
        phone.code_verification_status = "VERIFIED"
        phone.updated_at = now_ms()
        return phone_object(phone)
