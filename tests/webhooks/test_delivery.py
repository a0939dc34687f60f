"""Delivery (SPEC 7.1) to a real receiver on loopback that verifies every signature with the
`standardwebhooks` library: every event type, rotation, retries until the receiver is back,
410, Retry-After, redirects, SSRF refusal, the delivery log, resend, the 5-day rule, retention."""

import time

import pytest

from roost.kit.timeutil import now_ms, parse_time
from roost.profiles.lifecycle import mark_disconnected
from roost.webhooks.dispatcher import answer_text
from roost.profiles.models import BusinessProfile
from tests.support.signups import FAULTS, PROFILES, add_fault, new_session, play, simulate
from tests.webhooks.conftest import webhook_server
from tests.webhooks.helpers import (
    EVENTS,
    WEBHOOKS,
    Receiver,
    attempts_of,
    closed_port,
    cancelled_session,
    create_endpoint,
    event_for,
    events_of,
    listening,
    logged_attempts,
    wait_until,
)

DAY_MS = 86_400_000


def delivered(receiver: Receiver, type_: str, object_id: str) -> dict:
    def find():
        return next((body for body in receiver.bodies(type_) if body["data"]["id"] == object_id), None)

    return wait_until(find, what=f"{type_} for {object_id} delivered")


def test_a_completed_signup_sends_session_profile_and_number_events(hapi, receiver):
    listening(hapi, receiver)
    session = play(hapi, "completed")
    assert session["status"] == "completed"

    completed = delivered(receiver, "embedded_signup.session.completed", session["id"])
    connected = delivered(receiver, "whatsapp.business_profile.connected", session["business_profile_id"])
    (phone_id,) = [phone["id"] for phone in connected["data"]["phone_numbers"]]
    registered = delivered(receiver, "whatsapp.phone_number.registered", phone_id)

    assert completed["data"]["object"] == "embedded_signup_session" and completed["data"]["status"] == "completed"
    assert completed["data"]["business_profile_id"] == session["business_profile_id"]
    assert "url" not in completed["data"]
    profile = hapi.get(f"{PROFILES}/{session['business_profile_id']}").json()
    assert connected["data"]["object"] == "business_profile" and connected["data"]["status"] == "connected"
    assert connected["data"]["waba_id"] == profile["waba_id"] == session["waba_id"]
    assert registered["data"]["object"] == "phone_number" and registered["data"]["cloud_api_registered"] is True
    assert registered["data"]["business_profile_id"] == session["business_profile_id"]
    assert registered["data"] == {**profile["phone_numbers"][0], "business_profile_id": profile["id"]}

    for item in receiver.received:
        assert item.verified_by == [0], "every request verifies with the endpoint's secret"
        assert item.webhook_id == item.body["id"] and item.webhook_id.startswith("evt_")
        assert set(item.body) == {"id", "type", "timestamp", "data"}
        assert item.headers["content-type"] == "application/json"
        assert abs(int(item.headers["webhook-timestamp"]) - time.time()) < 60
        # The body's timestamp is when the event happened, as the events API shows it.
        assert item.body["timestamp"] == hapi.get(f"{EVENTS}/{item.webhook_id}").json()["created_at"]


@pytest.mark.parametrize("outcome, status", [("cancelled", "cancelled"), ("signup_error", "failed"), ("recovered", "recovered")])
def test_session_outcomes_send_their_event(hapi, receiver, outcome, status):
    listening(hapi, receiver, events=[f"embedded_signup.session.{status}"])
    session = new_session(hapi)
    response = simulate(hapi, session["id"], outcome=outcome)
    assert response.status_code == 200, response.text
    body = delivered(receiver, f"embedded_signup.session.{status}", session["id"])
    assert body["data"]["status"] == status
    assert body["data"]["error"] == response.json()["error"]
    # The endpoint subscribed to one type: nothing else reached it.
    assert {item.body["type"] for item in receiver.received} == {f"embedded_signup.session.{status}"}


