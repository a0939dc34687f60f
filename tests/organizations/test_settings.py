"""Organization settings per mode (SPEC 1, 4.4, 8): GET/PATCH /v1/organization/settings and the
redirect-secret rotation."""

import re

import pytest

from tests.support import assert_error

SETTINGS = "/v1/organization/settings"
ROTATE = "/v1/organization/settings/redirect-secret/rotate"


@pytest.fixture
def live_org(roost):
    return roost.new_org(live=True)


def settings_row(roost, org_id: str, livemode: bool) -> tuple:
    return roost.sql(
        "SELECT * FROM organization_mode_settings WHERE organization_id = :org AND livemode = :live",
        org=org_id,
        live=livemode,
    )[0]


def assert_invalid(response, code: str, param: str | set[str]) -> dict:
    """A 400 about `param` (or about one of several, when which is reported first may vary)."""
    error = assert_error(response, 400, code)
    assert error["param"] in ({param} if isinstance(param, str) else param)
    return error


# -- modes ---------------------------------------------------------------------------------


def test_a_test_key_reads_test_settings_by_default(org, api):
    response = api.get(SETTINGS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "organization_settings"
    assert body["organization_id"] == org.id
    assert (body["mode"], body["livemode"]) == ("test", False)
    assert body["allowed_origins"] == []
    assert body["allowed_redirect_uris"] == []


def test_a_live_key_reads_live_settings_by_default(live_org):
    with live_org.client(live_org.keys["live"]) as live:
        body = live.get(SETTINGS).json()
    assert (body["mode"], body["livemode"]) == ("live", True)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", SETTINGS, None), ("PATCH", SETTINGS, {"allowed_origins": ["https://a.com"]}), ("POST", ROTATE, None)],
    ids=["get", "patch", "rotate"],
)
def test_live_settings_need_a_live_key(roost, live_org, method, path, body):
    before = settings_row(roost, live_org.id, True)
    with live_org.client(live_org.keys["test"]) as test:
        response = test.request(method, path, params={"mode": "live"}, json=body)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "live_mode_required")
    assert error["request_id"] == response.headers["Request-Id"]
    assert "rsec_live_" not in response.text
    assert settings_row(roost, live_org.id, True) == before


@pytest.mark.parametrize("mode", ["test", "live"])
def test_a_live_key_reads_and_writes_both_modes(live_org, mode):
    origin = f"https://{mode}.example.com"
    with live_org.client(live_org.keys["live"]) as live:
        read = live.get(SETTINGS, params={"mode": mode})
        assert read.status_code == 200, read.text
        assert read.json()["mode"] == mode
        written = live.patch(SETTINGS, params={"mode": mode}, json={"allowed_origins": [origin]})
        assert written.status_code == 200, written.text
        assert written.json()["mode"] == mode
        assert written.json()["allowed_origins"] == [origin]
    with live_org.client(live_org.keys[mode]) as own_mode:
        assert own_mode.get(SETTINGS).json()["allowed_origins"] == [origin]


def test_a_test_key_may_name_its_own_mode(api):
    response = api.get(SETTINGS, params={"mode": "test"})
    assert response.status_code == 200, response.text
    assert response.json()["mode"] == "test"


def test_test_and_live_settings_are_separate(live_org):
    with live_org.client(live_org.keys["test"]) as test, live_org.client(live_org.keys["live"]) as live:
        patched = test.patch(
            SETTINGS,
            json={"allowed_origins": ["https://app.example.com"], "allowed_redirect_uris": ["https://app.example.com/cb"]},
        )
        assert patched.status_code == 200, patched.text
        live_settings = live.get(SETTINGS).json()
        test_settings = test.get(SETTINGS).json()
    assert live_settings["allowed_origins"] == []
    assert live_settings["allowed_redirect_uris"] == []
    assert test_settings["allowed_origins"] == ["https://app.example.com"]
    assert test_settings["allowed_redirect_uris"] == ["https://app.example.com/cb"]
    assert live_settings["redirect_secret"] != test_settings["redirect_secret"]


@pytest.mark.parametrize("method,path", [("GET", SETTINGS), ("PATCH", SETTINGS), ("POST", ROTATE)], ids=["get", "patch", "rotate"])
@pytest.mark.parametrize("mode", ["x", "LIVE", "", "production"])
def test_an_unknown_mode_is_refused(roost, org, api, method, path, mode):
    before = settings_row(roost, org.id, False)
    response = api.request(method, path, params={"mode": mode}, json={"allowed_origins": []} if method == "PATCH" else None)
    assert_invalid(response, "parameter_invalid", "mode")
    assert settings_row(roost, org.id, False) == before


# -- the redirect secret -------------------------------------------------------------------


def test_the_redirect_secret_is_named_after_its_mode(live_org):
    with live_org.client(live_org.keys["live"]) as live:
        test_secret = live.get(SETTINGS, params={"mode": "test"}).json()["redirect_secret"]
        live_secret = live.get(SETTINGS).json()["redirect_secret"]
    assert re.fullmatch(r"rsec_test_[A-Za-z0-9]{24,}", test_secret), test_secret
    assert re.fullmatch(r"rsec_live_[A-Za-z0-9]{24,}", live_secret), live_secret


