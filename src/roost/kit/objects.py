"""API objects: one Pydantic model per object that both documents it (the OpenAPI schema is the
model's) and renders it (`render`, driven by the same fields, in their order).

Rendering does not go through Pydantic: building and dumping a model costs about twice a plain
dict, and a list page renders many objects. `render` reads each field from the stored row
instead, as the field's annotation says:

- a `Literal` field is a constant (`object: Literal["business_profile"] = "business_profile"`);
- `Timestamp` / `OptionalTimestamp`: milliseconds in the row, ISO 8601 on the wire;
- `From("metadata_", empty=dict)`: another attribute of the row (`empty` builds the value for None);
- `GIVEN`: computed by the caller and passed to `render` (a status, nested objects);
- `WHEN_GIVEN`: present only when passed and not None (a secret shown once, a one-time url);
- anything else: the row's attribute of the field's name.

A keyword passed to `render` overrides the row for that field."""

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, Field, create_model

from roost.kit.timeutil import to_iso


@dataclass(frozen=True)
class From:
    """The field's value is the row's attribute `attribute`; `empty()` stands for a None there."""

    attribute: str
    empty: Callable[[], Any] | None = None


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


GIVEN = _Marker("GIVEN")
WHEN_GIVEN = _Marker("WHEN_GIVEN")
_TIME = _Marker("TIME")

# Documented as date-time strings (2024-01-15T12:30:00.000Z), stored as integer milliseconds.
Timestamp = Annotated[datetime, _TIME]
OptionalTimestamp = Annotated[datetime | None, _TIME]


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _source: value


def _must_be_given(name: str) -> Callable[[Any], Any]:
    def missing(_source: Any) -> Any:
        raise TypeError(f"render() needs {name}: it is not read from the row")

    return missing


def _time(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda source: to_iso(read(source))


def _or_empty(read: Callable[[Any], Any], empty: Callable[[], Any]) -> Callable[[Any], Any]:
    def value(source: Any) -> Any:
        found = read(source)
        return empty() if found is None else found

    return value


class ApiObject(BaseModel):
    # (field name, how to read it from the row, whether it is left out unless given)
    _plan: ClassVar[tuple[tuple[str, Callable[[Any], Any], bool], ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        plan = []
        for name, info in cls.model_fields.items():
            markers = info.metadata
            read: Callable[[Any], Any] = operator.attrgetter(name)
            source = next((marker for marker in markers if isinstance(marker, From)), None)
            if source is not None:
                read = operator.attrgetter(source.attribute)
                if source.empty is not None:
                    read = _or_empty(read, source.empty)
            if get_origin(info.annotation) is Literal:
                read = _constant(get_args(info.annotation)[0])
            elif GIVEN in markers or WHEN_GIVEN in markers:
                read = _must_be_given(name)
            elif _TIME in markers:
                read = _time(read)
            plan.append((name, read, WHEN_GIVEN in markers))
        cls._plan = tuple(plan)

    @classmethod
    def render(cls, row: Any = None, /, **given: Any) -> dict[str, Any]:
        """The object as the API returns it, from `row` (a stored row) and the `given` fields."""
        body: dict[str, Any] = {}
        for name, read, when_given in cls._plan:
            if name in given:
                value = given[name]
                if value is None and when_given:
                    continue
                body[name] = value
            elif not when_given:
                body[name] = read(row)
        return body


def list_of(item: type[BaseModel], name: str) -> type[BaseModel]:
    """The documentation of a list of `item` (rendered by kit.pagination.list_object)."""
    return create_model(
        name,
        object=(Literal["list"], "list"),
        data=(list[item], ...),  # type: ignore[valid-type]
        has_more=(bool, Field(description="Whether another page follows in this direction")),
    )
