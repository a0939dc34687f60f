"""Token custody (SPEC 5.4): a live admin key reads a connected profile's business token, each
read is in the audit log, an organization setting switches it off, and nothing else gets it."""

import json

import pytest

from roost.observability import _redact
from tests.support.signups import PROFILES, SETTINGS
from tests.profiles.helpers import AUDIT_LOG, LiveRoost, connect, disconnect, subscribed_apps, token_works


@pytest.fixture(scope="module")
def live_roost(backend, tmp_path_factory):
    server = LiveRoost(backend, tmp_path_factory.mktemp("roost-live"))
    yield server
    server.close()


@pytest.fixture
def live_org(live_roost):
    return live_roost.new_org()


def token_url(profile_id: str) -> str:
    return f"{PROFILES}/{profile_id}/access-token"


def audit_entries(client) -> list[dict]:
    response = client.get(AUDIT_LOG)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def live_key_id(client) -> str:
    (key,) = client.get("/v1/organization/admin-keys").json()["data"]
    return key["id"]


def test_a_live_key_reads_the_business_token_and_the_read_is_audited(live_roost, live_org):
    _, profile = live_roost.connect_live(live_org)
    assert profile["livemode"] is True and profile["status"] == "connected"

    with live_org.client(live_org.keys["live"]) as live, live_org.client() as test:
        response = live.get(token_url(profile["id"]))

        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"object", "business_profile_id", "access_token", "token_expires_at"}
        assert body["object"] == "business_token" and body["business_profile_id"] == profile["id"]
        assert body["token_expires_at"] is None  # Embedded Signup business tokens do not expire
        assert response.headers["cache-control"] == "no-store"
        assert token_works(test, profile["waba_id"], body["access_token"])  # the customer's real token

        (entry,) = audit_entries(live)
        assert entry["object"] == "audit_log_entry" and entry["livemode"] is True
        assert entry["action"] == "business_profile.access_token.read"
        assert (entry["resource_type"], entry["resource_id"]) == ("business_profile", profile["id"])
        assert (entry["admin_key_id"], entry["console_user_id"]) == (live_key_id(live), None)
        assert entry["request_id"] == response.headers["request-id"]
        assert entry["ip_address"] == "127.0.0.1"
        assert entry["created_at"].endswith("Z")
        assert body["access_token"] not in json.dumps(entry)
        assert audit_entries(test) == []  # test mode has its own (empty) log

        live.get(token_url(profile["id"]))
        assert len(audit_entries(live)) == 2  # every read


def test_the_setting_switches_custody_off_and_refusals_are_not_audited(live_roost, live_org):
    _, profile = live_roost.connect_live(live_org)
    with live_org.client(live_org.keys["live"]) as live:
        assert live.get(SETTINGS).json()["token_custody_enabled"] is True  # on by default

        patched = live.patch(SETTINGS, json={"token_custody_enabled": False})
        assert patched.status_code == 200 and patched.json()["token_custody_enabled"] is False
        response = live.get(token_url(profile["id"]))

        assert response.status_code == 403
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("authentication_error", "token_custody_disabled")
        assert "access_token" not in response.text
        assert audit_entries(live) == []
        # Per mode: test mode's setting did not move.
        assert live.get(SETTINGS, params={"mode": "test"}).json()["token_custody_enabled"] is True

        assert live.patch(SETTINGS, json={"token_custody_enabled": True}).status_code == 200
        assert live.get(token_url(profile["id"])).status_code == 200
        assert len(audit_entries(live)) == 1


def test_a_test_key_cannot_switch_live_custody_on_or_off(live_org):
    with live_org.client() as test:
        response = test.patch(SETTINGS, params={"mode": "live"}, json={"token_custody_enabled": False})

    assert response.status_code == 403 and response.json()["error"]["code"] == "live_mode_required"
    with live_org.client(live_org.keys["live"]) as live:
        assert live.get(SETTINGS).json()["token_custody_enabled"] is True


@pytest.mark.parametrize("value", ["yes", 1, None, "true"])
def test_the_setting_takes_a_boolean_only(live_org, value):
    with live_org.client(live_org.keys["live"]) as live:
        response = live.patch(SETTINGS, json={"token_custody_enabled": value})

        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "token_custody_enabled"
        assert live.get(SETTINGS).json()["token_custody_enabled"] is True


