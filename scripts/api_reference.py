#!/usr/bin/env python3
"""Render docs/reference.md from Roost's OpenAPI document, so the reference cannot drift from
what the server does. `python scripts/api_reference.py` writes it; `--check` fails when the
committed file is stale (the test suite runs that)."""

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "reference.md"
METHODS = ("get", "post", "patch", "put", "delete")


def openapi_document() -> dict[str, Any]:
    """The document exactly as `GET /openapi.json` serves it, from an app on a throwaway database."""
    from roost.app import create_app
    from roost.config import Settings
    from roost.kit.crypto import new_key_text
    from roost.runtime import build_runtime

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{folder}/reference.db", secret_key=new_key_text(), log_level="warning")
        runtime = build_runtime(settings)
        return json.loads(json.dumps(create_app(runtime, run_worker=False).openapi()))


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def type_of(document: dict[str, Any], schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    for combined in ("anyOf", "oneOf"):
        if combined in schema:
            kinds = [type_of(document, option) for option in schema[combined]]
            return " | ".join(kind for kind in kinds if kind != "null") + (" | null" if "null" in kinds else "")
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_of(document, schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(f"`{value}`" for value in schema["enum"])
    return kind


def cell(text: Any) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def fields_table(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    schema = resolve(document, schema)
    properties = schema.get("properties", {})
    if not properties:
        return []
    required = set(schema.get("required", []))
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, field in properties.items():
        lines.append(
            f"| `{name}` | {cell(type_of(document, field))} | {'yes' if name in required else ''} "
            f"| {cell(field.get('description') or resolve(document, field).get('description'))} |"
        )
    return lines


def render(document: dict[str, Any]) -> str:
    out = [
        "# API reference",
        "",
        "Generated from the OpenAPI document (`GET /openapi.json`) by `scripts/api_reference.py`;",
        "do not edit by hand. The narrative guide with examples is [api.md](api.md); error codes are in",
        "[errors.md](errors.md). Every `/v1/` endpoint takes `Authorization: Bearer sk_admin_…` and may",
        "answer 401 and 429 besides what is listed; every error has the shape of the `Error` schema.",
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in document["paths"].items():
        for method in METHODS:
            if method in operations:
                operation = operations[method]
                tag = (operation.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((path, method, operation))
    out.append("## Contents\n")
    for tag, operations in by_tag.items():
        out.append(f"- **{tag}**: " + ", ".join(f"`{method.upper()} {path}`" for path, method, _ in operations))
    out.append("")
    for tag, operations in by_tag.items():
        out += [f"## {tag}", ""]
        for path, method, operation in operations:
            out += [f"### `{method.upper()} {path}`", ""]
            if operation.get("summary"):
                out += [operation["summary"].strip(), ""]
            if operation.get("description"):
                out += [operation["description"].strip(), ""]
            parameters = operation.get("parameters", [])
            if parameters:
                out += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
                for parameter in parameters:
                    out.append(
                        f"| `{parameter['name']}` | {parameter['in']} | {cell(type_of(document, parameter.get('schema', {})))} "
                        f"| {'yes' if parameter.get('required') else ''} | {cell(parameter.get('description'))} |"
                    )
                out.append("")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                out += [f"Body: `{type_of(document, body)}`", ""]
                table = fields_table(document, body)
                out += table + ([""] if table else [])
            responses = operation.get("responses", {})
            out.append("Responses: " + ", ".join(
                f"**{status}** {cell(response.get('description'))}"
                + (f" (`{type_of(document, schema)}`)" if (schema := response.get("content", {}).get("application/json", {}).get("schema")) else "")
                for status, response in sorted(responses.items())
            ))
            out.append("")
    out += ["## Schemas", ""]
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        table = fields_table(document, schema)
        if not table:
            continue
        out += [f"### {name}", ""]
        if schema.get("description"):
            out += [cell(schema["description"]), ""]
        out += table + [""]
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    os.environ.setdefault("ROOST_LOG_LEVEL", "warning")
    text = render(openapi_document())
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/reference.md is stale: run python scripts/api_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