def test_each_organization_has_its_own_redirect_secret(roost, api):
    other = roost.new_org(name="Other platform")
    with other.client() as other_client:
        assert other_client.get(SETTINGS).json()["redirect_secret"] != api.get(SETTINGS).json()["redirect_secret"]


def test_rotation_replaces_the_redirect_secret(api):
    before = api.get(SETTINGS).json()["redirect_secret"]
    rotated = api.post(ROTATE)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["redirect_secret"]
    assert new_secret != before
    assert re.fullmatch(r"rsec_test_[A-Za-z0-9]{24,}", new_secret)
    assert api.get(SETTINGS).json()["redirect_secret"] == new_secret


def test_rotating_one_mode_leaves_the_other_alone(live_org):
    with live_org.client(live_org.keys["live"]) as live:
        live_before = live.get(SETTINGS).json()["redirect_secret"]
        test_before = live.get(SETTINGS, params={"mode": "test"}).json()["redirect_secret"]
        rotated = live.post(ROTATE, params={"mode": "test"})
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["redirect_secret"] != test_before
        assert live.get(SETTINGS).json()["redirect_secret"] == live_before


def test_the_redirect_secret_is_stored_encrypted(roost, live_org):
    with live_org.client(live_org.keys["live"]) as live:
        secrets = [
            live.get(SETTINGS, params={"mode": "test"}).json()["redirect_secret"],
            live.get(SETTINGS).json()["redirect_secret"],
            live.post(ROTATE).json()["redirect_secret"],
        ]
    rows = roost.sql("SELECT * FROM organization_mode_settings WHERE organization_id = :org", org=live_org.id)
    stored = " ".join(str(value) for row in rows for value in row)
    for secret in secrets:
        assert secret not in stored
        assert secret.split("_", 2)[2] not in stored


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (["https://a.com"], ["https://a.com"]),
        (["http://localhost:3000"], ["http://localhost:3000"]),
        (["http://127.0.0.1:8080"], ["http://127.0.0.1:8080"]),
        (["https://App.Example.COM"], ["https://app.example.com"]),
        (["https://app.example.com:443"], ["https://app.example.com"]),
        (["https://app.example.com:8443"], ["https://app.example.com:8443"]),
        (["http://localhost:80"], ["http://localhost"]),
        (["https://a.com", "https://A.com:443"], ["https://a.com"]),
        ([], []),
    ],
    ids=["https", "localhost-port", "loopback-ip", "uppercase-host", "default-port", "other-port", "http-default-port", "duplicates", "empty"],
)
def test_allowed_origins_are_stored_normalised(api, given, stored):
    response = api.patch(SETTINGS, json={"allowed_origins": given})
    assert response.status_code == 200, response.text
    assert response.json()["allowed_origins"] == stored
    assert api.get(SETTINGS).json()["allowed_origins"] == stored


@pytest.mark.parametrize(
    "origin",
    [
        "https://a.com/path",
        "https://a.com?x=1",
        "https://a.com#top",
        "https://user@a.com",
        "http://example.com",
        "ftp://a.com",
        "a.com",
        "*",
        "",
        "javascript:alert(1)",
        "https://",
        "https://a.com:",
        "https://a.com:0",
        "https://a.com:65536",
    ],
)
def test_an_entry_that_is_not_an_origin_is_refused(roost, org, api, origin):
    api.patch(SETTINGS, json={"allowed_origins": ["https://kept.example.com"]})
    before = settings_row(roost, org.id, False)
    response = api.patch(SETTINGS, json={"allowed_origins": ["https://ok.example.com", origin]})
    assert_invalid(response, "parameter_invalid", {"allowed_origins", "allowed_origins[1]"})
    assert settings_row(roost, org.id, False) == before
    assert api.get(SETTINGS).json()["allowed_origins"] == ["https://kept.example.com"]


