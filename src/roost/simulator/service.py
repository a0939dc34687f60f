"""The simulator's rules, shared by the dialog, the control API and the Graph API (no HTTP here).

What Meta does that the simulator mirrors is in shared/research/meta-embedded-signup.md; where
Meta documents nothing, the choice made is marked [U] here and listed in docs/simulator.md.
"""

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.kit.crypto import Keyring, constant_time_equal, sha256_hex
from roost.kit.ids import new_id, random_base62
from roost.kit.simulated_meta import SIMULATED_GRAPH_VERSION, SimulatedApp, simulated_app, simulated_app_for
from roost.kit.timeutil import now_ms, to_iso
from roost.meta.nodes import LOCAL_STORAGE_REGIONS
from roost.organizations.models import Organization
from roost.simulator import errors as graph_errors
from roost.simulator.errors import GraphError
from roost.simulator.models import (
    SimApp,
    SimBusiness,
    SimCode,
    SimFault,
    SimPhoneNumber,
    SimRegisterAttempt,
    SimSignup,
    SimToken,
    SimWaba,
    SimWabaShare,
)

CODE_TTL_MS = 30_000
REGISTER_WINDOW_MS = 72 * 3600 * 1000
REGISTER_LIMIT = 10
REGISTRATION_DEADLINE_MS = 14 * 24 * 3600 * 1000
SCOPES = ["whatsapp_business_management", "whatsapp_business_messaging"]
# What the app is subscribed to until it POSTs its own subscription: Roost's needs, the
# coexistence fields and the numbers' health fields among them (docs/coexistence.md and
# docs/account-health.md ask operators for the same).
DEFAULT_WEBHOOK_FIELDS = [
    "account_update", "account_review_update", "messages", "smb_message_echoes", "history", "smb_app_state_sync",
    "phone_number_quality_update", "phone_number_name_update",
]
APP_NAME = "Roost Simulator"

FINISH = "FINISH"
FINISH_COEXISTENCE = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
FINISH_ONLY_WABA = "FINISH_ONLY_WABA"
VARIANTS = (FINISH, FINISH_COEXISTENCE, FINISH_ONLY_WABA)

CANCEL_STEPS = (
    "BUSINESS_ACCOUNT_SELECTION",
    "WABA_PHONE_PROFILE_PICKER",
    "WHATSAPP_BUSINESS_PROFILE_SETUP",
    "PHONE_NUMBER_SETUP",
    "PHONE_NUMBER_VERIFICATION",
    "PERMISSIONS",
)

# A few in-flow errors of research §3.6, offered by the dialog's `es-sim-error` hook.
REPORTED_ERRORS = {
    "524126": "Your verified name violates WhatsApp guidelines. Please edit your verified name and try again.",
    "2388002": "This phone number can't be added. Try a different number.",
    "3441051": "The phone number you entered is invalid. Check the number and try again.",
    "2593039": "We couldn't verify your code. Try again.",
    "2494158": "You've made too many requests. Try again later.",
    "1690114": "You've reached the limit of business portfolios you can create.",
    "2655049": "This WhatsApp Business Account is already shared with another partner.",
    "3441045": "This phone number isn't eligible to be onboarded onto the WhatsApp Business Platform.",
}

GRAPH_CALLS = (
    "oauth/access_token",
    "debug_token",
    "phone_numbers",
    "phone_number",
    "waba",
    "subscribed_apps",
    "register",
    "add_phone_number",
    "request_code",
    "verify_code",
    "system_user_access_tokens",
    "client_whatsapp_business_accounts",
    "subscriptions",
    "credit_line",
    "smb_app_data",
)
FAULT_KINDS_BY_CALL: dict[str, tuple[str, ...]] = {
    **{call: ("latency", "http_error", "graph_error") for call in GRAPH_CALLS},
    "dialog": ("latency", "http_error", "code_late", "code_never", "finish_lost", "code_first", "event_first"),
    "webhooks": ("latency", "webhook_lost"),
}
FAULT_KINDS = (
    "latency",
    "http_error",
    "graph_error",
    "code_late",
    "code_never",
    "finish_lost",
    "code_first",
    "event_first",
    "webhook_lost",
)
DEFAULT_CODE_LATE_MS = 5_000


