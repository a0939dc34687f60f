"""Provisioning survives a crash (SPEC 5.1): a real `roost serve` is killed with SIGKILL in the
middle of a step; after a restart the session resumes from the last finished step and completes
with one profile, on a SQLite file and (when ROOST_TEST_DATABASE_URL is set) on PostgreSQL."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from roost.kit.crypto import new_key_text
from tests.support.signups import FAULTS, PROFILES, STEPS, attempts, step_events
from tests.processes import RoostServer, database_for, execute_sql, release_database, roost_env, run_roost_json
from tests.support import PG_URL, SESSIONS, wait_until

BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
LATENCY_MS = 6_000



class Deployment:
    """One database and one secret key: what a `roost serve` and its restart share."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.database_url = database_url
        self.directory = directory
        self.env = roost_env(
            ROOST_DATABASE_URL=database_url,
            ROOST_SECRET_KEY=new_key_text(),
            ROOST_WORKER_INTERVAL_SECONDS="0.2",
            ROOST_LOG_LEVEL="warning",
        )
        self.servers: list[RoostServer] = []

    def serve(self, name: str) -> RoostServer:
        server = RoostServer(self.env, self.directory, name=name)
        self.servers.append(server)
        return server

    def sql(self, statement: str, **params: Any) -> list[Any]:
        return execute_sql(self.database_url, statement, **params)


@pytest.fixture(params=BACKENDS)
def deployment(request, tmp_path) -> Iterator[Deployment]:
    deployment = Deployment(database_for(request.param, tmp_path), tmp_path)
    yield deployment
    for server in deployment.servers:
        server.stop()
    release_database(deployment.database_url)



def crash_during(
    deployment: Deployment, call: str, step: str, ready_sql: str | None = None
) -> tuple[dict[str, Any], str, dict[str, Any], RoostServer]:
    """A completed signup whose provisioning hangs in `step` (a latency fault on Meta's `call`),
    its server killed there (once `ready_sql` finds a row, if given) with SIGKILL and a second one started on the same database, the
    fault cleared and the dead server's lease run out: (org, session id, session as it was
    when killed, the second server)."""
    org, session_id, before = kill_in_step(deployment, call, step, ready_sql)
    return org, session_id, before, restart(deployment, org, session_id, step, before)


def restart(deployment: Deployment, org: dict[str, Any], session_id: str, step: str, before: dict[str, Any]) -> RoostServer:
    """A second server on the dead one's database, the fault cleared, and the dead server's
    lease run out: from here on the second server's worker resumes the session at once."""
    ((lease,),) = deployment.sql("SELECT provisioning_lease_until FROM embedded_signup_sessions WHERE id = :s", s=session_id)
    assert lease is not None

    second = deployment.serve("serve-2")
    with httpx.Client(base_url=second.base_url, headers={"Authorization": f"Bearer {org['admin_key']}"}, timeout=30) as api:
        assert api.delete(FAULTS).status_code == 200
        # The dead server's 90-second lease still holds the session: nobody resumes it yet.
        time.sleep(1)
        held = api.get(f"{SESSIONS}/{session_id}").json()
        assert held["status"] == before["status"] and attempts(held)[step] == 1
    deployment.sql(
        "UPDATE embedded_signup_sessions SET provisioning_lease_until = 1, provisioning_next_at = 1 WHERE id = :s",
        s=session_id,
    )
    return second


