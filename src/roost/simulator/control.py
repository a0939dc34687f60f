"""The control API (`/control/…`): drive the simulator from tests, with a test admin key.

The key's organization designates its simulated app, so everything here (faults, signups,
webhooks) concerns that app only: one organization's faults never reach another's.
Errors use Roost's own shape (`{"error": {type, code, message, request_id}}`).
"""

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


class AccountUpdateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waba_id: str = Field(min_length=1, max_length=32)
    event: Literal[webhooks.ACCOUNT_UPDATE_EVENTS]  # type: ignore[valid-type]
    solution_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$", description="PARTNER_ADDED into this solution")


class ReviewUpdateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waba_id: str = Field(min_length=1, max_length=32)
    decision: Literal[webhooks.REVIEW_DECISIONS]  # type: ignore[valid-type]


@router.post("/webhooks/account-update")
async def send_account_update(request: Request) -> dict[str, Any]:
    app = await _app(request)
    params = parse_model(AccountUpdateParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        waba = await _owned_waba(db, app.app_id, params.waba_id)
        owner = waba.business_id
    extras = {"setup": {"solutionID": params.solution_id}} if params.solution_id else {}
    _, payload = webhooks.account_update(
        params.event, app_id=app.app_id, partner_business_id=app.partner_business_id, waba_id=waba.id, owner_business_id=owner,
        solution=service.solution_of(_sim(request), app.app_id, extras),
    )
    return await _emitter(request).emit(app.app_id, "account_update", payload)


@router.post("/webhooks/account-review-update")
async def send_review_update(request: Request) -> dict[str, Any]:
    app = await _app(request)
    params = parse_model(ReviewUpdateParams, await read_json_object(request))
    async with _sim(request).sessions() as db, db.begin():
        waba = await _owned_waba(db, app.app_id, params.waba_id)
        # account_review_status knows PENDING, APPROVED, REJECTED; a deferred review stays pending.
        waba.account_review_status = "PENDING" if params.decision == "DEFERRED" else params.decision
    _, payload = webhooks.account_review_update(params.waba_id, params.decision)
    return await _emitter(request).emit(app.app_id, "account_review_update", payload)


@router.get("/webhooks/deliveries")
async def list_deliveries(request: Request) -> dict[str, Any]:
    app = await _app(request)
    raw_limit = request.query_params.get("limit", "50")
    if not is_ascii_digits(raw_limit) or not 1 <= int(raw_limit) <= 200:
        raise errors.invalid("parameter_invalid", "limit must be an integer from 1 to 200", param="limit")
    return list_object(await _emitter(request).deliveries(app.app_id, int(raw_limit)), has_more=False)  # the newest

