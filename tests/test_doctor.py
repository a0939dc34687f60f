"""`roost doctor` (SPEC 8) against a running Roost whose simulator plays Meta: the "live" Meta app
is a simulated one, reached over real HTTP at {server}/_sim/graph, as a live app reaches Meta."""

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from roost import doctor
from roost.config import Settings
from roost.kit.simulated_meta import simulated_app
from roost.simulator.service import ensure_app
from tests.processes import roost_env, run_roost
from tests.support import TEST_SECRET_KEY, RunningRoost

PUBLIC_URL = "https://roost.example.com"


def new_app_id() -> str:
    """An app of this test's own: the simulator keeps each app's webhook subscription."""
    return str(10**14 + secrets.randbelow(9 * 10**14))


def live_settings(roost: RunningRoost, app_id: str, **overrides: Any) -> dict[str, Any]:
    app = simulated_app(roost.runtime.keyring, app_id)
    values: dict[str, Any] = {
        "database_url": roost.runtime.settings.database_url,
        "secret_key": TEST_SECRET_KEY,
        "public_url": PUBLIC_URL,
        "meta_app_id": app_id,
        "meta_app_secret": app.app_secret,
        "meta_config_id": app.config_id,
        "meta_system_user_token": app.system_user_token,
        "meta_verify_token": app.verify_token,
        "meta_graph_url": f"{roost.base_url}/_sim/graph",
        "meta_graph_version": "v25.0",
        "meta_timeout_seconds": 5,
    }
    values.update(overrides)
    return values


def subscribe(roost: RunningRoost, app_id: str, callback_url: str, fields: list[str]) -> None:
    """Set the app's webhook subscription in the simulator (as the App Dashboard would)."""

    async def update() -> None:
        async with roost.runtime.sessions() as db, db.begin():
            app = await ensure_app(db, roost.runtime.keyring, app_id)
            app.callback_url = callback_url
            app.callback_fields = fields

    roost.run(update())


def run_doctor(values: dict[str, Any], organization_id: str) -> doctor.Report:
    settings = Settings(_env_file=None, **values)
    return asyncio.run(doctor.run(settings, organization_id=organization_id))


def by_id(report: doctor.Report) -> dict[str, doctor.Check]:
    return {check.id: check for check in report.checks}


@pytest.fixture
def app_id(roost: RunningRoost) -> str:
    app_id = new_app_id()
    subscribe(roost, app_id, f"{PUBLIC_URL}/meta/webhooks/{app_id}", ["account_update", "account_review_update"])
    return app_id


def test_a_good_live_configuration_passes(roost, org, app_id):
    report = run_doctor(live_settings(roost, app_id), org.id)
    checks = by_id(report)
    assert report.ok, report.text()
    for name in ("secret_key", "database.reachable", "database.migrations", "secret_key.decrypts", "public_url",
                 "meta.app_credentials", "meta.system_user_token", "meta.webhook_subscription"):
        assert checks[name].status == doctor.OK, (name, report.text())
    assert checks["meta.webhook_subscription"].message == (
        f"Webhook {PUBLIC_URL}/meta/webhooks/{app_id} with account_update"
    )
    assert checks["meta.system_user_token"].message == "System user token valid, never expires"
    manual = [check for check in report.checks if check.status == doctor.MANUAL]
    assert {check.id for check in manual} >= {"manual.allowed_domains", "manual.login_configuration"}
    assert all(check.fix for check in manual)
    assert "roost.example.com is in Allowed domains" in checks["manual.allowed_domains"].message
    section = checks["meta.app_credentials"].section
    assert section == f"Live Meta app {app_id} (from ROOST_META_*; used by {org.id})"


def test_a_webhook_without_the_coexistence_fields_is_a_warning(roost, org, app_id):
    checks = by_id(run_doctor(live_settings(roost, app_id), org.id))
    warning = checks["meta.webhook_coexistence_fields"]
    assert warning.status == doctor.WARN
    assert "history, smb_app_state_sync, smb_message_echoes" in warning.message and "docs/coexistence.md" in warning.message
    fields = ["account_update", "account_review_update", "history", "smb_app_state_sync", "smb_message_echoes"]
    subscribe(roost, app_id, f"{PUBLIC_URL}/meta/webhooks/{app_id}", fields)
    assert "meta.webhook_coexistence_fields" not in by_id(run_doctor(live_settings(roost, app_id), org.id))


