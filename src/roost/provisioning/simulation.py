"""The test helper `POST …/sessions/{id}/simulate` (SPEC 6): a signup outcome without a browser.

It asks the simulator for the same signup its dialog would produce, then feeds the messages
and the code into the very functions the hosted page calls, so the backend path is the same.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from roost.kit import errors
from roost.kit.simulated_meta import control_authorization
from roost.kit.timeutil import now_ms
from roost.meta.events import CANCEL_STEPS, SignupMessage, parse_message
from roost.organizations.service import Caller
from roost.provisioning.runner import Provisioner
from roost.runtime import Runtime
from roost.sessions import flow, service
from roost.sessions.models import SignupSession
from roost.sessions.state import refuse_unless_awaiting_code, start


class SimulateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["completed", "cancelled", "signup_error", "recovered"] = Field(
        description="What the user does in Meta's flow"
    )
    variant: Literal["FINISH", "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING", "FINISH_ONLY_WABA"] = Field(
        "FINISH", description="How Meta's flow finishes (completed and recovered)"
    )
    cancel_step: Literal[CANCEL_STEPS] = Field(  # type: ignore[valid-type]
        "PHONE_NUMBER_SETUP", description="The screen where the user gives up (cancelled)"
    )
    error_code: str = Field("2388002", pattern=r"^[0-9]{1,10}$", description="Meta's in-flow error code (signup_error)")
    phone_verified: StrictBool = Field(True, description="Whether the connected number is verified")


async def simulate(
    runtime: Runtime, caller: Caller, session_id: str, params: SimulateParams, authorization: str | None = None
) -> SignupSession:
    """`authorization`: the caller's admin key, for the simulator's control API; without one (the
    console's operators have none) a short control grant for the caller's organization is sent."""
    if caller.livemode:
        raise errors.forbidden("test_mode_required", "simulate is a test helper: use a test admin key on a test session")
    now = now_ms()
    async with runtime.sessions() as db:
        async with db.begin():
            session = await service.get_session(db, caller, session_id, for_update=True)
            refusal = refuse_unless_awaiting_code(db, session, now)
            if refusal is None:
                start(db, session, now, runtime.session_policy.grace_ms)
                if params.outcome == "cancelled":
                    flow.record_message(db, session, SignupMessage(kind="cancel", event="CANCEL", current_step=params.cancel_step), now)
                    flow.user_cancelled(db, session, now)
                elif params.outcome == "signup_error":
                    message = SignupMessage(
                        kind="error", event="CANCEL", error_code=params.error_code,
                        error_message="Simulated error reported by the user in Meta's flow.",
                    )
                    flow.record_message(db, session, message, now)
                    flow.signup_error(db, session, message, now)
                extras = flow.login_extras(session)
        if refusal is not None:
            raise refusal
        if params.outcome in ("completed", "recovered"):
            if authorization is None:
                authorization = control_authorization(runtime.keyring, caller.organization_id, now)
            await _finish_in_simulator(runtime, db, session_id, params, extras, authorization)
    async with runtime.sessions() as fresh, fresh.begin():  # provisioning changed it elsewhere
        return await service.get_session(fresh, caller, session_id)


async def _finish_in_simulator(runtime: Runtime, db, session_id: str, params: SimulateParams, extras: dict, authorization: str) -> None:
    if runtime.simulator_http is None:
        raise errors.invalid("simulator_disabled", "The Meta simulator is switched off on this server (ROOST_SIMULATOR=0)")
    response = await runtime.simulator_http.post(
        "/control/signups",
        json={"variant": params.variant, "extras": extras, "phone_verified": params.phone_verified},
        headers={"Authorization": authorization},
    )
    if response.status_code >= 400:
        raise errors.ApiError(502, "api_error", "simulator_error", f"The simulator refused the signup: {response.text[:300]}")
    signup = response.json()
    finish: SignupMessage | None = None
    code: str | None = None
    for message in signup["messages"]:  # in the order (and with the faults) the dialog would use
        if message["kind"] == "event":
            finish = parse_message(message["data"])
        elif message["kind"] == "login":
            code = ((message["data"] or {}).get("authResponse") or {}).get("code")
    if params.outcome == "recovered":
        code = None  # the code is lost on the way
    now = now_ms()
    async with db.begin():
        # populate_existing: this database session read the row before the simulator call, and
        # a cancel (or another simulate) may have changed it since: act on the locked row.
        session = await db.get(SignupSession, session_id, with_for_update=True, populate_existing=True)
        refusal = refuse_unless_awaiting_code(db, session, now)
        if refusal is not None:
            raise refusal
        if finish is not None:
            flow.record_message(db, session, finish, now)
        if code is None and finish is not None and finish.kind == "finish":
            flow.finished_without_code(db, session, now)
    if code is not None:
        provisioner = Provisioner(runtime)
        await provisioner.accept_code(session_id, code, finish)
        await provisioner.wait_until_idle(session_id, timeout_seconds=15)
