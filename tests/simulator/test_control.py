"""The control API: test keys only, faults per organization consumed atomically, signups, phone verification."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from roost.kit.simulated_meta import CONTROL_GRANT_MS, control_authorization
from roost.kit.timeutil import now_ms
from tests.simulator.helpers import bearer, meta_error, onboard, signup


def fault_rows(roost, app_id):
    return roost.sql("SELECT count(*) FROM sim_faults WHERE app_id = :a", a=app_id)[0][0]


def add_fault(api, **body):
    response = api.post("/_sim/control/faults", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# -- authentication -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/_sim/control/app"), ("POST", "/_sim/control/faults"), ("GET", "/_sim/control/faults"),
     ("POST", "/_sim/control/signups"), ("GET", "/_sim/control/webhooks/deliveries")],
)
def test_the_control_api_needs_a_key(roost, method, path):
    with roost.http() as client:
        response = client.request(method, path)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == "api_key_missing"
    assert error["request_id"].startswith("req_")


def test_an_unknown_key_is_refused(roost):
    with roost.http() as client:
        response = client.get("/_sim/control/app", headers=bearer("sk_admin_test_" + "x" * 43))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_invalid"


def test_roosts_own_control_grant_is_accepted_only_genuine_and_current(roost):
    org = roost.new_org()
    keyring, now = roost.runtime.keyring, now_ms()
    grant = control_authorization(keyring, org.id, now)
    expired = control_authorization(keyring, org.id, now - CONTROL_GRANT_MS - 1)
    with roost.http() as client, org.client() as api:
        app_id = api.get("/_sim/control/app").json()["app_id"]
        assert client.get("/_sim/control/app", headers={"Authorization": grant}).json()["app_id"] == app_id
        for refused in (expired, f"RoostControl {org.id}", grant[:-4] + "AAAA"):
            assert client.get("/_sim/control/app", headers={"Authorization": refused}).status_code == 401


def test_a_live_key_is_refused(roost):
    org = roost.new_org(live=True)
    with org.client(org.keys["live"]) as live:
        response = live.post("/_sim/control/faults", json={"call": "register", "kind": "graph_error"})

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == "test_mode_required"
    with org.client() as test_api:
        app_id = test_api.get("/_sim/control/app").json()["app_id"]
    assert fault_rows(roost, app_id) == 0


def test_each_organization_has_its_own_simulated_app(roost, sim_app):
    with roost.new_org().client() as other:
        other_app = other.get("/_sim/control/app").json()

    assert other_app["app_id"] != sim_app["app_id"]
    assert other_app["app_secret"] != sim_app["app_secret"]
    assert sim_app["app_token"] == f"{sim_app['app_id']}|{sim_app['app_secret']}"
    assert sim_app["system_user_token"].startswith("EAA")
    assert sim_app["graph_version"] == "v25.0"
    assert sim_app["sdk_url"] == f"{roost.base_url}/_sim/sdk.js"


# -- faults: validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, param, code",
    [
        ({"call": "nope", "kind": "graph_error"}, "call", "parameter_invalid"),
        ({"call": "register", "kind": "nope"}, "kind", "parameter_invalid"),
        ({"call": "register", "kind": "code_late"}, "kind", "parameter_invalid"),
        ({"call": "dialog", "kind": "graph_error"}, "kind", "parameter_invalid"),
        ({"call": "webhooks", "kind": "http_error"}, "kind", "parameter_invalid"),
        ({"call": "register", "kind": "latency"}, "delay_ms", "parameter_missing"),
        ({"call": "register", "kind": "http_error", "status": 200}, "status", "parameter_invalid"),
        ({"call": "register", "kind": "graph_error", "count": 0}, "count", "parameter_invalid"),
        ({"call": "register", "kind": "graph_error", "typo": 1}, "typo", "parameter_unknown"),
        ({"kind": "graph_error"}, "call", "parameter_missing"),
    ],
)
def test_a_bad_fault_is_refused_and_nothing_stored(roost, api, sim_app, body, param, code):
    response = api.post("/_sim/control/faults", json=body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and error["code"] == code
    assert fault_rows(roost, sim_app["app_id"]) == 0


def test_faults_are_listed_and_deleted(roost, api, sim_app):
    first = add_fault(api, call="register", kind="graph_error", meta_code=133004)
    second = add_fault(api, call="waba", kind="http_error", status=502, count=None)
    assert first["remaining"] == 1 and second["count"] is None

    listed = api.get("/_sim/control/faults").json()["data"]
    assert [fault["id"] for fault in listed] == [first["id"], second["id"]]

    deleted = api.delete(f"/_sim/control/faults/{first['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert api.delete(f"/_sim/control/faults/{first['id']}").status_code == 404
    assert api.delete("/_sim/control/faults").json() == {"deleted": 1}
    assert api.get("/_sim/control/faults").json() == {"object": "list", "data": [], "has_more": False}
    assert fault_rows(roost, sim_app["app_id"]) == 0


def test_another_organizations_fault_cannot_be_deleted(roost, api):
    fault = add_fault(api, call="register", kind="graph_error")
    with roost.new_org().client() as other:
        assert other.delete(f"/_sim/control/faults/{fault['id']}").status_code == 404
    assert [f["id"] for f in api.get("/_sim/control/faults").json()["data"]] == [fault["id"]]


# -- faults: effect -------------------------------------------------------------------------------------


def test_a_graph_error_fault_answers_metas_envelope_count_times(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    add_fault(api, call="phone_numbers", kind="graph_error", meta_code=2, count=2)

    for _ in range(2):
        error = meta_error(graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(account.token)), 503, 2)
        assert error["is_transient"] is True

    assert graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(account.token)).status_code == 200
    assert api.get("/_sim/control/faults").json() == {"object": "list", "data": [], "has_more": False}


def test_a_graph_error_fault_carries_the_given_code_subcode_and_message(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    add_fault(api, call="register", kind="graph_error", meta_code=131031, meta_subcode=2494071, message="(#131031) Account has been locked")

    response = graph.post(f"/{account.phone_number_id}/register", headers=bearer(account.token), json={"messaging_product": "whatsapp", "pin": "123456"})

    error = meta_error(response, 400, 131031, 2494071)
    assert error["message"] == "(#131031) Account has been locked"


@pytest.mark.parametrize("code, status", [(1, 500), (2, 503), (190, 401), (10, 403), (200, 403), (100, 400)])
def test_a_graph_error_fault_uses_metas_http_status(graph, api, sim_app, code, status):
    account = onboard(api, graph, sim_app)
    add_fault(api, call="waba", kind="graph_error", meta_code=code)

    meta_error(graph.get(f"/{account.waba_id}", headers=bearer(account.token)), status, code)


def test_an_http_error_fault_is_a_bare_status(graph, api, sim_app):
    add_fault(api, call="oauth/access_token", kind="http_error", status=502)
    code = signup(api)["code"]

    response = graph.get("/oauth/access_token", params={"client_id": sim_app["app_id"], "client_secret": sim_app["app_secret"], "code": code})

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/plain")
    # The code was not consumed: the retry works.
    retry = graph.get("/oauth/access_token", params={"client_id": sim_app["app_id"], "client_secret": sim_app["app_secret"], "code": code})
    assert retry.status_code == 200


def test_a_latency_fault_delays_the_answer(graph, api, sim_app):
    add_fault(api, call="debug_token", kind="latency", delay_ms=600)

    started = time.monotonic()
    response = graph.get("/debug_token", params={"input_token": "x"}, headers=bearer(sim_app["app_token"]))

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.55


def test_a_fault_without_count_lasts_until_cleared(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    add_fault(api, call="waba", kind="graph_error", meta_code=4, count=None)

    for _ in range(3):
        meta_error(graph.get(f"/{account.waba_id}", headers=bearer(account.token)), 400, 4)
    assert api.get("/_sim/control/faults").json()["data"][0]["hits"] == 3

    api.delete("/_sim/control/faults")
    assert graph.get(f"/{account.waba_id}", headers=bearer(account.token)).status_code == 200


def test_faults_of_one_organization_never_reach_another(roost, graph, api, sim_app):
    add_fault(api, call="waba", kind="graph_error", meta_code=2, count=None)
    with roost.new_org().client() as other_api:
        other_app = other_api.get("/_sim/control/app").json()
        theirs = onboard(other_api, graph, other_app)
    mine = onboard(api, graph, sim_app)

    assert graph.get(f"/{theirs.waba_id}", headers=bearer(theirs.token)).status_code == 200
    meta_error(graph.get(f"/{mine.waba_id}", headers=bearer(mine.token)), 503, 2)


def test_one_use_of_a_fault_is_consumed_once_under_concurrency(roost, graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    add_fault(api, call="waba", kind="graph_error", meta_code=2, count=1)

    def read(_):
        with httpx.Client(base_url=str(graph.base_url), timeout=30) as client:
            return client.get(f"/{account.waba_id}", headers=bearer(account.token)).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(read, range(6)))

    assert sorted(statuses) == [200] * 5 + [503]
    assert roost.sql("SELECT remaining, hits FROM sim_faults WHERE app_id = :a", a=sim_app["app_id"]) == [(0, 1)]


# -- signups and phone numbers ---------------------------------------------------------------------------


def test_a_control_signup_answers_what_the_dialog_posts(roost, api, sim_app):
    result = signup(api, variant="FINISH")

    assert result["event"] == {
        "type": "WA_EMBEDDED_SIGNUP",
        "event": "FINISH",
        "data": {"phone_number_id": result["phone_number_id"], "waba_id": result["waba_id"], "business_id": result["business_id"]},
        "version": 3,
    }
    assert result["login_response"]["authResponse"]["code"] == result["code"]
    assert result["login_response"]["status"] == "connected"
    assert [m["kind"] for m in result["messages"]] == ["event", "login"]
    assert roost.sql("SELECT variant, source FROM sim_signups WHERE id = :i", i=result["id"]) == [("FINISH", "control")]


def test_a_coexistence_signup_posts_only_the_waba(api):
    result = signup(api, variant="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING")

    assert result["event"]["event"] == "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
    assert result["event"]["data"] == {"waba_id": result["waba_id"]}


def test_an_only_waba_signup_has_no_phone_number(roost, api):
    result = signup(api, variant="FINISH_ONLY_WABA")

    assert result["phone_number_id"] is None
    assert result["event"]["data"] == {"waba_id": result["waba_id"], "business_id": result["business_id"]}
    assert roost.sql("SELECT count(*) FROM sim_phone_numbers WHERE waba_id = :w", w=result["waba_id"]) == [(0,)]


@pytest.mark.parametrize(
    "kind, delay, order",
    [("code_first", None, ["login", "event"]), ("event_first", 200, ["event", "login"]),
     ("code_late", 1500, ["event", "login"]), ("code_never", None, ["event"]), ("finish_lost", None, ["login"])],
)
def test_dialog_faults_shape_what_is_posted(api, kind, delay, order):
    add_fault(api, call="dialog", kind=kind, delay_ms=delay)

    result = signup(api)

    assert [m["kind"] for m in result["messages"]] == order
    assert result["fault"]["kind"] == kind
    if kind == "code_late":
        assert result["messages"][1]["at_ms"] == 1500
    assert signup(api)["messages"][0]["kind"] == "event"  # consumed: the next signup is normal


def test_a_signup_reuses_an_existing_business_and_waba(api):
    first = signup(api)
    again = signup(api, extras={"setup": {"business": {"id": int(first["business_id"])}}})
    attached = signup(api, variant="FINISH", extras={"setup": {"whatsAppBusinessAccount": {"ids": [first["waba_id"]]}}})

    assert again["business_id"] == first["business_id"] and again["waba_id"] != first["waba_id"]
    assert attached["waba_id"] == first["waba_id"] and attached["business_id"] == first["business_id"]


def test_a_signup_never_reuses_another_organizations_objects(roost, api):
    with roost.new_org().client() as other:
        theirs = signup(other)
    setup = {"business": {"id": theirs["business_id"]}, "whatsAppBusinessAccount": {"ids": [theirs["waba_id"]]},
             "preVerifiedPhone": {"ids": [theirs["phone_number_id"]]}}

    mine = signup(api, extras={"setup": setup})

    assert mine["business_id"] != theirs["business_id"]
    assert mine["waba_id"] != theirs["waba_id"]
    assert mine["phone_number_id"] != theirs["phone_number_id"]
    assert roost.sql("SELECT waba_id FROM sim_phone_numbers WHERE id = :p", p=theirs["phone_number_id"]) == [(theirs["waba_id"],)]


def test_an_unknown_business_id_creates_a_new_portfolio(api):
    result = signup(api, extras={"setup": {"business": {"id": "1234567890123456", "name": "New Co"}}})

    assert result["business_id"] != "1234567890123456"


@pytest.mark.parametrize("body, param", [({"variant": "NOPE"}, "variant"), ({"extras": []}, "extras"), ({"foo": 1}, "foo")])
def test_a_bad_signup_is_refused_and_nothing_stored(roost, api, sim_app, body, param):
    response = api.post("/_sim/control/signups", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert roost.sql("SELECT count(*) FROM sim_signups WHERE app_id = :a", a=sim_app["app_id"]) == [(0,)]


def test_verifying_an_unverified_number(graph, api, sim_app):
    account = onboard(api, graph, sim_app, phone_verified=False)
    status = {"fields": "code_verification_status"}
    before = graph.get(f"/{account.phone_number_id}", params=status, headers=bearer(account.token)).json()
    assert before["code_verification_status"] == "NOT_VERIFIED"

    response = api.post(f"/_sim/control/phone-numbers/{account.phone_number_id}/verify")

    assert response.status_code == 200
    after = graph.get(f"/{account.phone_number_id}", params=status, headers=bearer(account.token)).json()
    assert after["code_verification_status"] == "VERIFIED"


def test_another_organizations_number_cannot_be_verified(roost, api):
    phone_id = signup(api, phone_verified=False)["phone_number_id"]
    with roost.new_org().client() as other:
        response = other.post(f"/_sim/control/phone-numbers/{phone_id}/verify")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    assert roost.sql("SELECT code_verification_status FROM sim_phone_numbers WHERE id = :p", p=phone_id) == [("NOT_VERIFIED",)]
