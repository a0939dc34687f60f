"""Pagination, idempotency keys, retries and error mapping, on a recording loopback server."""

import asyncio
import socket
import time

import pytest

from conftest import Reply
from roost_client import (
    APIConnectionError,
    APIError,
    AsyncRoost,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    Roost,
    RoostError,
)

S = "/v1/organization/embedded-signup/sessions"


def page(*ids, has_more):
    return Reply(body={"object": "list", "data": [{"id": i, "object": "embedded_signup_session"} for i in ids],
                       "has_more": has_more})


def fast_client(recorder, **options):
    options.setdefault("initial_retry_delay", 0.01)
    options.setdefault("max_retry_delay", 0.05)
    return Roost("sk_admin_test_recorded", base_url=recorder.base_url, **options)


# Pagination -------------------------------------------------------------------------------


def test_iterating_a_list_walks_every_page_keeping_the_filters(recorder, client):
    recorder.script(page("wss_5", "wss_4", has_more=True), page("wss_3", "wss_2", has_more=True), page("wss_1", has_more=False))
    ids = [s.id for s in client.sessions.list(metadata={"externalUserId": "u1"}, status="pending", limit=2)]
    assert ids == ["wss_5", "wss_4", "wss_3", "wss_2", "wss_1"]
    assert [r.query for r in recorder.requests] == [
        [("status", "pending"), ("metadata[externalUserId]", "u1"), ("limit", "2")],
        [("status", "pending"), ("metadata[externalUserId]", "u1"), ("limit", "2"), ("starting_after", "wss_4")],
        [("status", "pending"), ("metadata[externalUserId]", "u1"), ("limit", "2"), ("starting_after", "wss_2")],
    ]


def test_a_given_starting_after_is_replaced_by_the_next_cursor(recorder, client):
    recorder.script(page("wss_3", has_more=True), page("wss_2", has_more=False))
    assert [s.id for s in client.sessions.list(starting_after="wss_9", limit=1)] == ["wss_3", "wss_2"]
    assert recorder.requests[1].params == {"starting_after": "wss_3", "limit": "1"}


def test_paging_backwards_with_ending_before(recorder, client):
    recorder.script(page("wss_7", "wss_6", has_more=True), page("wss_9", "wss_8", has_more=False))
    assert [s.id for s in client.sessions.list(ending_before="wss_5", limit=2)] == ["wss_7", "wss_6", "wss_9", "wss_8"]
    assert recorder.requests[1].params == {"ending_before": "wss_7", "limit": "2"}


def test_first_page_pages_and_to_list(recorder, client):
    recorder.script(page("wss_2", has_more=True))
    first = client.sessions.list(limit=1).first_page()
    assert [s.id for s in first] == ["wss_2"] and first.has_more and len(recorder.requests) == 1
    recorder.script(page("wss_2", has_more=True), page("wss_1", has_more=False))
    assert [len(p) for p in client.sessions.list(limit=1).pages()] == [1, 1]
    recorder.script(page("wss_3", "wss_2", has_more=True))
    assert [s.id for s in client.sessions.list().to_list(limit=2)] == ["wss_3", "wss_2"]


def test_an_empty_page_ends_the_walk_even_if_has_more(recorder, client):
    recorder.script(page(has_more=True))
    assert list(client.sessions.list()) == []
    assert len(recorder.requests) == 1


def test_async_pagination(recorder):
    recorder.script(page("wss_3", "wss_2", has_more=True), page("wss_1", has_more=False), page("wss_3", has_more=True))

    async def run():
        async with AsyncRoost("sk_admin_test_recorded", base_url=recorder.base_url) as client:
            ids = [s.id async for s in client.sessions.list(metadata={"k": "v"})]
            first = await client.sessions.list()
            return ids, first

    ids, first = asyncio.run(run())
    assert ids == ["wss_3", "wss_2", "wss_1"]
    assert recorder.requests[1].query == [("metadata[k]", "v"), ("starting_after", "wss_2")]
    assert [s.id for s in first.data] == ["wss_3"] and first.has_more


# Idempotency keys -----------------------------------------------------------------------------