def test_a_disconnected_profile_has_no_token_to_give(live_roost, live_org):
    _, profile = live_roost.connect_live(live_org)
    with live_org.client(live_org.keys["live"]) as live, live_org.client() as test:
        body = disconnect(live, profile["id"])
        assert body["unsubscribe"]["status"] == "succeeded"  # through the live Graph client
        assert subscribed_apps(test, profile["waba_id"]) == []

        response = live.get(token_url(profile["id"]))

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "profile_disconnected"
        assert audit_entries(live) == []


def test_a_reconnection_brings_a_new_token(live_roost, live_org):
    _, profile = live_roost.connect_live(live_org)
    with live_org.client(live_org.keys["live"]) as live, live_org.client() as test:
        first = live.get(token_url(profile["id"])).json()["access_token"]
        disconnect(live, profile["id"])

        _, again = live_roost.connect_live(live_org, waba_id=profile["waba_id"])
        second = live.get(token_url(profile["id"])).json()["access_token"]

        assert again["id"] == profile["id"] and again["status"] == "connected"
        assert second != first and token_works(test, profile["waba_id"], second)
        assert [entry["resource_id"] for entry in audit_entries(live)] == [profile["id"], profile["id"]]


def test_test_keys_never_read_tokens(roost):
    org = roost.new_org(live=True)
    with org.client() as test, org.client(org.keys["live"]) as live:
        _, profile = connect(test)

        refused = test.get(token_url(profile["id"]))
        assert refused.status_code == 403
        assert (refused.json()["error"]["type"], refused.json()["error"]["code"]) == (
            "authentication_error", "live_mode_required",
        )
        assert test.get(token_url("wabp_unknown000000000000000000000")).status_code == 403
        # A live key never sees a test object.
        assert live.get(token_url(profile["id"])).status_code == 404
        assert audit_entries(test) == [] and audit_entries(live) == []
        (count,) = roost.sql("SELECT count(*) FROM audit_log_entries WHERE organization_id = :o", o=org.id)[0]
        assert count == 0


def test_another_organization_gets_404_and_no_audit_row(live_roost, live_org):
    _, profile = live_roost.connect_live(live_org)
    stranger = live_roost.new_org()
    with stranger.client(stranger.keys["live"]) as other:
        response = other.get(token_url(profile["id"]))

        assert response.status_code == 404 and response.json()["error"]["code"] == "resource_missing"
        assert audit_entries(other) == []
    with live_org.client(live_org.keys["live"]) as live:
        assert audit_entries(live) == []


def test_the_token_is_never_logged(live_roost, live_org, capfd):
    _, profile = live_roost.connect_live(live_org)
    with live_org.client(live_org.keys["live"]) as live:
        response = live.get(token_url(profile["id"]))
    token = response.json()["access_token"]

    # The log processor redacts it by field name and by its shape, wherever it appears.
    event = _redact(None, "info", {"access_token": token, "body": response.text, "note": f"got {token}"})
    assert token not in json.dumps(event)
    assert token not in capfd.readouterr().err


def test_the_audit_log_list_checks_its_parameters(live_org):
    with live_org.client(live_org.keys["live"]) as live:
        for params, param, code in (
            ({"limit": "0"}, "limit", "parameter_invalid"),
            ({"limit": "101"}, "limit", "parameter_invalid"),
            ({"action": "nope"}, "action", "parameter_invalid"),
            ({"colour": "red"}, "colour", "parameter_unknown"),
            ({"starting_after": "aud_nope"}, "starting_after", "parameter_invalid"),
            ({"starting_after": "aud_x", "ending_before": "aud_y"}, "ending_before", "parameter_invalid"),
        ):
            response = live.get(AUDIT_LOG, params=params)
            assert response.status_code == 400, (params, response.text)
            assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (param, code), params


def test_the_audit_log_pages_newest_first(live_roost, live_org):
    _, profile = live_roost.connect_live(live_org)
    with live_org.client(live_org.keys["live"]) as live:
        reads = [live.get(token_url(profile["id"])).headers["request-id"] for _ in range(3)]

        first = live.get(AUDIT_LOG, params={"limit": 2}).json()
        assert [entry["request_id"] for entry in first["data"]] == reads[:0:-1] and first["has_more"] is True
        rest = live.get(AUDIT_LOG, params={"limit": 2, "starting_after": first["data"][-1]["id"]}).json()
        assert [entry["request_id"] for entry in rest["data"]] == reads[:1] and rest["has_more"] is False
        back = live.get(AUDIT_LOG, params={"ending_before": rest["data"][0]["id"]}).json()
        assert back["data"] == first["data"] and back["has_more"] is False
        filtered = live.get(AUDIT_LOG, params={"resource_id": "wabp_other", "action": "business_profile.access_token.read"})
        assert filtered.json()["data"] == []
