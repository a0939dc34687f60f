"""The control API (`/control/…`): drive the simulator from tests, with a test admin key.

The key's organization designates its simulated app, so everything here (faults, signups,
webhooks) concerns that app only: one organization's faults never reach another's.
Errors use Roost's own shape (`{"error": {type, code, message, request_id}}`).
"""

import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from roost.kit import errors
from roost.kit.ids import new_id, random_base62
from roost.kit.pagination import list_object
from roost.kit.simulated_meta import SIMULATED_GRAPH_VERSION, SimulatedApp, control_organization, simulated_app_for
from roost.kit.timeutil import now_ms
from roost.kit.validation import is_ascii_digits
from roost.kit.web import parse_model, read_json_object, read_no_body
from roost.meta import events
from roost.organizations.service import authenticate
from roost.simulator import coexistence, numbers, service, webhooks
from roost.simulator.models import SimFault, SimPhoneNumber, SimSyncRequest, SimWaba, SimWabaShare
from roost.simulator.service import Simulator
from roost.simulator.webhooks import WebhookEmitter

router = APIRouter(prefix="/control")


def _sim(request: Request) -> Simulator:
    return request.app.state.simulator


def _emitter(request: Request) -> WebhookEmitter:
    return request.app.state.emitter


async def _app(request: Request) -> SimulatedApp:
    """The simulated app of the calling key's organization (test keys only)."""
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        organization_id = control_organization(sim.keyring, request.headers.get("authorization"), now_ms())
        if organization_id is None:
            caller = await authenticate(db, request.headers.get("authorization"))
            if caller.livemode:
                raise errors.forbidden(
                    "test_mode_required", "The simulator's control API only accepts test admin keys (sk_admin_test_…)"
                )
            organization_id = caller.organization_id
        app = simulated_app_for(sim.keyring, organization_id)
        await service.ensure_app(db, sim.keyring, app.app_id)
    return app


# -- the app ---------------------------------------------------------------------------------------


@router.get("/app")
async def get_app(request: Request) -> dict[str, Any]:
    app = await _app(request)
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        subscription = service.subscription_of(sim, await service.ensure_app(db, sim.keyring, app.app_id))
    return {
        "object": "simulator.app",
        "app_id": app.app_id,
        "app_secret": app.app_secret,
        "app_token": f"{app.app_id}|{app.app_secret}",
        "config_id": app.config_id,
        "system_user_token": app.system_user_token,
        "verify_token": app.verify_token,
        "partner_business_id": app.partner_business_id,
        "credit_line_id": app.credit_line_id,
        "graph_version": SIMULATED_GRAPH_VERSION,
        "graph_url": f"{sim.public_url}/_sim/graph/{SIMULATED_GRAPH_VERSION}",
        "sdk_url": f"{sim.simulator_url}/_sim/sdk.js",
        "dialog_origin": sim.simulator_origin,
        "webhook_callback_url": subscription["callback_url"],
        "webhook_fields": subscription["fields"],
    }


# -- faults -----------------------------------------------------------------------------------------


class FaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call: Literal[tuple(service.FAULT_KINDS_BY_CALL)]  # type: ignore[valid-type]
    kind: Literal[service.FAULT_KINDS]  # type: ignore[valid-type]
    delay_ms: int | None = Field(None, ge=0, le=120_000)
    status: int | None = Field(None, ge=400, le=599)
    meta_code: int | None = Field(None, ge=0)
    meta_subcode: int | None = Field(None, ge=0)
    message: str | None = Field(None, min_length=1, max_length=1000)
    count: int | None = Field(1, ge=1, le=10_000)

    @staticmethod
    def cross_field_problems(data: dict[str, Any]) -> list[dict[str, str]]:
        call, kind = data.get("call"), data.get("kind")
        allowed = service.FAULT_KINDS_BY_CALL.get(call) if isinstance(call, str) else None
        if allowed is not None and isinstance(kind, str) and kind in service.FAULT_KINDS and kind not in allowed:
            return [{
                "param": "kind",
                "code": "parameter_invalid",
                "message": f"kind must be one of {', '.join(allowed)} for the call {call}",
            }]
        if kind == "latency" and data.get("delay_ms") is None:
            return [{"param": "delay_ms", "code": "parameter_missing", "message": "delay_ms is required for a latency fault"}]
        return []