@dataclass
class Simulator:
    """What every part of the simulator shares."""

    keyring: Keyring
    sessions: async_sessionmaker
    public_url: str
    simulator_url: str

    @property
    def simulator_origin(self) -> str:
        return origin_of(self.simulator_url)

    def app(self, app_id: str) -> SimulatedApp:
        return simulated_app(self.keyring, app_id)

    def default_callback_url(self, app_id: str) -> str:
        return f"{self.public_url}/meta/webhooks/{app_id}"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- identifiers and secrets -----------------------------------------------------------------


def numeric_id(length: int = 15) -> str:
    """Meta object ids are 15-16 digit strings."""
    return str(10 ** (length - 1) + secrets.randbelow(9 * 10 ** (length - 1)))


def new_code() -> str:
    """An authorization code like Meta's (`AQ…`, a few hundred characters)."""
    return "AQ" + secrets.token_urlsafe(220)


def new_business_token() -> str:
    return "EAAG" + random_base62(96)


def derived_digits(keyring: Keyring, label: str, length: int = 15) -> str:
    number = int.from_bytes(keyring.derive(label)[:8], "big")
    return str(10 ** (length - 1) + number % (9 * 10 ** (length - 1)))


def pin_digest(phone_id: str, pin: str) -> str:
    return sha256_hex(f"{phone_id}:{pin}")


def appsecret_proof(token: str, app_secret: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def meta_time(ms: int) -> str:
    """Meta's timestamp form: 2023-08-22T19:05:53+0000."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def is_app_id(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[1-9][0-9]{0,31}", value) is not None


# -- small database helpers --------------------------------------------------------------------


async def insert_ignore(db: AsyncSession, model: type, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on both backends (two processes may insert at once)."""
    dialect = postgresql if db.bind.dialect.name == "postgresql" else sqlite
    await db.execute(dialect.insert(model).values(**values).on_conflict_do_nothing())


async def ensure_app(db: AsyncSession, keyring: Keyring, app_id: str) -> SimApp:
    """The app's row, made the first time the simulator meets the app id."""
    row = await db.get(SimApp, app_id)
    if row is not None:
        return row
    app = simulated_app(keyring, app_id)
    now = now_ms()
    await insert_ignore(
        db,
        SimApp,
        {
            "app_id": app_id,
            "system_user_token_hash": sha256_hex(app.system_user_token),
            "partner_business_id": app.partner_business_id,
            "credit_line_id": app.credit_line_id,
            "created_at": now,
            "updated_at": now,
        },
    )
    row = await db.get(SimApp, app_id, populate_existing=True)
    assert row is not None
    return row


def subscription_of(sim: Simulator, app: SimApp) -> dict[str, Any]:
    """The app's webhook subscription: its own after a POST, else Meta's default (Roost's receiver)."""
    return {
        "callback_url": app.callback_url or sim.default_callback_url(app.app_id),
        "verify_token": app.callback_verify_token or sim.app(app.app_id).verify_token,
        "fields": list(app.callback_fields or DEFAULT_WEBHOOK_FIELDS),
        "version": app.callback_version or SIMULATED_GRAPH_VERSION,
    }


# -- faults ------------------------------------------------------------------------------------


def fault_object(fault: SimFault) -> dict[str, Any]:
    return {
        "id": fault.id,
        "object": "simulator.fault",
        "call": fault.call,
        "kind": fault.kind,
        "delay_ms": fault.delay_ms,
        "status": fault.status,
        "meta_code": fault.meta_code,
        "meta_subcode": fault.meta_subcode,
        "message": fault.message,
        "count": fault.count,
        "remaining": fault.remaining,
        "hits": fault.hits,
        "created_at": to_iso(fault.created_at),
    }


async def take_fault(sessions: async_sessionmaker, app_id: str, call: str) -> SimFault | None:
    """Consume one use of the oldest active fault on `call` for this app, atomically.

    The conditional UPDATE (`remaining > 0`) is what makes two processes never consume the same
    use twice: the loser of a race updates no row and moves on to the next fault (or none).
    """
    async with sessions() as db, db.begin():
        candidates = list(
            await db.scalars(
                select(SimFault)
                .where(SimFault.app_id == app_id, SimFault.call == call)
                .where(or_(SimFault.remaining.is_(None), SimFault.remaining > 0))
                .order_by(SimFault.created_at, SimFault.id)
            )
        )
        for fault in candidates:
            if fault.remaining is None:
                await db.execute(update(SimFault).where(SimFault.id == fault.id).values(hits=SimFault.hits + 1))
                return fault
            result = await db.execute(
                update(SimFault)
                .where(SimFault.id == fault.id, SimFault.remaining > 0)
                .values(remaining=SimFault.remaining - 1, hits=SimFault.hits + 1)
            )
            if result.rowcount == 1:
                return fault
    return None


async def apply_latency(fault: SimFault | None) -> None:
    if fault is not None and fault.kind == "latency" and fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)


