"""The organization's Meta app (SPEC 6, 8): live credentials through the settings API and the CLI,
stored encrypted and never returned; test mode's simulator app, of which only the partner type
can be chosen; the messages callback URL."""

import pytest

from tests.support.signups import SETTINGS
from tests.processes import run_roost, roost_env
from tests.support import SESSIONS, TEST_SECRET_KEY, count_sessions

APP_ID = "123456789012345"
CONFIG_ID = "987654321098765"
SECRETS = {
    "app_secret": "app-secret-0b1f6d3e9c2a47d8",
    "system_user_token": "EAAsystemusertoken7Hq2LmW9xZ",
    "verify_token": "verify-token-5d2c8e1a",
}


@pytest.fixture
def live_org(roost):
    return roost.new_org(live=True)


@pytest.fixture
def live(live_org):
    with live_org.client(live_org.keys["live"]) as client:
        yield client


def settings_row(roost, org_id: str, livemode: bool):
    return roost.sql(
        "SELECT * FROM organization_mode_settings WHERE organization_id = :o AND livemode = :l", o=org_id, l=livemode
    )


def configure(live, **meta) -> dict:
    response = live.patch(SETTINGS, json={"meta": {"app_id": APP_ID, "app_secret": SECRETS["app_secret"],
                                                   "config_id": CONFIG_ID, **meta}})
    assert response.status_code == 200, response.text
    return response.json()


def test_without_a_meta_app_a_live_session_is_refused(roost, live_org, live):
    response = live.post(SESSIONS, json={})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "meta_not_configured")
    assert count_sessions(roost, live_org.id) == 0
    meta = live.get(SETTINGS).json()["meta"]
    assert (meta["configured"], meta["source"], meta["app_secret_set"]) == (False, None, False)


def test_configuring_the_meta_app_makes_live_sessions_creatable(roost, live_org, live):
    assert live.post(SESSIONS, json={}).status_code == 400

    configure(live)
    response = live.post(SESSIONS, json={})

    assert response.status_code == 201, response.text
    assert response.json()["livemode"] is True
    assert count_sessions(roost, live_org.id) == 1


def test_the_meta_app_is_shown_with_ids_and_never_its_secrets(live):
    patched = configure(live, **{name: value for name, value in SECRETS.items() if name != "app_secret"})
    read = live.get(SETTINGS)

    assert read.json()["meta"] == patched["meta"]
    meta = read.json()["meta"]
    assert meta["configured"] is True and meta["source"] == "organization"
    assert (meta["app_id"], meta["config_id"]) == (APP_ID, CONFIG_ID)
    assert meta["app_secret_set"] is True
    assert meta["system_user_token_set"] is True
    assert meta["verify_token_set"] is True
    assert meta["partner_type"] == "tech_provider"
    for secret in SECRETS.values():
        assert secret not in read.text


def test_the_secrets_are_stored_encrypted(roost, live_org, live):
    configure(live, system_user_token=SECRETS["system_user_token"], verify_token=SECRETS["verify_token"])

    (row,) = settings_row(roost, live_org.id, True)
    stored = repr(row)
    for secret in SECRETS.values():
        assert secret not in stored
    assert row.meta_app_secret_encrypted and row.meta_system_user_token_encrypted and row.meta_verify_token_encrypted
    assert (row.meta_app_id, row.meta_config_id) == (APP_ID, CONFIG_ID)


def test_where_the_app_talks_to_meta_is_the_servers_until_the_organization_sets_its_own(roost, live_org, live):
    meta = configure(live)["meta"]
    server = roost.runtime.settings
    assert (meta["graph_url"], meta["graph_version"], meta["sdk_url"]) == (
        server.meta_graph_url, server.meta_graph_version, server.meta_sdk_url
    )
    assert meta["dialog_origins"] == server.meta_dialog_origins.split(",")

    own = {"graph_url": "https://graph.meta.example", "graph_version": "v30.1",
           "sdk_url": "https://sdk.meta.example/{locale}/sdk.js", "dialog_origins": ["https://Dialog.Meta.Example:443"]}
    meta = configure(live, **own)["meta"]
    assert {name: meta[name] for name in own} == {**own, "dialog_origins": ["https://dialog.meta.example"]}
    row = settings_row(roost, live_org.id, True)[0]._mapping
    assert (row["meta_graph_url"], row["meta_graph_version"]) == ("https://graph.meta.example", "v30.1")

    # null clears one: the server's value applies again.
    meta = configure(live, graph_version=None)["meta"]
    assert meta["graph_version"] == server.meta_graph_version and meta["graph_url"] == "https://graph.meta.example"


