"""Creating embedded signup sessions over HTTP (SPEC 3.1, 3.4, section 2 errors, section 1 modes)."""

import copy
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.support import SEED_BODY, SESSIONS, assert_error, count_sessions

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SESSION_ID = re.compile(r"^wss_[a-zA-Z0-9]+$")
SESSION_FIELDS = {
    "id", "object", "livemode", "source", "status", "created_at", "expires_at", "started_at",
    "code_received_at", "completed_at", "cancelled_at", "redirect_uri", "state", "metadata",
    "prefill", "locale", "coexistence", "solution_id", "waba_id", "business_id", "phone_number_id",
    "business_profile_id", "last_step", "error", "provisioning",
}
META_SETTINGS = {"meta_app_id": "1234567890", "meta_app_secret": "app-secret-for-tests", "meta_config_id": "987654321"}


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def count_events(roost, org_id: str) -> int:
    return roost.sql(
        "SELECT count(*) FROM session_events e JOIN embedded_signup_sessions s ON s.id = e.session_id "
        "WHERE s.organization_id = :org",
        org=org_id,
    )[0][0]


def assert_nothing_stored(roost, org) -> None:
    assert count_sessions(roost, org.id) == 0
    assert count_events(roost, org.id) == 0


def with_(**changes) -> dict:
    body = copy.deepcopy(SEED_BODY)
    body.update(changes)
    return body


# -- the seed example ----------------------------------------------------------------------


def test_seed_example_is_accepted_as_written(roost, org, api):
    response = api.post(SESSIONS, json=SEED_BODY)
    assert response.status_code == 201, response.text
    body = response.json()
    assert SESSION_ID.match(body["id"])
    assert len(body["id"].removeprefix("wss_")) == 27
    assert SESSION_FIELDS <= body.keys()
    assert body["object"] == "embedded_signup_session"
    assert body["livemode"] is False
    assert body["source"] == "hosted"
    assert body["status"] == "pending"
    assert body["redirect_uri"] == SEED_BODY["redirect_uri"]
    assert body["state"] == SEED_BODY["state"]
    assert body["metadata"] == SEED_BODY["metadata"]
    assert body["locale"] is None
    assert body["coexistence"] is False
    for unset in ("started_at", "code_received_at", "completed_at", "cancelled_at", "waba_id", "business_id",
                  "phone_number_id", "business_profile_id", "last_step", "error"):
        assert body[unset] is None, unset
    assert body["provisioning"] == []
    assert count_sessions(roost, org.id) == 1


def test_created_url_is_a_connect_link_with_a_long_urlsafe_token(roost, api):
    url = api.post(SESSIONS, json=SEED_BODY).json()["url"]
    prefix = f"{roost.base_url}/embed/connect?token="
    assert url.startswith(prefix)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", url.removeprefix(prefix))


def test_expires_at_is_created_at_plus_15_minutes_in_iso_with_milliseconds(api):
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    body = api.post(SESSIONS, json=SEED_BODY).json()
    after = datetime.now(timezone.utc) + timedelta(seconds=1)
    assert ISO_MS.match(body["created_at"]) and ISO_MS.match(body["expires_at"])
    created, expires = parse_iso(body["created_at"]), parse_iso(body["expires_at"])
    assert before <= created <= after
    assert expires - created == timedelta(minutes=15)


def test_prefill_is_normalised_and_timezone_kept_as_given(api):
    created = api.post(SESSIONS, json=SEED_BODY).json()
    expected = copy.deepcopy(SEED_BODY["prefill"])
    expected["phone"]["category"] = "AUTO"
    assert created["prefill"] == expected
    fetched = api.get(f"{SESSIONS}/{created['id']}").json()
    assert fetched["prefill"] == expected
    assert fetched["prefill"]["business"]["timezone"] == "America/Los_Angeles"


