"""Branding of the hosted page: GET/PATCH /v1/organization/settings `branding`, `roost orgs
set-branding`, and what the page shows; and no link token in `roost serve`'s logs."""

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.hosted.helpers import create_session
from tests.processes import RoostServer, roost_env, run_roost, run_roost_json

SETTINGS = "/v1/organization/settings"


def branding_row(hosted, org_id: str) -> tuple:
    return tuple(hosted.sql("SELECT name, logo_url, accent_color FROM organizations WHERE id = :id", id=org_id)[0])


def test_branding_is_set_read_and_cleared(api):
    assert api.get(SETTINGS).json()["branding"] == {"logo_url": None, "accent_color": None}
    response = api.patch(SETTINGS, json={"branding": {"logo_url": "https://cdn.example.com/acme.png", "accent_color": "#0a7cff"}})
    assert response.status_code == 200, response.text
    assert response.json()["branding"] == {"logo_url": "https://cdn.example.com/acme.png", "accent_color": "#0A7CFF"}
    # a field not named is kept; null clears one
    response = api.patch(SETTINGS, json={"branding": {"logo_url": None}})
    assert response.json()["branding"] == {"logo_url": None, "accent_color": "#0A7CFF"}


def test_branding_is_organization_wide(hosted):
    org = hosted.new_org(live=True)
    with org.client() as test_key, org.client(org.keys["live"]) as live_key:
        test_key.patch(SETTINGS, json={"branding": {"accent_color": "#112233"}})
        assert live_key.get(SETTINGS).json()["branding"]["accent_color"] == "#112233"
        live_key.patch(SETTINGS, json={"branding": {"accent_color": "#445566"}})
        assert test_key.get(SETTINGS).json()["branding"]["accent_color"] == "#445566"


@pytest.mark.parametrize(
    ("branding", "param"),
    [
        ({"logo_url": "http://cdn.example.com/logo.png"}, "branding.logo_url"),
        ({"logo_url": "javascript:alert(1)"}, "branding.logo_url"),
        ({"logo_url": "https://cdn.example.com/a logo.png"}, "branding.logo_url"),
        ({"logo_url": "https://user:pw@cdn.example.com/logo.png"}, "branding.logo_url"),
        ({"logo_url": "https:///logo.png"}, "branding.logo_url"),
        ({"logo_url": ""}, "branding.logo_url"),
        ({"accent_color": "#FFF"}, "branding.accent_color"),
        ({"accent_color": "red"}, "branding.accent_color"),
        ({"accent_color": "#12345G"}, "branding.accent_color"),
        ({"accent_color": "#abcdef\n"}, "branding.accent_color"),
        ({"logo_url": "https://cdn.example.com:0/logo.png"}, "branding.logo_url"),
        ({"accent_colour": "#123456"}, "branding.accent_colour"),
    ],
)
def test_bad_branding_is_refused_and_nothing_changes(hosted, api, org, branding, param):
    before = branding_row(hosted, org.id)
    response = api.patch(SETTINGS, json={"name": "Changed", "branding": branding})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert branding_row(hosted, org.id) == before


def test_the_page_shows_the_branding(hosted, api):
    branding = {"logo_url": "https://cdn.example.com/acme.png", "accent_color": "#FFD400"}
    api.patch(SETTINGS, json={"name": "Acme Cloud", "branding": branding})
    response = httpx.get(create_session(api)["url"])
    assert 'data-testid="platform-name">Acme Cloud<' in response.text
    assert '<img class="logo" src="https://cdn.example.com/acme.png"' in response.text
    config = json.loads(re.search(r'id="roost-config">(.*?)</script>', response.text, re.S).group(1))
    assert config["accent"] == "#FFD400" and config["accent_text"] == "#111111"  # dark text on yellow
    assert "https://cdn.example.com" in response.headers["content-security-policy"]


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory) -> tuple[Path, dict[str, str], dict]:
    directory = tmp_path_factory.mktemp("branding-cli")
    env = roost_env(ROOST_DATABASE_URL=f"sqlite:///{directory / 'x.db'}")
    return directory, env, run_roost_json("init", "--json", env=env, cwd=directory)


def test_set_branding_from_the_command_line(cli_dir):
    directory, env, init = cli_dir
    org_id = init["organization_id"]
    result = run_roost_json("orgs", "set-branding", org_id, "--name", "Acme", "--logo-url", "https://cdn.example.com/a.png",
                            "--accent-color", "#00aa55", env=env, cwd=directory)
    assert result == {"id": org_id, "name": "Acme", "logo_url": "https://cdn.example.com/a.png", "accent_color": "#00AA55"}
    cleared = run_roost_json("orgs", "set-branding", org_id, "--logo-url", "", env=env, cwd=directory)
    assert cleared["logo_url"] is None and cleared["accent_color"] == "#00AA55" and cleared["name"] == "Acme"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accent-color", "blue"], "--accent-color"),
        (["--logo-url", "http://cdn.example.com/a.png"], "--logo-url"),
        ([], "Nothing to set"),
    ],
)
def test_set_branding_refuses_bad_values(cli_dir, args, message):
    directory, env, init = cli_dir
    result = run_roost("orgs", "set-branding", init["organization_id"], *args, env=env, cwd=directory, check=False)
    assert result.returncode == 2
    assert message in result.stderr


def test_set_branding_of_an_unknown_organization(cli_dir):
    directory, env, _ = cli_dir
    result = run_roost("orgs", "set-branding", "org_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "--name", "X", env=env, cwd=directory, check=False)
    assert result.returncode == 1 and "No such organization" in result.stderr


def test_no_link_token_in_the_logs(cli_dir):
    """`roost serve` logs every request (path only); the token never appears in any line."""
    directory, env, init = cli_dir
    server = RoostServer({**env, "ROOST_LOG_LEVEL": "info"}, directory, name="serve-logs")
    try:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {init['admin_key']}"}) as api:
            session = create_session(api, redirect_uri="https://platform.example.com/cb", state="s")
        token = parse_qs(urlsplit(session["url"]).query)["token"][0]
        with httpx.Client(base_url=server.base_url, headers={"Origin": server.base_url}) as browser:
            assert browser.get("/embed/connect", params={"token": token}).status_code == 200
            for path in ("opened", "launch", "status"):
                assert browser.post(f"/embed/api/{path}", json={"token": token}).status_code == 200
            browser.post("/embed/api/return", json={"token": token, "reason": "user_cancelled"})
    finally:
        server.stop()
    logs = server.stderr()
    assert token not in logs
    paths = [json.loads(line).get("path") for line in logs.splitlines() if line.startswith("{")]
    assert "/embed/connect" in paths and "/embed/api/launch" in paths
