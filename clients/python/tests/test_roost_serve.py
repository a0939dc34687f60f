"""The client against the real `roost serve` command in a child process, as a platform runs it:
init prints a key, the client creates, lists, simulates, reads the profile, and maps errors."""

import pytest

from roost_client import NotFoundError, Roost
from tests.processes import RoostServer, roost_env, run_roost_json


@pytest.fixture
def served(tmp_path):
    env = roost_env(ROOST_DATABASE_URL=f"sqlite:///{tmp_path / 'roost.db'}", ROOST_LOG_LEVEL="warning")
    key = run_roost_json("init", "--json", env=env, cwd=tmp_path)["admin_key"]
    server = RoostServer(env, tmp_path)
    yield server, key
    server.stop()


def test_a_signup_through_roost_serve(served):
    server, key = served
    with Roost(key, base_url=server.base_url) as roost:
        created = roost.sessions.create(metadata={"externalUserId": "u-serve"}, prefill={"business": {"name": "Acme"}})
        assert created.url.startswith(f"{server.base_url}/embed/connect?token=")

        completed = roost.sessions.simulate(created.id, outcome="completed")

        assert completed.status == "completed"
        (listed,) = list(roost.sessions.list(metadata={"externalUserId": "u-serve"}))
        assert listed.id == created.id and listed.business_profile_id == completed.business_profile_id
        profile = roost.business_profiles.get(completed.business_profile_id)
        assert profile.waba_id == completed.waba_id and profile.status == "connected"
        with pytest.raises(NotFoundError) as missing:
            roost.sessions.get("wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI")
        assert missing.value.code == "resource_missing" and missing.value.request_id.startswith("req_")
