"""The `roost` command (SPEC 8), run for real in child processes on a SQLite file, and the
JSON logs of `roost serve` (secrets redacted, a request id on each request line)."""

import base64
import json
import os
import pty
import re
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest

from roost.config import Settings
from roost.db.migrate import head_revision
from roost.kit.crypto import Keyring
from roost.organizations.service import KEY_CACHE_SECONDS
from tests.processes import COMMAND, RoostServer, run_roost, run_roost_json, roost_env
from tests.support import PG_URL, SEED_BODY, SESSIONS, RunningRoost, free_port

TEST_KEY = re.compile(r"^sk_admin_test_[A-Za-z0-9]{33,}$")
LIVE_KEY = re.compile(r"^sk_admin_live_[A-Za-z0-9]{33,}$")
ORG_ID = re.compile(r"^org_[A-Za-z0-9]{27}$")
SETTINGS = "/v1/organization/settings"


class Cli:
    """`roost` bound to one SQLite database in its own directory (no ROOST_SECRET_KEY)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.db_path = directory / "x.db"
        self.database_url = f"sqlite:///{self.db_path}"
        self.env = roost_env(ROOST_DATABASE_URL=self.database_url)
        self.init_output: dict = {}

    def __call__(self, *args: str, check: bool = True):
        return run_roost(*args, env=self.env, cwd=self.directory, check=check)

    def json(self, *args: str):
        return run_roost_json(*args, "--json", env=self.env, cwd=self.directory)

    def query(self, statement: str, *params) -> list[tuple]:
        with sqlite3.connect(self.db_path) as connection:
            return connection.execute(statement, params).fetchall()

    def server(self) -> RunningRoost:
        """A server on this database, reading the key file the CLI made (as `roost serve` would)."""
        return RunningRoost(Settings(_env_file=None, database_url=self.database_url, worker_interval_seconds=60)).start()


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    """A database set up once with `roost init --json`; its output is in `cli.init_output`."""
    cli = Cli(tmp_path_factory.mktemp("cli"))
    cli.init_output = cli.json("init")
    return cli


@pytest.fixture
def fresh_cli(tmp_path) -> Cli:
    return Cli(tmp_path)


# -- init ----------------------------------------------------------------------------------


def test_init_prints_the_organization_and_a_test_key(cli):
    output = cli.init_output
    assert set(output) == {"organization_id", "name", "admin_key", "created"}
    assert output["created"] is True
    assert output["name"] == "My platform"  # no terminal to ask in, no --name
    assert ORG_ID.match(output["organization_id"])
    assert TEST_KEY.match(output["admin_key"]), output["admin_key"]
    assert cli.query("SELECT id FROM organizations") == [(output["organization_id"],)]


def test_init_makes_a_private_key_file_beside_the_database(cli):
    key_file = cli.db_path.with_name("x.db.key")
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Keyring(key_file.read_text().strip())  # a usable ROOST_SECRET_KEY value


def test_a_second_init_creates_nothing_and_says_so(cli):
    key_file_before = cli.db_path.with_name("x.db.key").read_text()
    again = cli("init")
    assert "already" in again.stdout.lower()
    assert cli.init_output["organization_id"] in again.stdout
    assert again.stdout.count("sk_admin_") == 0

    as_json = cli.json("init")
    assert as_json == {
        "organization_id": cli.init_output["organization_id"], "name": "My platform", "admin_key": None, "created": False,
    }
    assert cli.query("SELECT count(*) FROM organizations") == [(1,)]
    assert cli.query("SELECT count(*) FROM admin_keys") == [(1,)]
    assert cli.db_path.with_name("x.db.key").read_text() == key_file_before


def test_init_names_the_platform_from_its_option(tmp_path):
    by_option = Cli(tmp_path / "option")
    by_option.directory.mkdir()
    assert by_option.json("init", "--name", "  Acme Cloud ")["name"] == "Acme Cloud"
    assert by_option.query("SELECT name FROM organizations") == [("Acme Cloud",)]

    refused = Cli(tmp_path / "refused")
    refused.directory.mkdir()
    result = refused("init", "--name", "  ", check=False)
    assert result.returncode == 2 and "--name" in result.stderr
    assert not refused.db_path.exists() or refused.query("SELECT count(*) FROM organizations") == [(0,)]


def test_init_asks_for_the_name_in_a_terminal(fresh_cli):
    controller, terminal = pty.openpty()
    child = subprocess.Popen([*COMMAND, "init"], stdin=terminal, stdout=terminal, stderr=terminal,
                             env=fresh_cli.env, cwd=fresh_cli.directory)
    os.close(terminal)
    seen = b""
    while b"connect page" not in seen:
        seen += os.read(controller, 1024)
    os.write(controller, b"Acme Cloud\n")
    assert child.wait(timeout=60) == 0
    os.close(controller)
    assert fresh_cli.query("SELECT name FROM organizations") == [("Acme Cloud",)]


def test_a_name_given_to_a_later_init_is_not_lost_silently(fresh_cli):
    """init names the organization only when it creates it; given a name later, it says how to
    rename, and that command works as printed (in a shell, the virtual environment not activated)."""
    fresh_cli("init")
    renaming = fresh_cli("init", "--name", "Acme's Cloud").stdout
    assert "stays 'My platform'" in renaming
    line = next(line for line in renaming.splitlines() if "set-branding" in line)
    shell(line.split(" with: ", 1)[1], fresh_cli)
    assert fresh_cli.query("SELECT name FROM organizations") == [("Acme's Cloud",)]


def shell(command: str, cli: Cli) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", "-c", command], env=cli.env, cwd=cli.directory, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


# -- orgs ----------------------------------------------------------------------------------


def test_orgs_create_list_and_show(cli):
    created = cli.json("orgs", "create", "Acme Platform")
    assert set(created) == {"organization_id", "admin_key"}
    assert ORG_ID.match(created["organization_id"])
    assert TEST_KEY.match(created["admin_key"])

    listed = cli.json("orgs", "list")
    assert {"id": created["organization_id"], "name": "Acme Platform"}.items() <= next(
        row for row in listed if row["id"] == created["organization_id"]
    ).items()
    assert cli.init_output["organization_id"] in {row["id"] for row in listed}

    shown = cli("orgs", "show", created["organization_id"])
    detail = json.loads(shown.stdout)
    assert (detail["id"], detail["name"]) == (created["organization_id"], "Acme Platform")
    assert [key["mode"] for key in detail["admin_keys"]] == ["test"]
    assert detail["admin_keys"][0]["last4"] == created["admin_key"][-4:]
    assert created["admin_key"] not in shown.stdout


def test_orgs_show_of_an_unknown_organization_fails(cli):
    result = cli("orgs", "show", "org_2DbBs7GWhGvVNJGrDXr5RG0mBWI", check=False)
    assert result.returncode == 1
    assert "org_2DbBs7GWhGvVNJGrDXr5RG0mBWI" in result.stderr


def test_orgs_create_refuses_an_empty_name(cli):
    before = cli.query("SELECT count(*) FROM organizations")
    result = cli("orgs", "create", "   ", check=False)
    assert result.returncode != 0
    assert "name" in result.stderr
    assert cli.query("SELECT count(*) FROM organizations") == before


def test_doctor_names_the_address_session_links_point_at(cli):
    report = json.loads(cli("doctor", "--port", "9123", "--json").stdout)
    checks = {check["id"]: check for check in report["checks"]}
    assert "http://127.0.0.1:9123 " in checks["public_url"]["message"]
    assert "(http://127.0.0.1:9123/_sim)" in checks["simulator"]["message"]
    default = json.loads(cli("doctor", "--json").stdout)
    assert "http://127.0.0.1:8000/_sim" in json.dumps(default) and "<port>" not in json.dumps(default)

# -- console users -------------------------------------------------------------------------


def test_users_create_list_and_disable(cli):
    """The commands themselves; the account rules are tested in-process (tests/console/test_accounts.py)."""
    org_id = cli.init_output["organization_id"]
    created = run_roost_json(
        "users", "create", "--org", org_id, "--email", "Ops@Example.com", "--role", "admin", "--password-stdin", "--json",
        env=cli.env, cwd=cli.directory, input="a long enough password\n",
    )
    assert created["email"] == "ops@example.com" and created["created"] is True and created["id"].startswith("usr_")
    (stored,) = cli.query("SELECT password_hash FROM console_users WHERE email = 'ops@example.com'")
    assert stored[0].startswith("$argon2id$") and "a long enough password" not in stored[0]
    refused = cli("users", "create", "--org", org_id, "--email", "new@example.com", "--role", "owner", "--password-stdin",
                  check=False)
    assert refused.returncode == 2 and "role" in refused.stderr

    (user,) = cli.json("users", "list")
    assert user["email"] == "ops@example.com" and user["organizations"] == [{"id": org_id, "role": "admin"}]
    assert "Disabled ops@example.com" in cli("users", "disable", "OPS@example.com").stdout
    assert cli.query("SELECT disabled_at IS NOT NULL FROM console_users") == [(1,)]


# -- keys ----------------------------------------------------------------------------------


def test_keys_create_a_live_key_and_list_it_without_its_secret(cli):
    org_id = cli.init_output["organization_id"]
    created = cli.json("keys", "create", "--org", org_id, "--mode", "live")
    assert set(created) == {"id", "admin_key", "mode"}
    assert created["mode"] == "live"
    assert created["id"].startswith("key_")
    assert LIVE_KEY.match(created["admin_key"]), created["admin_key"]

    listing = cli("keys", "list", "--org", org_id, "--json")
    rows = json.loads(listing.stdout)
    assert {"id": created["id"], "mode": "live", "revoked_at": None}.items() <= next(
        row for row in rows if row["id"] == created["id"]
    ).items()
    assert created["admin_key"] not in listing.stdout
    assert cli.init_output["admin_key"] not in listing.stdout


def test_keys_create_refuses_an_unknown_mode(cli):
    result = cli("keys", "create", "--org", cli.init_output["organization_id"], "--mode", "prod", check=False)
    assert result.returncode != 0
    assert "--mode" in result.stderr


def test_keys_create_refuses_an_unknown_organization(cli):
    before = cli.query("SELECT count(*) FROM admin_keys")
    result = cli("keys", "create", "--org", "org_2DbBs7GWhGvVNJGrDXr5RG0mBWI", check=False)
    assert result.returncode == 1
    assert "org_2DbBs7GWhGvVNJGrDXr5RG0mBWI" in result.stderr
    assert cli.query("SELECT count(*) FROM admin_keys") == before


def test_a_key_revoked_by_the_cli_is_refused_by_the_server(cli):
    org_id = cli.init_output["organization_id"]
    created = cli.json("keys", "create", "--org", org_id)
    server = cli.server()
    try:
        with server.http() as http:
            headers = {"Authorization": f"Bearer {created['admin_key']}"}
            assert http.get(SETTINGS, headers=headers).status_code == 200
            revoked = cli("keys", "revoke", created["id"])
            assert created["id"] in revoked.stdout
            # Another process revoked it: the server may trust its cached lookup of the key for
            # up to KEY_CACHE_SECONDS more (docs/decisions.md), never longer.
            deadline = time.monotonic() + KEY_CACHE_SECONDS + 2
            response = http.get(SETTINGS, headers=headers)
            while response.status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.05)
                response = http.get(SETTINGS, headers=headers)
            # The key made by `roost init` is untouched.
            assert http.get(SETTINGS, headers={"Authorization": f"Bearer {cli.init_output['admin_key']}"}).status_code == 200
    finally:
        server.stop()
    assert response.status_code == 401, response.text
    assert (response.json()["error"]["type"], response.json()["error"]["code"]) == ("authentication_error", "api_key_revoked")


def test_keys_revoke_of_an_unknown_key_fails(cli):
    result = cli("keys", "revoke", "key_2DbBs7GWhGvVNJGrDXr5RG0mBWI", check=False)
    assert result.returncode == 1
    assert "key_2DbBs7GWhGvVNJGrDXr5RG0mBWI" in result.stderr


# -- migrate and secret-key ----------------------------------------------------------------


def test_migrate_brings_a_new_database_to_the_newest_revision(fresh_cli):
    result = fresh_cli("migrate")
    assert head_revision() in result.stdout
    assert fresh_cli.query("SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert fresh_cli.query("SELECT count(*) FROM organizations") == [(0,)]


def test_secret_key_prints_a_usable_256_bit_key(tmp_path):
    result = run_roost("secret-key", env=roost_env(), cwd=tmp_path)
    key = result.stdout.strip()
    assert len(result.stdout.strip().splitlines()) == 1
    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 32
    keyring = Keyring(key)
    assert keyring.decrypt(keyring.encrypt("x")) == "x"


@pytest.mark.skipif(not PG_URL, reason="needs ROOST_TEST_DATABASE_URL (PostgreSQL)")
@pytest.mark.parametrize("args", [["init"], ["serve", "--port", "0"]], ids=["init", "serve"])
def test_postgresql_without_a_secret_key_is_refused(tmp_path, args):
    if args[0] == "serve":
        args = ["serve", "--port", str(free_port())]
    result = run_roost(*args, env=roost_env(ROOST_DATABASE_URL=PG_URL), cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "ROOST_SECRET_KEY" in result.stderr
    assert "roost secret-key" in result.stderr
    assert "Traceback" not in result.stderr


# -- JSON logs -----------------------------------------------------------------------------


def test_serve_logs_json_lines_without_secrets_and_with_request_ids(fresh_cli):
    admin_key = fresh_cli.json("init")["admin_key"]
    server = RoostServer(fresh_cli.env, fresh_cli.directory)
    request_ids = []
    try:
        with server.client(admin_key) as api, server.client() as anonymous:
            settings = api.get(SETTINGS)
            session = api.post(SESSIONS, json=SEED_BODY)
            page = anonymous.get("/embed/connect", params={"token": "SECRETTOKEN"})
            bad_key = anonymous.get(SETTINGS, headers={"Authorization": f"Bearer {admin_key[:-4]}WXYZ"})
            not_found = api.get("/v1/organization/nope", params={"token": "SECRETTOKEN"})
            for response in (settings, session, page, bad_key, not_found):
                request_ids.append(response.headers["Request-Id"])
    finally:
        server.stop()
    assert [settings.status_code, session.status_code, bad_key.status_code] == [200, 201, 401]
    link_token = session.json()["url"].split("token=", 1)[1]
    redirect_secret = settings.json()["redirect_secret"]

    stderr = server.stderr()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "roost serve logged nothing"
    records = [json.loads(line) for line in lines]  # every line is JSON
    for secret in (admin_key, admin_key[len("sk_admin_test_") :], admin_key[:-4], "SECRETTOKEN", link_token, redirect_secret):
        assert secret not in stderr
        assert secret not in server.stdout_path.read_text()

    request_records = [record for record in records if record.get("event") == "request"]
    assert request_records
    for record in request_records:
        assert re.match(r"^req_[A-Za-z0-9]+$", record.get("request_id", "")), record
    assert set(request_ids) <= {record["request_id"] for record in request_records}