def graph_error_of(fault: SimFault) -> GraphError:
    code = fault.meta_code if fault.meta_code is not None else 2
    return GraphError(code, fault.message, subcode=fault.meta_subcode, status=fault.status)


# -- objects as the Graph API shows them --------------------------------------------------------


def phone_object(phone: SimPhoneNumber) -> dict[str, Any]:
    connected = phone.status == "CONNECTED"
    return {
        "id": phone.id,
        "display_phone_number": phone.display_phone_number,
        "verified_name": phone.verified_name,
        "code_verification_status": phone.code_verification_status,
        "quality_rating": phone.quality_rating,
        "status": phone.status,
        "platform_type": phone.platform_type,
        "is_on_biz_app": phone.is_on_biz_app,
        "last_onboarded_time": meta_time(phone.onboarded_at),
        "throughput": {"level": "STANDARD" if connected else "NOT_APPLICABLE"},
    }


# Fields Meta has on these nodes that are not in the default answer: returned when asked for.
PHONE_EXTRA_FIELDS = {
    "name_status": lambda p: p.name_status or "APPROVED",
    "account_mode": lambda p: "LIVE",
    "is_pin_enabled": lambda p: p.pin_hash is not None,
    "is_official_business_account": lambda p: False,
    "messaging_limit_tier": lambda p: p.messaging_limit_tier or "TIER_250",  # deprecated by Meta, still answered
    "whatsapp_business_manager_messaging_limit": lambda p: p.messaging_limit_tier or "TIER_250",
}


def health_status(waba: SimWaba, business: SimBusiness, app_id: str, now: int) -> dict[str, Any]:
    """The WABA's `health_status` as Meta's health status guide shows it: the WABA, its business
    and the app, each AVAILABLE, LIMITED or BLOCKED; the overall value is the worst. A ban
    (DISABLED_UPDATE DISABLE) blocks the WABA; a restriction still in force limits it."""
    waba_entity: dict[str, Any] = {"entity_type": "WABA", "id": waba.id, "can_send_message": "AVAILABLE"}
    active = [item for item in waba.restrictions or [] if item.get("expiration") is None or item["expiration"] * 1000 > now]
    if waba.ban_state == "DISABLE":
        waba_entity["can_send_message"] = "BLOCKED"
        # 131031: "Business account has been locked" (Meta's error codes, research §6).
        waba_entity["errors"] = [{
            "error_code": 131031,
            "error_description": "The WhatsApp Business Account has been disabled for violating WhatsApp policies.",
            "possible_solution": "Request a review of the decision in WhatsApp Manager.",
        }]
    elif active:
        waba_entity["can_send_message"] = "LIMITED"
        waba_entity["additional_info"] = [f"Restricted: {item.get('restriction_type')}" for item in active]
    entities = [
        waba_entity,
        {"entity_type": "BUSINESS", "id": business.id, "can_send_message": "AVAILABLE"},
        {"entity_type": "APP", "id": app_id, "can_send_message": "AVAILABLE"},
    ]
    order = ("AVAILABLE", "LIMITED", "BLOCKED")
    overall = max((entity["can_send_message"] for entity in entities), key=order.index)
    return {"can_send_message": overall, "entities": entities}


def waba_object(waba: SimWaba, business: SimBusiness) -> dict[str, Any]:
    return {
        "id": waba.id,
        "name": waba.name,
        "currency": waba.currency,
        "timezone_id": waba.timezone_id,
        "message_template_namespace": waba.message_template_namespace,
        "account_review_status": waba.account_review_status,
        "owner_business_info": {"id": business.id, "name": business.name},
    }


def display_number(country_code: str, number: str) -> str:
    if country_code == "1" and len(number) == 10:
        return f"+1 {number[:3]}-{number[3:6]}-{number[6:]}"
    if len(number) > 6:
        return f"+{country_code} {number[:-4]}-{number[-4:]}"
    return f"+{country_code} {number}"


# -- signups (the dialog's finish and POST /control/signups) ----------------------------------


class SignupConflict(Exception):
    pass


