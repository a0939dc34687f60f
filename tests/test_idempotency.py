"""`Idempotency-Key` on session creation (SPEC 3.1): replay, conflicts, scope, retention, secrecy."""

import copy
import hashlib
import json
import threading
import time
import uuid

import pytest

from tests.support import SEED_BODY, SESSIONS, count_sessions

DAY_MS = 24 * 3600 * 1000
META_SETTINGS = {"meta_app_id": "1234567890", "meta_app_secret": "app-secret-for-tests", "meta_config_id": "987654321"}


def new_key() -> str:
    return f"idem-{uuid.uuid4()}"


def request_hash(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create(client, body: dict, key: str):
    return client.post(SESSIONS, json=body, headers={"Idempotency-Key": key})


def idempotency_rows(roost, org_id: str) -> list:
    return roost.sql("SELECT * FROM idempotency_keys WHERE organization_id = :org", org=org_id)


def insert_claim(roost, org_id: str, key: str, body: dict, age_ms: int, livemode: bool = False) -> None:
    """An unfinished claim, as a request that is still running (or died) leaves it."""
    roost.sql(
        "INSERT INTO idempotency_keys (organization_id, livemode, key, request_hash, created_at, response_status) "
        "VALUES (:org, :livemode, :key, :hash, :created_at, NULL)",
        org=org_id, livemode=livemode, key=key, hash=request_hash(body), created_at=int(time.time() * 1000) - age_ms,
    )


def age_records(roost, org_id: str, by_ms: int) -> None:
    roost.sql(
        "UPDATE idempotency_keys SET created_at = created_at - :by WHERE organization_id = :org", by=by_ms, org=org_id
    )


def assert_conflict(response, code: str) -> None:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    assert error["request_id"] == response.headers["Request-Id"]


# -- replay ----------------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_response(roost, org, api):
    key = new_key()
    first = create(api, SEED_BODY, key)
    second = create(api, SEED_BODY, key)
    assert first.status_code == second.status_code == 201, second.text
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second.json()["url"] == first.json()["url"]
    assert second.headers["Request-Id"] != first.headers["Request-Id"]
    assert count_sessions(roost, org.id) == 1


def test_replay_works_many_times(roost, org, api):
    key = new_key()
    first = create(api, {}, key).json()
    for _ in range(3):
        again = create(api, {}, key)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first["id"]
    assert count_sessions(roost, org.id) == 1


def test_key_order_and_whitespace_do_not_make_a_different_body(roost, org, api):
    key = new_key()
    first = create(api, SEED_BODY, key)
    reordered = dict(reversed(list(copy.deepcopy(SEED_BODY).items())))
    reordered["prefill"] = dict(reversed(list(reordered["prefill"].items())))
    content = json.dumps(reordered, indent=4, separators=(" ,  ", " : ")).encode()
    second = api.post(SESSIONS, content=content, headers={"Idempotency-Key": key, "Content-Type": "application/json"})
    assert second.status_code == 201, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json()["id"] == first.json()["id"]
    assert count_sessions(roost, org.id) == 1


def test_empty_body_and_empty_object_are_the_same_request(roost, org, api):
    key = new_key()
    first = api.post(SESSIONS, headers={"Idempotency-Key": key})
    second = create(api, {}, key)
    assert first.status_code == 201, first.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json()["id"] == first.json()["id"]


def test_same_key_with_different_body_is_409_idempotency_key_reused(roost, org, api):
    key = new_key()
    create(api, SEED_BODY, key)
    changed = copy.deepcopy(SEED_BODY)
    changed["state"] = "another-state"
    assert_conflict(create(api, changed, key), "idempotency_key_reused")
    assert_conflict(create(api, {}, key), "idempotency_key_reused")
    assert count_sessions(roost, org.id) == 1


def test_different_keys_create_different_sessions(roost, org, api):
    first = create(api, SEED_BODY, new_key()).json()
    second = create(api, SEED_BODY, new_key()).json()
    assert first["id"] != second["id"]
    assert count_sessions(roost, org.id) == 2


def test_requests_without_a_key_are_never_deduplicated(roost, org, api):
    api.post(SESSIONS, json=SEED_BODY)
    api.post(SESSIONS, json=SEED_BODY)
    assert count_sessions(roost, org.id) == 2


# -- scope -------------------------------------------------------------------------------------


def test_keys_are_scoped_per_organization(roost, org, api):
    key = new_key()
    other = roost.new_org()
    mine = create(api, SEED_BODY, key)
    with other.client() as other_api:
        theirs = create(other_api, SEED_BODY, key)
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert count_sessions(roost, org.id) == 1
    assert count_sessions(roost, other.id) == 1


def test_a_different_body_under_the_same_key_in_another_organization_is_not_a_conflict(roost, api):
    key = new_key()
    create(api, SEED_BODY, key)
    with roost.new_org().client() as other_api:
        assert create(other_api, {}, key).status_code == 201


def test_keys_are_scoped_per_mode(start_roost):
    server = start_roost(**META_SETTINGS)
    org = server.new_org(live=True)
    key = new_key()
    with org.client() as test_api, org.client(org.keys["live"]) as live_api:
        test_session = create(test_api, SEED_BODY, key)
        live_session = create(live_api, SEED_BODY, key)
    assert test_session.status_code == live_session.status_code == 201, live_session.text
    assert "Idempotent-Replayed" not in live_session.headers
    assert test_session.json()["livemode"] is False
    assert live_session.json()["livemode"] is True
    assert count_sessions(server, org.id) == 2


# -- the key itself ------------------------------------------------------------------------------


def test_key_of_255_characters_is_accepted(roost, org, api):
    response = create(api, {}, "k" * 255)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("key", ["k" * 256, "k" * 1000, ""], ids=["256", "1000", "empty"])
def test_invalid_key_is_400_and_stores_nothing(roost, org, api, key):
    response = create(api, SEED_BODY, key)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "parameter_invalid", "Idempotency-Key")
    assert count_sessions(roost, org.id) == 0
    assert idempotency_rows(roost, org.id) == []


