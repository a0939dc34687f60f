"""Meta's Graph API error envelope (research §6.1), with the HTTP status Meta uses for each code."""

import secrets
import string
from typing import Any

from fastapi.responses import JSONResponse

_TRACE_ALPHABET = string.ascii_letters + string.digits + "-_"

# Codes Meta marks as transient (safe to retry).
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 133004})

# Default messages for codes a fault names without a message of its own.
DEFAULT_MESSAGES = {
    0: "(#0) AuthException",
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    3: "(#3) Application does not have the capability to make this API call.",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    368: "(#368) Temporarily blocked for policies violations",
    80007: "(#80007) Rate limit issue",
    131031: "(#131031) Account has been locked",
    131042: "(#131042) Business eligibility payment issue",
    133000: "(#133000) Incomplete deregistration",
    133004: "(#133004) Server Temporarily Unavailable",
    133005: "(#133005) Two step verification PIN Mismatch",
    133006: "(#133006) Phone number re-verification needed",
    133008: "(#133008) Too many two step verification PIN guesses",
    133009: "(#133009) Two step verification PIN was entered too quickly",
    133010: "(#133010) Phone number Not Registered",
    133015: "(#133015) Please wait a few minutes before attempting to register this phone number",
    133016: "(#133016) Account register deregister rate limit exceeded",
}


def fbtrace_id() -> str:
    return "A" + "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(22))


def status_for(code: int) -> int:
    """The HTTP status Meta answers a given error code with."""
    if code == 1 or code == 3 or code == 133000:
        return 500
    if code in (2, 133004):
        return 503
    if code in (0, 102, 104, 190):  # 104 (no token): under 401 in Meta's published description
        return 401
    if code in (10, 368) or 200 <= code <= 299:
        return 403
    return 400


class GraphError(Exception):
    """Raised anywhere under the Graph API; answered in Meta's envelope."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        subcode: int | None = None,
        status: int | None = None,
        transient: bool | None = None,
        error_data: dict[str, Any] | None = None,
        error_type: str = "OAuthException",
    ) -> None:
        self.code = code
        self.error_type = error_type
        self.message = message if message is not None else DEFAULT_MESSAGES.get(code, f"(#{code}) Error")
        super().__init__(self.message)
        self.subcode = subcode
        self.status = status or status_for(code)
        self.transient = transient if transient is not None else (True if code in TRANSIENT_CODES else None)
        self.error_data = error_data

    def body(self, trace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.error_data:
            error["error_data"] = self.error_data
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient is not None:
            error["is_transient"] = self.transient
        error["fbtrace_id"] = trace_id
        return {"error": error}

    def response(self) -> JSONResponse:
        trace_id = fbtrace_id()
        headers = {"x-fb-trace-id": trace_id}
        if self.status == 401:
            headers["www-authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{_header_safe(self.message)}"'
        return JSONResponse(self.body(trace_id), status_code=self.status, headers=headers)


def _header_safe(text: str) -> str:
    return "".join(ch for ch in text if 32 <= ord(ch) < 127 and ch != '"')


# -- the errors the simulator raises, named ------------------------------------------------


def permission_error() -> GraphError:
    return GraphError(200, "(#200) Permissions error")


def unknown_object(object_id: str, method: str = "get") -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        subcode=33,
        error_type="GraphMethodException",
    )


def unknown_parameter(name: str) -> GraphError:
    """A write call with a parameter the operation does not take ([U]: Meta's wording unknown)."""
    return GraphError(100, f"(#100) Param {name} is not a valid parameter of this call")


def missing_parameter(name: str) -> GraphError:
    return GraphError(100, f"(#100) The parameter {name} is required")


def invalid_parameter(message: str) -> GraphError:
    return GraphError(100, f"(#100) {message}")


def invalid_token(message: str = "Invalid OAuth access token - Cannot parse access token") -> GraphError:
    return GraphError(190, message)


def invalid_appsecret_proof() -> GraphError:
    return GraphError(100, "Invalid appsecret_proof provided in the API argument")