def _text(value: Any, limit: int = 255) -> str | None:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value).strip()
        return text[:limit] if text else None
    return None


def first_id(value: Any) -> str | None:
    """`ids` may be one id or a list of them (Meta's doc shows both); only the first counts."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,32}", value.strip()):
        return value.strip()
    return None


def _ids_of(block: Any) -> str | None:
    if not isinstance(block, dict):
        return None
    return first_id(block.get("ids", block.get("id")))


def _phone_from_prefill(business: dict[str, Any]) -> tuple[str, str] | None:
    phone = business.get("phone")
    if not isinstance(phone, dict):
        return None
    code = phone.get("code")
    number = phone.get("number")
    code_text = str(code) if isinstance(code, int) and not isinstance(code, bool) else _text(code, 8)
    number_text = re.sub(r"\D", "", number) if isinstance(number, str) else None
    if code_text and re.fullmatch(r"[1-9][0-9]{0,3}", code_text) and number_text and 4 <= len(number_text) <= 15:
        return code_text, number_text
    return None


def solution_of(sim: "Simulator", app_id: str, extras: dict[str, Any]) -> tuple[str, list[str]] | None:
    """The Multi-Partner Solution a signup went into (`extras.setup.solutionID`), with its
    partners' businesses: the Solution Partner that owns it (an id derived from the solution)
    and the app's own business."""
    solution_id = setup_of(extras).get("solutionID")
    if not isinstance(solution_id, str) or not re.fullmatch(r"[0-9]{1,32}", solution_id):
        return None
    owner = derived_digits(sim.keyring, f"sim:solution-owner:{solution_id}", 15)
    return solution_id, [owner, sim.app(app_id).partner_business_id]


def setup_of(extras: dict[str, Any]) -> dict[str, Any]:
    setup = extras.get("setup")
    return setup if isinstance(setup, dict) else {}


async def _business_for(
    db: AsyncSession, app_id: str, setup: dict[str, Any], now: int
) -> SimBusiness:
    business_setup = setup.get("business") if isinstance(setup.get("business"), dict) else {}
    existing_id = first_id(business_setup.get("id"))
    if existing_id is not None:
        existing = await db.get(SimBusiness, existing_id)
        # Only a portfolio this app already knows: organizations never reach each other's objects.
        if existing is not None and (existing.created_by_app_id == app_id or await shared_wabas(db, app_id, existing.id)):
            return existing
    details = {key: value for key, value in business_setup.items() if key != "id"}
    business = SimBusiness(
        id=numeric_id(16),
        name=_text(business_setup.get("name")) or f"Test Business {secrets.randbelow(9000) + 1000}",
        details=details,
        created_by_app_id=app_id,
        created_at=now,
    )
    db.add(business)
    await db.flush()
    return business


def _new_waba(business: SimBusiness, now: int) -> SimWaba:
    return SimWaba(
        id=numeric_id(15),
        business_id=business.id,
        name=business.name,
        currency="USD",
        timezone_id="1",
        message_template_namespace=str(uuid.uuid4()).replace("-", "_"),
        account_review_status="APPROVED",
        created_at=now,
    )


def _new_phone(
    waba: SimWaba, setup: dict[str, Any], business: SimBusiness, now: int, *, verified: bool, coexistence: bool
) -> SimPhoneNumber:
    business_setup = setup.get("business") if isinstance(setup.get("business"), dict) else {}
    phone_setup = setup.get("phone") if isinstance(setup.get("phone"), dict) else {}
    prefilled = _phone_from_prefill(business_setup)
    # 555-0100…0199 are the numbers reserved for fiction in North America.
    country_code, number = prefilled or ("1", f"631555{secrets.randbelow(100) + 100:04d}")
    phone_id = numeric_id(15)
    return SimPhoneNumber(
        id=phone_id,
        waba_id=waba.id,
        country_code=country_code,
        number=number,
        display_phone_number=display_number(country_code, number),
        verified_name=_text(phone_setup.get("displayName")) or business.name,
        code_verification_status="VERIFIED" if verified or coexistence else "NOT_VERIFIED",
        quality_rating="GREEN" if coexistence else "NA",
        status="CONNECTED" if coexistence else "PENDING",
        platform_type="CLOUD_API" if coexistence else "NOT_APPLICABLE",
        is_on_biz_app=coexistence,
        # A WhatsApp Business app number is already registered, with a PIN nobody told the partner.
        pin_hash=pin_digest(phone_id, f"{secrets.randbelow(10**6):06d}") if coexistence else None,
        onboarded_at=now,
        registered_at=now if coexistence else None,
        register_blocked_until=None,
        created_at=now,
    )


