"""HTTP helpers shared by every feature: strict JSON bodies and the error response."""

import json
import math
from collections.abc import Iterable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from roost.kit import errors
from roost.kit.validation import is_ascii_digits, problems_from, unstorable_text

MAX_BODY_BYTES = 64 * 1024

Model = TypeVar("Model", bound=BaseModel)


def error_response(error: errors.ApiError, request_id: str | None) -> JSONResponse:
    return JSONResponse(error.body(request_id), status_code=error.status, headers=error.headers)


MAX_BODY_DEPTH = 32  # objects and arrays inside each other; the body itself is level 1


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # Python reads 1e400 as infinity, which no JSON answer (nor PostgreSQL's jsonb) can hold.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than `limit` (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


async def read_limited_body(request: Request) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if is_ascii_digits(declared) and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is `{}`.

    Size is checked before anything is parsed (413), then the content type (415), then
    the JSON itself (400 body_invalid_json / body_not_object).
    """
    raw = await read_limited_body(request)
    if not raw.strip():
        return {}
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise errors.ApiError(
            415,
            "invalid_request_error",
            "unsupported_media_type",
            f"The body must be JSON sent with 'Content-Type: application/json' (got '{media_type or 'none'}')",
        )
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError) as problem:
        where = f" at line {problem.lineno} column {problem.colno}" if isinstance(problem, json.JSONDecodeError) else ""
        raise errors.invalid("body_invalid_json", f"The body is not valid UTF-8 JSON{where}: {problem}") from None
    except RecursionError:  # nested far deeper than the limit below: the parser gave up
        raise _too_deep() from None
    if not isinstance(data, dict):
        raise errors.invalid(
            "body_not_object", f"The body must be a JSON object ({{…}}), not {type(data).__name__ if data is not None else 'null'}"
        )
    # Only a body with that many brackets can be that deep: ordinary bodies skip the walk.
    if raw.count(b"{") + raw.count(b"[") > MAX_BODY_DEPTH and _depth_exceeds(data, MAX_BODY_DEPTH):
        raise _too_deep()
    # The only ways a NUL or a lone surrogate gets into JSON text; rare, so the walk is too.
    if b"\\u0000" in raw or b"\\ud" in raw or b"\\uD" in raw:
        problems = [
            {"param": param, "code": "parameter_invalid", "message": f"{param} {problem}"}
            for param, problem in unstorable_text(data)
        ]
        if problems:
            raise errors.validation_error(problems)
    return data


async def read_no_body(request: Request) -> None:
    """For an operation that takes no parameters: nothing, or `{}`. Anything else is refused as
    any body is (413, 415, 400 for bad JSON), and each field as unknown: a parameter a client
    thought it was passing must not be silently ignored."""
    body = await read_json_object(request)
    if body:
        raise _unknown(body)


def read_no_query(request: Request) -> None:
    """For a read that takes no query parameters: each one given is refused as unknown, as on
    the lists (a filter a client thought it was applying must not be silently ignored)."""
    if request.query_params:
        raise _unknown(dict.fromkeys(request.query_params.keys()))


def _unknown(names: Iterable[str]) -> errors.ApiError:
    return errors.validation_error(
        [{"param": name, "code": "parameter_unknown", "message": f"{name} is not a known parameter"} for name in names]
    )


def _too_deep() -> errors.ApiError:
    return errors.invalid(
        "body_too_deep", f"The body nests objects and arrays more than {MAX_BODY_DEPTH} levels deep"
    )


def _too_large() -> errors.ApiError:
    return errors.ApiError(
        413, "invalid_request_error", "body_too_large", f"The body must be at most {MAX_BODY_BYTES // 1024} KB"
    )


def parse_model(model: type[Model], data: dict[str, Any], context: dict[str, Any] | None = None) -> Model:
    """Validate `data` against `model`, reporting every problem (400, dotted `param`)."""
    problems: list[dict[str, str]] = []
    parsed = None
    try:
        parsed = model.model_validate(data, context=context)
    except ValidationError as error:
        problems = problems_from(error)
    cross_check = getattr(model, "cross_field_problems", None)
    if cross_check is not None:
        already = {problem["param"] for problem in problems}
        problems += [problem for problem in cross_check(data) if problem["param"] not in already]
    if problems:
        raise errors.validation_error(problems)
    assert parsed is not None
    return parsed
