"""The one error shape of the API (SPEC section 2) and the exception that carries it."""

from typing import Any

# Each error type answers with these HTTP statuses only.
STATUSES_BY_TYPE = {
    "invalid_request_error": {400, 404, 405, 408, 409, 413, 415, 429, 431},
    "authentication_error": {401, 403},
    "provider_error": {402, 424},
    "api_error": {500, 502, 503},
}


class ApiError(Exception):
    """Raised anywhere below an endpoint; the app turns it into the documented JSON shape."""

    def __init__(
        self,
        status: int,
        type: str,
        code: str,
        message: str,
        *,
        param: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        assert status in STATUSES_BY_TYPE[type], (type, status)
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self, request_id: str | None) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.errors:
            error["errors"] = self.errors
        error.update(self.extra)
        error["request_id"] = request_id
        return {"error": error}


def invalid(code: str, message: str, param: str | None = None, **kw: Any) -> ApiError:
    if param is not None:  # as validation_error does: a client reads `errors` on every 400 with a param
        kw.setdefault("errors", [{"param": param, "code": code, "message": message}])
    return ApiError(400, "invalid_request_error", code, message, param=param, **kw)


def not_found(message: str, param: str | None = None) -> ApiError:
    return ApiError(404, "invalid_request_error", "resource_missing", message, param=param)


def conflict(code: str, message: str) -> ApiError:
    return ApiError(409, "invalid_request_error", code, message)


def unauthenticated(code: str, message: str) -> ApiError:
    return ApiError(401, "authentication_error", code, message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(code: str, message: str) -> ApiError:
    return ApiError(403, "authentication_error", code, message)


def validation_error(problems: list[dict[str, str]]) -> ApiError:
    """A 400 naming the first problem, with every problem listed in `errors`."""
    first = problems[0]
    return ApiError(
        400,
        "invalid_request_error",
        first["code"],
        first["message"],
        param=first["param"],
        errors=problems,
    )