def test_get_returns_the_created_session_without_url(api):
    created = api.post(SESSIONS, json=SEED_BODY).json()
    fetched = api.get(f"{SESSIONS}/{created['id']}")
    assert fetched.status_code == 200
    body = fetched.json()
    assert "url" not in body
    assert body == {key: value for key, value in created.items() if key != "url"}


def test_token_is_stored_only_as_its_sha256_hash(roost, org, api):
    created = api.post(SESSIONS, json=SEED_BODY).json()
    token = created["url"].split("token=", 1)[1]
    rows = roost.sql("SELECT * FROM embedded_signup_sessions WHERE id = :id", id=created["id"])
    assert len(rows) == 1
    assert all(token not in str(value) for value in rows[0])
    stored_hash = roost.sql("SELECT token_hash FROM embedded_signup_sessions WHERE id = :id", id=created["id"])[0][0]
    assert stored_hash == hashlib.sha256(token.encode()).hexdigest()


def test_two_sessions_get_different_ids_and_tokens(api):
    first = api.post(SESSIONS, json=SEED_BODY).json()
    second = api.post(SESSIONS, json=SEED_BODY).json()
    assert first["id"] != second["id"]
    assert first["url"] != second["url"]


def test_session_created_event_is_recorded(api):
    created = api.post(SESSIONS, json=SEED_BODY).json()
    response = api.get(f"{SESSIONS}/{created['id']}/events")
    assert response.status_code == 200
    events = response.json()["data"]
    assert [event["type"] for event in events] == ["session.created"]
    event = events[0]
    # docs/api.md: session timeline events are `sevt_` (`evt_` is kept for webhook events).
    assert re.fullmatch(r"s?evt_[A-Za-z0-9]{27}", event["id"])
    assert event["created_at"] == created["created_at"]
    assert isinstance(event["data"], dict)


@pytest.mark.parametrize("content", [b"", b"{}", b"  {}  \n"], ids=["no-body", "empty-object", "padded-object"])
def test_empty_body_creates_a_session(roost, org, api, content):
    headers = {"Content-Type": "application/json"} if content else {}
    response = api.post(SESSIONS, content=content, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["redirect_uri"] is None and body["state"] is None
    assert body["metadata"] == {} and body["prefill"] is None
    assert body["coexistence"] is False
    assert count_sessions(roost, org.id) == 1


def test_content_type_with_charset_is_accepted(api):
    response = api.post(
        SESSIONS, content=json.dumps(SEED_BODY).encode(), headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 201, response.text


# -- redirect_uri and state --------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://example.com/whatsapp/callback",
        "https://example.com/cb?tenant=42&x=y",
        "http://localhost:3000/callback",
        "http://127.0.0.1/callback",
        "http://[::1]:8080/callback",
        "myapp://callback",
        "com.example.app:/oauth2redirect",
        "https://example.com/" + "a" * (2048 - len("https://example.com/")),
    ],
)
def test_redirect_uri_accepted(roost, org, api, uri):
    response = api.post(SESSIONS, json={"redirect_uri": uri, "state": "s"})
    assert response.status_code == 201, response.text
    assert response.json()["redirect_uri"] == uri
    assert count_sessions(roost, org.id) == 1


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "blob:https://example.com/550e8400-e29b-41d4-a716-446655440000",
        "about:blank",
        "/relative/callback",
        "callback",
        "//example.com/callback",
        "https://example.com/callback#fragment",
        "https://example.com/" + "a" * (2049 - len("https://example.com/")),
        "http://example.com/callback",
        "http://localhost.evil.com/callback",
        "https:///no-host",
        "https://exa mple.com/callback",
        "",
    ],
    ids=lambda uri: uri[:40] or "empty",
)
def test_redirect_uri_refused(roost, org, api, uri):
    response = api.post(SESSIONS, json={"redirect_uri": uri, "state": "s"})
    assert_error(response, 400, "parameter_invalid", "redirect_uri")
    assert_nothing_stored(roost, org)


