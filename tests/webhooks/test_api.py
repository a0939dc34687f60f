"""The webhook endpoints and events API (SPEC 7.1): CRUD, validation with nothing stored, modes
and organizations kept apart, lists, resend's rules."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from roost.kit.timeutil import parse_time
from roost.webhooks import outbox
from tests.webhooks.helpers import (
    EVENTS,
    WEBHOOKS,
    attempts_of,
    cancelled_session,
    create_endpoint,
    events_of,
    listening,
    wait_until,
)

URL = "https://hooks.example.com/roost"


def endpoint_count(hooks, org_id: str) -> int:
    return hooks.sql("SELECT count(*) FROM webhook_endpoints WHERE organization_id = :o", o=org_id)[0][0]


def test_create_shows_the_secret_once_and_the_endpoint_reads_back(hooks, horg, hapi):
    response = hapi.post(WEBHOOKS, json={"url": URL, "events": ["embedded_signup.session.completed"], "description": " CRM "})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"].startswith("whk_") and created["object"] == "webhook_endpoint"
    assert created["secret"].startswith("whsec_") and len(created["secret"]) == len("whsec_") + 32
    assert (created["url"], created["events"], created["description"]) == (URL, ["embedded_signup.session.completed"], "CRM")
    assert (created["enabled"], created["livemode"], created["disabled_reason"]) == (True, False, None)

    fetched = hapi.get(f"{WEBHOOKS}/{created['id']}").json()
    assert "secret" not in fetched
    assert fetched == {name: value for name, value in created.items() if name != "secret"}
    # Only ciphertext is stored.
    (stored,) = hooks.sql("SELECT secret_encrypted FROM webhook_endpoints WHERE id = :i", i=created["id"])[0]
    assert created["secret"] not in stored and stored.startswith("v1.")


def test_update_changes_only_what_is_sent(hapi):
    endpoint = create_endpoint(hapi, URL, description="first")
    response = hapi.patch(f"{WEBHOOKS}/{endpoint['id']}", json={"events": ["whatsapp.phone_number.registered"]})
    assert response.status_code == 200, response.text
    assert (response.json()["events"], response.json()["url"], response.json()["description"]) == (
        ["whatsapp.phone_number.registered"], URL, "first",
    )
    updated = hapi.patch(f"{WEBHOOKS}/{endpoint['id']}", json={"url": URL + "/v2", "description": None, "enabled": False}).json()
    assert (updated["url"], updated["description"], updated["enabled"], updated["disabled_reason"]) == (URL + "/v2", None, False, "api")
    assert updated["disabled_at"] is not None
    enabled = hapi.patch(f"{WEBHOOKS}/{endpoint['id']}", json={"enabled": True}).json()
    assert (enabled["enabled"], enabled["disabled_reason"], enabled["disabled_at"]) == (True, None, None)
    assert hapi.get(f"{WEBHOOKS}/{endpoint['id']}").json() == enabled


def test_delete_removes_the_endpoint(hooks, horg, hapi):
    endpoint = create_endpoint(hapi, URL)
    response = hapi.delete(f"{WEBHOOKS}/{endpoint['id']}")
    assert response.status_code == 200
    assert response.json() == {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}
    assert hapi.get(f"{WEBHOOKS}/{endpoint['id']}").status_code == 404
    assert hapi.delete(f"{WEBHOOKS}/{endpoint['id']}").status_code == 404
    assert endpoint_count(hooks, horg.id) == 0


@pytest.mark.parametrize(
    "body, param, code, message",
    [
        ({"events": ["*"]}, "url", "parameter_missing", "url is required"),
        ({"url": URL}, "events", "parameter_missing", "events is required"),
        ({"url": "http://hooks.example.com/x", "events": ["*"]}, "url", "parameter_invalid",
         "url must use https:// (plain http:// is allowed only to local addresses, with ROOST_WEBHOOK_ALLOW_PRIVATE=1)"),
        ({"url": "ftp://hooks.example.com/x", "events": ["*"]}, "url", "parameter_invalid",
         "url must be an absolute https:// URL such as https://example.com/webhooks"),
        ({"url": "https://user:pw@hooks.example.com/", "events": ["*"]}, "url", "parameter_invalid",
         "url must not contain a user name or password"),
        ({"url": "https://hooks.example.com/#x", "events": ["*"]}, "url", "parameter_invalid", "url must not contain a fragment (#…)"),
        ({"url": "https://hooks.example.com:99999/", "events": ["*"]}, "url", "parameter_invalid",
         "url must be a valid URL such as https://example.com/webhooks"),
        ({"url": URL, "events": []}, "events", "parameter_invalid", "events must not be empty"),
        ({"url": URL, "events": ["*", "embedded_signup.session.completed"]}, "events", "parameter_invalid",
         'events must be ["*"] alone or a list of event types'),
        ({"url": URL, "events": "*"}, "events", "parameter_invalid", "events must be an array"),
        ({"url": URL, "events": ["*"], "enabled": "yes"}, "enabled", "parameter_invalid", "enabled must be a boolean (true or false)"),
        ({"url": URL, "events": ["*"], "description": "x" * 501}, "description", "parameter_invalid",
         "description must be at most 500 characters"),
        ({"url": URL, "events": ["*"], "secret": "whsec_mine"}, "secret", "parameter_unknown", "secret is not a known parameter"),
    ],
)
def test_invalid_endpoints_are_refused_and_nothing_is_stored(hooks, horg, hapi, body, param, code, message):
    response = hapi.post(WEBHOOKS, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"], error["message"]) == ("invalid_request_error", code, param, message)
    assert endpoint_count(hooks, horg.id) == 0


def test_repeated_event_types_count_once(hapi):
    assert create_endpoint(hapi, URL, events=["*", "*"])["events"] == ["*"]
    completed = "embedded_signup.session.completed"
    assert create_endpoint(hapi, URL, events=[completed, completed])["events"] == [completed]


def test_an_unknown_event_type_is_named(hooks, horg, hapi):
    response = hapi.post(WEBHOOKS, json={"url": URL, "events": ["embedded_signup.session.completed", "session.done"]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("events[1]", "parameter_invalid")
    assert "embedded_signup.session.completed" in error["message"] and "whatsapp.phone_number.registered" in error["message"]
    assert endpoint_count(hooks, horg.id) == 0


def test_a_bad_update_changes_nothing(hapi):
    endpoint = create_endpoint(hapi, URL)
    for body in ({"url": "http://example.com"}, {"url": None}, {"events": []}, {"enabled": None}, {"colour": "red"}):
        response = hapi.patch(f"{WEBHOOKS}/{endpoint['id']}", json=body)
        assert response.status_code == 400, (body, response.text)
    assert hapi.get(f"{WEBHOOKS}/{endpoint['id']}").json()["url"] == URL


def test_private_addresses_are_refused_unless_the_server_allows_them(roost, api, hapi):
    # `roost` runs with the default settings; `hapi`'s server allows private addresses.
    for url in ("https://127.0.0.1/x", "https://10.1.2.3/x", "https://[::1]/x", "https://169.254.169.254/latest", "http://localhost:8080/x"):
        response = api.post(WEBHOOKS, json={"url": url, "events": ["*"]})
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["param"] == "url"
    assert "private address" in api.post(WEBHOOKS, json={"url": "https://10.1.2.3/x", "events": ["*"]}).json()["error"]["message"]
    assert api.get(WEBHOOKS).json()["data"] == []
    for url in ("http://127.0.0.1:8080/x", "http://localhost:8080/x", "https://10.1.2.3/x"):
        assert hapi.post(WEBHOOKS, json={"url": url, "events": ["*"]}).status_code == 201, url
    # Even then, plain http:// only to local addresses.
    assert hapi.post(WEBHOOKS, json={"url": "http://hooks.example.com/x", "events": ["*"]}).status_code == 400


def test_endpoints_and_events_stay_in_their_organization_and_mode(hooks, horg, hapi):
    other = hooks.new_org()
    endpoint = create_endpoint(hapi, URL)
    session = cancelled_session(hapi)
    (event,) = events_of(hapi)
    assert event["data"]["id"] == session["id"] and event["livemode"] is False

    with horg.client(horg.keys["live"]) as live, other.client() as stranger:
        for client in (live, stranger):
            for method, path in (
                ("GET", f"{WEBHOOKS}/{endpoint['id']}"), ("PATCH", f"{WEBHOOKS}/{endpoint['id']}"),
                ("DELETE", f"{WEBHOOKS}/{endpoint['id']}"), ("POST", f"{WEBHOOKS}/{endpoint['id']}/rotate-secret"),
                ("GET", f"{WEBHOOKS}/{endpoint['id']}/deliveries"), ("GET", f"{EVENTS}/{event['id']}"),
                ("POST", f"{EVENTS}/{event['id']}/resend"),
            ):
                response = client.request(method, path, json={} if method in ("POST", "PATCH") else None)
                assert response.status_code == 404, (method, path, response.text)
                assert response.json()["error"]["code"] == "resource_missing"
            assert client.get(WEBHOOKS).json()["data"] == []
            assert client.get(EVENTS).json()["data"] == []
        live_endpoint = create_endpoint(live, URL)
        assert live_endpoint["livemode"] is True
        # A test key cannot send a test event to a live endpoint.
        response = hapi.post(f"{EVENTS}/{event['id']}/resend", json={"endpoint_id": live_endpoint["id"]})
        assert (response.status_code, response.json()["error"]["param"]) == (404, "endpoint_id")
    assert [row["id"] for row in hapi.get(WEBHOOKS).json()["data"]] == [endpoint["id"]]


def test_test_events_reach_test_endpoints_only(hooks, horg, hapi, receiver):
    test_endpoint = listening(hapi, receiver)
    with horg.client(horg.keys["live"]) as live:
        live_endpoint = create_endpoint(live, receiver.url.replace("/hook", "/live"))

        async def live_event() -> None:
            async with hooks.runtime.sessions() as db, db.begin():
                outbox.emit(db, organization_id=horg.id, livemode=True, type="whatsapp.business_profile.review_updated",
                            data={"id": "wabp_live", "object": "business_profile"}, at=int(time.time() * 1000))

        hooks.run(live_event())
        (live_listed,) = events_of(live)
        assert live_listed["livemode"] is True and events_of(hapi) == []
        session = cancelled_session(hapi)
        wait_until(lambda: len(receiver.received) == 2, what="both events delivered")
        live_attempts = wait_until(lambda: attempts_of(live, live_endpoint["id"]), what="live attempt logged")
    test_attempts = wait_until(lambda: attempts_of(hapi, test_endpoint["id"]), what="test attempt logged")
    assert sorted(body["data"]["id"] for body in receiver.bodies()) == sorted(["wabp_live", session["id"]])
    by_type = {item.body["type"]: item for item in receiver.received}
    assert by_type["embedded_signup.session.cancelled"].verified_by == [0]  # the test endpoint's secret
    assert by_type["whatsapp.business_profile.review_updated"].verified_by == []  # signed with the live secret
    assert [a["event_type"] for a in live_attempts] == ["whatsapp.business_profile.review_updated"]
    assert [a["event_type"] for a in test_attempts] == ["embedded_signup.session.cancelled"]


def test_lists_are_newest_first_with_cursors(hapi):
    created = [create_endpoint(hapi, f"{URL}/{index}")["id"] for index in range(3)]
    first = hapi.get(WEBHOOKS, params={"limit": 2}).json()
    assert [row["id"] for row in first["data"]] == created[::-1][:2] and first["has_more"] is True
    rest = hapi.get(WEBHOOKS, params={"limit": 2, "starting_after": created[1]}).json()
    assert [row["id"] for row in rest["data"]] == [created[0]] and rest["has_more"] is False
    before = hapi.get(WEBHOOKS, params={"ending_before": created[0]}).json()
    assert [row["id"] for row in before["data"]] == created[::-1][:2]

    sessions = [cancelled_session(hapi)["id"] for _ in range(3)]
    listed = hapi.get(EVENTS, params={"limit": 2}).json()
    assert [event["data"]["id"] for event in listed["data"]] == sessions[::-1][:2] and listed["has_more"]
    older = hapi.get(EVENTS, params={"starting_after": listed["data"][1]["id"]}).json()
    assert [event["data"]["id"] for event in older["data"]] == [sessions[0]]
    assert events_of(hapi, type="whatsapp.phone_number.registered") == []
    assert len(events_of(hapi, type="embedded_signup.session.cancelled")) == 3
    one = hapi.get(f"{EVENTS}/{listed['data'][0]['id']}").json()
    assert one == listed["data"][0]
    assert set(one) == {"id", "object", "type", "livemode", "created_at", "data"}
    assert parse_time(one["created_at"]) > 0


@pytest.mark.parametrize(
    "path, params, param",
    [
        (EVENTS, {"type": "session.done"}, "type"),
        (EVENTS, {"limit": "0"}, "limit"),
        (EVENTS, {"starting_after": "evt_unknown"}, "starting_after"),
        (EVENTS, {"colour": "red"}, "colour"),
        (WEBHOOKS, {"limit": "101"}, "limit"),
        (WEBHOOKS, {"starting_after": "whk_a", "ending_before": "whk_b"}, "ending_before"),
        (WEBHOOKS, {"starting_after": ""}, "starting_after"),
        (WEBHOOKS, [("limit", "5"), ("limit", "6")], "limit"),
        (EVENTS, {"type": ""}, "type"),
    ],
)
def test_bad_list_parameters(hapi, path, params, param):
    response = hapi.get(path, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_resend_rules(hooks, horg, hapi):
    session = cancelled_session(hapi)
    (event,) = events_of(hapi)
    response = hapi.post(f"{EVENTS}/{event['id']}/resend", json={})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "no_webhook_endpoints")
    endpoint = create_endpoint(hapi, URL, events=["whatsapp.phone_number.registered"], enabled=False)
    assert hapi.post(f"{EVENTS}/{event['id']}/resend", json={}).status_code == 409  # not subscribed, and disabled
    response = hapi.post(f"{EVENTS}/{event['id']}/resend", json={"endpoint_id": endpoint["id"]})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "webhook_endpoint_disabled")
    response = hapi.post(f"{EVENTS}/{event['id']}/resend", json={"endpoint_id": "whk_nope"})
    assert (response.status_code, response.json()["error"]["param"]) == (404, "endpoint_id")
    response = hapi.post(f"{EVENTS}/{event['id']}/resend", json={"endpoint": endpoint["id"]})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "parameter_unknown")
    assert hapi.post(f"{EVENTS}/evt_nope/resend", json={}).status_code == 404
    assert hooks.sql("SELECT count(*) FROM webhook_deliveries WHERE organization_id = :o", o=horg.id) == [(0,)]
    del session


def test_the_openapi_document_describes_the_webhooks_api(hooks):
    with hooks.http() as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths[WEBHOOKS]) == {"get", "post"}
    assert set(paths[WEBHOOKS + "/{endpoint_id}"]) == {"get", "patch", "delete"}
    for path in ("/rotate-secret", "/deliveries"):
        assert WEBHOOKS + "/{endpoint_id}" + path in paths
    assert EVENTS + "/{event_id}/resend" in paths
    create = paths[WEBHOOKS]["post"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("WebhookEndpointWithSecret")
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("EndpointCreateParams")
    assert "422" not in create["responses"] and "400" in create["responses"]


def test_an_organization_has_at_most_16_endpoints_per_mode_even_when_they_are_created_at_once(api):
    # Created concurrently (the server counts and inserts under the mode's lock): never 17.
    def create(index: int) -> int:
        return api.post(WEBHOOKS, json={"url": f"https://hooks{index}.example.com/roost", "events": ["*"]}).status_code

    for index in range(10):
        assert create(index) == 201
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(create, range(10, 22)))

    assert sorted(statuses) == [201] * 6 + [400] * 6
    assert len(api.get(WEBHOOKS, params={"limit": 100}).json()["data"]) == 16
    refused = api.post(WEBHOOKS, json={"url": "https://one-more.example.com/roost", "events": ["*"]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "webhook_endpoint_limit_reached"
