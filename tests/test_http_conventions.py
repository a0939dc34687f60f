"""Conventions of the whole HTTP API (SPEC top, 2, 8): Request-Id, the error shape for unknown
routes and methods, rate limits, and the operations endpoints (health, metrics, OpenAPI, docs)."""

import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from roost.db.migrate import head_revision
from roost.kit.crypto import new_key_text
from tests.processes import RoostServer, roost_env
from tests.support import SEED_BODY, SESSIONS, assert_error, wait_for_room_in_window

SETTINGS = "/v1/organization/settings"
ADMIN_KEYS = "/v1/organization/admin-keys"
REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]+$")
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")




# -- Request-Id ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "body", "status"),
    [
        ("GET", SETTINGS, True, None, 200),
        ("PATCH", SETTINGS, True, {"allowed_origins": "not a list"}, 400),
        ("GET", SETTINGS, False, None, 401),
        ("DELETE", f"{ADMIN_KEYS}/key_2DbBs7GWhGvVNJGrDXr5RG0mBWI", True, None, 404),
        ("GET", "/no/such/route", False, None, 404),
        ("PUT", SETTINGS, True, None, 405),
    ],
    ids=["200", "400", "401", "404-object", "404-route", "405"],
)
def test_every_response_carries_a_request_id_equal_to_the_errors(roost, org, method, path, authenticated, body, status):
    client = org.client() if authenticated else roost.http()
    with client:
        response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    request_id = response.headers["Request-Id"]
    assert REQUEST_ID.match(request_id), request_id
    if status >= 400:
        assert response.json()["error"]["request_id"] == request_id


def test_the_favicon_browsers_ask_for_is_no_content_not_a_404(roost):
    # Every hosted page makes the browser ask for it: a 404 would be an error in its console.
    with roost.http() as http:
        response = http.get("/favicon.ico")
    assert (response.status_code, response.content) == (204, b"")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_operations_endpoints_carry_a_request_id_too(roost, path):
    with roost.http() as http:
        response = http.get(path)
    assert response.status_code == 200
    assert REQUEST_ID.match(response.headers["Request-Id"])


def test_each_request_gets_its_own_request_id(roost):
    with roost.http() as http:
        ids = {http.get("/healthz").headers["Request-Id"] for _ in range(5)}
    assert len(ids) == 5


# -- unknown routes and methods ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/nope", "/v1/organization/nope", "/v1/organization/embedded-signup/sessions/wss_1/nope",
        # A trailing slash is another path: no redirect (it would be built from the Host header).
        "/v1/organization/embedded-signup/sessions/", "/healthz/",
    ],
)
def test_an_unknown_route_is_a_404_in_the_error_shape(roost, path):
    with roost.http() as http:
        response = http.get(path)
    assert_error(response, 404, "resource_missing")
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(("method", "path"), [("PUT", SETTINGS), ("DELETE", SETTINGS), ("PATCH", SESSIONS), ("POST", "/healthz")])
def test_a_wrong_method_is_a_405_in_the_error_shape(api, method, path):
    response = api.request(method, path)
    assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", SETTINGS, "GET, PATCH"),
        ("OPTIONS", SESSIONS, "GET, POST"),
        ("PATCH", f"{SESSIONS}/wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "DELETE, GET"),
        ("PUT", "/v1/organization/webhooks/whk_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "DELETE, GET, PATCH"),
        ("POST", "/healthz", "GET"),
        # Its own resource, though /business-profiles/{profile_id} (GET, DELETE) matches it too.
        ("PUT", "/v1/organization/whatsapp/business-profiles/claim", "POST"),
    ],
)
def test_a_405_names_every_method_the_path_has(api, method, path, allow):
    # Each method of a path is a route of its own; the header lists them all (RFC 9110, 15.5.6).
    response = api.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow


# -- rate limits ---------------------------------------------------------------------------


def test_the_default_limit_is_600_requests_a_minute(api):
    response = api.get(SETTINGS)
    assert response.headers["X-RateLimit-Limit"] == "600"


