"""OpenAPI that says what the server does: our own JSON body parsing, our error shape, 400 not 422."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from roost.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

_BODY_MODELS: dict[str, type[BaseModel]] = {}

ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "request_id"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["invalid_request_error", "authentication_error", "provider_error", "api_error"],
                },
                "code": {"type": "string", "examples": ["parameter_invalid"]},
                "message": {"type": "string"},
                "param": {"type": "string", "description": "Dotted path of the parameter at fault"},
                "errors": {
                    "type": "array",
                    "description": "Every problem found, when several fields are wrong",
                    "items": {
                        "type": "object",
                        "required": ["param", "code", "message"],
                        "properties": {
                            "param": {"type": "string"},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
                "request_id": {"type": "string"},
            },
        }
    },
}

_DESCRIPTIONS = {
    400: "Invalid request: bad parameters, malformed JSON or a body that is not an object",
    401: "Admin key missing, invalid or revoked",
    403: "The key's mode may not do this (live_mode_required)",
    404: "No such object for this organization and mode",
    409: "The object's state, or the Idempotency-Key, does not allow this",
    413: "Body larger than 64 KB",
    415: "Body sent without Content-Type: application/json",
    424: "Meta refused a valid request; error.provider carries Meta's code, message and fbtrace_id",
    429: "Rate limited; see Retry-After",
    502: "Meta could not be reached; safe to retry",
}


def body_of(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for an endpoint that reads its JSON body itself (kit.web.read_json_object)."""
    _BODY_MODELS[model.__name__] = model
    return {
        "requestBody": {
            "required": any(field.is_required() for field in model.model_fields.values()),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }


def query_parameters(**parameters: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` documenting the optional query parameters of an endpoint that reads its
    query string itself (declared parameters cost a noticeable share of a fast request to parse).
    Each keyword is a parameter, its value a schema made by `text`, `integer`, `one_of` or
    `timestamp`; `__` in a name stands for `[`…`]`: created__gte documents `created[gte]`."""
    documented = []
    for key, schema in parameters.items():
        head, _, tail = key.partition("__")
        schema = dict(schema)
        parameter = {"name": f"{head}[{tail}]" if tail else head, "in": "query", "required": False}
        parameter["description"] = schema.pop("description")
        if schema["type"] == "object":  # metadata: metadata[key]=value, one pair per key
            parameter.update(style="deepObject", explode=True)
        documented.append({**parameter, "schema": schema})
    return {"parameters": documented}


def text(description: str) -> dict[str, Any]:
    # minLength 1: kit.pagination refuses an empty list parameter
    return {"type": "string", "minLength": 1, "description": description}


def integer(minimum: int, maximum: int, description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}


def one_of(values: Any, description: str) -> dict[str, Any]:
    return {"type": "string", "enum": [str(value) for value in values], "description": description}


def timestamp(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "description": f"{description}: an ISO 8601 time (2024-01-15T12:30:00.000Z) or Unix seconds",
        "examples": ["2024-01-15T12:30:00.000Z", "1705321800"],
    }


# For an endpoint that declares the header `include_in_schema=False` (idempotency.check_key checks it).
IDEMPOTENCY_KEY_HEADER = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "1 to 255 printable characters: a retry with the same key and body gets the first response",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
    ]
}

METADATA_FILTER = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "`metadata[<key>]=<value>`, any number (AND): a top-level metadata value, "
    "compared as text (`true`, `42` and `null` as JSON writes them)",
}


def page_parameters(noun: str) -> dict[str, dict[str, Any]]:
    """The cursor parameters of every list (SPEC conventions), for `query_parameters`."""
    return {
        "limit": integer(1, MAX_LIMIT, f"Page size: 1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}"),
        "starting_after": text(f"{noun}: the page after it (older)"),
        "ending_before": text(f"{noun}: the page before it (newer)"),
    }


def errors_for(*statuses: int, own: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """Documented error responses of an authenticated endpoint (429 applies to every one);
    `own` words a status for this operation where the general description would mislead."""
    described = {**_DESCRIPTIONS, **(own or {})}
    return error_responses({status: described[status] for status in (*statuses, 429)})


def error_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """Error responses in the Error shape, each with its own description."""
    return {
        status: {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
        for status, description in described.items()
    }


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name, model in _BODY_MODELS.items():
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(model_schema.pop("$defs", {}))
        schemas[name] = model_schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["securitySchemes"] = {
        "AdminKey": {"type": "http", "scheme": "bearer", "description": "sk_admin_test_… or sk_admin_live_…"}
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses.pop("422")
                responses.setdefault("400", error_responses({400: _DESCRIPTIONS[400]})[400])
            if path.startswith("/v1/"):
                operation["security"] = [{"AdminKey": []}]
    app.openapi_schema = schema
    return schema
