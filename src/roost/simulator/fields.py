"""Graph field selection, as Meta answers it: a node's default fields without `fields`; with it,
exactly the named fields (and the id); nested selection `edge{a,b}` / `edge.limit(n){a}` and
`struct{a}`; an unknown field refused with #100. Fields without a value are left out, as Meta does.

What each node serves and answers by default is listed in NODES (sources in docs/decisions.md).
"""

import base64
import re
from dataclasses import dataclass
from typing import Any

import httpx

from roost.simulator.errors import GraphError, invalid_parameter

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


@dataclass(frozen=True)
class NodeType:
    name: str  # Meta's node type, as its errors name it
    default: tuple[str, ...]  # answered when `fields` is absent


PHONE_NUMBER = NodeType("WhatsAppBusinessPhoneNumber", ("id", "display_phone_number", "verified_name", "quality_rating"))
# The phone_numbers edge answers more by default than the node (Meta's "Get all phone numbers" guide).
PHONE_NUMBER_IN_LIST = NodeType(
    "WhatsAppBusinessPhoneNumber",
    ("verified_name", "code_verification_status", "display_phone_number", "quality_rating", "platform_type",
     "throughput", "last_onboarded_time", "webhook_configuration", "id"),
)
WABA = NodeType("WhatsAppBusinessAccount", ("id", "name"))


@dataclass(frozen=True)
class Connection:
    """An edge read as a field of its node (`fields=phone_numbers{id}`): every item, all fields."""

    items: list[dict[str, Any]]
    node: NodeType
    url: str  # the edge's own URL, for `paging.next`


@dataclass(frozen=True)
class Selection:
    name: str
    limit: int | None = None
    fields: "tuple[Selection, ...] | None" = None


# -- parsing `fields` -----------------------------------------------------------------------


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse(text: str) -> tuple[Selection, ...]:
    """`id,name,phone_numbers.limit(5){id,status}` -> selections; malformed text is refused."""
    selections, position = _parse_list(text, 0)
    if position != len(text):
        raise _syntax_error(text, position)
    return selections


def _parse_list(text: str, position: int) -> tuple[tuple[Selection, ...], int]:
    selections = []
    while True:
        selection, position = _parse_one(text, position)
        selections.append(selection)
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        return tuple(selections), position


def _parse_one(text: str, position: int) -> tuple[Selection, int]:
    while position < len(text) and text[position] == " ":
        position += 1
    match = _NAME.match(text, position)
    if match is None:
        raise _syntax_error(text, position)
    name, position = match.group(0), match.end()
    limit = None
    modifier = re.compile(r"\.limit\(([0-9]{1,4})\)").match(text, position)
    if modifier is not None:
        limit, position = int(modifier.group(1)), modifier.end()
    fields = None
    if position < len(text) and text[position] == "{":
        fields, position = _parse_list(text, position + 1)
        if position >= len(text) or text[position] != "}":
            raise _syntax_error(text, position)
        position += 1
    while position < len(text) and text[position] == " ":
        position += 1
    return Selection(name, limit, fields), position


def unparse(selections: tuple[Selection, ...]) -> str:
    """The `fields` text of parsed selections (for a nested list's `paging.next`)."""
    parts = []
    for selection in selections:
        limit = f".limit({selection.limit})" if selection.limit is not None else ""
        inner = f"{{{unparse(selection.fields)}}}" if selection.fields is not None else ""
        parts.append(f"{selection.name}{limit}{inner}")
    return ",".join(parts)


def _syntax_error(text: str, position: int) -> GraphError:
    return invalid_parameter(f'Syntax error "Expected end of string instead of "{text[position:position + 1]}"." '
                             f"at character {position}: {text}")


# -- answering ----------------------------------------------------------------------------------


def nonexisting(name: str, node: NodeType) -> GraphError:
    return GraphError(100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node.name})")


def select(available: dict[str, Any], node: NodeType, fields: Any) -> dict[str, Any]:
    """The node as Meta answers a read with this `fields` parameter (absent: the defaults)."""
    text = str(fields).strip() if fields is not None else ""
    return answer(available, node, parse(text) if text else None)


def answer(available: dict[str, Any], node: NodeType, selections: tuple[Selection, ...] | None) -> dict[str, Any]:
    if selections is None:
        selections = tuple(Selection(name) for name in node.default)
    elif not any(selection.name == "id" for selection in selections):
        selections = (*selections, Selection("id"))  # Meta always names the node it answers for
    result: dict[str, Any] = {}
    for selection in selections:
        if selection.name not in available:
            raise nonexisting(selection.name, node)
        value = available[selection.name]
        if value is None:
            continue
        if isinstance(value, Connection):
            items = [answer(item, value.node, selection.fields) for item in value.items]
            query = {"fields": unparse(selection.fields)} if selection.fields else {}
            result[selection.name] = page(items, value.url, query, selection.limit)
        elif isinstance(value, dict):
            result[selection.name] = _struct(value, selection, node)
        elif selection.fields is not None:
            raise nonexisting(selection.fields[0].name, node)  # a plain value has no fields
        else:
            result[selection.name] = value
    return result


def _struct(value: dict[str, Any], selection: Selection, node: NodeType) -> dict[str, Any]:
    if selection.fields is None:
        return value
    chosen = {}
    for inner in selection.fields:
        if inner.name not in value or inner.fields is not None:
            raise nonexisting(inner.name, node)
        chosen[inner.name] = value[inner.name]
    return chosen


# -- paging -----------------------------------------------------------------------------------------


def _cursor(object_id: str) -> str:
    return base64.urlsafe_b64encode(f"sim:{object_id}".encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        return None
    return text[4:] if text.startswith("sim:") else None


def limit_of(params: dict[str, Any]) -> int:
    raw = params.get("limit", DEFAULT_LIMIT)
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise invalid_parameter("Param limit must be an integer") from None
    return max(1, min(limit, MAX_LIMIT))


def page(items: list[dict[str, Any]], url: str, params: dict[str, Any], limit: int | None = None) -> dict[str, Any]:
    """One page of a list edge: `data`, and `paging` with both cursors, `next` only when more
    follow and `previous` only when some come before. `params` are the request's query."""
    limit = max(1, min(limit, MAX_LIMIT)) if limit is not None else limit_of(params)
    ids = [item["id"] for item in items]
    start = 0
    if params.get("after"):
        anchor = _uncursor(str(params["after"]))
        start = ids.index(anchor) + 1 if anchor in ids else len(ids)
    elif params.get("before"):
        anchor = _uncursor(str(params["before"]))
        start = max(0, ids.index(anchor) - limit) if anchor in ids else 0
    chosen = items[start : start + limit]
    if not chosen:
        return {"data": []}
    paging: dict[str, Any] = {"cursors": {"before": _cursor(chosen[0]["id"]), "after": _cursor(chosen[-1]["id"])}}
    query = {key: value for key, value in params.items() if key not in ("after", "before", "access_token")}
    if start + limit < len(items):
        paging["next"] = str(httpx.URL(url, params={**query, "limit": limit, "after": paging["cursors"]["after"]}))
    if start > 0:
        paging["previous"] = str(httpx.URL(url, params={**query, "limit": limit, "before": paging["cursors"]["before"]}))
    return {"data": chosen, "paging": paging}
