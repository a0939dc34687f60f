"""Reads: `{waba}/phone_numbers`, `{phone}`, `{waba}`, who may read them, and Graph's paths (research §4.5)."""

import re

import httpx
import pytest

from tests.simulator.helpers import bearer, meta_error, onboard, signup

# What the list answers without `fields` (Meta's "Get all phone numbers" guide) …
LISTED_BY_DEFAULT = {
    "id",
    "display_phone_number",
    "verified_name",
    "code_verification_status",
    "quality_rating",
    "platform_type",
    "last_onboarded_time",
    "throughput",
    "webhook_configuration",
}
# … and the node itself (Meta's description of GET /{Phone-Number-ID}).
NODE_BY_DEFAULT = {"id", "display_phone_number", "verified_name", "quality_rating"}
STATE = {"fields": "status,platform_type,is_on_biz_app,code_verification_status"}
PREFILL = {
    "setup": {
        "business": {"name": "Acme Corp", "email": "a@acme.com", "website": "https://acme.com",
                     "address": {"country": "US"}, "phone": {"code": 1, "number": "6315550123"}},
        "phone": {"displayName": "Acme Support", "category": "AUTO", "description": "Support"},
    }
}


def test_a_new_number_is_verified_pending_and_not_on_the_cloud_api(roost, graph, api, sim_app):
    account = onboard(api, graph, sim_app, extras=PREFILL)

    response = graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(account.token))

    assert response.status_code == 200
    body = response.json()
    assert set(body["paging"]["cursors"]) == {"before", "after"}
    (phone,) = body["data"]
    assert set(phone) == LISTED_BY_DEFAULT
    assert phone["id"] == account.phone_number_id
    assert phone["display_phone_number"] == "+1 631-555-0123"
    assert phone["verified_name"] == "Acme Support"
    assert phone["code_verification_status"] == "VERIFIED"
    assert phone["quality_rating"] == "NA"
    assert phone["platform_type"] == "NOT_APPLICABLE"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", phone["last_onboarded_time"])
    assert phone["throughput"] == {"level": "NOT_APPLICABLE"}
    assert phone["webhook_configuration"] == {"application": f"{roost.base_url}/meta/webhooks/{sim_app['app_id']}"}
    state = graph.get(f"/{account.waba_id}/phone_numbers", params=STATE, headers=bearer(account.token)).json()["data"]
    assert state == [{"status": "PENDING", "platform_type": "NOT_APPLICABLE", "is_on_biz_app": False,
                      "code_verification_status": "VERIFIED", "id": account.phone_number_id}]


def test_phone_numbers_are_listed_newest_onboarded_first(graph, api, sim_app):
    first = onboard(api, graph, sim_app)
    # A pre-verified number attached to the same WABA is onboarded later.
    extra_number = signup(api)["phone_number_id"]
    signup(api, extras={"setup": {"preVerifiedPhone": {"ids": [extra_number]}, "whatsAppBusinessAccount": {"ids": first.waba_id}}})

    response = graph.get(f"/{first.waba_id}/phone_numbers", headers=bearer(first.token))

    assert [phone["id"] for phone in response.json()["data"]] == [extra_number, first.phone_number_id]


def test_a_coexistence_number_is_already_connected_on_the_business_app(graph, api, sim_app):
    account = onboard(api, graph, sim_app, variant="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING")

    phone = graph.get(f"/{account.waba_id}/phone_numbers", params=STATE, headers=bearer(account.token)).json()["data"][0]

    assert phone["is_on_biz_app"] is True
    assert phone["status"] == "CONNECTED"
    assert phone["platform_type"] == "CLOUD_API"
    assert phone["code_verification_status"] == "VERIFIED"


def test_an_only_waba_signup_has_no_phone_numbers(graph, api, sim_app):
    account = onboard(api, graph, sim_app, variant="FINISH_ONLY_WABA")

    response = graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(account.token))

    assert response.status_code == 200
    assert response.json() == {"data": []}


def test_one_phone_number_answers_only_its_default_fields(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    listed = graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(account.token)).json()["data"][0]

    response = graph.get(f"/{account.phone_number_id}", headers=bearer(account.token))

    assert response.status_code == 200
    assert response.json() == {name: listed[name] for name in NODE_BY_DEFAULT}
    asked = graph.get(f"/{account.phone_number_id}", params=STATE, headers=bearer(account.token)).json()
    assert set(asked) == {"id", "status", "platform_type", "is_on_biz_app", "code_verification_status"}


def test_a_waba_answers_its_numbers_with_nested_selection(graph, api, sim_app):
    account = onboard(api, graph, sim_app)

    response = graph.get(f"/{account.waba_id}", params={"fields": "name,phone_numbers{id,status}"}, headers=bearer(account.token))

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "name", "phone_numbers"}
    assert body["phone_numbers"]["data"] == [{"id": account.phone_number_id, "status": "PENDING"}]
    assert set(body["phone_numbers"]["paging"]) == {"cursors"}  # nothing more: no `next`