def test_every_authenticated_response_carries_the_rate_limit(start_roost):
    server = start_roost(rate_limit_per_minute=5)
    org = server.new_org()
    wait_for_room_in_window()
    with org.client() as client:
        responses = [
            client.get(SETTINGS),
            client.patch(SETTINGS, json={"allowed_origins": "not a list"}),
            client.delete(f"{ADMIN_KEYS}/key_2DbBs7GWhGvVNJGrDXr5RG0mBWI"),
            client.post(ADMIN_KEYS),
        ]
    assert [response.status_code for response in responses] == [200, 400, 404, 201]
    assert [response.headers["X-RateLimit-Limit"] for response in responses] == ["5"] * 4
    assert [response.headers["X-RateLimit-Remaining"] for response in responses] == ["4", "3", "2", "1"]
    resets = {int(response.headers["X-RateLimit-Reset"]) for response in responses}
    assert len(resets) == 1
    assert time.time() < resets.pop() <= time.time() + 60


def test_the_request_over_the_limit_is_429_with_retry_after_and_does_nothing(start_roost):
    server = start_roost(rate_limit_per_minute=5)
    org = server.new_org()
    wait_for_room_in_window()
    with org.client() as client:
        assert [client.get(SETTINGS).status_code for _ in range(5)] == [200] * 5
        response = client.post(ADMIN_KEYS, json={"name": "one too many"})
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert server.sql("SELECT count(*) FROM admin_keys WHERE organization_id = :org", org=org.id)[0][0] == 1


def test_a_rate_limited_key_cannot_create_sessions(start_roost):
    server = start_roost(rate_limit_per_minute=5)
    org = server.new_org()
    wait_for_room_in_window()
    with org.client() as client:
        for _ in range(5):
            client.get(SETTINGS)
        response = client.post(SESSIONS, json=SEED_BODY)
    assert_error(response, 429, "rate_limited")
    assert server.sql("SELECT count(*) FROM embedded_signup_sessions WHERE organization_id = :org", org=org.id)[0][0] == 0


def test_the_limit_is_per_key(start_roost):
    server = start_roost(rate_limit_per_minute=5)
    org = server.new_org()
    wait_for_room_in_window()
    with org.client() as first:
        second_key = first.post(ADMIN_KEYS).json()["admin_key"]
        for _ in range(4):
            first.get(SETTINGS)
        assert first.get(SETTINGS).status_code == 429
    with org.client(second_key) as second:
        response = second.get(SETTINGS)
    assert response.status_code == 200, response.text
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_a_limit_of_zero_turns_rate_limiting_off(start_roost):
    server = start_roost(rate_limit_per_minute=0)
    org = server.new_org()
    with org.client() as client:
        responses = [client.get(SETTINGS) for _ in range(12)]
    assert all(response.status_code == 200 for response in responses)
    for response in responses:
        assert not any(name in response.headers for name in RATE_HEADERS)


# -- health and metrics --------------------------------------------------------------------


def test_liveness_answers_without_a_database_and_readiness_does_not(tmp_path):
    # Nothing listens on port 1: the database is unreachable from the start.
    env = roost_env(
        ROOST_DATABASE_URL="postgresql://roost@127.0.0.1:1/unreachable",
        ROOST_SECRET_KEY=new_key_text(),
        ROOST_MIGRATE_ON_START="0",
    )
    server = RoostServer(env, tmp_path, extra_args=("--no-worker",))
    try:
        with server.client() as http:
            live = http.get("/healthz")
            ready = http.get("/readyz")
    finally:
        server.stop()
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"


def test_readiness_reports_current_migrations(roost):
    with roost.http() as http:
        response = http.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["migrations"]["current"] == body["migrations"]["head"] == head_revision()