def test_clearing_the_app_secret_makes_live_mode_unconfigured_again(roost, live_org, live):
    configure(live)

    response = live.patch(SETTINGS, json={"meta": {"app_secret": None}})

    assert response.status_code == 200, response.text
    assert response.json()["meta"]["configured"] is False
    assert response.json()["meta"]["app_secret_set"] is False
    assert settings_row(roost, live_org.id, True)[0].meta_app_secret_encrypted is None
    assert live.post(SESSIONS, json={}).json()["error"]["code"] == "meta_not_configured"


def test_a_solution_partner_names_its_credit_line(live):
    meta = configure(live, partner_type="solution_partner", credit_line_id="1972385232742146")["meta"]

    assert (meta["partner_type"], meta["credit_line_id"]) == ("solution_partner", "1972385232742146")


@pytest.mark.parametrize(
    ("meta", "code", "param"),
    [
        ({"app_id": "12ab"}, "parameter_invalid", "meta.app_id"),
        ({"config_id": "x"}, "parameter_invalid", "meta.config_id"),
        ({"credit_line_id": "-1"}, "parameter_invalid", "meta.credit_line_id"),
        ({"app_secret": ""}, "parameter_invalid", "meta.app_secret"),
        ({"partner_type": "reseller"}, "parameter_invalid", "meta.partner_type"),
        ({"app_key": "1"}, "parameter_unknown", "meta.app_key"),
        ({"graph_url": "http://graph.example.com"}, "parameter_invalid", "meta.graph_url"),
        ({"graph_url": "https://graph.example.com/?x=1"}, "parameter_invalid", "meta.graph_url"),
        # Graph calls carry the app secret and tokens: never to Roost's own machine or network.
        ({"graph_url": "http://127.0.0.1:8000/graph"}, "parameter_invalid", "meta.graph_url"),
        ({"graph_url": "https://10.1.2.3/graph"}, "parameter_invalid", "meta.graph_url"),
        ({"graph_url": "https://2130706433:8443/graph"}, "parameter_invalid", "meta.graph_url"),
        ({"graph_url": "https://127.1/graph"}, "parameter_invalid", "meta.graph_url"),
        ({"graph_url": "https://0x7f000001/graph"}, "parameter_invalid", "meta.graph_url"),
        ({"graph_url": "https://graph.example.com:0/"}, "parameter_invalid", "meta.graph_url"),
        ({"app_id": "\u0661\u0662\u0663"}, "parameter_invalid", "meta.app_id"),
        ({"sdk_url": "https://localhost/sdk.js"}, "parameter_invalid", "meta.sdk_url"),
        ({"graph_version": "25.0"}, "parameter_invalid", "meta.graph_version"),
        ({"sdk_url": "javascript:alert(1)"}, "parameter_invalid", "meta.sdk_url"),
        ({"dialog_origins": []}, "parameter_invalid", "meta.dialog_origins"),
        ({"dialog_origins": ["https://www.facebook.com", "https://x.com/path"]}, "parameter_invalid", "meta.dialog_origins[1]"),
    ],
)
def test_a_bad_meta_setting_is_refused_and_nothing_changes(roost, live_org, live, meta, code, param):
    before = settings_row(roost, live_org.id, True)

    response = live.patch(SETTINGS, json={"meta": {"app_id": APP_ID, **meta}})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["code"], error["param"]) == (code, param)
    assert settings_row(roost, live_org.id, True) == before


# -- test mode: the simulator's app ----------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["app_id", "app_secret", "config_id", "system_user_token", "verify_token", "credit_line_id",
     "graph_url", "graph_version", "sdk_url", "dialog_origins"],
)
def test_test_mode_refuses_meta_credentials(roost, org, api, field):
    value = {
        "app_id": APP_ID, "config_id": APP_ID, "credit_line_id": APP_ID, "graph_url": "https://graph.example.com",
        "graph_version": "v30.0", "sdk_url": "https://sdk.example.com/sdk.js", "dialog_origins": ["https://dialog.example.com"],
    }.get(field, "some-secret")
    before = settings_row(roost, org.id, False)

    response = api.patch(SETTINGS, json={"meta": {field: value}})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "parameter_invalid", f"meta.{field}")
    assert settings_row(roost, org.id, False) == before


def test_test_mode_accepts_the_partner_type(roost, org, api):
    response = api.patch(SETTINGS, json={"meta": {"partner_type": "solution_partner"}})

    assert response.status_code == 200, response.text
    meta = response.json()["meta"]
    assert (meta["source"], meta["configured"], meta["partner_type"]) == ("simulator", True, "solution_partner")
    # The simulator's app, with its own credit line.
    assert meta["app_id"] == api.get("/_sim/control/app").json()["app_id"]
    assert meta["credit_line_id"] == api.get("/_sim/control/app").json()["credit_line_id"]
    assert settings_row(roost, org.id, False)[0].meta_partner_type == "solution_partner"


def test_test_sessions_need_no_configuration(api):
    meta = api.get(SETTINGS).json()["meta"]

    assert (meta["configured"], meta["source"], meta["app_secret_set"]) == (True, "simulator", True)
    assert api.post(SESSIONS, json={}).status_code == 201


