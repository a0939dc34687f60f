"""API objects: one Pydantic model per object that both documents it (the OpenAPI schema is the
model's) and renders it (`render`, driven by the same fields, in their order).

Rendering does not go through Pydantic: building and dumping a model costs about twice a plain
dict, and a list page renders many objects. `render` reads each field from the stored row
instead, as the field's annotation says (compiled once per model into one dict display):

- a `Literal` field is a constant (`object: Literal["business_profile"] = "business_profile"`);
- `Timestamp` / `OptionalTimestamp`: milliseconds in the row, ISO 8601 on the wire;
- `From("metadata_", empty=dict)`: another attribute of the row (`empty` builds the value for None);
- `GIVEN`: computed by the caller and passed to `render` (a status, nested objects);
- `WHEN_GIVEN`: present only when passed and not None (a secret shown once, a one-time url);
- anything else: the row's attribute of the field's name.

Only GIVEN and WHEN_GIVEN fields are passed to `render`; an object computed entirely by its
caller marks every field GIVEN."""

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


class ApiObject(BaseModel):
    # True: every field is computed by the caller and given (a summary with no row behind it).
    all_given: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # The compiled function itself, not a method calling it: one call less per object.
        type.__setattr__(cls, "render", staticmethod(_compile_renderer(cls, cls.all_given)))

    @staticmethod
    def render(row: Any = None, /, **given: Any) -> dict[str, Any]:
        """The object as the API returns it, from `row` (a stored row) and the `given` fields
        (those marked GIVEN, which must be passed, and WHEN_GIVEN); compiled for each model."""
        raise TypeError("render() belongs to a model that derives from ApiObject")


def _compile_renderer(model: type[BaseModel], all_given: bool) -> Callable[..., dict[str, Any]]:
    """A function that builds the model's JSON as one dict display, as a hand-written renderer
    would: a list page renders up to 100 objects, and a loop over the fields cost 15-20 % more."""
    namespace: dict[str, Any] = {"_to_iso": to_iso}
    entries, allowed, omitted = [], set(), []
    for index, (name, info) in enumerate(model.model_fields.items()):
        key, markers = repr(name), info.metadata
        if get_origin(info.annotation) is Literal:
            namespace[f"_constant{index}"] = get_args(info.annotation)[0]
            entries.append(f"{key}: _constant{index}")
        elif WHEN_GIVEN in markers:
            allowed.add(name)
            omitted.append(f"    if body[{key}] is None:\n        del body[{key}]\n")
            entries.append(f"{key}: given.get({key})")
        elif GIVEN in markers or all_given:
            allowed.add(name)
            entries.append(f"{key}: given[{key}]")
        else:
            source = next((marker for marker in markers if isinstance(marker, From)), From(name))
            read = f"row.{source.attribute}"
            if source.empty is not None:
                namespace[f"_empty{index}"] = source.empty
                read = f"(_value if (_value := {read}) is not None else _empty{index}())"
            if _TIME in markers:
                read = f"_to_iso({read})"
            entries.append(f"{key}: {read}")
    namespace["_ALLOWED"] = frozenset(allowed)
    code = (
        "def render(row=None, /, **given):\n"
        "    if not given.keys() <= _ALLOWED:\n"
        "        raise TypeError(f'{sorted(given.keys() - _ALLOWED)} are read from the row, not given')\n"
        "    try:\n"
        f"        body = {{{', '.join(entries)}}}\n"
        "    except KeyError as missing:\n"
        "        raise TypeError(f'render() needs {missing}: it is not read from the row') from None\n"
        f"{''.join(omitted)}"
        "    return body\n"
    )
    exec(compile(code, f"<render {model.__name__}>", "exec"), namespace)  # noqa: S102 - our own fields only
    return namespace["render"]


def list_of(item: type[BaseModel], name: str) -> type[BaseModel]:
    """The documentation of a list of `item` (rendered by kit.pagination.list_object)."""
    return create_model(
        name,
        object=(Literal["list"], "list"),
        data=(list[item], ...),  # type: ignore[valid-type]
        has_more=(bool, Field(description="Whether another page follows in this direction")),
    )