def test_metrics_are_in_prometheus_text_format(roost):
    with roost.http() as http:
        http.get("/healthz")
        response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "roost_http_requests_total" in response.text
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    samples = families["roost_http_requests"].samples
    assert any(
        sample.name == "roost_http_requests_total"
        and sample.labels == {"method": "GET", "route": "/healthz", "status": "200"}
        and sample.value >= 1
        for sample in samples
    )


# -- OpenAPI and docs ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(roost) -> dict:
    with roost.http() as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def resolve(document: dict, schema: dict) -> dict:
    """Follow `$ref`s and unwrap an optional (`anyOf: [X, null]`) down to X."""
    while True:
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema:
            schema = next(option for option in schema["anyOf"] if option.get("type") != "null")
        else:
            return schema


def v1_operations(document: dict):
    for path, operations in document["paths"].items():
        if path.startswith("/v1/"):
            for method, operation in operations.items():
                yield f"{method.upper()} {path}", operation


def test_no_operation_documents_422(openapi):
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], f"{method.upper()} {path}"
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_operations_that_take_input_document_400_with_the_error_schema(openapi):
    error_ref = {"$ref": "#/components/schemas/Error"}
    for name, operation in v1_operations(openapi):
        if not (operation.get("parameters") or operation.get("requestBody")):
            continue  # nothing to validate, so no 400 to document (GET /v1/organization/admin-keys)
        assert "400" in operation["responses"], name
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == error_ref, name


def test_operations_that_read_a_body_document_its_400_413_and_415(openapi):
    # Every POST, PATCH and DELETE reads its body (those without parameters refuse any field).
    for name, operation in v1_operations(openapi):
        if name.split()[0] in ("POST", "PATCH", "DELETE"):
            for status in ("400", "413", "415"):
                assert status in operation["responses"], f"{name} {status}"


def test_a_lone_surrogate_in_the_settings_is_refused_and_nothing_is_stored(org):
    with org.client() as client:
        before = client.get(SETTINGS).json()
        for body in (b'{"allowed_origins": ["https://a\\ud800.example.com"]}', b'{"name": "Acme \\udc00"}',
                     b'{"branding": {"logo_url": "https://cdn.example.com/\\ud800.png"}}'):
            response = client.patch(SETTINGS, content=body, headers={"Content-Type": "application/json"})
            error = assert_error(response, 400, "parameter_invalid")
            assert "lone UTF-16 surrogate" in error["message"]
        assert client.get(SETTINGS).json() == before


def test_a_body_field_spelt_with_a_lone_surrogate_is_reported_printably(org):
    with org.client() as client:
        response = client.request("DELETE", f"{SESSIONS}/wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", content=b'{"\\ud800": 1}',
                                  headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "parameter_invalid")
    assert error["param"] == "\\ud800"


def test_every_v1_error_response_uses_the_error_schema(openapi):
    error_ref = {"$ref": "#/components/schemas/Error"}
    for name, operation in v1_operations(openapi):
        for status in ("401", "429"):
            assert status in operation["responses"], f"{name} {status}"
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == error_ref, f"{name} {status}"
        assert operation.get("security"), name


