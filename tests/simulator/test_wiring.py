"""How Roost reaches the simulator: in-process through ASGI, derived credentials, ROOST_SIMULATOR=0."""

import httpx
from starlette.routing import Mount

from roost.kit.simulated_meta import simulated_app, simulated_app_for
from tests.simulator.helpers import bearer, signup


def simulator_of(roost):
    """The simulator app Roost mounted at /_sim (what the core reaches through httpx.ASGITransport)."""
    app = roost.server.config.app
    (mount,) = [route for route in app.routes if isinstance(route, Mount) and route.path == "/_sim"]
    return mount.app


def test_the_graph_api_answers_in_process_at_graph_paths(roost, api, sim_app):
    result = signup(api)

    async def exchange_in_process():
        transport = httpx.ASGITransport(app=simulator_of(roost))
        async with httpx.AsyncClient(transport=transport, base_url="http://simulator") as client:
            token = await client.get("/graph/v25.0/oauth/access_token", params={
                "client_id": sim_app["app_id"], "client_secret": sim_app["app_secret"], "code": result["code"]})
            phones = await client.get(f"/graph/v25.0/{result['waba_id']}/phone_numbers", headers=bearer(token.json()["access_token"]))
            return token.status_code, phones.json()

    status, phones = roost.run(exchange_in_process())

    assert status == 200
    assert phones["data"][0]["id"] == result["phone_number_id"]


def test_a_system_user_token_works_before_the_simulator_met_the_app(roost, graph):
    org = roost.new_org()
    app = simulated_app_for(roost.runtime.keyring, org.id)

    response = graph.get(f"/{app.partner_business_id}/client_whatsapp_business_accounts", headers=bearer(app.system_user_token))

    assert response.status_code == 200, response.text
    assert response.json() == {"data": []}


def test_the_app_token_of_any_app_id_is_valid(roost, graph):
    app = simulated_app(roost.runtime.keyring, "1234567890")

    response = graph.get(f"/{app.app_id}/subscriptions", headers=bearer(f"{app.app_id}|{app.app_secret}"))

    assert response.status_code == 200
    assert response.json()["data"][0]["callback_url"].endswith(f"/meta/webhooks/{app.app_id}")


def test_with_the_simulator_switched_off_nothing_is_served(start_roost):
    server = start_roost(simulator=False)

    with server.http() as client:
        sdk = client.get("/_sim/sdk.js")
        graph = client.get("/_sim/graph/v25.0/debug_token")

    assert sdk.status_code == 404 and graph.status_code == 404
    assert sdk.json()["error"]["code"] == "resource_missing"