def test_redirect_uri_refused_when_not_on_the_allow_list(roost, org, api):
    allowed = "https://example.com/whatsapp/callback"
    settings = api.patch("/v1/organization/settings", json={"allowed_redirect_uris": [allowed]})
    assert settings.status_code == 200, settings.text
    for near_miss in (allowed + "/", allowed + "?x=1", "https://example.com/whatsapp/Callback", "https://other.example.com/cb"):
        response = api.post(SESSIONS, json={"redirect_uri": near_miss, "state": "s"})
        assert_error(response, 400, "parameter_invalid", "redirect_uri")
    assert_nothing_stored(roost, org)


def test_redirect_uri_on_the_allow_list_is_accepted(roost, org, api):
    allowed = ["https://example.com/whatsapp/callback", "myapp://callback"]
    assert api.patch("/v1/organization/settings", json={"allowed_redirect_uris": allowed}).status_code == 200
    for uri in allowed:
        response = api.post(SESSIONS, json={"redirect_uri": uri, "state": "s"})
        assert response.status_code == 201, response.text
    assert count_sessions(roost, org.id) == 2


def test_a_changed_allow_list_applies_to_the_very_next_create(roost, org, api):
    # Creates read the mode settings through a short in-process cache; a change must not wait for it.
    first, second = "https://example.com/first", "https://example.com/second"
    assert api.patch("/v1/organization/settings", json={"allowed_redirect_uris": [first]}).status_code == 200
    assert api.post(SESSIONS, json={"redirect_uri": first, "state": "s"}).status_code == 201
    assert api.patch("/v1/organization/settings", json={"allowed_redirect_uris": [second]}).status_code == 200
    assert_error(api.post(SESSIONS, json={"redirect_uri": first, "state": "s"}), 400, "parameter_invalid", "redirect_uri")
    assert api.post(SESSIONS, json={"redirect_uri": second, "state": "s"}).status_code == 201
    assert count_sessions(roost, org.id) == 2


def test_allow_list_does_not_make_redirect_uri_required(api):
    assert api.patch("/v1/organization/settings", json={"allowed_redirect_uris": ["https://example.com/cb"]}).status_code == 200
    assert api.post(SESSIONS, json={}).status_code == 201


def test_allow_list_of_another_organization_does_not_apply(roost, api):
    assert api.patch("/v1/organization/settings", json={"allowed_redirect_uris": ["https://example.com/cb"]}).status_code == 200
    with roost.new_org().client() as other:
        response = other.post(SESSIONS, json={"redirect_uri": "https://elsewhere.example.com/cb", "state": "s"})
    assert response.status_code == 201, response.text


def test_state_is_required_with_redirect_uri(roost, org, api):
    response = api.post(SESSIONS, json={"redirect_uri": "https://example.com/cb"})
    assert_error(response, 400, "parameter_missing", "state")
    assert_nothing_stored(roost, org)


@pytest.mark.parametrize("state", ["x", "s" * 512, "abc123-csrf-token ünïcødé/+=&"])
def test_state_accepted_and_returned_unchanged(api, state):
    response = api.post(SESSIONS, json={"redirect_uri": "https://example.com/cb", "state": state})
    assert response.status_code == 201, response.text
    assert response.json()["state"] == state


def test_state_without_redirect_uri_is_accepted(api):
    response = api.post(SESSIONS, json={"state": "popup-flow"})
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "popup-flow"


@pytest.mark.parametrize("state", ["", "s" * 513, 123, ["a"], {"a": 1}], ids=["empty", "513", "int", "list", "object"])
def test_state_refused(roost, org, api, state):
    response = api.post(SESSIONS, json={"redirect_uri": "https://example.com/cb", "state": state})
    assert_error(response, 400, "parameter_invalid", "state")
    assert_nothing_stored(roost, org)


