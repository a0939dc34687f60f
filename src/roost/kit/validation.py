"""Turn pydantic's validation errors into Roost's `{param, code, message}` problems."""

import re
from collections.abc import Iterator
from typing import Any, Iterable

from pydantic import ValidationError

# PostgreSQL cannot store U+0000 in text, so neither database gets it: the same 400 on both
# (JSON bodies: kit.web.read_json_object; list query strings: kit.pagination.read_list_query).
NUL_PROBLEM = "must not contain the NUL character (U+0000)"
# JSON can spell half of a UTF-16 pair (\ud800) on its own; no UTF-8 text, and so neither
# database nor any JSON answer, can hold it.
SURROGATE_PROBLEM = "must not contain a lone UTF-16 surrogate (\\ud800-\\udfff): strings must be valid Unicode"
_SURROGATES = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_PROBLEM
    if _SURROGATES.search(text):
        return SURROGATE_PROBLEM
    return None


def is_ascii_digits(text: str) -> bool:
    """0-9 only: str.isdigit() also says yes to '²' (which int() refuses) and to other scripts'
    digits (which int() reads), and Meta's ids, codes and PINs are ASCII."""
    return text.isascii() and text.isdigit()


def dotted(loc: Iterable[Any]) -> str:
    """('prefill', 'business', 'name') -> 'prefill.business.name'; list indexes as [0]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def unstorable_text(value: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[str, str]]:
    """(dotted param, problem) for each key or string in a JSON value that no database can
    store: a NUL character or a lone surrogate. The param is printable (surrogates escaped)."""
    if isinstance(value, str):
        if problem := _text_problem(value):
            yield _printable(dotted(loc)), problem
    elif isinstance(value, dict):
        for key, item in value.items():
            if problem := _text_problem(key):
                yield _printable(dotted((*loc, key))), problem
            else:
                yield from unstorable_text(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_text(item, (*loc, index))


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _items(count: int) -> str:
    return "1 item" if count == 1 else f"{count} items"


def _phrase(kind: str, msg: str, ctx: dict[str, Any]) -> tuple[str, str]:
    """(code, predicate) for one pydantic error, phrased to follow the parameter's name."""
    if kind == "missing":
        return "parameter_missing", "is required"
    if kind == "extra_forbidden":
        return "parameter_unknown", "is not a known parameter"
    if kind == "string_too_long":
        return "parameter_invalid", f"must be at most {ctx['max_length']} characters"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "parameter_invalid", "must not be empty"
        return "parameter_invalid", f"must be at least {ctx['min_length']} characters"
    if kind == "too_long":
        return "parameter_invalid", f"must have at most {_items(ctx['max_length'])}"
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return "parameter_invalid", "must not be empty"
        return "parameter_invalid", f"must have at least {_items(ctx['min_length'])}"
    if kind == "string_type":
        return "parameter_invalid", "must be a string"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "parameter_invalid", "must be an integer"
    if kind in ("bool_type", "bool_parsing"):
        return "parameter_invalid", "must be a boolean (true or false)"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "parameter_invalid", "must be an object"
    if kind == "list_type":
        return "parameter_invalid", "must be an array"
    if kind == "greater_than_equal":
        return "parameter_invalid", f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return "parameter_invalid", f"must be at most {ctx['le']}"
    if kind == "literal_error":
        return "parameter_invalid", f"must be one of {ctx['expected']}"
    if kind == "value_error":
        return "parameter_invalid", str(ctx.get("error", msg))
    return "parameter_invalid", f"is invalid: {msg}"


def problems_from(error: ValidationError, prefix: tuple[Any, ...] = ()) -> list[dict[str, str]]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        param = dotted(prefix + tuple(item["loc"]))
        code, predicate = _phrase(item["type"], item["msg"], item.get("ctx") or {})
        problems.append({"param": param, "code": code, "message": f"{param} {predicate}"})
    return problems
