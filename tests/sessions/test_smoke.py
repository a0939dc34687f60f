from tests.support import SEED_BODY, SESSIONS, count_sessions


def test_seed_example_creates_a_session(roost, org, api):
    response = api.post(SESSIONS, json=SEED_BODY)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("wss_") and len(body["id"]) == 31
    assert body["url"].startswith(f"{roost.base_url}/embed/connect?token=")
    assert body["prefill"]["phone"]["category"] == "AUTO"
    assert count_sessions(roost, org.id) == 1