def test_creates_get_a_fresh_key_each_call_and_the_same_key_on_retries(recorder):
    recorder.script(Reply(500, {"error": {"type": "api_error", "code": "internal_error", "message": "boom"}}),
                    Reply(503, None), Reply(201, {"id": "wss_1"}))
    with fast_client(recorder) as client:
        assert client.sessions.create(metadata={"a": 1}).id == "wss_1"
        client.sessions.create()
    keys = [r.headers["idempotency-key"] for r in recorder.requests]
    assert len(keys) == 4 and keys[0] == keys[1] == keys[2] != keys[3]
    assert keys[0].startswith("roost-python-") and len(keys[0]) <= 255


def test_the_key_can_be_given_or_switched_off(recorder):
    with fast_client(recorder) as client:
        client.sessions.create(idempotency_key="order-42")
        client.sessions.create(idempotency_key=None)
    with fast_client(recorder, auto_idempotency=False) as client:
        client.sessions.create()
        client.sessions.create(idempotency_key="explicit")
    assert [r.headers.get("idempotency-key") for r in recorder.requests] == ["order-42", None, None, "explicit"]


def test_a_create_without_key_is_not_retried_after_a_server_error(recorder):
    recorder.script(Reply(500, {"error": {"type": "api_error", "code": "internal_error", "message": "boom"}}))
    with fast_client(recorder) as client, pytest.raises(APIError):
        client.sessions.create(idempotency_key=None)
    assert len(recorder.requests) == 1


def test_idempotency_key_in_use_is_waited_out(recorder):
    busy = {"error": {"type": "invalid_request_error", "code": "idempotency_key_in_use", "message": "running"}}
    recorder.script(Reply(409, busy), Reply(201, {"id": "wss_1"}))
    with fast_client(recorder) as client:
        assert client.sessions.create(idempotency_key="k").id == "wss_1"
    assert len(recorder.requests) == 2


# Retries ------------------------------------------------------------------------------------


def test_server_errors_are_retried_up_to_max_retries(recorder):
    recorder.script(Reply(503, None), Reply(502, None), Reply(200, {"id": "wss_1"}))
    with fast_client(recorder) as client:
        assert client.sessions.get("wss_1").id == "wss_1"
    assert len(recorder.requests) == 3

    recorder.requests.clear()
    recorder.script(*[Reply(503, {"error": {"type": "api_error", "code": "unavailable", "message": "down"}})] * 3)
    with fast_client(recorder) as client, pytest.raises(APIError) as caught:
        client.sessions.get("wss_1")
    assert len(recorder.requests) == 3 and caught.value.code == "unavailable"

    recorder.requests.clear()
    recorder.script(Reply(503, None))
    with fast_client(recorder, max_retries=0) as client, pytest.raises(APIError):
        client.sessions.get("wss_1")
    assert len(recorder.requests) == 1


def test_429_waits_for_retry_after(recorder):
    limited = {"error": {"type": "invalid_request_error", "code": "rate_limited", "message": "slow down"}}
    recorder.script(Reply(429, limited, {"Retry-After": "1"}), Reply(200, {"id": "wabp_1"}))
    started = time.monotonic()
    with fast_client(recorder) as client:
        assert client.phone_numbers.register("wapn_1").id == "wabp_1"  # even a POST without key: nothing was done
    assert time.monotonic() - started >= 0.95
    assert len(recorder.requests) == 2


def test_retry_after_is_capped(recorder):
    limited = {"error": {"type": "invalid_request_error", "code": "rate_limited", "message": "slow down"}}
    recorder.script(Reply(429, limited, {"Retry-After": "3600"}), Reply(429, limited, {"Retry-After": "3600"}),
                    Reply(429, limited, {"Retry-After": "3600"}))
    started = time.monotonic()
    with fast_client(recorder, max_retry_after=0.05) as client, pytest.raises(RateLimitError) as caught:
        client.sessions.list().first_page()
    assert time.monotonic() - started < 5
    assert len(recorder.requests) == 3
    assert caught.value.retry_after == 3600 and caught.value.code == "rate_limited"


