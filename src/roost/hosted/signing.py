"""The result handed back to the platform (SPEC 4.4): parameters, signature, where it goes.

signature = "v1=" + hex(HMAC-SHA256(redirect_secret, canonical)), where canonical is every
parameter but `signature`, sorted by name, `name=value` percent-encoded per RFC 3986 (UTF-8,
unreserved characters A-Za-z0-9-._~ left as they are), joined by `&`.
"""

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

from roost.kit.urls import normalize_origin, origin_problem

SIGNATURE_VERSION = "v1"
MESSAGE_TYPE = "roost:embedded_signup"


def percent_encode(value: str) -> str:
    """RFC 3986: everything but the unreserved characters, as %XX of its UTF-8 bytes."""
    return quote(value, safe="", encoding="utf-8")  # quote() always keeps A-Za-z0-9-._~


def canonical(parameters: Mapping[str, str]) -> str:
    return "&".join(
        f"{percent_encode(name)}={percent_encode(parameters[name])}"
        for name in sorted(parameters)
        if name != "signature"
    )


def signature(secret: str, parameters: Mapping[str, str]) -> str:
    digest = hmac.new(secret.encode(), canonical(parameters).encode(), hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signed(secret: str, parameters: Mapping[str, str]) -> dict[str, str]:
    """The parameters with their `signature` added."""
    unsigned = {name: value for name, value in parameters.items() if name != "signature"}
    return {**unsigned, "signature": signature(secret, unsigned)}


def verify(secret: str, parameters: Mapping[str, str]) -> bool:
    given = parameters.get("signature", "")
    return hmac.compare_digest(given.encode(), signature(secret, parameters).encode())


def result_parameters(
    *,
    session_id: str,
    state: str | None,
    status: str,
    timestamp: int,
    business_profile_id: str | None = None,
    waba_id: str | None = None,
    phone_number_id: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> dict[str, str]:
    """The unsigned result parameters. Success carries the ids, anything else the error;
    a parameter without a value is left out (it is not part of the signature either)."""
    if status == "completed":
        outcome = {"business_profile_id": business_profile_id, "waba_id": waba_id, "phone_number_id": phone_number_id}
    else:
        outcome = {"error": error, "error_description": error_description}
    parameters = {"session_id": session_id, "state": state, "status": status, **outcome, "timestamp": str(timestamp)}
    return {name: value for name, value in parameters.items() if value is not None}


def redirect_url(redirect_uri: str, parameters: Mapping[str, str]) -> str:
    """redirect_uri with the parameters added to its query (its own parameters are kept).
    Works the same for https:// URLs and app schemes (myapp://callback)."""
    query = "&".join(f"{percent_encode(name)}={percent_encode(value)}" for name, value in parameters.items())
    if "?" not in redirect_uri:
        return f"{redirect_uri}?{query}"
    if redirect_uri.endswith(("?", "&")):
        return f"{redirect_uri}{query}"
    return f"{redirect_uri}&{query}"


def target_origins(redirect_uri: str | None, allowed_origins: Iterable[str]) -> list[str]:
    """Where a popup may post the result: the redirect URI's origin when it is a web URL, and
    the organization's allowed origins for the mode. Never '*'."""
    targets: list[str] = []
    if redirect_uri:
        parts = urlsplit(redirect_uri)
        if parts.scheme.lower() in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme.lower()}://{parts.netloc}"
            if origin_problem(origin) is None:
                targets.append(normalize_origin(origin))
    for origin in allowed_origins:
        if origin_problem(origin) is None and normalize_origin(origin) not in targets:
            targets.append(normalize_origin(origin))
    return targets