def test_a_wrong_app_secret_fails(roost, org, app_id):
    report = run_doctor(live_settings(roost, app_id, meta_app_secret="not-the-secret"), org.id)
    checks = by_id(report)
    assert not report.ok
    assert checks["meta.app_credentials"].status == doctor.FAIL
    assert "Meta refused the app id and secret" in checks["meta.app_credentials"].message
    assert "(code 190)" in checks["meta.app_credentials"].message
    assert "App settings → Basic" in checks["meta.app_credentials"].fix
    assert checks["meta.webhook_subscription"].status == doctor.SKIP


def test_a_webhook_pointing_elsewhere_fails_with_the_fix(roost, org, app_id):
    subscribe(roost, app_id, "https://old.example.com/whatsapp", ["account_update"])
    report = run_doctor(live_settings(roost, app_id), org.id)
    check = by_id(report)["meta.webhook_subscription"]
    assert not report.ok and check.status == doctor.FAIL
    expected = f"{PUBLIC_URL}/meta/webhooks/{app_id}"
    assert check.message == f"The app's webhook goes to https://old.example.com/whatsapp, not to Roost ({expected})"
    assert f"callback URL {expected}" in check.fix and "account_update" in check.fix


def test_a_webhook_without_account_update_fails(roost, org, app_id):
    subscribe(roost, app_id, f"{PUBLIC_URL}/meta/webhooks/{app_id}", ["messages"])
    report = run_doctor(live_settings(roost, app_id), org.id)
    check = by_id(report)["meta.webhook_subscription"]
    assert check.status == doctor.FAIL
    assert check.message == "The webhook to Roost is not subscribed to account_update (fields: messages)"


def test_an_http_public_url_fails_in_live_mode(roost, org):
    app_id = new_app_id()
    # The simulator's default subscription points at the server's own (http) URL: only HTTPS is wrong.
    report = run_doctor(live_settings(roost, app_id, public_url=roost.base_url), org.id)
    checks = by_id(report)
    assert not report.ok
    assert checks["public_url"].status == doctor.FAIL
    assert "is not HTTPS, which live mode requires" in checks["public_url"].message
    assert checks["meta.webhook_subscription"].status == doctor.OK
    assert [check.id for check in report.checks if check.status == doctor.FAIL] == ["public_url"]


def test_an_invalid_system_user_token_fails(roost, org, app_id):
    report = run_doctor(live_settings(roost, app_id, meta_system_user_token="EAASnotatoken"), org.id)
    check = by_id(report)["meta.system_user_token"]
    assert check.status == doctor.FAIL and check.message.startswith("The system user token is not valid")
    assert "expiry Never" in check.fix


def test_an_organizations_own_app_is_checked(roost, app_id):
    live_org = roost.new_org(live=True)
    app = simulated_app(roost.runtime.keyring, app_id)
    with live_org.client(live_org.keys["live"]) as client:
        response = client.patch("/v1/organization/settings?mode=live", json={"meta": {
            "app_id": app_id, "app_secret": app.app_secret, "config_id": app.config_id,
            "system_user_token": app.system_user_token, "verify_token": app.verify_token}})
        assert response.status_code == 200, response.text
    # No server-wide app at all: the organization's own settings are what is checked.
    values = live_settings(roost, app_id, meta_app_id=None, meta_app_secret=None, meta_config_id=None,
                           meta_system_user_token=None, meta_verify_token=None)
    report = run_doctor(values, live_org.id)
    checks = by_id(report)
    assert report.ok, report.text()
    assert checks["meta.app_credentials"].section == f"Live Meta app {app_id} (from organization settings; used by {live_org.id})"


def test_an_unknown_organization_fails(roost, app_id):
    report = run_doctor(live_settings(roost, app_id), "org_doesnotexist")
    assert by_id(report)["organization"].status == doctor.FAIL


def test_the_command_prints_the_report_and_exits_non_zero_on_failure(roost, org, app_id, tmp_path: Path):
    values = live_settings(roost, app_id)
    env = roost_env(**{f"ROOST_{name.upper()}": str(value) for name, value in values.items()})
    good = run_roost("doctor", "--org", org.id, env=env, cwd=tmp_path)
    assert good.returncode == 0
    assert "✓ App id and secret accepted by Meta" in good.stdout
    assert "? Facebook Login for Business → Settings: roost.example.com is in Allowed domains" in good.stdout
    assert good.stdout.rstrip().endswith("to check by hand.")

    env["ROOST_META_APP_SECRET"] = "wrong"
    bad = run_roost("doctor", "--org", org.id, "--json", env=env, cwd=tmp_path, check=False)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and report["counts"]["fail"] == 1
    (failed,) = [check for check in report["checks"] if check["status"] == "fail"]
    assert failed["id"] == "meta.app_credentials" and failed["fix"]
    assert app_id in bad.stdout and values["meta_app_secret"] not in bad.stdout + bad.stderr
