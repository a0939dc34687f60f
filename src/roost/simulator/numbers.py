"""The simulated Graph API's numbers after signup: adding a number to a WABA
(`POST /{waba}/phone_numbers`), asking for its verification code (`request_code`) and checking
it (`verify_code`), with the limits and errors Meta describes (file 25895, 16785, 17196).

Where the file gives an HTTP status for an error, the simulator answers with it (409 for a
number already on WhatsApp, 422 for a wrong code, 429 for too many attempts)."""

import re
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.crypto import Keyring, constant_time_equal
from roost.kit.ids import new_id
from roost.kit.timeutil import now_ms
from roost.simulator import errors as graph_errors
from roost.simulator.errors import GraphError
from roost.simulator.models import SimPhoneNumber, SimVerificationCode, SimWaba
from roost.simulator.service import display_number, numeric_id

MAX_NUMBERS_PER_WABA = 20  # Meta's ceiling for a verified business; [U] the simulator applies it to every WABA
VERIFIED_NAME_LENGTH = (2, 75)  # PhoneNumberCreateRequest, file 6279
CODE_METHODS = ("SMS", "VOICE")
CODE_TTL_MS = 10 * 60_000  # "typically 10 minutes" (file 17196)
CODE_REQUESTS_PER_HOUR = 5  # [U] Meta rate-limits code requests without a published figure
WRONG_GUESSES_ALLOWED = 5  # [U] after these, no check and no new code for 12 hours (research §3.6)
GUESS_BLOCK_MS = 12 * 3600_000
TOO_MANY_SUBCODE = 2446079  # file 16785 and 17196: code 4, HTTP 429


def _too_many(message: str) -> GraphError:
    return GraphError(4, message, subcode=TOO_MANY_SUBCODE, status=429, transient=True)


def _already_verified() -> GraphError:
    return GraphError(100, "(#100) This phone number is already verified", error_type="GraphMethodException")  # [U] wording


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or str(value).strip() == "":
        raise graph_errors.missing_parameter(name)
    return str(value).strip()


