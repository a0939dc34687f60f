"""Authentication by admin key (SPEC 1, 2) and the admin-keys API."""

import hashlib
import re

import httpx
import pytest

from roost.kit.ids import random_base62
from tests.support import SESSIONS, count_sessions

ADMIN_KEYS = "/v1/organization/admin-keys"
SETTINGS = "/v1/organization/settings"
# At least 192 bits of entropy: 33 base62 characters carry 196 bits, 32 only 190.
TEST_KEY_FORMAT = re.compile(r"^sk_admin_test_[A-Za-z0-9]{33,}$")
LIVE_KEY_FORMAT = re.compile(r"^sk_admin_live_[A-Za-z0-9]{33,}$")


def count_keys(roost, org_id: str) -> int:
    return roost.sql("SELECT count(*) FROM admin_keys WHERE organization_id = :org", org=org_id)[0][0]


def key_id_of(client: httpx.Client, key: str) -> str:
    """The id of `key`, found through the list its own mode shows (matched by the last four characters)."""
    listed = client.get(ADMIN_KEYS).json()["data"]
    return next(item["id"] for item in listed if item["redacted_key"].endswith(key[-4:]))


def assert_unauthenticated(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["code"] == code
    assert error["request_id"] == response.headers["Request-Id"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- authentication ------------------------------------------------------------------------


def test_a_request_without_authorization_is_api_key_missing(roost):
    with roost.http() as http:
        response = http.get(SETTINGS)
    assert_unauthenticated(response, "api_key_missing")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic dXNlcjpwYXNz", id="not-bearer"),
        pytest.param("{key}", id="key-without-bearer-scheme"),
        pytest.param("Token {key}", id="other-scheme"),
        pytest.param("Bearer sk_admin_test_tooShort", id="malformed-short"),
        pytest.param("Bearer sk_admin_prod_" + "a" * 43, id="malformed-unknown-mode"),
        pytest.param("Bearer sk_admin_test_" + "!" * 43, id="malformed-not-base62"),
        pytest.param("Bearer sk_test_" + "a" * 43, id="malformed-not-admin-key"),
        pytest.param("Bearer", id="bearer-without-key"),
    ],
)
def test_a_malformed_authorization_is_api_key_invalid(roost, org, authorization):
    with roost.http() as http:
        response = http.get(SETTINGS, headers={"Authorization": authorization.format(key=org.test_key)})
    assert_unauthenticated(response, "api_key_invalid")


@pytest.mark.parametrize("mode", ["test", "live"])
def test_an_unknown_well_formed_key_is_api_key_invalid(roost, mode):
    unknown = f"sk_admin_{mode}_{random_base62(32)}"
    with roost.http() as http:
        response = http.get(SETTINGS, headers={"Authorization": f"Bearer {unknown}"})
    assert_unauthenticated(response, "api_key_invalid")


def test_the_bearer_scheme_is_case_insensitive(roost, org):
    with roost.http() as http:
        response = http.get(SETTINGS, headers={"Authorization": f"bearer {org.test_key}"})
    assert response.status_code == 200, response.text