def test_the_error_schema_is_the_documented_shape(openapi):
    error = openapi["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["required"]) >= {"type", "code", "message", "request_id"}
    assert {"param", "errors"} <= set(error["properties"])
    assert set(error["properties"]["type"]["enum"]) == {
        "invalid_request_error", "authentication_error", "provider_error", "api_error",
    }


def test_the_create_body_is_session_create_params_with_the_seeds_fields(openapi):
    operation = openapi["paths"][SESSIONS]["post"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/SessionCreateParams"}
    params = resolve(openapi, body_schema)
    assert params["additionalProperties"] is False
    assert set(SEED_BODY) <= set(params["properties"])
    # The seed page's "Minimum string length: 1", and SPEC 3.1's 2048, as the server checks them.
    lengths = {field: [(b.get("minLength"), b.get("maxLength")) for b in params["properties"][field]["anyOf"] if b["type"] == "string"]
               for field in ("redirect_uri", "state")}
    assert lengths == {"redirect_uri": [(1, 2048)], "state": [(1, 512)]}

    prefill = resolve(openapi, params["properties"]["prefill"])
    business = resolve(openapi, prefill["properties"]["business"])
    assert set(SEED_BODY["prefill"]["business"]) <= set(business["properties"])
    address = resolve(openapi, business["properties"]["address"])
    assert set(SEED_BODY["prefill"]["business"]["address"]) <= set(address["properties"])
    phone = resolve(openapi, prefill["properties"]["phone"])
    assert set(SEED_BODY["prefill"]["phone"]) <= set(phone["properties"])
    # Unknown fields are refused at every level, and the document says so.
    for schema in (prefill, business, address, phone):
        assert schema["additionalProperties"] is False


def test_the_create_response_documents_the_seeds_fields(openapi):
    response = openapi["paths"][SESSIONS]["post"]["responses"]["201"]
    schema = resolve(openapi, response["content"]["application/json"]["schema"])
    assert {"id", "url", "expires_at"} <= set(schema.get("required", [])), schema
    assert resolve(openapi, schema["properties"]["url"]).get("format") == "uri"
    assert resolve(openapi, schema["properties"]["expires_at"]).get("format") == "date-time"


def test_human_docs_are_served(roost):
    with roost.http() as http:
        response = http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


# -- operations that take no body ------------------------------------------------------------------

BAD_BODIES = [
    ({"json": {"reason": "x"}}, 400, "parameter_unknown"),
    ({"content": b"garbage", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
    ({"content": b"{bad", "headers": {"Content-Type": "application/json"}}, 400, "body_invalid_json"),
]


def no_body_operations(api) -> dict:
    """(method, path, what tells that nothing happened) of each operation that takes no body."""
    session = api.post(SESSIONS, json={}).json()
    key = api.post(ADMIN_KEYS, json={}).json()
    webhook = api.post("/v1/organization/webhooks", json={"url": "https://example.com/hook", "events": ["*"]}).json()
    secret = api.get(SETTINGS).json()["redirect_secret"]
    events = lambda: [e["type"] for e in api.get(f"{SESSIONS}/{session['id']}/events").json()["data"]]  # noqa: E731
    return {
        "cancel": ("DELETE", f"{SESSIONS}/{session['id']}", lambda: api.get(f"{SESSIONS}/{session['id']}").json()["status"] == "pending"),
        "new link": ("POST", f"{SESSIONS}/{session['id']}/link", lambda: "session.link_refreshed" not in events()),
        "revoke key": ("DELETE", f"{ADMIN_KEYS}/{key['id']}", lambda: api.get(ADMIN_KEYS).json()["data"][0]["revoked_at"] is None),
        "rotate": ("POST", f"{SETTINGS}/redirect-secret/rotate", lambda: api.get(SETTINGS).json()["redirect_secret"] == secret),
        "delete webhook": ("DELETE", f"/v1/organization/webhooks/{webhook['id']}", lambda: api.get(f"/v1/organization/webhooks/{webhook['id']}").status_code == 200),
        "disconnect profile": ("DELETE", "/v1/organization/whatsapp/business-profiles/wabp_3MvNoLElMPgIciR5UfJVeaSZNVm", lambda: True),
    }


@pytest.mark.parametrize("bad", BAD_BODIES, ids=["unknown field", "not json", "bad json"])
def test_an_operation_without_parameters_refuses_a_body_and_does_nothing(api, bad):
    options, status, code = bad
    for name, (method, path, unchanged) in no_body_operations(api).items():
        response = api.request(method, path, **options)
        error = assert_error(response, status, code)
        if code == "parameter_unknown":
            assert error["param"] == "reason", name
        assert unchanged(), name


def test_an_operation_without_parameters_takes_an_empty_object(api):
    session = api.post(SESSIONS, json={}).json()
    assert api.post(f"{SESSIONS}/{session['id']}/link", json={}).status_code == 200
    assert api.request("DELETE", f"{SESSIONS}/{session['id']}", json={}).status_code == 200
