"""The API's error shape, checked the same way everywhere."""

from typing import Any

import httpx


def assert_error(
    response: httpx.Response, status: int, code: str, param: str | None = None, type: str = "invalid_request_error"
) -> dict[str, Any]:
    """The response is Roost's error `{type, code, message, request_id}` with this status and code
    (and `param`, when given), its request_id the response's Request-Id; returns the error."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == (type, code), error
    if param is not None:
        assert error["param"] == param, error
    assert error["message"]
    assert error["request_id"] == response.headers["Request-Id"]
    return error