def test_invalid_body_with_a_key_does_not_use_up_the_key(roost, org, api):
    key = new_key()
    refused = create(api, {"bogus": 1}, key)
    assert refused.status_code == 400
    assert idempotency_rows(roost, org.id) == []
    accepted = create(api, SEED_BODY, key)
    assert accepted.status_code == 201, accepted.text
    assert count_sessions(roost, org.id) == 1


# -- storage -----------------------------------------------------------------------------------


def test_stored_response_is_encrypted_at_rest(roost, org, api):
    key = new_key()
    created = create(api, SEED_BODY, key).json()
    token = created["url"].split("token=", 1)[1]
    rows = idempotency_rows(roost, org.id)
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    for secret in (token, created["url"], created["id"], SEED_BODY["state"], "Acme"):
        assert secret not in stored
    assert rows[0].response_status == 201
    assert rows[0].request_hash == request_hash(SEED_BODY)


# -- concurrency and age ------------------------------------------------------------------------


def test_repeat_while_the_first_is_still_running_is_409_in_use(roost, org, api):
    key = new_key()
    insert_claim(roost, org.id, key, SEED_BODY, age_ms=0)
    assert_conflict(create(api, SEED_BODY, key), "idempotency_key_in_use")
    assert count_sessions(roost, org.id) == 0


def test_running_claim_with_a_different_body_is_409_reused(roost, org, api):
    key = new_key()
    insert_claim(roost, org.id, key, {"state": "other"}, age_ms=0)
    assert_conflict(create(api, SEED_BODY, key), "idempotency_key_reused")
    assert count_sessions(roost, org.id) == 0