def test_an_expired_session_sends_its_event(hooks, hapi, receiver):
    listening(hapi, receiver)
    session = new_session(hapi)
    hooks.sql("UPDATE embedded_signup_sessions SET deadline_at = 1 WHERE id = :s", s=session["id"])
    body = delivered(receiver, "embedded_signup.session.expired", session["id"])
    assert body["data"]["status"] == "expired" and body["data"]["error"]["code"] == "session_expired"


def test_a_failed_registration_and_a_disconnection_send_their_events(hooks, hapi, receiver):
    listening(hapi, receiver)
    add_fault(hapi, call="register", kind="graph_error", status=400, meta_code=133005, message="PIN mismatch")
    try:
        session = play(hapi, "completed")
    finally:
        hapi.delete(FAULTS)
    profile = hapi.get(f"{PROFILES}/{session['business_profile_id']}").json()
    (phone,) = profile["phone_numbers"]
    failed = delivered(receiver, "whatsapp.phone_number.registration_failed", phone["id"])
    assert failed["data"]["cloud_api_registered"] is False and failed["data"]["registration_error"]["code"] == 133005
    assert failed["data"]["business_profile_id"] == profile["id"]

    async def disconnect() -> None:
        async with hooks.runtime.sessions() as db, db.begin():
            row = await db.get(BusinessProfile, profile["id"], with_for_update=True)
            await mark_disconnected(db, row, at=now_ms(), reason="partner_removed")

    hooks.run(disconnect())
    gone = delivered(receiver, "whatsapp.business_profile.disconnected", profile["id"])
    assert gone["data"]["status"] == "disconnected"


def test_a_rotated_secret_and_the_previous_one_both_verify_for_24_hours(hooks, hapi, receiver):
    endpoint = listening(hapi, receiver)
    response = hapi.post(f"{WEBHOOKS}/{endpoint['id']}/rotate-secret")
    assert response.status_code == 200, response.text
    rotated = response.json()
    receiver.secrets.append(rotated["secret"])
    assert rotated["secret"] != endpoint["secret"] and rotated["secret"].startswith("whsec_")
    expires = parse_time(rotated["previous_secret_expires_at"])
    assert abs(expires - (now_ms() + DAY_MS)) < 60_000
    assert "secret" not in hapi.get(f"{WEBHOOKS}/{endpoint['id']}").json()

    first = cancelled_session(hapi)
    delivered(receiver, "embedded_signup.session.cancelled", first["id"])
    assert receiver.for_event(events_of(hapi)[0]["id"])[0].verified_by == [0, 1]
    assert len(receiver.received[-1].headers["webhook-signature"].split(" ")) == 2

    # 24 hours later the previous secret no longer signs.
    hooks.sql("UPDATE webhook_endpoints SET previous_secret_expires_at = :t WHERE id = :i", t=now_ms() - 1, i=endpoint["id"])
    second = cancelled_session(hapi)
    delivered(receiver, "embedded_signup.session.cancelled", second["id"])
    assert receiver.received[-1].verified_by == [1]


