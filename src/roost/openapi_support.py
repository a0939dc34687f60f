"""OpenAPI that says what the server does: our own JSON body parsing, our error shape, 400 not 422
(query parameters are documented by kit.query, response objects by kit.objects)."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel


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