@pytest.mark.parametrize(
    "changes, param",
    [
        ({"state": "abc\x00def"}, "state"),
        ({"metadata": {"user\x00": "u_1"}}, "metadata.user\x00"),
        ({"metadata": {"user": "u_\x001"}}, "metadata.user"),
        ({"metadata": {"tags": ["a", "b\x00"]}}, "metadata.tags[1]"),
        ({"prefill": {"business": {"name": "Acme\x00"}}}, "prefill.business.name"),
    ],
    ids=["state", "metadata-key", "metadata-value", "nested", "prefill"],
)
def test_a_nul_character_anywhere_is_refused_on_both_databases(roost, org, api, changes, param):
    # PostgreSQL cannot store U+0000 in text; SQLite could, and refuses it all the same.
    response = api.post(SESSIONS, json=with_(**changes))
    error = assert_error(response, 400, "parameter_invalid", param)
    assert error["message"] == f"{param} must not contain the NUL character (U+0000)"
    assert_nothing_stored(roost, org)


@pytest.mark.parametrize(
    "body, param",
    [
        (b'{"redirect_uri": "https://example.com/\\ud800", "state": "s"}', "redirect_uri"),
        (b'{"metadata": {"user": "u_\\udfff"}}', "metadata.user"),
        (b'{"metadata": {"\\uDBFF": "u_1"}}', "metadata.\\udbff"),
        (b'{"prefill": {"business": {"name": "Acme \\ud83d"}}}', "prefill.business.name"),
    ],
    ids=["redirect_uri", "metadata-value", "metadata-key", "half-an-emoji"],
)
def test_a_lone_surrogate_anywhere_is_refused_on_both_databases(roost, org, api, body, param):
    # JSON may spell half of a UTF-16 pair; no UTF-8 text (database, JSON answer) can hold it.
    response = api.post(SESSIONS, content=body, headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "parameter_invalid", param)
    assert error["message"].startswith(f"{param} must not contain a lone UTF-16 surrogate")
    assert_nothing_stored(roost, org)


def test_an_escaped_surrogate_pair_is_one_character(api):
    body = b'{"metadata": {"mood": "\\ud83d\\ude00"}}'  # U+1F600, as JSON escapes it
    response = api.post(SESSIONS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == {"mood": "\U0001F600"}


def test_an_escaped_backslash_before_u0000_is_not_a_nul(api):
    state = "literally \\u0000"  # the JSON text holds \\u0000: a backslash, then "u0000"
    response = api.post(SESSIONS, json=with_(state=state))
    assert response.status_code == 201, response.text
    assert response.json()["state"] == state


# -- metadata ----------------------------------------------------------------------------


def metadata_of_size(size: int) -> dict:
    """An object whose compact UTF-8 JSON is exactly `size` bytes, made of 2-byte characters
    (so a server counting characters instead of bytes would get the boundary wrong)."""
    empty = len(b'{"k":""}')
    pad = size - empty
    value = "é" * (pad // 2) + "x" * (pad % 2)
    metadata = {"k": value}
    assert len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()) == size
    return metadata


def test_metadata_of_exactly_10240_bytes_is_accepted(api):
    metadata = metadata_of_size(10_240)
    response = api.post(SESSIONS, json={"metadata": metadata})
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == metadata


def test_metadata_of_10241_bytes_is_refused(roost, org, api):
    response = api.post(SESSIONS, json={"metadata": metadata_of_size(10_241)})
    assert_error(response, 400, "parameter_invalid", "metadata")
    assert_nothing_stored(roost, org)


def test_metadata_is_returned_unchanged(api):
    metadata = {"externalUserId": "user_123", "plan": "pro", "seats": 5, "trial": False, "tags": ["a", "b"], "nested": {"x": None}}
    created = api.post(SESSIONS, json={"metadata": metadata}).json()
    assert created["metadata"] == metadata
    assert api.get(f"{SESSIONS}/{created['id']}").json()["metadata"] == metadata


@pytest.mark.parametrize("metadata", [[], ["a"], "user_123", 5, True], ids=["empty-list", "list", "string", "number", "bool"])
def test_metadata_must_be_an_object(roost, org, api, metadata):
    response = api.post(SESSIONS, json={"metadata": metadata})
    assert_error(response, 400, "parameter_invalid", "metadata")
    assert_nothing_stored(roost, org)


# -- locale and coexistence --------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"), [("en", "en"), ("es", "es"), ("pt-BR", "pt-BR"), ("pt-br", "pt-BR"), ("EN-us", "en-US"), ("es-419", "es-419")]
)
def test_locale_is_normalised(api, given, stored):
    response = api.post(SESSIONS, json={"locale": given})
    assert response.status_code == 201, response.text
    assert response.json()["locale"] == stored