def test_events_wait_while_the_receiver_is_down_and_all_arrive_once_it_is_back(hapi, receiver):
    endpoint = listening(hapi, receiver)
    receiver.stop()  # connection refused from now on
    sessions = [cancelled_session(hapi)["id"] for _ in range(5)]
    events = {event["data"]["id"]: event["id"] for event in events_of(hapi)}
    assert set(events) == set(sessions)

    # Every event fails at least twice while the receiver is down.
    def retried() -> bool:
        failures = [a for a in attempts_of(hapi, endpoint["id"]) if not a["succeeded"]]
        return all(sum(1 for a in failures if a["event_id"] == event_id) >= 2 for event_id in events.values())

    wait_until(retried, what="two failed attempts per event")
    receiver.start()
    wait_until(lambda: {item.webhook_id for item in receiver.received} == set(events.values()), what="every event delivered")

    # Each event arrived once, under its own webhook-id, with the same body as its event.
    ids = [item.webhook_id for item in receiver.received]
    assert sorted(ids) == sorted(events.values())
    for item in receiver.received:
        assert item.body["id"] == item.webhook_id and events[item.body["data"]["id"]] == item.webhook_id
    # The receiver answered before the worker wrote the attempt down: wait for the log.
    log = wait_until(lambda: (rows := attempts_of(hapi, endpoint["id"])) and sum(a["succeeded"] for a in rows) == 5 and rows,
                     what="five successes logged")
    for event_id in events.values():
        mine = sorted((a for a in log if a["event_id"] == event_id), key=lambda a: a["attempt"])
        assert [a["attempt"] for a in mine] == list(range(1, len(mine) + 1))
        assert [a["succeeded"] for a in mine] == [False] * (len(mine) - 1) + [True]
        assert mine[0]["status_code"] is None and mine[0]["error"] and mine[-1]["status_code"] == 200
        assert mine[0]["next_attempt_at"] is not None and mine[-1]["next_attempt_at"] is None
    state = hapi.get(f"{WEBHOOKS}/{endpoint['id']}").json()
    assert state["enabled"] is True and state["failing_since"] is None  # a success clears it


def test_a_delivery_that_never_succeeds_stops_after_the_schedule(hooks, hapi, receiver):
    receiver.behaviour = lambda index, body: (500, {}, 0.0)
    endpoint = listening(hapi, receiver)
    cancelled_session(hapi)
    # TEST_SCHEDULE has 10 waits: 11 attempts, then the delivery is failed.
    wait_until(lambda: hooks.sql("SELECT status FROM webhook_deliveries WHERE endpoint_id = :e", e=endpoint["id"]) == [("failed",)],
               timeout=30, what="delivery failed")
    log = attempts_of(hapi, endpoint["id"])
    assert len(log) == 11 and {a["status_code"] for a in log} == {500} and {a["error"] for a in log} == {"HTTP 500"}
    assert log[0]["next_attempt_at"] is None  # the last attempt (newest first) has no next one
    time.sleep(1)
    assert len(receiver.received) == 11


def test_410_disables_the_endpoint_and_its_deliveries_wait_until_it_is_enabled(hooks, hapi, receiver):
    receiver.behaviour = lambda index, body: (410, {}, 0.0) if index == 0 else (200, {}, 0.0)
    endpoint = listening(hapi, receiver)
    first = cancelled_session(hapi)

    def disabled():
        state = hapi.get(f"{WEBHOOKS}/{endpoint['id']}").json()
        return state if not state["enabled"] else None

    state = wait_until(disabled, what="endpoint disabled")
    assert state["disabled_reason"] == "gone" and state["disabled_at"] is not None and state["failing_since"] is not None
    (attempt,) = attempts_of(hapi, endpoint["id"])
    assert (attempt["status_code"], attempt["succeeded"]) == (410, False)
    # Events while disabled are not queued for it; the one it owes is parked.
    cancelled_session(hapi)
    time.sleep(1)
    assert len(receiver.received) == 1
    assert hooks.sql("SELECT status FROM webhook_deliveries WHERE endpoint_id = :e", e=endpoint["id"]) == [("pending",)]

    response = hapi.patch(f"{WEBHOOKS}/{endpoint['id']}", json={"enabled": True})
    assert response.json()["disabled_reason"] is None
    wait_until(lambda: len(receiver.received) == 2, what="the parked delivery sent after re-enabling")
    assert receiver.received[1].body == receiver.received[0].body
    assert receiver.received[1].body["data"]["id"] == first["id"]
    time.sleep(0.5)
    assert len(receiver.received) == 2  # the event of the disabled period was never queued


