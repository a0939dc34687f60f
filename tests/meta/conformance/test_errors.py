"""Each error Roost handles, as the simulator answers it: Meta's envelope (GraphAPIError), and the
HTTP status, code, subcode and type Meta gives it; and the requests Meta refuses, refused."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.meta.conformance.meta import ERROR, problems
from tests.meta.helpers import GRAPH_VERSION, sim_app, sim_signup
from tests.support.signups import unused_phone_number

OAUTH, METHOD = "OAuthException", "GraphMethodException"


@pytest.fixture
def graph(roost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{roost.base_url}/_sim/graph/{GRAPH_VERSION}", timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mismatches(name: str, response: httpx.Response, status: int, code: int, subcode: int | None = None,
               error_type: str = OAUTH) -> list[str]:
    """What differs from Meta's answer to this error (empty: nothing)."""
    try:
        body = response.json()
    except ValueError:
        return [f"{name}: not JSON: {response.text[:80]}"]
    found = [f"{name}: {problem}" for problem in problems(ERROR, body)]
    if found:
        return found
    error = body["error"]
    got = (response.status_code, error["code"], error.get("error_subcode"), error["type"])
    return [] if got == (status, code, subcode, error_type) else [f"{name}: got {got}, Meta: {(status, code, subcode, error_type)}"]


def exchange(graph: httpx.Client, app: dict[str, Any], code: str, **extra: str) -> httpx.Response:
    query = {"client_id": app["app_id"], "client_secret": app["app_secret"], "code": code, **extra}
    return graph.get("/oauth/access_token", params=query)


def test_the_code_exchange_errors_roost_handles(roost, api, graph):
    app = sim_app(api)
    used, late, elsewhere = sim_signup(api), sim_signup(api), sim_signup(api)
    assert exchange(graph, app, used["code"]).status_code == 200
    roost.sql("UPDATE sim_codes SET created_at = created_at - 60000 WHERE app_id = :a AND used_at IS NULL", a=app["app_id"])

    found = mismatches("used", exchange(graph, app, used["code"]), 400, 100, 36009)
    found += mismatches("expired", exchange(graph, app, late["code"]), 400, 100, 36007)
    found += mismatches("redirect", exchange(graph, app, elsewhere["code"], redirect_uri="https://x.example/cb"), 400, 100, 36008)
    found += mismatches("malformed", exchange(graph, app, "nope"), 400, 100)
    found += mismatches("secret", exchange(graph, {**app, "app_secret": "wrong"}, elsewhere["code"]), 400, 1)

    assert found == []


def test_the_token_and_object_errors_roost_handles(api, graph):
    app = sim_app(api)
    mine, theirs = sim_signup(api), sim_signup(api)
    token = exchange(graph, app, mine["code"]).json()["access_token"]

    found = mismatches("no token", graph.get(f"/{mine['waba_id']}"), 401, 104)
    found += mismatches("bad token", graph.get(f"/{mine['waba_id']}", headers=bearer("EAAGnonsense")), 401, 190)
    found += mismatches("permission", graph.get(f"/{theirs['waba_id']}", headers=bearer(token)), 403, 200)
    found += mismatches("unknown object", graph.get("/123456789012345", headers=bearer(token)), 400, 100, 33, METHOD)
    found += mismatches("unknown field", graph.get(f"/{mine['phone_number_id']}", params={"fields": "id,nope"},
                                                   headers=bearer(token)), 400, 100)
    found += mismatches("unknown edge", graph.get(f"/{mine['waba_id']}/nope", headers=bearer(token)), 400, 2500)
    found += mismatches("wrong method", graph.delete(f"/{mine['waba_id']}/phone_numbers", headers=bearer(token)), 400, 100, 33, METHOD)
    found += mismatches("PUT", graph.put(f"/{mine['waba_id']}", headers=bearer(token)), 400, 100, None, METHOD)
    found += mismatches("wrong proof", graph.post(f"/{mine['business_id']}/system_user_access_tokens",
                                                  params={"fetch_only": "true", "appsecret_proof": "0" * 64},
                                                  headers=bearer(app["system_user_token"])), 400, 100)

    assert found == []
    answer = graph.get(f"/{mine['phone_number_id']}", params={"fields": "id,nope"}, headers=bearer(token)).json()
    assert answer["error"]["message"] == "(#100) Tried accessing nonexisting field (nope) on node type (WhatsAppBusinessPhoneNumber)"


def register(graph: httpx.Client, token: str, phone_id: str, body: dict[str, Any]) -> httpx.Response:
    return graph.post(f"/{phone_id}/register", headers=bearer(token), json=body)