@pytest.mark.parametrize("locale", ["", "english", "e", "en-", "12", "en US", "pt-BR-extra-garbage!", 5])
def test_locale_refused(roost, org, api, locale):
    response = api.post(SESSIONS, json={"locale": locale})
    assert_error(response, 400, "parameter_invalid", "locale")
    assert_nothing_stored(roost, org)


def test_coexistence_true_is_stored(api):
    created = api.post(SESSIONS, json={"coexistence": True}).json()
    assert created["coexistence"] is True
    assert api.get(f"{SESSIONS}/{created['id']}").json()["coexistence"] is True


@pytest.mark.parametrize("value", ["true", "false", 1, 0, "yes"])
def test_coexistence_must_be_a_boolean(roost, org, api, value):
    response = api.post(SESSIONS, json={"coexistence": value})
    assert_error(response, 400, "parameter_invalid", "coexistence")
    assert_nothing_stored(roost, org)


# -- unknown fields and several problems ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"redirect_url": "https://example.com/cb"}, "redirect_url"),
        ({"livemode": True}, "livemode"),
        ({"prefill": {"buisness": {}}}, "prefill.buisness"),
        ({"prefill": {"business": {"nmae": "Acme"}}}, "prefill.business.nmae"),
        ({"prefill": {"business": {"address": {"zip": "94102"}}}}, "prefill.business.address.zip"),
        ({"prefill": {"business": {"phone": {"code": 1, "number": "4155551234", "ext": "1"}}}}, "prefill.business.phone.ext"),
        ({"prefill": {"phone": {"displayName": "A", "category": "AUTO", "description": "d", "name": "x"}}}, "prefill.phone.name"),
        ({"prefill": {"preVerifiedPhone": {"ids": ["1"], "extra": 1}}}, "prefill.preVerifiedPhone.extra"),
    ],
)
def test_unknown_fields_are_rejected(roost, org, api, body, param):
    response = api.post(SESSIONS, json=body)
    assert_error(response, 400, "parameter_unknown", param)
    assert_nothing_stored(roost, org)


def test_unknown_field_in_the_seed_body_is_rejected(roost, org, api):
    body = copy.deepcopy(SEED_BODY)
    body["prefill"]["business"]["nmae"] = body["prefill"]["business"].pop("name")
    response = api.post(SESSIONS, json=body)
    assert_error(response, 400, "parameter_unknown", "prefill.business.nmae")
    assert_nothing_stored(roost, org)


def test_several_problems_are_all_listed_and_the_first_is_the_top_level_error(roost, org, api):
    body = {
        "state": "",
        "locale": "english",
        "coexistence": "true",
        "prefill": {"business": {"name": "n" * 101, "nmae": "Acme"}},
        "bogus": 1,
    }
    response = api.post(SESSIONS, json=body)
    error = assert_error(response, 400, response.json()["error"]["code"])
    problems = error["errors"]
    assert {problem["param"] for problem in problems} == {
        "state", "locale", "coexistence", "prefill.business.name", "prefill.business.nmae", "bogus"
    }
    for problem in problems:
        assert problem.keys() >= {"param", "code", "message"}
        assert problem["message"]
    codes = {problem["param"]: problem["code"] for problem in problems}
    assert codes["bogus"] == codes["prefill.business.nmae"] == "parameter_unknown"
    assert codes["state"] == codes["locale"] == codes["coexistence"] == "parameter_invalid"
    assert (error["param"], error["code"], error["message"]) == (
        problems[0]["param"], problems[0]["code"], problems[0]["message"]
    )
    assert_nothing_stored(roost, org)


