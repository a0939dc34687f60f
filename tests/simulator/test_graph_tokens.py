"""`debug_token`, `system_user_access_tokens`, `client_whatsapp_business_accounts` (research §4.2, §2.7)."""

import hashlib
import hmac

import pytest

from tests.simulator.helpers import bearer, meta_error, onboard, signup


def proof(token: str, secret: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


# -- debug_token -------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["app_token", "system_user_token"])
def test_debug_token_shows_the_wabas_of_a_business_token(graph, api, sim_app, auth):
    account = onboard(api, graph, sim_app)

    response = graph.get("/debug_token", params={"input_token": account.token}, headers=bearer(sim_app[auth]))

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["app_id"] == sim_app["app_id"]
    assert data["type"] == "SYSTEM_USER"
    assert data["is_valid"] is True
    assert data["expires_at"] == 0 and data["data_access_expires_at"] == 0
    assert data["scopes"] == ["whatsapp_business_management", "whatsapp_business_messaging"]
    assert data["granular_scopes"] == [
        {"scope": "whatsapp_business_management", "target_ids": [account.waba_id]},
        {"scope": "whatsapp_business_messaging", "target_ids": [account.waba_id]},
    ]
    assert data["user_id"].isdigit()


def test_debug_token_lists_the_newest_waba_first(graph, api, sim_app):
    first = onboard(api, graph, sim_app)
    # A second signup reusing the same business portfolio adds a second WABA.
    second = onboard(api, graph, sim_app, extras={"setup": {"business": {"id": first.business_id}}})
    assert second.business_id == first.business_id and second.waba_id != first.waba_id

    response = graph.get("/debug_token", params={"input_token": first.token}, headers=bearer(sim_app["app_token"]))

    targets = response.json()["data"]["granular_scopes"][0]["target_ids"]
    assert targets == [second.waba_id, first.waba_id]


def test_debug_token_of_an_unknown_token_is_not_valid(graph, sim_app):
    response = graph.get("/debug_token", params={"input_token": "EAAGnot-a-token"}, headers=bearer(sim_app["app_token"]))

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["is_valid"] is False
    assert data["error"]["code"] == 190
    assert data["error"]["message"]


def test_debug_token_of_another_apps_token_is_refused(roost, graph, api, sim_app):
    other = roost.new_org()
    with other.client() as other_api:
        other_app = other_api.get("/_sim/control/app").json()
        other_account = onboard(other_api, graph, other_app)

    response = graph.get("/debug_token", params={"input_token": other_account.token}, headers=bearer(sim_app["app_token"]))

    error = meta_error(response, 400, 100)
    assert error["message"] == "(#100) The App_id in the input_token did not match the Viewing App"


def test_debug_token_needs_an_access_token(graph):
    error = meta_error(graph.get("/debug_token", params={"input_token": "x"}), 401, 104)
    assert error["message"] == "An access token is required to request this resource."


@pytest.mark.parametrize(
    "token, message",
    [
        ("garbage", "Invalid OAuth access token - Cannot parse access token"),
        ("EAAGunknown", "The access token could not be decrypted"),
        ("123|wrong-secret", "Invalid OAuth access token signature."),
    ],
)
def test_an_unknown_access_token_is_a_190(graph, token, message):
    response = graph.get("/debug_token", params={"input_token": "x"}, headers=bearer(token))

    error = meta_error(response, 401, 190)
    assert error["message"] == message


def test_the_access_token_may_be_a_query_parameter(graph, sim_app):
    response = graph.get("/debug_token", params={"input_token": "x", "access_token": sim_app["app_token"]})

    assert response.status_code == 200
    assert response.json()["data"]["is_valid"] is False


# -- system_user_access_tokens -----------------------------------------------------------------------


def test_system_user_access_tokens_fetches_a_business_token(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    token = sim_app["system_user_token"]

    response = graph.post(
        f"/{account.business_id}/system_user_access_tokens",
        params={"fetch_only": "true", "appsecret_proof": proof(token, sim_app["app_secret"])},
        headers=bearer(token),
    )

    assert response.status_code == 200, response.text
    fetched = response.json()["access_token"]
    assert fetched.startswith("EAA")
    phones = graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(fetched))
    assert phones.status_code == 200
    assert phones.json()["data"][0]["id"] == account.phone_number_id


@pytest.mark.parametrize("bad_proof", [None, "0" * 64])
def test_system_user_access_tokens_needs_a_valid_appsecret_proof(graph, api, sim_app, bad_proof):
    account = onboard(api, graph, sim_app)
    params = {"fetch_only": "true"}
    if bad_proof is not None:
        params["appsecret_proof"] = bad_proof

    response = graph.post(f"/{account.business_id}/system_user_access_tokens", params=params, headers=bearer(sim_app["system_user_token"]))

    error = meta_error(response, 400, 100)
    assert error["message"] == "Invalid appsecret_proof provided in the API argument"


def test_system_user_access_tokens_for_a_business_that_shared_nothing_is_refused(roost, graph, api, sim_app):
    other = roost.new_org()
    with other.client() as other_api:
        foreign = signup(other_api)  # this business shared its WABA with another app only
    token = sim_app["system_user_token"]

    response = graph.post(
        f"/{foreign['business_id']}/system_user_access_tokens",
        params={"fetch_only": "true", "appsecret_proof": proof(token, sim_app["app_secret"])},
        headers=bearer(token),
    )

    error = meta_error(response, 403, 200)
    assert error["message"] == "(#200) Permissions error"


# -- client_whatsapp_business_accounts ------------------------------------------------------------------


def test_client_wabas_lists_the_shared_wabas_newest_first(graph, api, sim_app):
    first = signup(api)
    second = signup(api, variant="FINISH_ONLY_WABA")

    response = graph.get(f"/{sim_app['partner_business_id']}/client_whatsapp_business_accounts",
                         params={"fields": "id,owner_business_info"}, headers=bearer(sim_app["system_user_token"]))

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [waba["id"] for waba in data] == [second["waba_id"], first["waba_id"]]
    assert data[0]["owner_business_info"]["id"] == second["business_id"]
    assert set(response.json()["paging"]["cursors"]) == {"before", "after"}


def test_client_wabas_of_another_partner_are_refused(roost, graph, sim_app):
    with roost.new_org().client() as other_api:
        other_app = other_api.get("/_sim/control/app").json()

    response = graph.get(f"/{other_app['partner_business_id']}/client_whatsapp_business_accounts", headers=bearer(sim_app["system_user_token"]))

    meta_error(response, 403, 200)


def test_client_wabas_page_with_cursors(graph, api, sim_app):
    ids = [signup(api, variant="FINISH_ONLY_WABA")["waba_id"] for _ in range(3)]
    path = f"/{sim_app['partner_business_id']}/client_whatsapp_business_accounts"

    first_page = graph.get(path, params={"limit": 2}, headers=bearer(sim_app["system_user_token"])).json()
    after = first_page["paging"]["cursors"]["after"]
    second_page = graph.get(path, params={"limit": 2, "after": after}, headers=bearer(sim_app["system_user_token"])).json()

    assert [w["id"] for w in first_page["data"]] == ids[::-1][:2]
    assert "next" in first_page["paging"]
    assert [w["id"] for w in second_page["data"]] == ids[::-1][2:]