def test_a_dropped_connection_is_retried_only_when_safe(recorder):
    recorder.script(Reply(drop=True), Reply(200, {"id": "wss_1"}))
    with fast_client(recorder) as client:
        assert client.sessions.get("wss_1").id == "wss_1"
    assert len(recorder.requests) == 2

    recorder.requests.clear()
    recorder.script(Reply(drop=True), Reply(200, {"id": "wss_1"}))
    with fast_client(recorder) as client, pytest.raises(APIConnectionError):
        client.sessions.refresh_link("wss_1")  # a POST without key may have been acted on
    assert len(recorder.requests) == 1

    recorder.requests.clear()
    recorder.replies.clear()
    recorder.script(Reply(drop=True), Reply(201, {"id": "wss_1"}))
    with fast_client(recorder) as client:
        assert client.sessions.create().id == "wss_1"
    assert len(recorder.requests) == 2
    assert recorder.requests[0].headers["idempotency-key"] == recorder.requests[1].headers["idempotency-key"]


def test_an_unreachable_server_raises_a_connection_error_after_retrying():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = []
    client = Roost("sk_admin_test_x", base_url=f"http://127.0.0.1:{port}", initial_retry_delay=0.01, max_retry_delay=0.02)
    client.sessions._transport.sleep = sleeps.append  # count the waits between tries
    with client, pytest.raises(APIConnectionError) as caught:
        client.sessions.refresh_link("wss_1")  # never sent, so safe to retry even without a key
    assert len(sleeps) == 2 and isinstance(caught.value, RoostError)


def test_async_retries_with_the_same_key(recorder):
    recorder.script(Reply(503, None), Reply(429, None, {"Retry-After": "0"}), Reply(201, {"id": "wss_1"}))

    async def run():
        async with AsyncRoost("sk_admin_test_recorded", base_url=recorder.base_url, initial_retry_delay=0.01) as client:
            return await client.sessions.create()

    assert asyncio.run(run()).id == "wss_1"
    assert len({r.headers["idempotency-key"] for r in recorder.requests}) == 1 and len(recorder.requests) == 3


# Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,kind,error_type,code",
    [
        (400, InvalidRequestError, "invalid_request_error", "parameter_invalid"),
        (413, InvalidRequestError, "invalid_request_error", "body_too_large"),
        (415, InvalidRequestError, "invalid_request_error", "unsupported_media_type"),
        (401, AuthenticationError, "authentication_error", "api_key_invalid"),
        (403, ForbiddenError, "authentication_error", "live_mode_required"),
        (404, NotFoundError, "invalid_request_error", "resource_missing"),
        (409, ConflictError, "invalid_request_error", "session_not_pending"),
        (402, ProviderError, "provider_error", "meta_error"),
        (424, ProviderError, "provider_error", "meta_error"),
        (500, APIError, "api_error", "internal_error"),
    ],
)
def test_errors_map_to_exceptions_with_every_field(recorder, status, kind, error_type, code):
    problems = [{"param": "state", "code": "parameter_missing", "message": "state is required"}]
    error = {"type": error_type, "code": code, "message": "it went wrong", "param": "state", "errors": problems,
             "request_id": "req_abc", "provider": {"code": 100, "message": "Invalid", "fbtrace_id": "A1"}}
    recorder.script(*[Reply(status, {"error": error})] * 3)
    with fast_client(recorder) as client, pytest.raises(kind) as caught:
        client.sessions.get("wss_1")
    e = caught.value
    assert (e.http_status, e.type, e.code, e.param, e.message, e.request_id) == (
        status, error_type, code, "state", "it went wrong", "req_abc")
    assert e.errors == problems and isinstance(e, RoostError)
    assert "req_abc" in str(e) and code in str(e)
    if kind is ProviderError:
        assert e.provider["fbtrace_id"] == "A1"
    assert issubclass(NotFoundError, InvalidRequestError) and PermissionDeniedError is ForbiddenError


def test_a_non_json_error_still_maps_by_status(recorder):
    recorder.script(*[Reply(502, None)] * 3)
    with fast_client(recorder) as client, pytest.raises(APIError) as caught:
        client.sessions.get("wss_1")
    assert caught.value.http_status == 502 and caught.value.code is None
    assert caught.value.request_id == "req_3"  # from the Request-Id header