@router.post("/faults", status_code=201)
async def create_fault(request: Request) -> JSONResponse:
    app = await _app(request)
    params = parse_model(FaultParams, await read_json_object(request))
    fault = SimFault(
        id=new_id("simf"),
        app_id=app.app_id,
        call=params.call,
        kind=params.kind,
        delay_ms=params.delay_ms,
        status=params.status,
        meta_code=params.meta_code,
        meta_subcode=params.meta_subcode,
        message=params.message,
        count=params.count,
        remaining=params.count,
        hits=0,
        created_at=now_ms(),
    )
    async with _sim(request).sessions() as db, db.begin():
        db.add(fault)
    return JSONResponse(service.fault_object(fault), status_code=201)


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    app = await _app(request)
    async with _sim(request).sessions() as db, db.begin():
        rows = await db.scalars(
            select(SimFault)
            .where(SimFault.app_id == app.app_id)
            .where((SimFault.remaining.is_(None)) | (SimFault.remaining > 0))
            .order_by(SimFault.created_at, SimFault.id)
        )
        return list_object([service.fault_object(row) for row in rows], has_more=False)  # never paged


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    app = await _app(request)
    await read_no_body(request)
    async with _sim(request).sessions() as db, db.begin():
        return {"deleted": await service.delete_faults(db, app.app_id)}


@router.delete("/faults/{fault_id}")
async def delete_fault(request: Request, fault_id: str) -> dict[str, Any]:
    app = await _app(request)
    await read_no_body(request)
    async with _sim(request).sessions() as db, db.begin():
        fault = await db.get(SimFault, fault_id)
        if fault is None or fault.app_id != app.app_id:
            raise errors.not_found(f"No such fault: {fault_id}", param="fault_id")
        body = service.fault_object(fault)
        await service.delete_faults(db, app.app_id, fault_id)
    return {**body, "deleted": True}


# -- signups -------------------------------------------------------------------------------------------


class SignupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: Literal[service.VARIANTS] = service.FINISH  # type: ignore[valid-type]
    extras: dict[str, Any] = Field(default_factory=dict)
    phone_verified: bool = True
    webhook_event: Literal["PARTNER_APP_INSTALLED", "PARTNER_ADDED"] | None = "PARTNER_APP_INSTALLED"

    @model_validator(mode="after")
    def _size(self) -> "SignupParams":
        if len(service.json_dumps(self.extras)) > 16_384:
            raise ValueError("extras must be at most 16 KB of JSON")
        return self


async def run_signup(
    request: Request,
    app_id: str,
    *,
    variant: str,
    extras: dict[str, Any],
    nonce: str,
    source: str,
    phone_verified: bool,
    webhook_event: str | None,
) -> dict[str, Any]:
    """What the dialog's finish and POST /control/signups share: the `dialog` fault, the signup,
    and the `account_update` webhook sent in the background."""
    sim = _sim(request)
    fault = await service.take_fault(sim.sessions, app_id, "dialog")
    await service.apply_latency(fault)
    if fault is not None and fault.kind == "http_error":
        raise errors.ApiError(
            fault.status if fault.status in (500, 502, 503) else 500,
            "api_error",
            "simulated_dialog_error",
            fault.message or "Sorry, something went wrong. We're working on getting this fixed as soon as we can.",
        )
    result = await service.complete_signup(
        sim,
        app_id=app_id,
        variant=variant,
        extras=extras,
        nonce=nonce,
        source=source,
        phone_verified=phone_verified,
        fault=fault if fault is not None and fault.kind != "latency" else None,
    )
    solution = service.solution_of(sim, app_id, extras)
    # A signup into a Multi-Partner Solution also adds the solution's partners to the WABA:
    # PARTNER_ADDED, naming the solution, besides the event the app's own share sends.
    events = [webhook_event] if webhook_event is not None else []
    if solution is not None and webhook_event is not None and "PARTNER_ADDED" not in events:
        events.append("PARTNER_ADDED")
    for event in events:
        _, payload = webhooks.account_update(
            event,
            app_id=app_id,
            partner_business_id=sim.app(app_id).partner_business_id,
            waba_id=result["waba_id"],
            owner_business_id=result["business_id"],
            solution=solution,
        )
        _emitter(request).schedule(app_id, "account_update", payload)
    return result


@router.post("/signups", status_code=201)
async def create_signup(request: Request) -> JSONResponse:
    app = await _app(request)
    params = parse_model(SignupParams, await read_json_object(request))
    result = await run_signup(
        request,
        app.app_id,
        variant=params.variant,
        extras=params.extras,
        nonce=f"control_{random_base62(16)}",
        source="control",
        phone_verified=params.phone_verified,
        webhook_event=params.webhook_event,
    )
    return JSONResponse(result, status_code=201)


