"""Disconnecting a business profile (SPEC 5.2): soft delete, the app unsubscribed from the WABA
on Meta (durably: a failure is retried by the worker), idempotent, tenant- and mode-isolated."""

import threading
import time

from roost import worker
from tests.support.signups import PHONES, PROFILES, add_fault, get_profile, sim_app, wait_until
from tests.profiles.helpers import connect, disconnect, subscribed_apps


def test_delete_disconnects_the_profile_and_unsubscribes_the_app(api):
    session, profile = connect(api)
    app_id = sim_app(api)["app_id"]
    assert profile["status"] == "connected" and profile["disconnected_at"] is None and profile["unsubscribe"] is None
    assert subscribed_apps(api, profile["waba_id"]) == [app_id]

    body = disconnect(api, profile["id"])

    assert body["id"] == profile["id"] and body["object"] == "business_profile"
    assert body["status"] == "disconnected"
    assert body["disconnected_at"].endswith("Z")
    assert body["unsubscribe"]["status"] == "succeeded"
    assert body["unsubscribe"]["attempts"] == 1
    assert body["unsubscribe"]["completed_at"] is not None and body["unsubscribe"]["error"] is None
    assert subscribed_apps(api, profile["waba_id"]) == []
    assert get_profile(api, profile["id"]) == body
    # Soft delete: still listed, with the status filter.
    listed = api.get(PROFILES, params={"status": "disconnected"}).json()["data"]
    assert [item["id"] for item in listed] == [profile["id"]]
    assert api.get(PROFILES, params={"status": "connected"}).json()["data"] == []


def test_a_second_delete_changes_nothing(roost, api):
    _, profile = connect(api)
    first = disconnect(api, profile["id"])

    second = disconnect(api, profile["id"])

    assert second == first
    assert second["unsubscribe"]["attempts"] == 1  # no second call to Meta
    (reason,) = roost.sql("SELECT disconnect_reason FROM business_profiles WHERE id = :id", id=profile["id"])[0]
    assert reason == "api"