@pytest.mark.parametrize(
    "uris",
    [
        ["https://example.com/whatsapp/callback"],
        ["http://localhost:3000/callback", "http://127.0.0.1/cb", "http://[::1]:8080/cb"],
        ["myapp://callback"],
        ["https://example.com/cb?tenant=1"],
    ],
    ids=["https", "loopback-http", "app-scheme", "query"],
)
def test_allowed_redirect_uris_accept_what_a_redirect_uri_accepts(api, uris):
    response = api.patch(SETTINGS, json={"allowed_redirect_uris": uris})
    assert response.status_code == 200, response.text
    assert response.json()["allowed_redirect_uris"] == uris


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/callback",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,hi",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "blob:https://a.com/x",
        "about:blank",
        "https://example.com/cb#fragment",
        "/relative/callback",
        "https://exa mple.com/cb",
        "",
        "https://example.com/" + "a" * 2048,
    ],
    ids=[
        "plain-http", "javascript", "javascript-case", "data", "vbscript", "file", "blob", "about",
        "fragment", "relative", "space", "empty", "too-long",
    ],
)
def test_a_forbidden_redirect_uri_is_refused(roost, org, api, uri):
    before = settings_row(roost, org.id, False)
    response = api.patch(SETTINGS, json={"allowed_redirect_uris": ["https://ok.example.com/cb", uri]})
    assert_invalid(response, "parameter_invalid", {"allowed_redirect_uris", "allowed_redirect_uris[1]"})
    assert settings_row(roost, org.id, False) == before


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"allowed_origin": ["https://a.com"]}, "parameter_unknown", "allowed_origin"),
        ({"redirect_secret": "rsec_test_chosenByTheCaller000000"}, "parameter_unknown", "redirect_secret"),
        ({"livemode": True}, "parameter_unknown", "livemode"),
        ({"allowed_origins": "https://a.com"}, "parameter_invalid", "allowed_origins"),
        ({"allowed_origins": [5]}, "parameter_invalid", "allowed_origins[0]"),
        ({"allowed_redirect_uris": {"a": 1}}, "parameter_invalid", "allowed_redirect_uris"),
        ({"allowed_origins": [f"https://a{i}.com" for i in range(51)]}, "parameter_invalid", "allowed_origins"),
        ({"name": ""}, "parameter_invalid", "name"),
        ({"name": "x" * 201}, "parameter_invalid", "name"),
        ({"name": None}, "parameter_invalid", "name"),
        ({"allowed_origins": None}, "parameter_invalid", "allowed_origins"),
        ({"allowed_redirect_uris": None}, "parameter_invalid", "allowed_redirect_uris"),
        ({"branding": None}, "parameter_invalid", "branding"),
        ({"meta": None}, "parameter_invalid", "meta"),
        ({"auto_claim": None}, "parameter_invalid", "auto_claim"),
        ({"token_custody_enabled": None}, "parameter_invalid", "token_custody_enabled"),
    ],
    ids=[
        "typo", "secret-not-settable", "mode-not-settable", "origins-not-list", "origin-not-string",
        "uris-not-list", "too-many-origins", "empty-name", "long-name", "null-name", "null-origins",
        "null-uris", "null-branding", "null-meta", "null-auto-claim", "null-custody",
    ],
)
def test_a_bad_patch_is_refused(roost, org, api, body, code, param):
    before = settings_row(roost, org.id, False)
    response = api.patch(SETTINGS, json=body)
    assert_invalid(response, code, param)
    assert settings_row(roost, org.id, False) == before


def test_a_refused_patch_changes_nothing_even_in_its_valid_fields(roost, org, api):
    api.patch(SETTINGS, json={"allowed_origins": ["https://before.example.com"]})
    before_row = settings_row(roost, org.id, False)
    before_name = api.get(SETTINGS).json()["name"]
    response = api.patch(
        SETTINGS,
        json={
            "name": "Renamed",
            "allowed_origins": ["https://after.example.com"],
            "allowed_redirect_uris": ["javascript:alert(1)"],
        },
    )
    assert_invalid(response, "parameter_invalid", {"allowed_redirect_uris", "allowed_redirect_uris[0]"})
    after = api.get(SETTINGS).json()
    assert after["name"] == before_name
    assert after["allowed_origins"] == ["https://before.example.com"]
    assert settings_row(roost, org.id, False) == before_row


def test_every_wrong_field_is_listed(api):
    response = api.patch(SETTINGS, json={"allowed_origins": ["http://example.com"], "allowed_redirect_uris": ["data:x"]})
    error = assert_invalid(response, "parameter_invalid", {"allowed_origins", "allowed_origins[0]"})
    params = {problem["param"].split("[")[0] for problem in error["errors"]}
    assert params == {"allowed_origins", "allowed_redirect_uris"}


def test_a_patch_leaves_the_fields_it_does_not_name(api):
    api.patch(SETTINGS, json={"allowed_origins": ["https://a.com"], "allowed_redirect_uris": ["https://a.com/cb"]})
    response = api.patch(SETTINGS, json={"allowed_origins": ["https://b.com"]})
    assert response.status_code == 200, response.text
    assert response.json()["allowed_redirect_uris"] == ["https://a.com/cb"]
    assert response.json()["allowed_origins"] == ["https://b.com"]


def test_the_organization_name_can_be_changed(api):
    response = api.patch(SETTINGS, json={"name": "Acme Onboarding"})
    assert response.status_code == 200, response.text
    assert api.get(SETTINGS).json()["name"] == "Acme Onboarding"


def test_the_organization_name_is_trimmed_and_a_blank_one_refused(api):
    assert api.patch(SETTINGS, json={"name": "  Acme  "}).json()["name"] == "Acme"
    assert_invalid(api.patch(SETTINGS, json={"name": " \t "}), "parameter_invalid", "name")
    assert api.get(SETTINGS).json()["name"] == "Acme"