@dataclass
class DialogTiming:
    """How the two results of a finish reach the opener: their order and delays (faults)."""

    event_at_ms: int | None = 0
    login_at_ms: int | None = 0
    login_first: bool = False


def timing_for(fault: SimFault | None) -> DialogTiming:
    if fault is None:
        return DialogTiming()
    delay = fault.delay_ms or 0
    if fault.kind == "code_late":
        return DialogTiming(event_at_ms=0, login_at_ms=fault.delay_ms if fault.delay_ms is not None else DEFAULT_CODE_LATE_MS)
    if fault.kind == "code_never":
        return DialogTiming(event_at_ms=0, login_at_ms=None)
    if fault.kind == "finish_lost":
        return DialogTiming(event_at_ms=None, login_at_ms=0)
    if fault.kind == "code_first":
        return DialogTiming(event_at_ms=delay, login_at_ms=0, login_first=True)
    if fault.kind == "event_first":
        return DialogTiming(event_at_ms=0, login_at_ms=delay)
    return DialogTiming()


def test_user_id(keyring: Keyring, app_id: str) -> str:
    return derived_digits(keyring, f"sim:test-user:{app_id}", 15)


def login_response(keyring: Keyring, app_id: str, nonce: str, code: str | None) -> dict[str, Any]:
    """What FB.login's callback receives (sdk.js strips `type` and `nonce`)."""
    if code is None:
        return {"type": "SIM_LOGIN_RESPONSE", "nonce": nonce, "authResponse": None, "status": "unknown"}
    return {
        "type": "SIM_LOGIN_RESPONSE",
        "nonce": nonce,
        "authResponse": {
            "code": code,
            "userID": test_user_id(keyring, app_id),
            "graphDomain": "facebook",
            "expiresIn": None,
            "data_access_expiration_time": int(now_ms() / 1000) + 90 * 24 * 3600,
        },
        "status": "connected",
    }


def finish_event(variant: str, business_id: str, waba_id: str, phone_number_id: str | None) -> dict[str, Any]:
    if variant == FINISH:
        data = {"phone_number_id": phone_number_id, "waba_id": waba_id, "business_id": business_id}
    elif variant == FINISH_ONLY_WABA:
        data = {"waba_id": waba_id, "business_id": business_id}  # [U] no phone_number_id
    else:
        data = {"waba_id": waba_id}  # coexistence: only the WABA (research §3.2)
    return {"type": "WA_EMBEDDED_SIGNUP", "event": variant, "data": data, "version": 3}


