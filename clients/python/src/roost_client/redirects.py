"""Verifying the result Roost's hosted page hands back (by redirect or popup message).

signature = "v1=" + hex(HMAC-SHA256(redirect_secret, canonical)), where canonical is every
result parameter except `signature`, sorted by name, each `name=value` percent-encoded per
RFC 3986 (UTF-8; A-Za-z0-9-._~ left as they are), joined by `&`. The `timestamp` (Unix
seconds) must be within 10 minutes of now.

    result = roost_client.redirects.verify(request.url, "rsec_live_…")       # the callback URL
    result = roost_client.redirects.verify(dict(request.query_params), secret)
    result = roost_client.redirects.verify(popup_message, secret)           # event.data of the popup

Only the result parameters count, so your redirect URI's own query parameters are ignored.
Confirm the outcome by GET or webhook too: both are authoritative.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote, urlsplit

from roost_client.errors import RoostError

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 10 * 60
MESSAGE_TYPE = "roost:embedded_signup"
# SPEC 4.4: the parameters that are signed.
RESULT_PARAMETERS = frozenset(
    {"session_id", "state", "status", "business_profile_id", "waba_id", "phone_number_id", "error",
     "error_description", "timestamp"}
)


class RedirectVerificationError(RoostError):
    """The result is not authentic or not fresh: do not trust it."""


def _encode(value: str) -> str:
    return quote(value, safe="", encoding="utf-8")  # quote() keeps the unreserved A-Za-z0-9-._~


def canonical(parameters: Mapping[str, str]) -> str:
    """The signed text: the result parameters sorted by name, `name=value`, joined by `&`."""
    return "&".join(f"{_encode(name)}={_encode(parameters[name])}" for name in sorted(parameters) if name != "signature")


def sign(parameters: Mapping[str, str], secret: str) -> str:
    """The `signature` of result parameters (to test your own callback handler)."""
    digest = hmac.new(secret.encode("utf-8"), canonical(_result_only(parameters)).encode("utf-8"), hashlib.sha256)
    return f"{SIGNATURE_VERSION}={digest.hexdigest()}"


def _result_only(parameters: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in parameters.items() if name in RESULT_PARAMETERS and value is not None}


def _parameters(result: str | Mapping[str, Any]) -> dict[str, str]:
    if isinstance(result, str):
        query = urlsplit(result).query if ("?" in result or "://" in result) else result.lstrip("?")
        values: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name in values and name in RESULT_PARAMETERS | {"signature"}:
                raise RedirectVerificationError(f"The result parameter {name} appears twice")
            values[name] = value
        return values
    return {name: value if isinstance(value, str) else str(value) for name, value in result.items() if value is not None}


def verify(
    result: str | Mapping[str, Any],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, str]:
    """Check a result — the callback URL, its query string, a mapping of its parameters, or the
    popup message — and return its result parameters (`session_id`, `state`, `status`, …).
    Raises RedirectVerificationError if the signature is missing or wrong, or `timestamp` is
    more than `tolerance` seconds from now. Compare `state` with the one you sent yourself."""
    if not secret:
        raise RedirectVerificationError("No redirect secret given")
    values = _parameters(result)
    given = values.get("signature")
    if not given:
        raise RedirectVerificationError("The result has no signature")
    parameters = _result_only(values)
    expected = sign(parameters, secret)
    if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")):
        raise RedirectVerificationError("The result's signature does not match")
    try:
        timestamp = int(parameters.get("timestamp", ""))
    except ValueError:
        raise RedirectVerificationError("The result has no valid timestamp") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise RedirectVerificationError("The result's timestamp is more than the tolerance away from now")
    return parameters