def test_claim_of_the_other_mode_does_not_block(roost, org, api):
    key = new_key()
    insert_claim(roost, org.id, key, SEED_BODY, age_ms=0, livemode=True)
    assert create(api, SEED_BODY, key).status_code == 201


def test_claim_abandoned_for_over_60_seconds_is_taken_over(roost, org, api):
    key = new_key()
    insert_claim(roost, org.id, key, SEED_BODY, age_ms=61_000)
    response = create(api, SEED_BODY, key)
    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    assert count_sessions(roost, org.id) == 1
    replay = create(api, SEED_BODY, key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == response.json()["id"]


def test_claim_younger_than_60_seconds_is_still_in_use(roost, org, api):
    key = new_key()
    insert_claim(roost, org.id, key, SEED_BODY, age_ms=50_000)
    assert_conflict(create(api, SEED_BODY, key), "idempotency_key_in_use")
    assert count_sessions(roost, org.id) == 0


def test_record_younger_than_24_hours_still_replays(roost, org, api):
    key = new_key()
    first = create(api, SEED_BODY, key).json()
    age_records(roost, org.id, DAY_MS - 60_000)
    again = create(api, SEED_BODY, key)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first["id"]


def test_record_older_than_24_hours_no_longer_replays(roost, org, api):
    key = new_key()
    first = create(api, SEED_BODY, key).json()
    age_records(roost, org.id, DAY_MS + 1_000)
    again = create(api, SEED_BODY, key)
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first["id"]
    assert count_sessions(roost, org.id) == 2


def test_record_older_than_24_hours_frees_the_key_for_another_body(roost, org, api):
    key = new_key()
    create(api, SEED_BODY, key)
    age_records(roost, org.id, DAY_MS + 1_000)
    assert create(api, {}, key).status_code == 201


def test_concurrent_identical_requests_create_exactly_one_session(roost, org):
    key = new_key()
    start = threading.Barrier(10)
    responses: list = [None] * 10

    def fire(index: int) -> None:
        with org.client() as client:
            start.wait()
            responses[index] = create(client, SEED_BODY, key)

    threads = [threading.Thread(target=fire, args=(index,)) for index in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert count_sessions(roost, org.id) == 1
    created = [r for r in responses if r.status_code == 201]
    in_use = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_use) == 10, [(r.status_code, r.text) for r in responses]
    assert created, "at least the first request must succeed"
    assert len({r.json()["id"] for r in created}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in created) == 1
    for response in in_use:
        assert response.json()["error"]["code"] == "idempotency_key_in_use"


# -- the other creates: admin keys and webhook endpoints -------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "secret", "table"),
    [
        ("/v1/organization/admin-keys", {"name": "ci"}, "admin_key", "admin_keys"),
        ("/v1/organization/webhooks", {"url": "https://hooks.example.com/x", "events": ["*"]}, "secret", "webhook_endpoints"),
    ],
    ids=["admin-key", "webhook-endpoint"],
)
def test_a_retried_create_of_a_key_or_an_endpoint_makes_one(roost, org, api, path, body, secret, table):
    # The client library retries creates with the same key after a timeout or a 5xx: the
    # retry must get the first answer (its secret included), not a second object.
    def count() -> int:
        return roost.sql(f"SELECT count(*) FROM {table} WHERE organization_id = :o", o=org.id)[0][0]

    before = count()
    key = str(uuid.uuid4())
    first = api.post(path, json=body, headers={"Idempotency-Key": key})
    again = api.post(path, json=body, headers={"Idempotency-Key": key})

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json() and again.json()[secret] == first.json()[secret]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count() == before + 1
    other = api.post(path, json={**body, **({"name": "other"} if "name" in body else {"description": "other"})},
                     headers={"Idempotency-Key": key})
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")
    # Scoped per endpoint: the same key on a session create is a different request.
    assert api.post(SESSIONS, json={}, headers={"Idempotency-Key": key}).status_code == 201
    assert count() == before + 1