def test_retry_after_is_honoured(hapi, receiver):
    receiver.behaviour = lambda index, body: (429, {"Retry-After": "2"}, 0.0) if index == 0 else (200, {}, 0.0)
    endpoint = listening(hapi, receiver)
    cancelled_session(hapi)
    wait_until(lambda: len(receiver.received) == 2, what="second attempt")
    gap = receiver.received[1].at - receiver.received[0].at
    assert gap >= 2.0, f"the retry came {gap:.2f} s after a 429 with Retry-After: 2 (schedule says 0.3 s)"
    second, first = logged_attempts(hapi, endpoint["id"], 2)
    assert first["status_code"] == 429 and parse_time(first["next_attempt_at"]) - parse_time(first["created_at"]) >= 2000
    assert second["succeeded"] is True


def test_a_redirect_is_a_failure_and_is_not_followed(hapi, receiver):
    target = Receiver()
    try:
        receiver.behaviour = lambda index, body: (302, {"Location": target.url}, 0.0) if index == 0 else (200, {}, 0.0)
        endpoint = listening(hapi, receiver)
        cancelled_session(hapi)
        wait_until(lambda: len(receiver.received) == 2, what="retried after the redirect")
        first = wait_until(lambda: next((a for a in attempts_of(hapi, endpoint["id"]) if a["attempt"] == 1), None))
        assert first["status_code"] == 302 and first["succeeded"] is False and "redirects are not followed" in first["error"]
        assert target.received == []
    finally:
        target.stop()


def test_a_slow_receiver_times_out(backend, tmp_path_factory, receiver):
    server, database = webhook_server(backend, tmp_path_factory, webhook_timeout_seconds=0.5)
    try:
        org = server.new_org()
        receiver.behaviour = lambda index, body: (200, {}, 1.5) if index == 0 else (200, {}, 0.0)
        with org.client() as api:
            endpoint = listening(api, receiver)
            cancelled_session(api)
            log = logged_attempts(api, endpoint["id"], 2)
        assert log[1]["error"] == "no response within 0.5 s" and log[1]["status_code"] is None
        assert log[0]["succeeded"] is True
    finally:
        server.stop()
        if database:
            from tests.support import drop_postgres_database

            drop_postgres_database(database)


def test_private_addresses_are_refused_at_delivery_when_not_allowed(roost, org, api, receiver):
    # `roost` has the default settings. A host name is accepted when the endpoint is created,
    # and checked on the addresses it resolves to at every delivery: localhost is loopback.
    endpoint = create_endpoint(api, f"https://localhost:{receiver.port}/hook")
    session = cancelled_session(api)
    attempt = wait_until(lambda: attempts_of(api, endpoint["id"]), what="refused attempt")[0]
    assert attempt["succeeded"] is False and attempt["status_code"] is None
    assert attempt["error"].startswith("address not allowed: localhost resolves to ")
    assert "loopback" in attempt["error"]
    assert receiver.received == []
    api.delete(f"{WEBHOOKS}/{endpoint['id']}")
    del session


def test_the_delivery_log_pages_and_filters(hapi, receiver):
    endpoint = listening(hapi, receiver)
    sessions = [cancelled_session(hapi)["id"] for _ in range(3)]
    wait_until(lambda: len(attempts_of(hapi, endpoint["id"])) == 3, what="three attempts")
    page = hapi.get(f"{WEBHOOKS}/{endpoint['id']}/deliveries", params={"limit": 2}).json()
    assert page["has_more"] is True and len(page["data"]) == 2
    rest = hapi.get(f"{WEBHOOKS}/{endpoint['id']}/deliveries", params={"starting_after": page["data"][1]["id"]}).json()
    assert rest["has_more"] is False and len(rest["data"]) == 1
    attempt = rest["data"][0]
    assert set(attempt) == {
        "id", "object", "endpoint_id", "event_id", "event_type", "delivery_id", "attempt", "succeeded",
        "status_code", "latency_ms", "error", "response_body", "response_body_truncated", "next_attempt_at", "created_at",
    }
    assert attempt["id"].startswith("wha_") and attempt["object"] == "webhook_delivery_attempt"
    assert attempt["status_code"] == 200 and attempt["latency_ms"] >= 0 and attempt["error"] is None
    assert (attempt["response_body"], attempt["response_body_truncated"]) == ("ok", False)
    # Deliveries run concurrently, so the attempts' order need not follow the sessions' order.
    logged = [hapi.get(f"{EVENTS}/{a['event_id']}").json()["data"]["id"] for a in page["data"] + rest["data"]]
    assert sorted(logged) == sorted(sessions)
    only = attempts_of(hapi, endpoint["id"], event_id=attempt["event_id"])
    assert [a["id"] for a in only] == [attempt["id"]]