async def complete_signup(
    sim: Simulator,
    *,
    app_id: str,
    variant: str,
    extras: dict[str, Any],
    nonce: str,
    source: str,
    phone_verified: bool = True,
    fault: SimFault | None = None,
) -> dict[str, Any]:
    """Create (or reuse) the customer's business, WABA and number, share the WABA with the app,
    mint a 30-second single-use code, and say what the dialog must post, in which order."""
    assert variant in VARIANTS
    setup = setup_of(extras)
    now = now_ms()
    code = new_code()
    try:
        async with sim.sessions() as db, db.begin():
            await ensure_app(db, sim.keyring, app_id)
            already = await db.scalar(select(SimSignup.id).where(SimSignup.app_id == app_id, SimSignup.nonce == nonce))
            if already is not None:
                raise SignupConflict(f"the dialog {nonce} has already finished")

            waba = None
            waba_id = _ids_of(setup.get("whatsAppBusinessAccount"))
            if waba_id is not None and await db.get(SimWabaShare, (waba_id, app_id)) is not None:
                waba = await db.get(SimWaba, waba_id)
            if waba is not None:
                business = await db.get(SimBusiness, waba.business_id)
            else:
                business = await _business_for(db, app_id, setup, now)
                waba = _new_waba(business, now)
                db.add(waba)
                await db.flush()
            assert business is not None

            share = await db.get(SimWabaShare, (waba.id, app_id))
            if share is None:
                db.add(SimWabaShare(waba_id=waba.id, app_id=app_id, shared_at=now, subscribed=False))
            else:
                share.shared_at = now

            phone = None
            if variant == FINISH:
                pre_verified_id = _ids_of(setup.get("preVerifiedPhone"))
                if pre_verified_id is not None:
                    phone = await db.get(SimPhoneNumber, pre_verified_id)
                    if phone is not None and await db.get(SimWabaShare, (phone.waba_id, app_id)) is None:
                        phone = None
                if phone is not None:
                    phone.waba_id = waba.id
                    phone.onboarded_at = now
                    phone.code_verification_status = "VERIFIED"
                else:
                    phone = _new_phone(waba, setup, business, now, verified=phone_verified, coexistence=False)
                    db.add(phone)
            elif variant == FINISH_COEXISTENCE:
                phone = _new_phone(waba, setup, business, now, verified=True, coexistence=True)
                db.add(phone)

            signup = SimSignup(
                id=new_id("sims"),
                app_id=app_id,
                nonce=nonce,
                source=source,
                variant=variant,
                business_id=business.id,
                waba_id=waba.id,
                phone_number_id=phone.id if phone is not None else None,
                extras=extras,
                fault_id=fault.id if fault is not None else None,
                created_at=now,
            )
            db.add(signup)
            db.add(
                SimCode(
                    code_hash=sha256_hex(code),
                    app_id=app_id,
                    business_id=business.id,
                    signup_id=signup.id,
                    redirect_uri=None,
                    created_at=now,
                    used_at=None,
                )
            )
    except IntegrityError:
        raise SignupConflict(f"the dialog {nonce} has already finished") from None

    event = finish_event(variant, business.id, waba.id, phone.id if phone is not None else None)
    login = login_response(sim.keyring, app_id, nonce, code)
    timing = timing_for(fault)
    messages = []
    if timing.event_at_ms is not None:
        messages.append({"kind": "event", "at_ms": timing.event_at_ms, "data": event})
    if timing.login_at_ms is not None:
        messages.append({"kind": "login", "at_ms": timing.login_at_ms, "data": login})
    messages.sort(key=lambda m: (m["at_ms"], 0 if (m["kind"] == "login") == timing.login_first else 1))
    close_at = (max(m["at_ms"] for m in messages) if messages else 0) + 300
    return {
        "object": "simulator.signup",
        "id": signup.id,
        "variant": variant,
        "code": code,
        "business_id": business.id,
        "waba_id": waba.id,
        "phone_number_id": phone.id if phone is not None else None,
        "event": event,
        "login_response": login,
        "messages": messages,
        "close_at_ms": close_at,
        "fault": fault_object(fault) if fault is not None else None,
    }


# -- Graph: callers and access ------------------------------------------------------------------


@dataclass(frozen=True)
class GraphCaller:
    kind: str  # "app" | "system_user" | "business"
    app_id: str
    token: str
    business_id: str | None = None


async def resolve_token(db: AsyncSession, keyring: Keyring, token: str) -> GraphCaller:
    if "|" in token:
        app_id, _, secret = token.partition("|")
        if is_app_id(app_id) and constant_time_equal(secret, simulated_app(keyring, app_id).app_secret):
            await ensure_app(db, keyring, app_id)
            return GraphCaller("app", app_id, token)
        raise graph_errors.invalid_token("Invalid OAuth access token signature.")
    digest = sha256_hex(token)
    business_token = await db.get(SimToken, digest)
    if business_token is not None:
        return GraphCaller("business", business_token.app_id, token, business_token.business_id)
    app = await db.scalar(select(SimApp).where(SimApp.system_user_token_hash == digest))
    if app is not None:
        return GraphCaller("system_user", app.app_id, token)
    app_id = await _app_of_system_token(db, keyring, token)
    if app_id is not None:
        await ensure_app(db, keyring, app_id)
        return GraphCaller("system_user", app_id, token)
    if token.startswith("EAA"):
        raise graph_errors.invalid_token("The access token could not be decrypted")
    raise graph_errors.invalid_token()


async def _app_of_system_token(db: AsyncSession, keyring: Keyring, token: str) -> str | None:
    """The simulated app of an organization whose system user token this is, for an app the
    simulator has not met yet (its credentials are derived, so the token is valid before any call)."""
    if not token.startswith("EAAS"):
        return None
    for organization_id in await db.scalars(select(Organization.id)):
        app = simulated_app_for(keyring, organization_id)
        if constant_time_equal(app.system_user_token, token):
            return app.app_id
    return None