def test_register_refuses_what_meta_refuses(roost, api, graph):
    app = sim_app(api)
    token = app["system_user_token"]
    phone = sim_signup(api)["phone_number_id"]
    unverified = sim_signup(api, phone_verified=False)["phone_number_id"]
    late = sim_signup(api)["phone_number_id"]
    roost.sql("UPDATE sim_phone_numbers SET onboarded_at = onboarded_at - :d WHERE id = :p", d=15 * 86_400_000, p=late)
    ok = {"messaging_product": "whatsapp", "pin": "123456"}

    found = mismatches("no product", register(graph, token, phone, {"pin": "123456"}), 400, 100)
    found += mismatches("wrong product", register(graph, token, phone, {**ok, "messaging_product": "sms"}), 400, 100)
    for pin in ("12345", "1234567", "12a456", ""):
        found += mismatches(f"pin {pin!r}", register(graph, token, phone, {**ok, "pin": pin}), 400, 100)
    found += mismatches("unknown parameter", register(graph, token, phone, {**ok, "cert": "x"}), 400, 100)
    found += mismatches("unverified", register(graph, token, unverified, ok), 400, 133006)
    found += mismatches("14 days", register(graph, token, late, ok), 400, 100)
    assert register(graph, token, phone, ok).json() == {"success": True}
    found += mismatches("pin mismatch", register(graph, token, phone, {**ok, "pin": "654321"}), 400, 133005)
    for _ in range(8):
        register(graph, token, phone, ok)
    found += mismatches("rate limit", register(graph, token, phone, ok), 400, 133016)

    assert found == []
    # Only the attempts that reached the rules were counted; refused requests never were.
    assert roost.sql("SELECT count(*) FROM sim_register_attempts WHERE phone_number_id = :p", p=phone) == [(11,)]


def test_numbers_after_signup_refuse_what_meta_refuses(roost, api, graph):
    app = sim_app(api)
    system = bearer(app["system_user_token"])
    waba = sim_signup(api, variant="FINISH_ONLY_WABA")["waba_id"]
    verified = sim_signup(api)["phone_number_id"]
    number = {"cc": "1", "phone_number": unused_phone_number(), "verified_name": "Jasper's Market"}

    def add(**body: Any) -> httpx.Response:
        return graph.post(f"/{waba}/phone_numbers", headers=system, json={**number, **body})

    found = mismatches("no verified_name", graph.post(f"/{waba}/phone_numbers", headers=system,
                                                      json={"cc": "1", "phone_number": number["phone_number"]}), 400, 100)
    found += mismatches("bad cc", add(cc="+1"), 400, 100)
    found += mismatches("bad number", add(phone_number="631-555"), 400, 100)
    found += mismatches("short name", add(verified_name="J"), 400, 100)
    found += mismatches("unknown parameter", add(pin="123456"), 400, 100)
    phone = add().json()["id"]
    found += mismatches("taken", add(), 409, 100, error_type=METHOD)

    def call(edge: str, phone_id: str, **body: Any) -> httpx.Response:
        return graph.post(f"/{phone_id}/{edge}", headers=system, json=body)

    found += mismatches("no language", call("request_code", phone, code_method="SMS"), 400, 100)
    found += mismatches("bad method", call("request_code", phone, code_method="EMAIL", language="en_US"), 400, 100)
    found += mismatches("bad language", call("request_code", phone, code_method="SMS", language="english"), 400, 100)
    found += mismatches("verified", call("request_code", verified, code_method="SMS", language="en_US"), 400, 100, error_type=METHOD)
    found += mismatches("no code yet", call("verify_code", phone, code="123456"), 422, 100, error_type=METHOD)
    found += mismatches("bad code format", call("verify_code", phone, code="12345"), 400, 100)
    for _ in range(5):
        assert call("request_code", phone, code_method="VOICE", language="pt_BR").json() == {"success": True}
    found += mismatches("sixth request in an hour", call("request_code", phone, code_method="SMS", language="en_US"), 429, 4, 2446079)
    code = api.get(f"/_sim/control/phone-numbers/{phone}/verification-code").json()["code"]
    for _ in range(5):
        found += mismatches("wrong code", call("verify_code", phone, code=f"{(int(code) + 1) % 10**6:06d}"), 422, 100, error_type=METHOD)
    found += mismatches("guesses spent", call("verify_code", phone, code=code), 429, 4, 2446079)
    found += mismatches("region", register(graph, app["system_user_token"], verified,
                                           {"messaging_product": "whatsapp", "pin": "123456", "data_localization_region": "FR"}), 400, 100)

    assert found == []
    assert roost.sql("SELECT code_verification_status FROM sim_phone_numbers WHERE id = :p", p=phone) == [("NOT_VERIFIED",)]


def test_write_calls_refuse_parameters_they_do_not_take(api, graph):
    app = sim_app(api)
    signup = sim_signup(api)
    token = exchange(graph, app, signup["code"]).json()["access_token"]
    system = bearer(app["system_user_token"])

    found = mismatches("subscribed_apps", graph.post(f"/{signup['waba_id']}/subscribed_apps", headers=bearer(token),
                                                     json={"subscribed_fields": "messages"}), 400, 100)
    found += mismatches("unsubscribe", graph.delete(f"/{signup['waba_id']}/subscribed_apps", headers=bearer(token),
                                                    params={"app_id": app["app_id"]}), 400, 100)
    found += mismatches("credit line", graph.post(f"/{app['credit_line_id']}/whatsapp_credit_sharing_and_attach", headers=system,
                                                  params={"waba_currency": "USD", "waba_id": signup["waba_id"], "x": "1"}), 400, 100)
    found += mismatches("subscriptions", graph.post(f"/{app['app_id']}/subscriptions", headers=bearer(app["app_token"]),
                                                    data={"object": "whatsapp_business_account", "callback_url": "https://a.example/x",
                                                          "verify_token": "v", "fields": "account_update", "colour": "red"}), 400, 100)

    assert found == []
    # Nothing was changed by a refused call: the app is not subscribed.
    listed = graph.get(f"/{signup['waba_id']}/subscribed_apps", headers=bearer(token)).json()
    assert listed == {"data": []}
