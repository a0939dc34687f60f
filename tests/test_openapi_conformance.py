"""`/openapi.json` says what the server does, checked from the document alone: schemathesis
generates requests for every operation (the document's examples, boundary values of every
constraint, then random ones, valid and invalid) and sends them to a real server on loopback;
each answer must be a documented status with a body and headers of the documented schema, no
request may be answered 5xx, one the document forbids must be refused (4xx), and a 405 must list
the path's methods in Allow.

Not checked: that every request the document allows is accepted (`positive_data_acceptance`):
some rules are not schema rules (a redirect URI on the allow-list, an attempt that exists, a code
that Meta accepts), and a refusal of those is a 4xx the document lists."""

import os
import subprocess
import sys
from pathlib import Path

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
]


def test_every_operation_answers_as_its_openapi_document_says(start_roost, tmp_path):
    # ~2,000 requests from one key. The webhook endpoints it creates have made-up hosts: a short
    # delivery time limit keeps the server's shutdown from waiting on their lookups.
    server = start_roost(rate_limit_per_minute=0, webhook_timeout_seconds=1)
    org = server.new_org("Conformance")
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis), "run", f"{server.base_url}/openapi.json",
        "--header", f"Authorization: Bearer {org.test_key}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "10",
        "--generation-deterministic",  # the same requests on every run
        "--workers", "1",
        "--suppress-health-check", "all",
        "--continue-on-failure",
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout[-20000:]
    with server.http() as http:
        document = http.get("/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert f"Tested: {operations}\n" in result.stdout, result.stdout[-3000:]  # every operation ran
