"""The simulator cannot be used to reach the server's network: whatever it fetches or posts
(callback handshakes, webhooks, a test-mode messages callback URL) reaches only public
addresses and Roost's own public URL, unless ROOST_WEBHOOK_ALLOW_PRIVATE=1; and nothing a
callback answers is repeated to the caller."""

import select
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.meta.helpers import SETTINGS, play, steps
from tests.simulator.helpers import GRAPH_VERSION, bearer, meta_error, onboard, running_roost, wait_until
from tests.support import RunningRoost

SECRET = b"internal-secret-7f3c"


@pytest.fixture(scope="module")
def guarded(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRoost]:
    """A server with the default settings: private addresses are off limits."""
    with running_roost(backend, tmp_path_factory, "roost-guarded") as server:
        yield server


@pytest.fixture
def guarded_api(guarded: RunningRoost) -> Iterator[httpx.Client]:
    with guarded.new_org().client() as client:
        yield client


@pytest.fixture
def guarded_graph(guarded: RunningRoost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{guarded.base_url}/_sim/graph/{GRAPH_VERSION}", timeout=30) as client:
        yield client


class Listener:
    """A loopback port that would answer with a secret, and tells whether anyone connected."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = self.socket.getsockname()[1]

    def connected(self) -> bool:
        readable, _, _ = select.select([self.socket], [], [], 0.2)
        if readable:
            connection, _ = self.socket.accept()
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(SECRET), SECRET))
            connection.close()
        return bool(readable)


@pytest.fixture
def listener() -> Iterator[Listener]:
    state = Listener()
    yield state
    state.socket.close()


def subscribe(graph: httpx.Client, app: dict[str, Any], callback_url: str, verify_token: str = "x") -> httpx.Response:
    return graph.post(f"/{app['app_id']}/subscriptions", headers=bearer(app["app_token"]), data={
        "object": "whatsapp_business_account", "callback_url": callback_url, "verify_token": verify_token,
        "fields": "account_update",
    })


def test_the_app_subscription_handshake_never_reaches_a_private_address(guarded_api, guarded_graph, listener):
    app = guarded_api.get("/_sim/control/app").json()
    hosts = [f"127.0.0.1:{listener.port}", f"localhost:{listener.port}", f"2130706433:{listener.port}",
             f"0x7f000001:{listener.port}", "169.254.169.254", f"[::1]:{listener.port}", "10.0.0.1"]

    for host in hosts:
        response = subscribe(guarded_graph, app, f"http://{host}/secret")

        error = meta_error(response, 400, 2200)
        assert "not a public address" in error["message"], (host, error)
        assert SECRET.decode() not in response.text
    assert not listener.connected()
    # A URL the client could not even parse is a bad parameter, not an outage.
    meta_error(subscribe(guarded_graph, app, "http://127.0.0.1:{port}/x"), 400, 100)
    subscriptions = guarded_graph.get(f"/{app['app_id']}/subscriptions", headers=bearer(app["app_token"])).json()
    assert subscriptions["data"][0]["callback_url"].endswith(f"/meta/webhooks/{app['app_id']}")  # unchanged


def test_roosts_own_public_url_is_reachable(guarded, guarded_api, guarded_graph):
    app = guarded_api.get("/_sim/control/app").json()

    response = subscribe(guarded_graph, app, f"{guarded.base_url}/meta/webhooks/{app['app_id']}", app["verify_token"])

    assert response.status_code == 200, response.text
    signup = guarded_api.post("/_sim/control/signups", json={}).json()
    sent = guarded_api.post("/_sim/control/webhooks/account-update", json={"waba_id": signup["waba_id"], "event": "PARTNER_ADDED"})
    assert sent.status_code == 200 and sent.json()["outcome"] == "delivered", sent.text


def test_a_webhook_is_never_posted_to_a_private_address(guarded, guarded_api, listener):
    # A subscription to a private address cannot be made any more; one left from before is not used.
    app = guarded_api.get("/_sim/control/app").json()
    signup = guarded_api.post("/_sim/control/signups", json={}).json()
    guarded.sql("UPDATE sim_apps SET callback_url = :u WHERE app_id = :a", u=f"http://127.0.0.1:{listener.port}/x", a=app["app_id"])

    sent = guarded_api.post("/_sim/control/webhooks/account-update", json={"waba_id": signup["waba_id"], "event": "PARTNER_ADDED"})

    assert sent.json()["outcome"] == "error"
    (delivery,) = [d for d in guarded_api.get("/_sim/control/webhooks/deliveries").json()["data"]
                   if d["webhook_id"] == sent.json()["webhook_id"]][:1]
    assert delivery["error"] == "the callback URL is not a public address" and delivery["response_body"] is None
    assert not listener.connected()


def test_an_override_or_messages_callback_url_never_reaches_a_private_address(guarded_api, guarded_graph, listener):
    app = guarded_api.get("/_sim/control/app").json()
    account = onboard(guarded_api, guarded_graph, app)
    guarded_graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token))
    override = guarded_graph.post(f"/{account.waba_id}/subscribed_apps", headers=bearer(account.token),
                                  json={"override_callback_uri": f"https://127.0.0.1:{listener.port}/", "verify_token": "x"})
    meta_error(override, 400, 2200)

    # Provisioning's override of a test-mode messages callback URL goes the same way.
    assert guarded_api.patch(SETTINGS, json={"messages_callback_url": f"https://127.0.0.1:{listener.port}/"}).status_code == 200
    session = play(guarded_api)

    assert session["status"] == "failed"
    assert steps(session)["subscribe_app"]["error"]["code"] == 2200
    assert not listener.connected()


def test_allowing_private_addresses_lifts_the_guard(roost, api, graph, receiver):
    # The simulator tests' own server runs with ROOST_WEBHOOK_ALLOW_PRIVATE=1.
    assert roost.runtime.settings.webhook_allow_private
    app = api.get("/_sim/control/app").json()
    receiver.verify_token = "vt"

    assert subscribe(graph, app, receiver.url, "vt").status_code == 200
    wait_until(lambda: [item for item in receiver.received if item.method == "GET"])