def test_missing_state_is_listed_with_other_problems(roost, org, api):
    response = api.post(SESSIONS, json={"redirect_uri": "https://example.com/cb", "locale": "english"})
    error = assert_error(response, 400, response.json()["error"]["code"])
    assert {(p["param"], p["code"]) for p in error["errors"]} == {
        ("state", "parameter_missing"), ("locale", "parameter_invalid")
    }
    assert_nothing_stored(roost, org)


# -- body framing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"state": ', b"{'state': 'x'}", b'{"state": "x",}', b"state=x", b'{"metadata": {"x": NaN}}', b'{"state": "\xff"}',
        b'{"metadata": {"x": 1e400}}', b'{"metadata": {"x": [-1.5e999]}}',
    ],
    ids=["truncated", "single-quotes", "trailing-comma", "form", "nan", "bad-utf8", "infinite", "minus-infinite"],
)
def test_malformed_json_is_400_body_invalid_json(roost, org, api, content):
    response = api.post(SESSIONS, content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "body_invalid_json")
    assert_nothing_stored(roost, org)


def test_a_number_too_large_for_json_is_named(api):
    # Python would read it as infinity: stored, it could never be answered (a 500 on every read).
    response = api.post(SESSIONS, content=b'{"metadata": {"x": 1e400}}', headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "body_invalid_json")
    assert "the number 1e400 is too large" in error["message"]


def nested(depth: int) -> bytes:
    """A create body whose objects and arrays nest `depth` levels (the body itself is level 1)."""
    return b'{"metadata": {"x": ' + b"[" * (depth - 2) + b"1" + b"]" * (depth - 2) + b"}}"