def kill_in_step(
    deployment: Deployment, call: str, step: str, ready_sql: str | None = None
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A signup played with `simulate` whose provisioning hangs in `step` (a latency fault on
    Meta's `call`), its server killed there with SIGKILL (once `ready_sql` finds a row, if
    given): (org, session id, session as it was when killed)."""
    org = run_roost_json("orgs", "create", "Crash platform", "--json", env=deployment.env, cwd=deployment.directory)
    headers = {"Authorization": f"Bearer {org['admin_key']}"}
    first = deployment.serve("serve-1")
    with httpx.Client(base_url=first.base_url, headers=headers, timeout=30) as api:
        session_id = api.post(SESSIONS, json={}).json()["id"]
        fault = api.post(FAULTS, json={"call": call, "kind": "latency", "delay_ms": LATENCY_MS})
        assert fault.status_code == 201, fault.text

        # simulate runs the steps inline, so it hangs in the step: kill the server there.
        outcome: dict[str, Any] = {}

        def play() -> None:
            try:
                outcome["response"] = api.post(f"{SESSIONS}/{session_id}/simulate", json={"outcome": "completed"})
            except httpx.HTTPError as problem:
                outcome["error"] = problem

        player = threading.Thread(target=play)
        player.start()

        def in_step() -> dict[str, Any] | None:
            with httpx.Client(base_url=first.base_url, headers=headers, timeout=5) as reader:
                session = reader.get(f"{SESSIONS}/{session_id}").json()
            running = [r for r in session["provisioning"] if r["status"] == "running"]
            if [r["step"] for r in running] != [step]:
                return None
            return session if ready_sql is None or deployment.sql(ready_sql) else None

        before = wait_until(in_step, LATENCY_MS / 1000 - 1, what=f"{step} running")
        first.process.kill()  # SIGKILL: no shutdown, no clean-up
        first.process.wait()
        player.join(timeout=30)

    assert "error" in outcome, "simulate should have died with the server"
    return org, session_id, before


def provisioned(api: httpx.Client, session_id: str) -> dict[str, Any]:
    def completed() -> dict[str, Any] | None:
        session = api.get(f"{SESSIONS}/{session_id}").json()
        registering = session["provisioning"][-1]["status"] in ("pending", "running")
        return session if session["status"] == "completed" and not registering else None

    return wait_until(completed, 15, what="the session completes after the restart")


def test_a_crash_in_the_middle_of_a_step_resumes_after_restart(deployment):
    org, session_id, before, second = crash_during(deployment, "subscribed_apps", "subscribe_app")
    assert before["status"] == "pending"
    assert [(r["step"], r["status"]) for r in before["provisioning"]][:3] == [
        ("token_exchange", "succeeded"), ("resolve_assets", "succeeded"), ("subscribe_app", "running"),
    ]
    with httpx.Client(base_url=second.base_url, headers={"Authorization": f"Bearer {org['admin_key']}"}, timeout=30) as api:
        session = provisioned(api, session_id)
        timeline = step_events(api, session_id)
        profiles = api.get(PROFILES, params={"session_id": session_id}).json()["data"]
        event_types = [event["type"] for event in api.get(f"{SESSIONS}/{session_id}/events").json()["data"]]

    # The steps finished before the crash are not run again; the interrupted one runs once more.
    assert attempts(session) == {**{step: 1 for step in STEPS}, "share_credit_line": 0, "subscribe_app": 2}
    assert [(r["step"], r["status"]) for r in session["provisioning"]] == [
        ("token_exchange", "succeeded"), ("resolve_assets", "succeeded"), ("subscribe_app", "succeeded"),
        ("share_credit_line", "skipped"), ("create_profile", "succeeded"), ("register_phone", "succeeded"),
    ]
    assert timeline == [
        ("token_exchange", "succeeded"), ("resolve_assets", "succeeded"), ("subscribe_app", "succeeded"),
        ("create_profile", "succeeded"), ("register_phone", "succeeded"),
    ]
    # Nothing lost: the timeline from before the crash is still there, and one profile exists.
    assert event_types[:4] == ["session.created", "session.started", "meta.message", "meta.code_received"]
    assert [profile["id"] for profile in profiles] == [session["business_profile_id"]]
    assert deployment.sql(
        "SELECT count(*) FROM business_profiles WHERE organization_id = :o", o=org["organization_id"]
    ) == [(1,)]
    (phone,) = profiles[0]["phone_numbers"]
    assert phone["cloud_api_registered"] is True
    assert deployment.sql(
        "SELECT subscribed FROM sim_waba_shares WHERE waba_id = :w", w=session["waba_id"]
    ) == [(True,)]


def test_a_crash_while_registering_the_number_registers_it_after_restart(deployment):
    # The attempt was counted, Meta never answered it (or its answer was never stored): the
    # number must not be left unregistered with nobody told.
    in_flight_sql = "SELECT id FROM phone_numbers WHERE registration_started_at IS NOT NULL"
    org, session_id, before = kill_in_step(deployment, "register", "register_phone", in_flight_sql)
    assert before["status"] == "completed"  # the profile exists: only the number's registration is left
    # Read while the dead server's lease still holds: once restart() lets it run out, the second
    # server's worker (every 0.2 s) makes the second attempt at once.
    ((attempts_before, in_flight),) = deployment.sql(
        "SELECT registration_attempts, registration_started_at FROM phone_numbers"
        " WHERE business_profile_id = :p", p=before["business_profile_id"],
    )
    assert attempts_before == 1 and in_flight is not None
    second = restart(deployment, org, session_id, "register_phone", before)

    with httpx.Client(base_url=second.base_url, headers={"Authorization": f"Bearer {org['admin_key']}"}, timeout=30) as api:
        session = provisioned(api, session_id)
        (profile,) = api.get(PROFILES, params={"session_id": session_id}).json()["data"]
        emitted = [event["data"]["type"] for event in api.get(f"{SESSIONS}/{session_id}/events").json()["data"]
                   if event["type"] == "webhook.emitted"]

    assert [(r["step"], r["status"]) for r in session["provisioning"]][-1] == ("register_phone", "succeeded")
    assert attempts(session)["register_phone"] == 2
    (phone,) = profile["phone_numbers"]
    assert (phone["cloud_api_registered"], phone["registration_error"]) == (True, None)
    assert emitted.count("whatsapp.phone_number.registered") == 1
    assert deployment.sql(
        "SELECT registration_attempts, registration_started_at FROM phone_numbers WHERE id = :p", p=phone["id"]
    ) == [(2, None)]


def test_a_crash_during_the_code_exchange_is_taken_over_within_seconds(deployment):
    # Meta's code lives about 30 seconds: the exchange cannot wait out the other steps' 90-second
    # lease. The next server takes it over (with the code kept sealed for it) and completes.
    org, session_id, before = kill_in_step(deployment, "oauth/access_token", "token_exchange")
    killed_at = time.monotonic()
    assert before["status"] == "pending" and attempts(before)["token_exchange"] == 1
    ((sealed,),) = deployment.sql("SELECT code_encrypted FROM embedded_signup_sessions WHERE id = :s", s=session_id)
    assert sealed  # kept for the takeover (encrypted)

    second = deployment.serve("serve-2")
    with httpx.Client(base_url=second.base_url, headers={"Authorization": f"Bearer {org['admin_key']}"}, timeout=30) as api:
        assert api.delete(FAULTS).status_code == 200
        session = provisioned(api, session_id)
        taken_over_after = time.monotonic() - killed_at
        profiles = api.get(PROFILES, params={"session_id": session_id}).json()["data"]

    assert taken_over_after < 20, f"completed {taken_over_after:.1f} s after the crash"
    assert attempts(session)["token_exchange"] == 2
    assert [profile["id"] for profile in profiles] == [session["business_profile_id"]]
    assert deployment.sql(
        "SELECT count(*), max(code_encrypted) FROM embedded_signup_sessions WHERE id = :s", s=session_id
    ) == [(1, None)]  # the code is forgotten once exchanged
