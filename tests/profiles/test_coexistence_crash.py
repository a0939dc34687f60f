"""Coexistence sync survives a crash: a real `roost serve` is killed with SIGKILL after its
smb_app_data requests reached Meta (the simulator took them) but before Roost stored Meta's
answers; after a restart each sync ends `requested` (Meta's 2593107 on the repeat says it has
the request), and Meta saw exactly one accepted request per sync type. On a SQLite file and on
PostgreSQL when ROOST_TEST_DATABASE_URL is set."""

import time

import httpx

from tests.meta.test_crash import Deployment, deployment  # noqa: F401 - the fixture
from tests.processes import run_roost_json
from tests.support import SESSIONS, wait_until
from tests.support.signups import FAULTS, PROFILES

COEXISTENCE = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
LATENCY_MS = 8_000


def test_a_crash_after_meta_took_the_sync_requests_never_repeats_them(deployment: Deployment):  # noqa: F811
    org = run_roost_json("orgs", "create", "Coexistence crash", "--json", env=deployment.env, cwd=deployment.directory)
    headers = {"Authorization": f"Bearer {org['admin_key']}"}
    first = deployment.serve("serve-1")
    with httpx.Client(base_url=first.base_url, headers=headers, timeout=30) as api:
        # Meta takes both requests, then its answers are held back: the server dies meanwhile.
        fault = api.post(FAULTS, json={"call": "smb_app_data", "kind": "latency", "delay_ms": LATENCY_MS, "count": 2})
        assert fault.status_code == 201, fault.text
        session_id = api.post(SESSIONS, json={}).json()["id"]
        played = api.post(f"{SESSIONS}/{session_id}/simulate", json={"outcome": "completed", "variant": COEXISTENCE})
        assert played.status_code == 200 and played.json()["status"] == "completed", played.text
        (profile,) = api.get(PROFILES, params={"session_id": session_id}).json()["data"]
        (phone,) = profile["phone_numbers"]

    def accepted() -> list | None:
        rows = deployment.sql(
            "SELECT sync_type FROM sim_sync_requests WHERE phone_number_id = :p AND outcome = 'accepted'",
            p=phone["phone_number_id"],
        )
        return rows if len(rows) == 2 else None

    wait_until(accepted, LATENCY_MS / 1000 - 2, what="Meta took both requests")
    first.process.kill()  # SIGKILL: Meta's answers are never stored
    first.process.wait()

    (row,) = deployment.sql(
        "SELECT contacts_sync_status, history_sync_status, contacts_sync_attempts, history_sync_attempts, "
        "contacts_sync_next_at, history_sync_next_at FROM phone_numbers WHERE id = :id", id=phone["id"])
    assert row[:4] == ("not_requested", "not_requested", 1, 1)
    assert row[4] is not None and row[5] is not None  # the attempts' leases: the trace a crash leaves

    second = deployment.serve("serve-2")
    with httpx.Client(base_url=second.base_url, headers=headers, timeout=30) as api:
        assert api.delete(FAULTS).status_code == 200
        time.sleep(1)  # the dead server's leases still hold: nobody asks again yet
        assert deployment.sql("SELECT contacts_sync_attempts, history_sync_attempts FROM phone_numbers WHERE id = :id",
                              id=phone["id"]) == [(1, 1)]
        deployment.sql("UPDATE phone_numbers SET contacts_sync_next_at = 1, history_sync_next_at = 1 WHERE id = :id",
                       id=phone["id"])

        def requested() -> dict | None:
            (current,) = api.get(f"{PROFILES}/{profile['id']}").json()["phone_numbers"]
            syncs = current["coexistence"]
            done = syncs["contacts_sync"]["status"] == syncs["history_sync"]["status"] == "requested"
            return current if done else None

        current = wait_until(requested, 20, what="both syncs requested after the restart")
        events = [event for event in api.get("/v1/organization/events", params={"limit": 100}).json()["data"]
                  if event["type"] == "whatsapp.phone_number.coexistence_sync_updated"]

    for name in ("contacts_sync", "history_sync"):
        assert current["coexistence"][name]["error"] is None and current["coexistence"][name]["requested_at"]
    outcomes = sorted(deployment.sql(
        "SELECT sync_type, outcome FROM sim_sync_requests WHERE phone_number_id = :p", p=phone["phone_number_id"]))
    assert outcomes == [("history", "accepted"), ("history", "already_requested"),
                        ("smb_app_state_sync", "accepted"), ("smb_app_state_sync", "already_requested")]
    assert deployment.sql("SELECT contacts_sync_attempts, history_sync_attempts FROM phone_numbers WHERE id = :id",
                          id=phone["id"]) == [(2, 2)]
    # Each sync's change to requested was told once, by the server that stored it.
    for name in ("contacts_sync", "history_sync"):
        statuses = [event["data"]["coexistence"][name]["status"] for event in events]
        assert "requested" in statuses