# -- the messages callback URL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/whatsapp",
        "http://127.0.0.1:9000/whatsapp",
        "ftp://example.com/whatsapp",
        "example.com/whatsapp",
        "https://",
        "https://example.com/" + "a" * 200,
    ],
)
def test_the_messages_callback_url_must_be_https(roost, org, api, url):
    before = settings_row(roost, org.id, False)

    response = api.patch(SETTINGS, json={"messages_callback_url": url})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_invalid", "messages_callback_url")
    assert settings_row(roost, org.id, False) == before


def test_the_messages_callback_url_is_set_and_cleared(roost, org, api):
    url = "https://hooks.example.com/whatsapp/messages"

    assert api.patch(SETTINGS, json={"messages_callback_url": url}).json()["messages_callback_url"] == url
    assert api.get(SETTINGS).json()["messages_callback_url"] == url
    assert api.patch(SETTINGS, json={"name": "Renamed"}).json()["messages_callback_url"] == url

    cleared = api.patch(SETTINGS, json={"messages_callback_url": None})
    assert cleared.status_code == 200 and cleared.json()["messages_callback_url"] is None
    assert settings_row(roost, org.id, False)[0].messages_callback_url is None


def test_each_mode_has_its_own_messages_callback_url(live_org, live):
    with live_org.client() as test:
        test.patch(SETTINGS, json={"messages_callback_url": "https://test.example.com/messages"})
    live.patch(SETTINGS, json={"messages_callback_url": "https://live.example.com/messages"})

    with live_org.client() as test:
        assert test.get(SETTINGS).json()["messages_callback_url"] == "https://test.example.com/messages"
    assert live.get(SETTINGS).json()["messages_callback_url"] == "https://live.example.com/messages"


# -- the CLI -----------------------------------------------------------------------------------------


def cli(roost, tmp_path, *args: str, check: bool = True):
    env = roost_env(
        ROOST_DATABASE_URL=roost.runtime.settings.database_url,
        ROOST_SECRET_KEY=TEST_SECRET_KEY,
        ROOST_MIGRATE_ON_START="0",
    )
    return run_roost(*args, env=env, cwd=tmp_path, check=check)


def test_set_meta_makes_live_sessions_creatable(roost, live_org, live, tmp_path):
    assert live.post(SESSIONS, json={}).status_code == 400

    cli(roost, tmp_path, "orgs", "set-meta", live_org.id,
        "--app-id", APP_ID, "--app-secret", SECRETS["app_secret"], "--config-id", CONFIG_ID)

    response = live.post(SESSIONS, json={})
    assert response.status_code == 201, response.text
    meta = live.get(SETTINGS).json()["meta"]
    assert (meta["configured"], meta["app_id"], meta["config_id"], meta["app_secret_set"]) == (True, APP_ID, CONFIG_ID, True)
    (row,) = settings_row(roost, live_org.id, True)
    assert SECRETS["app_secret"] not in repr(row)


def test_set_meta_sets_where_the_app_talks_to_meta(roost, live_org, live, tmp_path):
    cli(roost, tmp_path, "orgs", "set-meta", live_org.id, "--graph-version", "v30.0",
        "--dialog-origin", "https://A.example", "--dialog-origin", "https://b.example:443")

    meta = live.get(SETTINGS).json()["meta"]
    assert (meta["graph_version"], meta["dialog_origins"]) == ("v30.0", ["https://a.example", "https://b.example"])


def test_set_meta_leaves_test_mode_alone(roost, live_org, tmp_path):
    cli(roost, tmp_path, "orgs", "set-meta", live_org.id, "--app-id", APP_ID, "--partner-type", "solution_partner")

    with live_org.client() as test:
        meta = test.get(SETTINGS).json()["meta"]
    assert (meta["source"], meta["partner_type"]) == ("simulator", "tech_provider")


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (("--app-id", "not-digits"), 2),
        (("--partner-type", "reseller"), 2),
        (("--dialog-origin", "https://a.example/path"), 2),
        (("--graph-url", "http://graph.example.com"), 2),
        ((), 2),
    ],
)
def test_set_meta_refuses_bad_values_and_changes_nothing(roost, live_org, tmp_path, args, exit_code):
    before = settings_row(roost, live_org.id, True)

    result = cli(roost, tmp_path, "orgs", "set-meta", live_org.id, *args, check=False)

    assert result.returncode == exit_code, result.stdout + result.stderr
    assert settings_row(roost, live_org.id, True) == before


def test_set_meta_of_an_unknown_organization_fails(roost, tmp_path):
    result = cli(roost, tmp_path, "orgs", "set-meta", "org_doesnotexist", "--app-id", APP_ID, check=False)

    assert result.returncode == 1
    assert "org_doesnotexist" in result.stderr