async def waba_for(db: AsyncSession, caller: GraphCaller, waba_id: str) -> SimWaba | None:
    """The WABA if the caller may use it; raises the permissions error when it exists but may not."""
    waba = await db.get(SimWaba, waba_id)
    if waba is None:
        return None
    share = await db.get(SimWabaShare, (waba.id, caller.app_id))
    allowed = share is not None and (
        caller.kind == "system_user" or (caller.kind == "business" and waba.business_id == caller.business_id)
    )
    if not allowed:
        raise graph_errors.permission_error()
    return waba


async def shared_wabas(db: AsyncSession, app_id: str, business_id: str | None = None) -> list[SimWaba]:
    """WABAs shared with the app (of one business, when given), newest share first."""
    query = select(SimWaba).join(SimWabaShare, SimWabaShare.waba_id == SimWaba.id).where(SimWabaShare.app_id == app_id)
    if business_id is not None:
        query = query.where(SimWaba.business_id == business_id)
    query = query.order_by(SimWabaShare.shared_at.desc(), SimWaba.id.desc())
    return list(await db.scalars(query))


# -- Graph: the code exchange ------------------------------------------------------------------


REDIRECT_MISMATCH = (
    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used "
    "in the OAuth dialog request"
)


async def exchange_code(
    sim: Simulator, db: AsyncSession, *, client_id: str, client_secret: str, code: str, redirect_uri: str | None
) -> dict[str, Any]:
    if not is_app_id(client_id):
        raise GraphError(101, "Error validating application. Invalid application ID.")
    if not constant_time_equal(client_secret, sim.app(client_id).app_secret):
        raise GraphError(1, "Error validating client secret.", status=400, transient=False)
    await ensure_app(db, sim.keyring, client_id)
    row = await db.get(SimCode, sha256_hex(code)) if code else None
    if row is None:
        raise GraphError(100, "Invalid verification code format.")
    if row.app_id != client_id or (redirect_uri is not None and redirect_uri != row.redirect_uri):
        raise GraphError(100, REDIRECT_MISMATCH, subcode=36008)
    now = now_ms()
    if row.used_at is not None:
        raise GraphError(100, "This authorization code has been used.", subcode=36009)
    if now - row.created_at > CODE_TTL_MS:
        raise GraphError(100, "This authorization code has expired.", subcode=36007)
    # Single use across processes: only one UPDATE can find used_at still NULL.
    claimed = await db.execute(
        update(SimCode).where(SimCode.code_hash == row.code_hash, SimCode.used_at.is_(None)).values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise GraphError(100, "This authorization code has been used.", subcode=36009)
    token = new_business_token()
    db.add(SimToken(token_hash=sha256_hex(token), app_id=client_id, business_id=row.business_id, source="code", created_at=now))
    return {"access_token": token, "token_type": "bearer"}


async def spend_code(sessions: async_sessionmaker, app_id: str, code: str) -> None:
    """A code of this app that Meta refused to exchange: never exchangeable after that (it
    answers "has been used", like a code exchanged once)."""
    if not code:
        return
    async with sessions() as db, db.begin():
        await db.execute(
            update(SimCode)
            .where(SimCode.code_hash == sha256_hex(code), SimCode.app_id == app_id, SimCode.used_at.is_(None))
            .values(used_at=now_ms())
        )


async def mint_business_token(db: AsyncSession, app_id: str, business_id: str, source: str) -> str:
    token = new_business_token()
    db.add(SimToken(token_hash=sha256_hex(token), app_id=app_id, business_id=business_id, source=source, created_at=now_ms()))
    return token


# -- Graph: debug_token ------------------------------------------------------------------------


async def debug_token(sim: Simulator, db: AsyncSession, caller: GraphCaller, input_token: str) -> dict[str, Any]:
    try:
        target = await resolve_token(db, sim.keyring, input_token)
    except GraphError as problem:
        return {
            "data": {
                "error": {"code": problem.code, "message": problem.message},
                "is_valid": False,
                "scopes": [],
            }
        }
    if target.app_id != caller.app_id:
        raise GraphError(100, "(#100) The App_id in the input_token did not match the Viewing App")
    if target.kind == "app":
        return {"data": {"app_id": target.app_id, "type": "APP", "application": APP_NAME, "is_valid": True, "scopes": []}}
    wabas = await shared_wabas(db, target.app_id, target.business_id)
    target_ids = [waba.id for waba in wabas]
    if target.kind == "business":
        user_id = derived_digits(sim.keyring, f"sim:bisu-user:{target.app_id}:{target.business_id}", 15)
    else:
        user_id = derived_digits(sim.keyring, f"sim:system-user-id:{target.app_id}", 15)
    return {
        "data": {
            "app_id": target.app_id,
            "type": "SYSTEM_USER",
            "application": APP_NAME,
            "data_access_expires_at": 0,
            "expires_at": 0,
            "is_valid": True,
            "issued_at": int(now_ms() / 1000),
            "scopes": list(SCOPES),
            "granular_scopes": [{"scope": scope, "target_ids": list(target_ids)} for scope in SCOPES],
            "user_id": user_id,
        }
    }


# -- Graph: register ---------------------------------------------------------------------------


async def register_phone(db: AsyncSession, phone: SimPhoneNumber, params: dict[str, Any]) -> dict[str, Any]:
    product = params.get("messaging_product")
    if product is None:
        raise graph_errors.missing_parameter("messaging_product")
    if str(product).lower() != "whatsapp":
        raise graph_errors.invalid_parameter(f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".')
    region = params.get("data_localization_region")
    if region is not None and str(region) not in LOCAL_STORAGE_REGIONS:
        raise graph_errors.invalid_parameter(
            f"Param data_localization_region must be one of {{{', '.join(LOCAL_STORAGE_REGIONS)}}}"
        )
    pin = params.get("pin")
    if pin is None:
        raise graph_errors.missing_parameter("pin")
    pin = str(pin)
    if not re.fullmatch(r"[0-9]{6}", pin):
        raise graph_errors.invalid_parameter("Param pin must be 6 characters long.")

    now = now_ms()
    # Serialise register calls on one number (PostgreSQL; SQLite already holds the write lock).
    await db.execute(select(SimPhoneNumber.id).where(SimPhoneNumber.id == phone.id).with_for_update())
    recent = await db.scalar(
        select(func.count())
        .select_from(SimRegisterAttempt)
        .where(SimRegisterAttempt.phone_number_id == phone.id, SimRegisterAttempt.created_at > now - REGISTER_WINDOW_MS)
    )

    def attempt(outcome: str) -> None:
        db.add(SimRegisterAttempt(id=new_id("simr"), phone_number_id=phone.id, created_at=now, outcome=outcome))

    blocked = phone.register_blocked_until is not None and phone.register_blocked_until > now
    if blocked or recent >= REGISTER_LIMIT:
        attempt("rate_limited")
        if not blocked:
            phone.register_blocked_until = now + REGISTER_WINDOW_MS
        raise GraphError(133016, error_data={"messaging_product": "whatsapp", "details": (
            "The number of register and deregister requests for this phone number exceeded the limit of 10 in 72 "
            "hours; the number is blocked from registering for 72 hours"
        )})
    if phone.code_verification_status != "VERIFIED":
        attempt("not_verified")
        raise GraphError(133006, error_data={"messaging_product": "whatsapp", "details": (
            "Phone number needs to be verified before registering"
        )})  # [U] code chosen by the simulator
    if now - phone.onboarded_at > REGISTRATION_DEADLINE_MS:
        attempt("deadline_passed")
        raise GraphError(
            100,
            "(#100) The phone number must be registered within 14 days of Embedded Signup; "
            "the customer needs to complete Embedded Signup again",
            error_data={"messaging_product": "whatsapp", "details": "Registration window of 14 days has passed"},
        )  # [U] code chosen by the simulator
    digest = pin_digest(phone.id, pin)
    if phone.pin_hash is not None and not constant_time_equal(phone.pin_hash, digest):
        attempt("pin_mismatch")
        raise GraphError(133005, error_data={"messaging_product": "whatsapp", "details": (
            "The two-step verification PIN does not match the PIN already set on this phone number"
        )})
    attempt("registered")
    phone.pin_hash = digest
    phone.status = "CONNECTED"
    phone.platform_type = "CLOUD_API"
    phone.registered_at = now
    if phone.quality_rating == "NA":
        phone.quality_rating = "GREEN"
    return {"success": True}


# -- control: cleanup helpers ---------------------------------------------------------------------


async def delete_faults(db: AsyncSession, app_id: str, fault_id: str | None = None) -> int:
    statement = delete(SimFault).where(SimFault.app_id == app_id)
    if fault_id is not None:
        statement = statement.where(SimFault.id == fault_id)
    result = await db.execute(statement)
    return result.rowcount or 0


def json_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