def test_a_revoked_key_is_api_key_revoked_and_creates_nothing(roost, org, api):
    key_id = key_id_of(api, org.test_key)
    revoked = api.delete(f"{ADMIN_KEYS}/{key_id}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None

    assert_unauthenticated(api.get(SETTINGS), "api_key_revoked")
    assert_unauthenticated(api.post(SESSIONS, json={}), "api_key_revoked")
    assert count_sessions(roost, org.id) == 0


def test_revoking_one_key_leaves_the_others_working(roost, org, api):
    second = api.post(ADMIN_KEYS, json={}).json()["admin_key"]
    assert api.delete(f"{ADMIN_KEYS}/{key_id_of(api, org.test_key)}").status_code == 200
    with org.client(second) as client:
        assert client.get(SETTINGS).status_code == 200


# -- how keys are stored -------------------------------------------------------------------


def test_only_a_sha256_hash_of_the_key_is_stored(roost, org):
    rows = roost.sql("SELECT * FROM admin_keys WHERE organization_id = :org", org=org.id)
    assert len(rows) == 1
    secret_part = org.test_key.removeprefix("sk_admin_test_")
    for value in rows[0]:
        assert secret_part not in str(value)
    stored_hash = roost.sql("SELECT key_hash FROM admin_keys WHERE organization_id = :org", org=org.id)[0][0]
    assert stored_hash == hashlib.sha256(org.test_key.encode()).hexdigest()


def test_a_key_created_over_the_api_is_stored_only_as_its_hash(roost, org, api):
    created = api.post(ADMIN_KEYS, json={"name": "ci"}).json()
    rows = roost.sql("SELECT * FROM admin_keys WHERE id = :id", id=created["id"])
    secret_part = created["admin_key"].removeprefix("sk_admin_test_")
    assert all(secret_part not in str(value) for value in rows[0])
    stored_hash = roost.sql("SELECT key_hash FROM admin_keys WHERE id = :id", id=created["id"])[0][0]
    assert stored_hash == hashlib.sha256(created["admin_key"].encode()).hexdigest()


# -- the admin-keys API --------------------------------------------------------------------


def test_creating_a_key_returns_its_secret_once(roost, org, api):
    response = api.post(ADMIN_KEYS, json={"name": "deploy bot"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("key_")
    assert body["object"] == "admin_key"
    assert body["livemode"] is False
    assert body["name"] == "deploy bot"
    assert body["revoked_at"] is None
    assert TEST_KEY_FORMAT.match(body["admin_key"]), body["admin_key"]
    assert body["redacted_key"].endswith(body["admin_key"][-4:])

    with org.client(body["admin_key"]) as client:
        assert client.get(SETTINGS).status_code == 200
    assert count_keys(roost, org.id) == 2


def test_a_key_can_be_created_without_a_body(roost, org, api):
    response = api.post(ADMIN_KEYS)
    assert response.status_code == 201, response.text
    assert TEST_KEY_FORMAT.match(response.json()["admin_key"])
    assert count_keys(roost, org.id) == 2


def test_two_created_keys_differ(api):
    first = api.post(ADMIN_KEYS).json()["admin_key"]
    second = api.post(ADMIN_KEYS).json()["admin_key"]
    assert first != second


def test_listing_keys_never_shows_a_secret(org, api):
    created = api.post(ADMIN_KEYS, json={"name": "listed"}).json()
    response = api.get(ADMIN_KEYS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["has_more"] is False
    assert {item["id"] for item in body["data"]} == {created["id"], key_id_of(api, org.test_key)}
    for item in body["data"]:
        assert "admin_key" not in item
    assert created["admin_key"] not in response.text
    assert org.test_key not in response.text
    assert created["admin_key"][len("sk_admin_test_") :][:-4] not in response.text


def test_a_test_key_creates_only_test_keys(roost):
    org = roost.new_org(live=True)
    with org.client(org.keys["test"]) as client:
        created = client.post(ADMIN_KEYS).json()
    assert created["livemode"] is False
    assert TEST_KEY_FORMAT.match(created["admin_key"])


def test_a_live_key_creates_only_live_keys(roost):
    org = roost.new_org(live=True)
    with org.client(org.keys["live"]) as client:
        response = client.post(ADMIN_KEYS, json={"name": "production"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["livemode"] is True
    assert LIVE_KEY_FORMAT.match(created["admin_key"]), created["admin_key"]
    assert created["redacted_key"].startswith("sk_admin_live_")
    with org.client(created["admin_key"]) as client:
        assert client.get(SETTINGS).json()["livemode"] is True


@pytest.mark.parametrize("body", [{"livemode": True}, {"mode": "live"}], ids=["livemode", "mode"])
def test_a_test_key_cannot_ask_for_a_live_key(roost, org, api, body):
    response = api.post(ADMIN_KEYS, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "parameter_unknown", next(iter(body)))
    assert roost.sql(
        "SELECT count(*) FROM admin_keys WHERE organization_id = :org AND livemode = :live", org=org.id, live=True
    )[0][0] == 0


def test_a_test_key_does_not_see_live_keys(roost):
    org = roost.new_org(live=True)
    with org.client(org.keys["live"]) as live, org.client(org.keys["test"]) as test:
        live_ids = {item["id"] for item in live.get(ADMIN_KEYS).json()["data"]}
        test_listing = test.get(ADMIN_KEYS).json()["data"]
        live_listing = live.get(ADMIN_KEYS).json()["data"]
    assert len(live_ids) == 1
    assert all(item["livemode"] is False for item in test_listing)
    assert not live_ids & {item["id"] for item in test_listing}
    # The other way round too: a key never sees objects of the other mode.
    assert all(item["livemode"] is True for item in live_listing)


def test_a_test_key_cannot_revoke_a_live_key(roost):
    org = roost.new_org(live=True)
    with org.client(org.keys["live"]) as live, org.client(org.keys["test"]) as test:
        live_id = key_id_of(live, org.keys["live"])
        response = test.delete(f"{ADMIN_KEYS}/{live_id}")
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "resource_missing"
        assert live.get(SETTINGS).status_code == 200
    assert roost.sql("SELECT revoked_at FROM admin_keys WHERE id = :id", id=live_id)[0][0] is None


def test_another_organizations_key_is_not_found(roost, api):
    other = roost.new_org(name="Other platform")
    with other.client() as other_client:
        other_id = key_id_of(other_client, other.test_key)
        response = api.delete(f"{ADMIN_KEYS}/{other_id}")
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")
        assert other_client.get(SETTINGS).status_code == 200
    assert roost.sql("SELECT revoked_at FROM admin_keys WHERE id = :id", id=other_id)[0][0] is None


@pytest.mark.parametrize("key_id", ["key_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "not-an-id"])
def test_revoking_an_unknown_key_is_not_found(api, key_id):
    response = api.delete(f"{ADMIN_KEYS}/{key_id}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "resource_missing"


def test_revoking_twice_keeps_the_first_revocation_time(api):
    created = api.post(ADMIN_KEYS).json()
    first = api.delete(f"{ADMIN_KEYS}/{created['id']}").json()["revoked_at"]
    second = api.delete(f"{ADMIN_KEYS}/{created['id']}")
    assert second.status_code == 200, second.text
    assert second.json()["revoked_at"] == first


def test_keys_are_listed_newest_first_a_page_at_a_time(org, api):
    for index in range(3):
        api.post(ADMIN_KEYS, json={"name": f"k{index}"})
    everything = api.get(ADMIN_KEYS).json()
    ids = [item["id"] for item in everything["data"]]
    created = [item["created_at"] for item in everything["data"]]
    assert len(ids) == 4 and everything["has_more"] is False
    assert created == sorted(created, reverse=True)
    first = api.get(ADMIN_KEYS, params={"limit": 2}).json()
    assert ([item["id"] for item in first["data"]], first["has_more"]) == (ids[:2], True)
    rest = api.get(ADMIN_KEYS, params={"limit": 2, "starting_after": ids[1]}).json()
    assert ([item["id"] for item in rest["data"]], rest["has_more"]) == (ids[2:], False)
    back = api.get(ADMIN_KEYS, params={"ending_before": ids[2]}).json()
    assert [item["id"] for item in back["data"]] == ids[:2]


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"foo": "1"}, "parameter_unknown", "foo"),
        ({"limit": "0"}, "parameter_invalid", "limit"),
        ({"limit": "\u00b2"}, "parameter_invalid", "limit"),
        ({"starting_after": "key_2DbBs7GWhGvVNJGrDXr5RG0mBWI"}, "parameter_invalid", "starting_after"),
    ],
    ids=["unknown", "limit-zero", "limit-superscript", "unknown-cursor"],
)
def test_a_bad_list_query_is_refused(api, params, code, param):
    response = api.get(ADMIN_KEYS, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"nmae": "typo"}, "parameter_unknown", "nmae"),
        ({"name": "ok", "scopes": ["all"]}, "parameter_unknown", "scopes"),
        ({"name": ""}, "parameter_invalid", "name"),
        ({"name": "   "}, "parameter_invalid", "name"),
        ({"name": "x" * 101}, "parameter_invalid", "name"),
        ({"name": 5}, "parameter_invalid", "name"),
    ],
    ids=["typo", "unknown-extra", "empty-name", "blank-name", "long-name", "number-name"],
)
def test_a_bad_create_body_is_refused_and_creates_no_key(roost, org, api, body, code, param):
    response = api.post(ADMIN_KEYS, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert count_keys(roost, org.id) == 1


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "body_invalid_json"),
        (b"[]", "application/json", 400, "body_not_object"),
        (b'{"name": "x"}', "text/plain", 415, "unsupported_media_type"),
    ],
    ids=["invalid-json", "not-object", "wrong-content-type"],
)
def test_a_malformed_create_body_is_refused_and_creates_no_key(roost, org, api, content, content_type, status, code):
    response = api.post(ADMIN_KEYS, content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert count_keys(roost, org.id) == 1
