"""Exceptions raised by the client.

Every error the API answers with (`{"error": {type, code, message, param, request_id, ...}}`)
becomes a subclass of `RoostError` chosen by HTTP status, carrying the body's fields. Network
failures become `APIConnectionError` (the request may or may not have reached the server).
"""

from __future__ import annotations

from typing import Any


class RoostError(Exception):
    """Base class of every error this client raises."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.errors: list[dict[str, Any]] = list(errors or [])
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def error(self) -> dict[str, Any]:
        """The `error` object of the response body ({} when the body had none)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"]
        return {}

    def __str__(self) -> str:
        parts = []
        if self.http_status is not None:
            parts.append(str(self.http_status))
        if self.code:
            parts.append(self.code)
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.param:
            text += f" (param: {self.param})"
        if self.request_id:
            text += f" [request_id: {self.request_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(http_status={self.http_status!r}, type={self.type!r}, code={self.code!r}, "
            f"param={self.param!r}, message={self.message!r}, request_id={self.request_id!r})"
        )


class APIConnectionError(RoostError):
    """The server could not be reached, or the connection broke before an answer arrived."""


class APITimeoutError(APIConnectionError):
    """No answer within the client's timeout."""


class InvalidRequestError(RoostError):
    """400 (and 413, 415): bad, missing or unknown parameters. `param` names the first one,
    `errors` lists every problem as {param, code, message}."""


class NotFoundError(InvalidRequestError):
    """404 `resource_missing`: no such object for this organization and mode."""


class ConflictError(InvalidRequestError):
    """409: the object's state forbids the call (`session_not_pending`, `session_processing`,
    `idempotency_key_reused`, ...)."""


class RateLimitError(InvalidRequestError):
    """429 `rate_limited`. `retry_after` is the server's Retry-After in seconds (or None)."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class AuthenticationError(RoostError):
    """401: the admin key is missing, malformed, unknown or revoked."""


class ForbiddenError(RoostError):
    """403: the key may not do this (a test key on live settings: `live_mode_required`, ...)."""


PermissionDeniedError = ForbiddenError


class ProviderError(RoostError):
    """402 / 424: Meta refused a valid request; `provider` has Meta's code, message and fbtrace_id."""

    @property
    def provider(self) -> dict[str, Any]:
        value = self.error.get("provider")
        return value if isinstance(value, dict) else {}


class APIError(RoostError):
    """5xx (type `api_error`): an outage on Roost's side or upstream; safe to retry."""


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (seconds from now)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime
        from datetime import datetime, timezone

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds)


def _class_for(status: int) -> type[RoostError]:
    if status == 401:
        return AuthenticationError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 429:
        return RateLimitError
    if status in (402, 424):
        return ProviderError
    if status >= 500:
        return APIError
    return InvalidRequestError


def error_from_response(status: int, body: Any, headers: dict[str, str], text: str = "") -> RoostError:
    """The exception for an HTTP error answer (headers with lower-case names)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    message = error.get("message") or (text.strip()[:500] if text else "") or f"HTTP {status}"
    return _class_for(status)(
        str(message),
        http_status=status,
        type=error.get("type"),
        code=error.get("code"),
        param=error.get("param"),
        request_id=error.get("request_id") or headers.get("request-id"),
        errors=error.get("errors") if isinstance(error.get("errors"), list) else None,
        body=body,
        headers=headers,
    )