# -- phone numbers ---------------------------------------------------------------------------------------


async def _owned_waba(db: Any, app_id: str, waba_id: str) -> SimWaba:
    waba = await db.get(SimWaba, waba_id)
    if waba is None or await db.get(SimWabaShare, (waba.id, app_id)) is None:
        raise errors.not_found(f"No WhatsApp Business Account {waba_id} is shared with this organization's simulated app", param="waba_id")
    return waba


async def _owned_phone(db: Any, app_id: str, phone_id: str) -> SimPhoneNumber:
    phone = await db.get(SimPhoneNumber, phone_id)
    if phone is None or await db.get(SimWabaShare, (phone.waba_id, app_id)) is None:
        raise errors.not_found(f"No such phone number: {phone_id}", param="phone_id")
    return phone


@router.post("/phone-numbers/{phone_id}/verify")
async def verify_phone(request: Request, phone_id: str) -> dict[str, Any]:
    app = await _app(request)
    await read_no_body(request)
    async with _sim(request).sessions() as db, db.begin():
        phone = await _owned_phone(db, app.app_id, phone_id)
        phone.code_verification_status = "VERIFIED"
        return service.phone_object(phone)


@router.get("/phone-numbers/{phone_id}/verification-code")
async def read_verification_code(request: Request, phone_id: str) -> dict[str, Any]:
    """The code `request_code` "sent" to the number, as its owner would read it on the phone."""
    app = await _app(request)
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        await _owned_phone(db, app.app_id, phone_id)
        code = await numbers.current_code(db, sim.keyring, phone_id)
    if code is None:
        raise errors.not_found(
            "No usable verification code was sent to this number: request one (codes expire after 10 minutes "
            "and are used once)",
            param="phone_id",
        )
    return {"code": code}


# -- coexistence ---------------------------------------------------------------------------------------------


class HistorySharingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    declined: bool = Field(description="The business chose not to share its chat history")


class AgeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: int = Field(ge=1, le=24 * 365, description="How many hours earlier the number was onboarded")


async def _business_app_phone(db: Any, app_id: str, phone_id: str) -> SimPhoneNumber:
    phone = await _owned_phone(db, app_id, phone_id)
    if not phone.is_on_biz_app:
        raise errors.invalid(
            "phone_not_on_business_app", "This number was not onboarded from the WhatsApp Business app (coexistence)",
            param="phone_id",
        )
    return phone