async def add_phone_number(db: AsyncSession, waba: SimWaba, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /{waba}/phone_numbers {cc, phone_number, verified_name}`: a number, NOT_VERIFIED."""
    cc = _text(params, "cc")
    number = _text(params, "phone_number")
    name = _text(params, "verified_name")
    if not re.fullmatch(r"[1-9][0-9]{0,2}", cc):
        raise graph_errors.invalid_parameter("Param cc must be a country calling code of 1 to 3 digits")
    if not re.fullmatch(r"[0-9]{4,14}", number) or len(cc) + len(number) > 15:
        raise graph_errors.invalid_parameter("Invalid parameter: phone_number must be in E.164 format")
    if not VERIFIED_NAME_LENGTH[0] <= len(name) <= VERIFIED_NAME_LENGTH[1]:
        raise graph_errors.invalid_parameter(
            f"Param verified_name must be {VERIFIED_NAME_LENGTH[0]} to {VERIFIED_NAME_LENGTH[1]} characters long"
        )
    taken = await db.scalar(
        select(SimPhoneNumber.id).where(SimPhoneNumber.country_code == cc, SimPhoneNumber.number == number)
    )
    if taken is not None:
        raise GraphError(
            100, "Phone number is already registered with WhatsApp Business", status=409, error_type="GraphMethodException"
        )
    held = await db.scalar(select(func.count()).select_from(SimPhoneNumber).where(SimPhoneNumber.waba_id == waba.id))
    if held >= MAX_NUMBERS_PER_WABA:
        raise GraphError(
            200, "Phone number limit exceeded for this WhatsApp Business Account", subcode=1349175, status=403
        )
    now = now_ms()
    phone = SimPhoneNumber(
        id=numeric_id(15),
        waba_id=waba.id,
        country_code=cc,
        number=number,
        display_phone_number=display_number(cc, number),
        verified_name=name,
        code_verification_status="NOT_VERIFIED",
        quality_rating="NA",
        status="PENDING",
        platform_type="NOT_APPLICABLE",
        is_on_biz_app=False,
        pin_hash=None,
        onboarded_at=now,
        registered_at=None,
        register_blocked_until=None,
        created_at=now,
    )
    db.add(phone)
    return {"id": phone.id}


def code_context(phone_id: str) -> str:
    return f"sim:verification-code:{phone_id}"


async def _latest_code(db: AsyncSession, phone_id: str) -> SimVerificationCode | None:
    return await db.scalar(
        select(SimVerificationCode)
        .where(SimVerificationCode.phone_number_id == phone_id)
        .order_by(SimVerificationCode.created_at.desc(), SimVerificationCode.id.desc())
        .limit(1)
    )


async def _open_to_codes(db: AsyncSession, phone: SimPhoneNumber, now: int) -> SimVerificationCode | None:
    """The number's latest code, once the number is known to take code calls now: not verified,
    its guesses not spent. Code calls on one number are serialised (PostgreSQL's row lock;
    SQLite already holds the write lock)."""
    await db.execute(select(SimPhoneNumber.id).where(SimPhoneNumber.id == phone.id).with_for_update())
    if phone.code_verification_status == "VERIFIED":
        raise _already_verified()
    latest = await _latest_code(db, phone.id)
    if latest is not None and latest.blocked_until is not None and latest.blocked_until > now:
        raise _too_many("Too many verification attempts. Please try again later")
    return latest


async def request_code(db: AsyncSession, keyring: Keyring, phone: SimPhoneNumber, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /{phone}/request_code {code_method, language}`: a new 6-digit code "sent" to the number."""
    method = _text(params, "code_method")
    language = _text(params, "language")
    if method.upper() not in CODE_METHODS:
        raise graph_errors.invalid_parameter("Invalid parameter: code_method must be SMS or VOICE")
    if not re.fullmatch(r"[a-z]{2}_[A-Z]{2}", language):
        raise graph_errors.invalid_parameter("Param language must be a locale such as en_US")
    now = now_ms()
    await _open_to_codes(db, phone, now)  # refuses a verified or blocked number
    recent = await db.scalar(
        select(func.count())
        .select_from(SimVerificationCode)
        .where(SimVerificationCode.phone_number_id == phone.id, SimVerificationCode.created_at > now - 3600_000)
    )
    if recent >= CODE_REQUESTS_PER_HOUR:
        raise _too_many("Application request limit reached")
    code = f"{secrets.randbelow(10**6):06d}"
    db.add(SimVerificationCode(
        id=new_id("simv"), phone_number_id=phone.id, code_encrypted=keyring.encrypt(code, code_context(phone.id)),
        method=method.upper(), language=language, wrong_guesses=0, blocked_until=None, used_at=None, created_at=now,
    ))
    return {"success": True}


async def verify_code(db: AsyncSession, keyring: Keyring, phone: SimPhoneNumber, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /{phone}/verify_code {code}`: the latest code, unexpired and unused, verifies the
    number. A wrong guess is counted (and committed by the caller before the error is answered)."""
    code = _text(params, "code")
    if not re.fullmatch(r"[0-9]{6}", code):
        raise graph_errors.invalid_parameter("Invalid verification code format")
    now = now_ms()
    latest = await _open_to_codes(db, phone, now)
    live = latest is not None and latest.used_at is None and latest.blocked_until is None and now - latest.created_at <= CODE_TTL_MS
    if not live or not constant_time_equal(keyring.decrypt(latest.code_encrypted, code_context(phone.id)), code):
        if live:
            latest.wrong_guesses += 1
            if latest.wrong_guesses >= WRONG_GUESSES_ALLOWED:
                latest.blocked_until = now + GUESS_BLOCK_MS
        raise GraphError(
            100, "The verification code is invalid or has expired", status=422, error_type="GraphMethodException"
        )
    latest.used_at = now
    phone.code_verification_status = "VERIFIED"
    return {"success": True}


async def current_code(db: AsyncSession, keyring: Keyring, phone_id: str) -> str | None:
    """The code the number would have received last, while it can still be used (control API)."""
    latest = await _latest_code(db, phone_id)
    if latest is None or latest.used_at is not None or latest.blocked_until is not None:
        return None
    if now_ms() - latest.created_at > CODE_TTL_MS:
        return None
    return keyring.decrypt(latest.code_encrypted, code_context(phone_id))
