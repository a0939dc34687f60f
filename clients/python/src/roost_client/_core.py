"""What the sync and async clients share: request descriptions, query encoding, retry policy,
turning answers into objects or exceptions. Neither does any I/O here."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Mapping

import httpx

from roost_client._version import VERSION
from roost_client.errors import (
    APIConnectionError,
    APITimeoutError,
    RoostError,
    error_from_response,
    parse_retry_after,
)
from roost_client.models import ResponseInfo, RoostObject, model_for

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


class _NotGiven:
    """Marks a parameter the caller did not pass (None means: send JSON null)."""

    _instance: "_NotGiven | None" = None

    def __new__(cls) -> "_NotGiven":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


AUTO: Any = _Auto()  # idempotency_key default: generate one when the client is set to


@dataclass
class Call:
    """One API call: built once, sent once or more (retries reuse it, Idempotency-Key included)."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: dict[str, Any] | None = None
    model: type[RoostObject] | None = None
    idempotency_key: str | None = None

    @property
    def retry_safe(self) -> bool:
        """Whether sending it twice cannot do a thing twice: anything but a POST, or a POST with an
        Idempotency-Key (the server answers the repeat with the first answer)."""
        return self.method != "POST" or self.idempotency_key is not None

    def with_query(self, **changes: str) -> "Call":
        names = set(changes)
        query = [(name, value) for name, value in self.query if name not in names]
        query.extend((name, value) for name, value in changes.items())
        return Call(self.method, self.path, query, self.body, self.model, self.idempotency_key)


def body_of(values: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body: every parameter the caller passed (None included, as null)."""
    body = {name: _jsonable(value) for name, value in values.items() if value is not NOT_GIVEN}
    if extra:
        body.update({name: _jsonable(value) for name, value in extra.items()})
    return body


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, RoostObject):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {name: _jsonable(item) for name, item in value.items() if item is not NOT_GIVEN}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def format_time(value: datetime | date) -> str:
    """ISO 8601 UTC with milliseconds and Z, as the API writes times (naive = UTC)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def query_text(value: Any) -> str:
    """A query value in the API's text form: strings as they are, booleans and numbers and null
    as JSON writes them (what metadata[<key>] filters compare with), times in ISO 8601."""
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime, date)):
        return format_time(value)
    return json.dumps(value)


def encode_query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query parameters: `metadata={"k": "v"}` → `metadata[k]=v`, `created={"gte": t}` →
    `created[gte]=t`; parameters left out (NOT_GIVEN or None) are not sent."""
    query: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is NOT_GIVEN or value is None:
            continue
        if isinstance(value, Mapping):
            for key, item in value.items():
                if item is NOT_GIVEN:
                    continue
                query.append((f"{name}[{key}]", query_text(item)))
        elif isinstance(value, (list, tuple)):
            query.extend((name, query_text(item)) for item in value)
        else:
            query.append((name, query_text(value)))
    return query


@dataclass
class Options:
    api_key: str
    base_url: str
    timeout: float
    max_retries: int
    initial_retry_delay: float
    max_retry_delay: float
    max_retry_after: float
    auto_idempotency: bool
    default_headers: dict[str, str]

    def idempotency_key(self, given: Any) -> str | None:
        if given is AUTO:
            return f"roost-python-{uuid.uuid4()}" if self.auto_idempotency else None
        if given is None or given is NOT_GIVEN or given is False:
            return None
        return str(given)

    def headers(self, call: Call) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": f"roost-client-python/{VERSION}",
            **self.default_headers,
        }
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        return headers

    def content(self, call: Call) -> bytes | None:
        if call.body is None:
            return None
        return json.dumps(call.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def url(self, call: Call) -> str:
        return self.base_url.rstrip("/") + call.path

    # Retries -----------------------------------------------------------------------------

    def retry_delay(self, retries_done: int, error: RoostError | None) -> float:
        """Seconds to wait before the next try: the server's Retry-After (capped at
        max_retry_after) when it sent one, else exponential back-off with jitter."""
        retry_after = parse_retry_after(error.headers.get("retry-after")) if error is not None else None
        if retry_after is not None:
            wait = min(retry_after, self.max_retry_after)
            return wait + random.uniform(0, min(0.25, wait * 0.1))
        backoff = min(self.max_retry_delay, self.initial_retry_delay * (2**retries_done))
        return backoff * random.uniform(0.5, 1.0)

    def should_retry(self, call: Call, retries_done: int, error: RoostError) -> bool:
        if retries_done >= self.max_retries:
            return False
        if isinstance(error, APIConnectionError):
            # A connection that never opened carried nothing: always safe to send again.
            return getattr(error, "never_sent", False) or call.retry_safe
        status = error.http_status or 0
        if status == 429:
            return True  # refused before anything was done
        if status == 409 and error.code == "idempotency_key_in_use":
            return True  # our own earlier try is still running: its answer will be replayed
        if status >= 500:
            return call.retry_safe
        return False


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    kind = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    error = kind(f"Could not reach Roost: {type(exc).__name__}: {exc}")
    # ConnectError / ConnectTimeout: the request never left this machine.
    error.never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))  # type: ignore[attr-defined]
    error.__cause__ = exc
    return error


def outcome(call: Call, response: httpx.Response) -> Any:
    """The object for a successful answer, or raises the error it carries."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = None
    if response.status_code >= 400:
        raise error_from_response(response.status_code, body, headers, response.text if body is None else "")
    if response.status_code == 204 or body is None:
        return None
    info = ResponseInfo(response.status_code, headers)
    if call.model is not None and isinstance(body, dict):
        return call.model(body, response=info)
    return body


def page_items(call: Call, body: Any) -> tuple[list[Any], bool]:
    """The items and has_more of a list answer."""
    if isinstance(body, RoostObject):
        body = body.to_dict()
    data = body.get("data", []) if isinstance(body, dict) else []
    items = []
    for item in data:
        model = model_for(call.model, item)
        items.append(model(item) if model is not None and isinstance(item, dict) else item)
    return items, bool(body.get("has_more")) if isinstance(body, dict) else False


def next_page_call(call: Call, items: list[Any]) -> Call:
    """The call for the page after `items`: forwards with starting_after, or backwards with
    ending_before when the caller paged backwards."""
    backwards = any(name == "ending_before" for name, _ in call.query)
    if backwards:
        return call.with_query(ending_before=_item_id(items[0]))
    return call.with_query(starting_after=_item_id(items[-1]))


def _item_id(item: Any) -> str:
    """The cursor of a list item: its `id`, or `attempt_id` for recovered attempts (which have no id)."""
    if not isinstance(item, (dict, RoostObject)):
        return str(item)
    return item.get("id") or item["attempt_id"]