def test_concurrent_deletes_disconnect_once(api):
    _, profile = connect(api)
    answers: list = []

    def delete() -> None:
        answers.append(api.delete(f"{PROFILES}/{profile['id']}"))

    threads = [threading.Thread(target=delete) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert {answer.json()["disconnected_at"] for answer in answers} == {answers[0].json()["disconnected_at"]}
    assert get_profile(api, profile["id"])["unsubscribe"]["attempts"] == 1


def test_a_failed_unsubscribe_stays_pending_and_the_worker_retries_it(roost, api):
    _, profile = connect(api)
    app_id = sim_app(api)["app_id"]
    # Meta is down for the DELETE's call and the Graph client's two quick retries.
    add_fault(api, call="subscribed_apps", kind="http_error", status=503, count=3)

    body = disconnect(api, profile["id"])

    assert body["status"] == "disconnected"  # disconnected in Roost regardless of Meta
    unsubscribe = body["unsubscribe"]
    assert unsubscribe["status"] == "pending" and unsubscribe["attempts"] == 1
    assert unsubscribe["error"]["code"] is None and unsubscribe["error"]["message"]
    assert unsubscribe["next_attempt_at"] is not None
    assert subscribed_apps(api, profile["waba_id"]) == [app_id]

    # The back-off is a minute; make the retry due now and let the server's worker take it.
    roost.sql("UPDATE business_profiles SET unsubscribe_next_at = 0 WHERE id = :id", id=profile["id"])
    retried = wait_until(lambda: (p := get_profile(api, profile["id"]))["unsubscribe"]["status"] == "succeeded" and p)

    assert retried["unsubscribe"]["attempts"] == 2
    assert retried["unsubscribe"]["error"] is None and retried["unsubscribe"]["next_attempt_at"] is None
    assert subscribed_apps(api, profile["waba_id"]) == []
    (token,) = roost.sql("SELECT token_encrypted FROM business_profiles WHERE id = :id", id=profile["id"])[0]
    assert token is None  # unsubscribed: Roost no longer keeps the customer's token


def test_a_pending_unsubscribe_is_not_retried_before_it_is_due(roost, api):
    _, profile = connect(api)
    add_fault(api, call="subscribed_apps", kind="http_error", status=500, count=3)
    disconnect(api, profile["id"])

    roost.run(worker.tick(roost.runtime))

    after = get_profile(api, profile["id"])
    assert after["unsubscribe"]["status"] == "pending" and after["unsubscribe"]["attempts"] == 1


def test_meta_refusing_the_unsubscribe_for_good_is_shown_as_failed(roost, api):
    _, profile = connect(api)
    add_fault(api, call="subscribed_apps", kind="graph_error", status=400, meta_code=190, message="Error validating access token")

    body = disconnect(api, profile["id"])

    assert body["status"] == "disconnected"
    assert body["unsubscribe"]["status"] == "failed"
    assert body["unsubscribe"]["error"]["code"] == 190
    assert body["unsubscribe"]["next_attempt_at"] is None
    roost.sql("UPDATE business_profiles SET unsubscribe_next_at = 0 WHERE id = :id", id=profile["id"])
    roost.run(worker.tick(roost.runtime))
    assert get_profile(api, profile["id"])["unsubscribe"]["attempts"] == 1  # never retried


def test_numbers_of_a_disconnected_profile_cannot_be_registered(api):
    _, profile = connect(api, phone_verified=False)
    phone = profile["phone_numbers"][0]
    assert phone["cloud_api_registered"] is False
    disconnect(api, profile["id"])

    response = api.post(f"{PHONES}/{phone['id']}/register", json={})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "profile_disconnected"
    assert get_profile(api, profile["id"])["phone_numbers"][0] == phone


def test_another_organization_cannot_disconnect_the_profile(roost, api):
    _, profile = connect(api)
    stranger = roost.new_org("Someone else")

    with stranger.client() as other:
        response = other.delete(f"{PROFILES}/{profile['id']}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    assert get_profile(api, profile["id"])["status"] == "connected"


def test_a_live_key_cannot_disconnect_a_test_profile(roost):
    org = roost.new_org(live=True)
    with org.client() as test, org.client(org.keys["live"]) as live:
        _, profile = connect(test)

        response = live.delete(f"{PROFILES}/{profile['id']}")

        assert response.status_code == 404
        assert get_profile(test, profile["id"])["status"] == "connected"


def test_unknown_and_malformed_ids_are_404(api):
    for profile_id in ("wabp_unknown000000000000000000000", "nope", "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI"):
        response = api.delete(f"{PROFILES}/{profile_id}")
        assert response.status_code == 404, profile_id
        assert response.json()["error"]["code"] == "resource_missing"



def test_a_slow_meta_does_not_hold_the_delete(roost, api):
    _, profile = connect(api)
    app_id = sim_app(api)["app_id"]
    add_fault(api, call="subscribed_apps", kind="latency", delay_ms=8000, count=1)

    started = time.monotonic()
    body = disconnect(api, profile["id"])

    assert time.monotonic() - started < 7.5
    assert body["status"] == "disconnected"
    assert body["unsubscribe"]["status"] == "pending" and body["unsubscribe"]["attempts"] == 1
    assert subscribed_apps(api, profile["waba_id"]) == [app_id]
    # The abandoned attempt's lease runs out (made due now here); the worker finishes the job.
    roost.sql("UPDATE business_profiles SET unsubscribe_next_at = 0 WHERE id = :id", id=profile["id"])
    done = wait_until(lambda: (p := get_profile(api, profile["id"]))["unsubscribe"]["status"] == "succeeded" and p)
    assert done["unsubscribe"]["attempts"] == 2
    assert subscribed_apps(api, profile["waba_id"]) == []