@pytest.mark.parametrize("fields", ["name,", "phone_numbers{id", "name}", "phone_numbers{nope}", "name{id}", "owner_business_info{nope}"])
def test_a_malformed_or_unknown_nested_selection_is_refused(graph, api, sim_app, fields):
    account = onboard(api, graph, sim_app)

    response = graph.get(f"/{account.waba_id}", params={"fields": fields}, headers=bearer(account.token))

    meta_error(response, 400, 100)


def test_fields_select_what_a_phone_number_answers(graph, api, sim_app):
    account = onboard(api, graph, sim_app)

    response = graph.get(f"/{account.phone_number_id}", params={"fields": "status,is_pin_enabled,throughput{level}"}, headers=bearer(account.token))

    assert response.json() == {"status": "PENDING", "is_pin_enabled": False, "throughput": {"level": "NOT_APPLICABLE"}, "id": account.phone_number_id}


def test_an_unknown_field_is_refused(graph, api, sim_app):
    account = onboard(api, graph, sim_app)

    response = graph.get(f"/{account.phone_number_id}", params={"fields": "nope"}, headers=bearer(account.token))

    error = meta_error(response, 400, 100)
    assert error["message"] == "(#100) Tried accessing nonexisting field (nope) on node type (WhatsAppBusinessPhoneNumber)"


def test_a_waba_reads_with_its_owner(graph, api, sim_app):
    account = onboard(api, graph, sim_app, extras=PREFILL)

    assert graph.get(f"/{account.waba_id}", headers=bearer(account.token)).json() == {"id": account.waba_id, "name": "Acme Corp"}
    everything = "name,currency,timezone_id,message_template_namespace,account_review_status,owner_business_info"
    response = graph.get(f"/{account.waba_id}", params={"fields": everything}, headers=bearer(account.token))

    assert response.status_code == 200
    waba = response.json()
    assert set(waba) == {"id", "name", "currency", "timezone_id", "message_template_namespace", "account_review_status", "owner_business_info"}
    assert waba["id"] == account.waba_id
    assert waba["name"] == "Acme Corp"
    assert waba["currency"] == "USD"
    assert waba["account_review_status"] == "APPROVED"
    assert waba["owner_business_info"] == {"id": account.business_id, "name": "Acme Corp"}


def test_the_system_user_token_reads_every_waba_shared_with_its_app(graph, api, sim_app):
    account = onboard(api, graph, sim_app)

    response = graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(sim_app["system_user_token"]))

    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == account.phone_number_id


@pytest.mark.parametrize("edge", ["/phone_numbers", ""])
def test_a_business_token_of_another_business_gets_a_permissions_error(graph, api, sim_app, edge):
    mine = onboard(api, graph, sim_app)
    theirs = onboard(api, graph, sim_app)

    response = graph.get(f"/{theirs.waba_id}{edge}", headers=bearer(mine.token))

    error = meta_error(response, 403, 200)
    assert error["message"] == "(#200) Permissions error"


def test_the_system_user_token_of_another_app_gets_a_permissions_error(roost, graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    with roost.new_org().client() as other_api:
        other_app = other_api.get("/_sim/control/app").json()

    response = graph.get(f"/{account.phone_number_id}", headers=bearer(other_app["system_user_token"]))

    meta_error(response, 403, 200)


def test_an_unknown_object_does_not_exist(graph, sim_app):
    response = graph.get("/123456789012345/phone_numbers", headers=bearer(sim_app["system_user_token"]))

    error = meta_error(response, 400, 100, 33, "GraphMethodException")
    assert error["message"].startswith(
        "Unsupported get request. Object with ID '123456789012345' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation"
    )


@pytest.mark.parametrize("version", ["v21.0", "v25.0", "v30.0"])
def test_any_graph_version_is_accepted(roost, api, graph, sim_app, version):
    account = onboard(api, graph, sim_app)

    response = httpx.get(f"{roost.base_url}/_sim/graph/{version}/{account.waba_id}", headers=bearer(account.token))

    assert response.status_code == 200


def test_an_unknown_edge_is_an_unknown_path(graph, api, sim_app):
    account = onboard(api, graph, sim_app)

    response = graph.get(f"/{account.waba_id}/nope", headers=bearer(account.token))

    error = meta_error(response, 400, 2500)
    assert error["message"] == "Unknown path components: /nope"


def test_a_non_numeric_object_is_an_unknown_alias(graph, sim_app):
    error = meta_error(graph.get("/acme", headers=bearer(sim_app["app_token"])), 400, 803)
    assert "acme" in error["message"]
