"""Typed query parameters: one `QueryParams` per list declares its filters once, and that one
definition reads and checks the query string (`read`) and documents it in OpenAPI (`openapi`).

The query string is read by hand rather than by FastAPI's declared parameters: those cost a
noticeable share of a fast list request, and Roost's errors are its own (kit.pagination reads the
page, refuses unknown and repeated parameters, and collects every problem). Each filter turns its
text into a value or raises ValueError with the words that follow its name in the error."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from roost.kit import errors
from roost.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, ListQuery, QueryString, read_list_query
from roost.kit.timeutil import parse_time

TIME_PROBLEM = "must be an ISO 8601 time (2024-01-15T12:30:00.000Z) or Unix seconds"


@dataclass(frozen=True)
class Param:
    """One filter: its name in the query string, its OpenAPI schema (with its description), how
    its text becomes a value, and the keyword the value is handed over as (`created[gte]` ->
    `created_gte`)."""

    name: str
    schema: dict[str, Any]
    parse: Callable[[str], Any] = str
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.name.replace("[", "_").replace("]", ""))


def text(name: str, description: str) -> Param:
    # minLength 1: kit.pagination refuses an empty list parameter
    return Param(name, {"type": "string", "minLength": 1, "description": description})


def one_of(
    name: str, values: Iterable[Any], description: str, *, refusal: str | None = None, convert: Callable[[str], Any] = str
) -> Param:
    """One of `values` (enum members or strings), refused with `refusal` (by default "must be one of …")."""
    allowed = [str(getattr(value, "value", value)) for value in values]
    refusal = refusal or "must be one of " + ", ".join(allowed)
    accepted = frozenset(allowed)

    def parse(value: str) -> Any:
        if value not in accepted:
            raise ValueError(refusal)
        return convert(value)

    return Param(name, {"type": "string", "enum": allowed, "description": description}, parse)


def timestamp(name: str, description: str) -> Param:
    def parse(value: str) -> int:
        try:
            return parse_time(value)
        except ValueError:
            raise ValueError(TIME_PROBLEM) from None

    schema = {
        "type": "string",
        "minLength": 1,
        "description": f"{description}: an ISO 8601 time (2024-01-15T12:30:00.000Z) or Unix seconds",
        "examples": ["2024-01-15T12:30:00.000Z", "1705321800"],
    }
    return Param(name, schema, parse)


METADATA_FILTER = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "`metadata[<key>]=<value>`, any number (AND): a top-level metadata value, "
    "compared as text (`true`, `42` and `null` as JSON writes them)",
}


def _page_params(noun: str) -> list[Param]:
    """The cursor parameters of every list (SPEC conventions); kit.pagination reads them."""
    limit = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": f"Page size: 1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}"}
    return [
        Param("limit", limit),
        text("starting_after", f"{noun}: the page after it (older)"),
        text("ending_before", f"{noun}: the page before it (newer)"),
    ]


class QueryParams:
    """The query parameters of one operation: `page` names what the cursors are ids of (None: not
    a list), `metadata` accepts `metadata[key]=value` filters, then the operation's own filters."""

    def __init__(self, *filters: Param, page: str | None = None, metadata: bool = False) -> None:
        self.filters = filters
        self.page = page
        self.metadata = metadata
        self.names = frozenset(param.name for param in filters)
        self.keys = [param.key for param in filters]

    def read(self, query: QueryString) -> ListQuery:
        """The page, the metadata filters and each filter's value by key (None when not given);
        a 400 listing every problem found (unknown, repeated or empty parameters, a bad page, a
        filter's refusal), the first one on top."""
        parsed = read_list_query(query, self.names, metadata=self.metadata, page=self.page is not None)
        parsed.filters = filters = dict.fromkeys(self.keys)
        for param in self.filters:
            if param.name in query:
                try:
                    filters[param.key] = param.parse(query[param.name])
                except ValueError as problem:
                    parsed.problem(param.name, str(problem))
        if parsed.problems:
            raise errors.validation_error(parsed.problems)
        return parsed

    def openapi(self) -> dict[str, Any]:
        """`openapi_extra` documenting these parameters (all optional)."""
        params = (_page_params(self.page) if self.page else []) + list(self.filters)
        documented = []
        for param in params:
            schema = dict(param.schema)
            documented.append(
                {"name": param.name, "in": "query", "required": False, "description": schema.pop("description"), "schema": schema}
            )
        if self.metadata:
            schema = dict(METADATA_FILTER)
            documented.append(
                {
                    "name": "metadata",
                    "in": "query",
                    "required": False,
                    "description": schema.pop("description"),
                    "style": "deepObject",
                    "explode": True,
                    "schema": schema,
                }
            )
        return {"parameters": documented}
