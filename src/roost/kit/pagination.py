"""Cursor pagination of lists (SPEC conventions): newest first by (created_at, id), `limit`
1–100 (default 20), `starting_after` / `ending_before` (an id), `{"data", "has_more"}`.

The query-string side (reading `limit`, the cursors, unknown parameters and `metadata[key]`
filters into problems the caller raises together with its own) and the keyset side (the
condition after the cursor row, the order, and trimming the extra row into `has_more`)."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors
from roost.kit.validation import NUL_PROBLEM, is_ascii_digits

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_METADATA_FILTERS = 5
PAGE_PARAMS = frozenset({"limit", "starting_after", "ending_before"})


class QueryString(Protocol):
    def keys(self) -> Iterable[str]: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def getlist(self, key: str) -> list[str]: ...
    def __getitem__(self, key: str) -> str: ...
    def __contains__(self, key: object) -> bool: ...


@dataclass
class Page:
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None

    @property
    def newest_first(self) -> bool:
        """`ending_before` walks towards newer rows; everything else is newest first."""
        return self.ending_before is None

    @property
    def cursor_id(self) -> str | None:
        return self.starting_after if self.starting_after is not None else self.ending_before

    @property
    def cursor_param(self) -> str:
        return "starting_after" if self.newest_first else "ending_before"


@dataclass
class ListQuery:
    page: Page
    metadata: dict[str, str] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)  # the list's own, by key (kit.query)

    def problem(self, param: str, message: str, code: str = "parameter_invalid") -> None:
        """Adds `{param, code, message}`, the message starting with the parameter's name; the
        first problem of a parameter is the one reported (an empty `status=` is "must not be
        empty", not also "must be one of")."""
        if all(problem["param"] != param for problem in self.problems):
            self.problems.append({"param": param, "code": code, "message": f"{param} {message}"})


def read_list_query(query: QueryString, filters: Iterable[str], *, metadata: bool = False, page: bool = True) -> ListQuery:
    """The page and `metadata[...]` filters of a list request, with every problem found so far.

    `filters` are the list's own parameters (validated by the caller; kit.query does). Unknown
    parameters are refused, and so is a parameter given twice (which of the two would count is a
    guess). `page=False`: a query without cursors (the funnel's)."""
    known = (PAGE_PARAMS if page else frozenset()) | set(filters)
    result = ListQuery(page=Page())
    for name in query.keys():
        values = query.getlist(name)
        if any("\x00" in text for text in (name, *values)):
            result.problem(name, NUL_PROBLEM)
        elif len(values) > 1 and (name in known or _is_metadata_filter(name, metadata)):
            result.problem(name, "must be given once")
        elif _is_metadata_filter(name, metadata):
            result.metadata[name[len("metadata[") : -1]] = query[name]
        elif name not in known:
            result.problem(name, "is not a known parameter", "parameter_unknown")
        elif not query[name]:  # `?status=` filters by nothing: refused rather than guessed at
            result.problem(name, "must not be empty")
    if len(result.metadata) > MAX_METADATA_FILTERS:
        # Each filter is one more index lookup joined in; the cap keeps every list fast.
        result.problem("metadata", f"takes at most {MAX_METADATA_FILTERS} filters in one request")
    if not page:
        return result
    if "limit" in query:
        text = query["limit"]
        if not is_ascii_digits(text) or not 1 <= int(text) <= MAX_LIMIT:
            result.problem("limit", f"must be an integer from 1 to {MAX_LIMIT}")
        else:
            result.page.limit = int(text)
    if "starting_after" in query and "ending_before" in query:
        result.problem("ending_before", "cannot be combined with starting_after")
    result.page.starting_after = query.get("starting_after")
    result.page.ending_before = query.get("ending_before")
    return result


def _is_metadata_filter(name: str, metadata: bool) -> bool:
    return metadata and name.startswith("metadata[") and name.endswith("]") and len(name) > len("metadata[]")


def after_cursor(created: Any, id_: Any, cursor: tuple[Any, Any], newest_first: bool) -> ColumnElement[bool]:
    """Rows beyond the cursor row `(created_at, id)` in the page's direction (Page.newest_first)."""
    keys, at = tuple_(created, id_), tuple_(*cursor)
    return keys < at if newest_first else keys > at


def order_by(created: Any, id_: Any, newest_first: bool) -> tuple[Any, Any]:
    return (created.desc(), id_.desc()) if newest_first else (created.asc(), id_.asc())


def trim(rows: list[Any], page: Page) -> tuple[list[Any], bool]:
    """Rows fetched with `limit + 1`, as the page shows them (newest first) and `has_more`."""
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if not page.newest_first:
        rows.reverse()
    return rows, has_more


def list_object(data: list[Any], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more}


async def fetch_page(
    db: AsyncSession,
    query: Select,
    model: Any,
    cursor_scope: list[Any],
    page: Page,
    *,
    what: str,
) -> tuple[list[Any], bool]:
    """One page of a small list, newest first by (created_at, id): `limit` rows after/before a
    cursor row of the same scope (an unknown cursor is a 400 naming `what` the ids must be)."""
    if page.cursor_id:
        row = (await db.execute(select(model.created_at, model.id).where(model.id == page.cursor_id, *cursor_scope))).first()
        if row is None:
            raise errors.invalid(
                "parameter_invalid", f"{page.cursor_param} must be the id of one of your {what}", param=page.cursor_param
            )
        query = query.where(after_cursor(model.created_at, model.id, (row.created_at, row.id), page.newest_first))
    rows = list(await db.scalars(query.order_by(*order_by(model.created_at, model.id, page.newest_first)).limit(page.limit + 1)))
    return trim(rows, page)