def test_a_body_nested_32_levels_is_accepted(api):
    response = api.post(SESSIONS, content=nested(32), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("depth", [33, 5_000, 20_000])
def test_a_body_nested_deeper_is_400_body_too_deep(roost, org, api, depth):
    response = api.post(SESSIONS, content=nested(depth), headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "body_too_deep")
    assert error["message"] == "The body nests objects and arrays more than 32 levels deep"
    assert_nothing_stored(roost, org)


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"null", b"1", b"true", b'[{"state": "x"}]'])
def test_non_object_json_is_400_body_not_object(roost, org, api, content):
    response = api.post(SESSIONS, content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "body_not_object")
    assert_nothing_stored(roost, org)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp"]
)
def test_body_without_json_content_type_is_415(roost, org, api, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post(SESSIONS, content=json.dumps(SEED_BODY).encode(), headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    assert_nothing_stored(roost, org)


LIMIT = 64 * 1024


def padded_empty_object(size: int) -> bytes:
    """`{}` padded with JSON whitespace to exactly `size` bytes: valid, and only its size matters."""
    return b"{" + b" " * (size - 2) + b"}"


def test_body_of_exactly_64_kb_is_accepted(roost, org, api):
    response = api.post(SESSIONS, content=padded_empty_object(LIMIT), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert count_sessions(roost, org.id) == 1


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT])
def test_body_over_64_kb_is_413(roost, org, api, size):
    response = api.post(SESSIONS, content=padded_empty_object(size), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "body_too_large")
    assert_nothing_stored(roost, org)


def test_oversized_body_is_413_even_when_it_is_not_json(roost, org, api):
    response = api.post(SESSIONS, content=b"\x00" * (LIMIT + 1), headers={"Content-Type": "application/octet-stream"})
    assert_error(response, 413, "body_too_large")
    assert_nothing_stored(roost, org)


def chunked(body: bytes, chunk_size: int = 8192):
    for start in range(0, len(body), chunk_size):
        yield body[start : start + chunk_size]


def test_chunked_body_over_64_kb_without_content_length_is_413(roost, org, api):
    response = api.post(SESSIONS, content=chunked(padded_empty_object(LIMIT + 1)), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body_too_large")
    assert_nothing_stored(roost, org)


def test_chunked_body_within_the_limit_is_accepted(roost, org, api):
    response = api.post(SESSIONS, content=chunked(json.dumps(SEED_BODY).encode(), 16), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 201, response.text
    assert count_sessions(roost, org.id) == 1


# -- modes ---------------------------------------------------------------------------------


def test_live_key_without_meta_app_is_400_meta_not_configured(roost):
    org = roost.new_org(live=True)
    with org.client(org.keys["live"]) as live:
        response = live.post(SESSIONS, json=SEED_BODY)
    assert_error(response, 400, "meta_not_configured")
    assert_nothing_stored(roost, org)


def test_live_key_with_meta_app_creates_a_live_session(start_roost):
    server = start_roost(**META_SETTINGS)
    org = server.new_org(live=True)
    with org.client(org.keys["live"]) as live:
        response = live.post(SESSIONS, json=SEED_BODY)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["livemode"] is True
        assert live.get(f"{SESSIONS}/{created['id']}").status_code == 200
    with org.client() as test:
        assert test.get(f"{SESSIONS}/{created['id']}").status_code == 404
    assert server.sql("SELECT livemode FROM embedded_signup_sessions WHERE id = :id", id=created["id"])[0][0] in (True, 1)


def test_allow_list_is_per_mode(start_roost):
    server = start_roost(**META_SETTINGS)
    org = server.new_org(live=True)
    with org.client(org.keys["live"]) as live, org.client() as test:
        patched = live.patch("/v1/organization/settings", json={"allowed_redirect_uris": ["https://example.com/live-cb"]})
        assert patched.status_code == 200, patched.text
        refused = live.post(SESSIONS, json={"redirect_uri": "https://example.com/test-cb", "state": "s"})
        assert_error(refused, 400, "parameter_invalid", "redirect_uri")
        accepted = test.post(SESSIONS, json={"redirect_uri": "https://example.com/test-cb", "state": "s"})
        assert accepted.status_code == 201, accepted.text


def test_test_key_with_simulator_off_is_400_simulator_disabled(start_roost):
    server = start_roost(simulator=False)
    org = server.new_org()
    with org.client() as api:
        response = api.post(SESSIONS, json=SEED_BODY)
    assert_error(response, 400, "simulator_disabled")
    assert_nothing_stored(server, org)


# -- Request-Id ------------------------------------------------------------------------------


def test_success_carries_a_request_id(api):
    response = api.post(SESSIONS, json=SEED_BODY)
    assert response.status_code == 201
    assert re.fullmatch(r"req_[A-Za-z0-9]+", response.headers["Request-Id"])


def test_request_ids_differ_between_requests(api):
    first = api.post(SESSIONS, json={}).headers["Request-Id"]
    second = api.post(SESSIONS, json={}).headers["Request-Id"]
    assert first != second


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"bogus": 1}}, 400),
        ({"content": b"[", "headers": {"Content-Type": "application/json"}}, 400),
        ({"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),
        ({"content": padded_empty_object(LIMIT + 1), "headers": {"Content-Type": "application/json"}}, 413),
    ],
    ids=["validation", "json", "media-type", "too-large"],
)
def test_error_bodies_carry_the_request_id_of_their_response(api, kwargs, status):
    response = api.post(SESSIONS, **kwargs)
    assert response.status_code == status
    assert response.json()["error"]["request_id"] == response.headers["Request-Id"]


def test_unauthenticated_error_carries_the_request_id(roost):
    with roost.http() as anonymous:
        response = anonymous.post(SESSIONS, json=SEED_BODY)
    assert_error(response, 401, "api_key_missing", type="authentication_error")