def test_resend_sends_the_event_again_with_the_same_webhook_id(hapi, receiver):
    endpoint = listening(hapi, receiver)
    other = create_endpoint(hapi, receiver.url.replace("/hook", "/other"), events=["whatsapp.phone_number.registered"])
    session = cancelled_session(hapi)
    event = event_for(hapi, "embedded_signup.session.cancelled", session["id"])
    wait_until(lambda: len(receiver.received) == 1, what="first delivery")

    response = hapi.post(f"{EVENTS}/{event['id']}/resend")
    assert response.status_code == 202, response.text
    (queued,) = response.json()["deliveries"]  # only the subscribed endpoint
    assert (queued["endpoint_id"], queued["event_id"], queued["status"]) == (endpoint["id"], event["id"], "pending")
    wait_until(lambda: len(receiver.received) == 2, what="resent")
    # An endpoint named explicitly gets it even if it does not subscribe to the type.
    response = hapi.post(f"{EVENTS}/{event['id']}/resend", json={"endpoint_id": other["id"]})
    assert response.status_code == 202, response.text
    wait_until(lambda: len(receiver.received) == 3, what="resent to the other endpoint")
    assert {item.webhook_id for item in receiver.received} == {event["id"]}
    assert [item.body for item in receiver.received[:2]] == [receiver.received[0].body] * 2


def test_an_endpoint_failing_for_5_days_is_disabled_and_reported(hooks, hapi, receiver):
    receiver.behaviour = lambda index, body: (500, {}, 0.0)
    endpoint = listening(hapi, receiver)
    cancelled_session(hapi)
    wait_until(lambda: attempts_of(hapi, endpoint["id"]), what="first failure")
    assert hapi.get(f"{WEBHOOKS}/{endpoint['id']}").json()["enabled"] is True
    hooks.sql("UPDATE webhook_endpoints SET failing_since = :t WHERE id = :i", t=now_ms() - 5 * DAY_MS - 1000, i=endpoint["id"])

    def disabled():
        state = hapi.get(f"{WEBHOOKS}/{endpoint['id']}").json()
        return state if not state["enabled"] else None

    state = wait_until(disabled, what="disabled after 5 days of failures")
    assert state["disabled_reason"] == "failing"
    assert parse_time(state["failing_since"]) < now_ms() - 5 * DAY_MS
    count = len(receiver.received)
    time.sleep(1)
    assert len(receiver.received) == count  # parked