@router.post("/phone-numbers/{phone_id}/history-sharing")
async def set_history_sharing(request: Request, phone_id: str) -> dict[str, Any]:
    """What the business chose in the Business app: declined, a history request still answers
    200, and one `history` webhook with error 2593109 follows (instead of the chunks)."""
    app = await _app(request)
    params = parse_model(HistorySharingParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        phone = await _business_app_phone(db, app.app_id, phone_id)
        phone.history_declined = params.declined
        return {**service.phone_object(phone), "history_declined": phone.history_declined}


@router.post("/phone-numbers/{phone_id}/age")
async def age_phone(request: Request, phone_id: str) -> dict[str, Any]:
    """Move the number's onboarding back in time (Meta's windows: 24 hours for the syncs, 14 days to register)."""
    app = await _app(request)
    params = parse_model(AgeParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        phone = await _owned_phone(db, app.app_id, phone_id)
        phone.onboarded_at -= params.hours * 3_600_000
        return service.phone_object(phone)


@router.get("/phone-numbers/{phone_id}/sync-requests")
async def list_sync_requests(request: Request, phone_id: str) -> dict[str, Any]:
    """Every smb_app_data request that reached the rules for this number, oldest first."""
    app = await _app(request)
    async with _sim(request).sessions() as db, db.begin():
        await _owned_phone(db, app.app_id, phone_id)
        rows = await db.scalars(
            select(SimSyncRequest).where(SimSyncRequest.phone_number_id == phone_id).order_by(SimSyncRequest.created_at, SimSyncRequest.id)
        )
        return list_object([coexistence.sync_request_object(row) for row in rows], has_more=False)  # never paged


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number_id: str = Field(min_length=1, max_length=32)
    to: str = Field("16315550101", pattern=r"^[0-9]{6,15}$", description="The customer the business wrote to")
    text: str = Field("Sent from the WhatsApp Business app", min_length=1, max_length=4096)


@router.post("/webhooks/smb-message-echoes")
async def send_message_echo(request: Request) -> dict[str, Any]:
    """A message the business sent from the WhatsApp Business app, as Meta's smb_message_echoes
    (to the WABA's override_callback_uri when one is set, else to the app's callback)."""
    app = await _app(request)
    params = parse_model(EchoParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        phone = await _business_app_phone(db, app.app_id, params.phone_number_id)
        value = coexistence.echo_value(phone, params.to, params.text)
        waba_id = phone.waba_id
    payload = webhooks.envelope(waba_id, "smb_message_echoes", value)
    return await _emitter(request).emit(app.app_id, "smb_message_echoes", payload, waba_id=waba_id)


# -- webhooks ----------------------------------------------------------------------------------------------


def _meta_time() -> Any:
    return Field(None, ge=1, le=4_102_444_800, description="entry.time (unix seconds): when the change happened; now if absent")


class DisconnectionInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Literal[events.DISCONNECTION_REASONS]  # type: ignore[valid-type]
    initiated_by: Literal["USER", "SYSTEM"]


class RestrictionInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restriction_type: str = Field(pattern=r"^RESTRICTED_[A-Z_]{1,80}$")
    expiration: int = Field(ge=1, le=4_102_444_800, description="Unix seconds")
    remediation: str | None = Field(None, min_length=1, max_length=500)


class ViolationInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    violation_type: str = Field(pattern=r"^[A-Z][A-Z_]{0,63}$")


class BanInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waba_ban_state: Literal[events.BAN_STATES]  # type: ignore[valid-type]
    waba_ban_date: str | None = Field(
        None, pattern=r"^[A-Z][a-z]+ [0-9]{1,2}, [0-9]{4}$", description="As Meta writes it (April 17, 2025); today if absent"
    )


class CertificationInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["APPROVED", "DISCARDED", "FAILED", "PENDING", "REVOKED"]
    rejection_reasons: list[str] = Field(default_factory=list, max_length=10)


class ExceptionCountry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country_code: str = Field(pattern=r"^[A-Z]{2}$")
    start_time: int = Field(ge=1, le=4_102_444_800)


class AuthIntlEligibility(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_time: int = Field(ge=1, le=4_102_444_800)
    exception_countries: list[ExceptionCountry] = Field(default_factory=list, max_length=50)


class VolumeTierInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier_update_time: int = Field(ge=1, le=4_102_444_800)
    pricing_category: str = Field(pattern=r"^[A-Z_]{1,40}$")
    tier: str = Field(pattern=r"^[0-9]+:([0-9]+|inf)$")
    effective_month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    region: str = Field(min_length=1, max_length=64)


# Each event's own keys (research §5.3): required ones first; any other key is refused for it.
EVENT_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "PARTNER_ADDED": ((), ("solution_id",)),
    "PARTNER_APP_INSTALLED": ((), ("solution_id",)),
    "PARTNER_REMOVED": ((), ("disconnection_info",)),
    "ACCOUNT_RESTRICTION": (("restriction_info",), ()),
    "ACCOUNT_VIOLATION": (("violation_info",), ()),
    "DISABLED_UPDATE": (("ban_info",), ()),
    "AD_ACCOUNT_LINKED": (("ad_account_linked",), ()),
    "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE": (("partner_client_certification_info",), ()),
    "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE": (("auth_international_rate_eligibility",), ()),
    "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE": (("country",), ()),
    "VOLUME_BASED_PRICING_TIER_UPDATE": (("volume_tier_info",), ()),
}
DETAIL_KEYS = (
    "solution_id", "disconnection_info", "restriction_info", "violation_info", "ban_info", "ad_account_linked",
    "partner_client_certification_info", "auth_international_rate_eligibility", "country", "volume_tier_info",
)


class AccountUpdateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waba_id: str = Field(min_length=1, max_length=32)
    event: Literal[events.ACCOUNT_UPDATE_EVENTS]  # type: ignore[valid-type]
    time: int | None = _meta_time()
    solution_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$", description="PARTNER_ADDED into this solution")
    disconnection_info: DisconnectionInfo | None = None
    restriction_info: list[RestrictionInfo] | None = Field(None, min_length=1, max_length=10)
    violation_info: ViolationInfo | None = None
    ban_info: BanInfo | None = None
    ad_account_linked: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    partner_client_certification_info: CertificationInfo | None = None
    auth_international_rate_eligibility: AuthIntlEligibility | None = None
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    volume_tier_info: VolumeTierInfo | None = None

    @staticmethod
    def cross_field_problems(data: dict[str, Any]) -> list[dict[str, str]]:
        event = data.get("event")
        if not isinstance(event, str) or event not in events.ACCOUNT_UPDATE_EVENTS:
            return []
        required, optional = EVENT_KEYS.get(event, ((), ()))
        problems = [
            {"param": key, "code": "parameter_missing", "message": f"{key} is required for {event}"}
            for key in required if data.get(key) is None
        ]
        problems += [
            {"param": key, "code": "parameter_unknown", "message": f"{key} is not part of a {event} event"}
            for key in DETAIL_KEYS if data.get(key) is not None and key not in required + optional
        ]
        return problems


class ReviewUpdateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waba_id: str = Field(min_length=1, max_length=32)
    decision: Literal[events.REVIEW_DECISIONS]  # type: ignore[valid-type]
    time: int | None = _meta_time()


class QualityUpdateParams(BaseModel):
    """phone_number_quality_update (Meta's webhook reference): the number, the event, the new
    limit; `old_limit` only for a messaging limit change, as Meta sends it."""

    model_config = ConfigDict(extra="forbid")

    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    event: Literal[events.QUALITY_EVENTS]  # type: ignore[valid-type]
    current_limit: Literal[events.MESSAGING_LIMITS]  # type: ignore[valid-type]
    old_limit: Literal[events.MESSAGING_LIMITS] | None = None  # type: ignore[valid-type]
    quality_rating: Literal["GREEN", "YELLOW", "RED", "NA"] | None = Field(
        None, description="The number's quality_rating from now on (Meta's webhook does not carry it; the number node shows it)"
    )
    time: int | None = _meta_time()

    @staticmethod
    def cross_field_problems(data: dict[str, Any]) -> list[dict[str, str]]:
        if data.get("old_limit") is not None and data.get("event") in ("ONBOARDING", "THROUGHPUT_UPGRADE", "FLAGGED", "UNFLAGGED"):
            return [{"param": "old_limit", "code": "parameter_unknown",
                     "message": "old_limit is only sent for a messaging limit change (UPGRADE or DOWNGRADE)"}]
        return []


class NameUpdateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    decision: Literal["APPROVED", "DEFERRED", "PENDING", "REJECTED"]
    requested_verified_name: str | None = Field(None, min_length=2, max_length=75, description="The number's own name if absent")
    rejection_reason: Literal[events.NAME_REJECTION_REASONS] | None = None  # type: ignore[valid-type]
    time: int | None = _meta_time()

    @staticmethod
    def cross_field_problems(data: dict[str, Any]) -> list[dict[str, str]]:
        if data.get("decision") == "REJECTED" and data.get("rejection_reason") is None:
            return [{"param": "rejection_reason", "code": "parameter_missing", "message": "rejection_reason is required for REJECTED"}]
        if data.get("decision") != "REJECTED" and data.get("rejection_reason") is not None:
            return [{"param": "rejection_reason", "code": "parameter_unknown", "message": "rejection_reason is only sent for REJECTED"}]
        return []


# A change dated this far back is a late delivery of an older change: Meta's state (the
# simulator's) moved on since, so it does not follow it.
LATE_SECONDS = 30


def _is_late(sent_time: int | None) -> bool:
    return sent_time is not None and sent_time < time.time() - LATE_SECONDS


def _details(params: AccountUpdateParams) -> dict[str, Any]:
    """The event's own keys as Meta sends them (DISABLED_UPDATE's date defaults to today)."""
    details = params.model_dump(include=set(DETAIL_KEYS) - {"solution_id"}, exclude_none=True)
    if params.ban_info is not None and params.ban_info.waba_ban_date is None:
        today = time.gmtime()
        details["ban_info"]["waba_ban_date"] = f"{time.strftime('%B', today)} {today.tm_mday}, {today.tm_year}"
    if params.event == "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE":
        details["partner_client_certification_info"] = {"client_business_id": None, **details["partner_client_certification_info"]}
    return details


def _follow(waba: SimWaba, params: AccountUpdateParams) -> None:
    """The simulator's own WABA follows the event, so that its Graph answers tell the same."""
    if params.event == "DISABLED_UPDATE" and params.ban_info is not None:
        waba.ban_state = params.ban_info.waba_ban_state
    elif params.event == "ACCOUNT_RESTRICTION" and params.restriction_info is not None:
        waba.restrictions = [item.model_dump(exclude_none=True) for item in params.restriction_info]


@router.post("/webhooks/account-update")
async def send_account_update(request: Request) -> dict[str, Any]:
    app = await _app(request)
    params = parse_model(AccountUpdateParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        waba = await _owned_waba(db, app.app_id, params.waba_id)
        owner = waba.business_id
        if not _is_late(params.time):
            _follow(waba, params)
    details = _details(params)
    if "partner_client_certification_info" in details:
        details["partner_client_certification_info"]["client_business_id"] = owner
    extras = {"setup": {"solutionID": params.solution_id}} if params.solution_id else {}
    _, payload = webhooks.account_update(
        params.event, app_id=app.app_id, partner_business_id=app.partner_business_id, waba_id=waba.id, owner_business_id=owner,
        solution=service.solution_of(_sim(request), app.app_id, extras), details=details, time=params.time,
    )
    return await _emitter(request).emit(app.app_id, "account_update", payload)


@router.post("/webhooks/account-review-update")
async def send_review_update(request: Request) -> dict[str, Any]:
    app = await _app(request)
    params = parse_model(ReviewUpdateParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        waba = await _owned_waba(db, app.app_id, params.waba_id)
        # account_review_status knows PENDING, APPROVED, REJECTED; a deferred review stays pending.
        if not _is_late(params.time):
            waba.account_review_status = "PENDING" if params.decision == "DEFERRED" else params.decision
    _, payload = webhooks.account_review_update(params.waba_id, params.decision, params.time)
    return await _emitter(request).emit(app.app_id, "account_review_update", payload)


def _digits_only(display: str) -> str:
    return "".join(char for char in display if char.isdigit())


@router.post("/webhooks/phone-number-quality-update")
async def send_quality_update(request: Request) -> dict[str, Any]:
    app = await _app(request)
    params = parse_model(QualityUpdateParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        phone = await _owned_phone(db, app.app_id, params.phone_number_id)
        # The number node shows the limit (its enum has no TIER_NOT_SET: the node keeps its own then).
        if params.current_limit != "TIER_NOT_SET" and not _is_late(params.time):
            phone.messaging_limit_tier = params.current_limit
        if params.quality_rating is not None and not _is_late(params.time):
            phone.quality_rating = params.quality_rating
        waba_id, display = phone.waba_id, _digits_only(phone.display_phone_number)
    value: dict[str, Any] = {"display_phone_number": display, "event": params.event}
    if params.old_limit is not None:
        value["old_limit"] = params.old_limit
    # Meta retired current_limit in February 2026 for the portfolio-wide value (decisions.md).
    value["max_daily_conversations_per_business"] = params.current_limit
    _, payload = webhooks.phone_number_quality_update(waba_id, value, params.time)
    return await _emitter(request).emit(app.app_id, events.PHONE_NUMBER_QUALITY_UPDATE, payload)


@router.post("/webhooks/phone-number-name-update")
async def send_name_update(request: Request) -> dict[str, Any]:
    app = await _app(request)
    params = parse_model(NameUpdateParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        phone = await _owned_phone(db, app.app_id, params.phone_number_id)
        requested = params.requested_verified_name or phone.verified_name
        if not _is_late(params.time):
            phone.name_status = {"APPROVED": "APPROVED", "REJECTED": "DECLINED"}.get(params.decision, "PENDING_REVIEW")
            if params.decision == "APPROVED":
                phone.verified_name = requested
        waba_id, display = phone.waba_id, _digits_only(phone.display_phone_number)
    value = {
        "display_phone_number": display,
        "decision": params.decision,
        "requested_verified_name": requested,
        "rejection_reason": params.rejection_reason,  # Meta sends null unless rejected
    }
    _, payload = webhooks.phone_number_name_update(waba_id, value, params.time)
    return await _emitter(request).emit(app.app_id, events.PHONE_NUMBER_NAME_UPDATE, payload)


@router.get("/webhooks/deliveries")
async def list_deliveries(request: Request) -> dict[str, Any]:
    app = await _app(request)
    raw_limit = request.query_params.get("limit", "50")
    if not is_ascii_digits(raw_limit) or not 1 <= int(raw_limit) <= 200:
        raise errors.invalid("parameter_invalid", "limit must be an integer from 1 to 200", param="limit")
    return list_object(await _emitter(request).deliveries(app.app_id, int(raw_limit)), has_more=False)  # the newest