def test_retention_purges_old_finished_events_and_logs_only(hooks, hapi, receiver):
    endpoint = listening(hapi, receiver)
    old, recent = cancelled_session(hapi), cancelled_session(hapi)
    wait_until(lambda: len(attempts_of(hapi, endpoint["id"])) == 2, what="both delivered")
    old_event = event_for(hapi, "embedded_signup.session.cancelled", old["id"])
    recent_event = event_for(hapi, "embedded_signup.session.cancelled", recent["id"])
    # A third event, still owed to an endpoint that is down and then disabled (parked).
    parked = create_endpoint(hapi, f"http://127.0.0.1:{closed_port()}/down", events=["embedded_signup.session.cancelled"])
    owed = cancelled_session(hapi)
    hapi.patch(f"{WEBHOOKS}/{parked['id']}", json={"enabled": False})
    owed_event = event_for(hapi, "embedded_signup.session.cancelled", owed["id"])
    wait_until(lambda: len(attempts_of(hapi, endpoint["id"])) == 3, what="third delivered")

    aged = now_ms() - 91 * DAY_MS
    for table, key in (("webhook_events", "id"), ("webhook_deliveries", "event_id"), ("webhook_attempts", "event_id")):
        hooks.sql(f"UPDATE {table} SET created_at = :t WHERE {key} IN (:a, :b)", t=aged, a=old_event["id"], b=owed_event["id"])

    wait_until(lambda: hapi.get(f"{EVENTS}/{old_event['id']}").status_code == 404, what="old event purged")
    assert hooks.sql("SELECT count(*) FROM webhook_deliveries WHERE event_id = :e", e=old_event["id"]) == [(0,)]
    assert hooks.sql("SELECT count(*) FROM webhook_attempts WHERE event_id = :e", e=old_event["id"]) == [(0,)]
    # Recent, and old but still owed, stay; the owed event's finished delivery went.
    assert hapi.get(f"{EVENTS}/{recent_event['id']}").status_code == 200
    assert hapi.get(f"{EVENTS}/{owed_event['id']}").status_code == 200
    assert hooks.sql("SELECT endpoint_id, status FROM webhook_deliveries WHERE event_id = :e", e=owed_event["id"]) == [
        (parked["id"], "pending")
    ]
    assert {a["event_id"] for a in attempts_of(hapi, endpoint["id"])} == {recent_event["id"]}


def test_a_test_event_goes_signed_to_the_one_endpoint_asked(hooks, hapi, receiver):
    endpoint = listening(hapi, receiver, events=["whatsapp.phone_number.registered"])
    everything = listening(hapi, receiver)  # subscribes to "*": still gets no test it did not ask for
    response = hapi.post(f"{WEBHOOKS}/{endpoint['id']}/test")
    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent["object"] == "webhook_endpoint_test" and sent["delivery"]["endpoint_id"] == endpoint["id"]
    (item,) = wait_until(lambda: receiver.for_event(sent["event_id"]), what="the test event")
    assert item.verified_by == [0], "signed with the endpoint's own secret"
    assert item.body["type"] == "webhook_endpoint.test"
    assert item.body["data"] == {"object": "webhook_endpoint", "id": endpoint["id"], "url": endpoint["url"], "livemode": False, "test": True}
    deliveries = hooks.sql("SELECT endpoint_id FROM webhook_deliveries WHERE event_id = :e", e=sent["event_id"])
    assert [row[0] for row in deliveries] == [endpoint["id"]]
    (listed,) = hapi.get(EVENTS, params={"type": "webhook_endpoint.test"}).json()["data"]
    assert listed["id"] == sent["event_id"]

    assert hapi.patch(f"{WEBHOOKS}/{everything['id']}", json={"enabled": False}).status_code == 200
    response = hapi.post(f"{WEBHOOKS}/{everything['id']}/test")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "webhook_endpoint_disabled")
    assert hapi.post(f"{WEBHOOKS}/whk_nope/test").status_code == 404
    assert hapi.post(f"{WEBHOOKS}/{endpoint['id']}/test", json={"x": 1}).status_code == 400
    assert len(receiver.received) == 1


def test_an_attempt_keeps_the_start_of_the_answer_as_text(hapi, receiver):
    receiver.behaviour = lambda index, body: (500, {}, 0.0)
    receiver.answer_body = "é".encode() * 600 + b"\x00\xff tail"  # 1,200 bytes of 2-byte characters, then more
    endpoint = listening(hapi, receiver)
    cancelled_session(hapi)
    (attempt,) = wait_until(lambda: attempts_of(hapi, endpoint["id"]), what="the failed attempt")
    assert attempt["status_code"] == 500 and attempt["response_body_truncated"] is True
    assert attempt["response_body"] == "é" * 512  # 1,024 bytes, no character cut in half
    assert answer_text(b"a\x00b\xff") == "a\ufffdb\ufffd"  # no NUL for PostgreSQL, bad bytes replaced
