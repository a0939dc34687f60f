"""`GET oauth/access_token`: 30-second single-use codes exchanged for a business token (research §4.1)."""

import hashlib

import pytest

from tests.simulator.helpers import bearer, exchange, meta_error, signup

REDIRECT_MISMATCH = (
    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used "
    "in the OAuth dialog request"
)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def exchange_raw(graph, app, code, **extra):
    params = {"client_id": app["app_id"], "client_secret": app["app_secret"], "code": code, **extra}
    return graph.get("/oauth/access_token", params=params)


def test_a_code_is_exchanged_for_a_never_expiring_business_token(graph, api, sim_app):
    code = signup(api)["code"]
    assert code.startswith("AQ") and len(code) > 200

    response = exchange_raw(graph, sim_app, code)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type"}  # no expires_in: the configuration's tokens never expire
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith("EAA")


def test_the_business_token_reads_the_signed_up_waba(graph, api, sim_app):
    result = signup(api)
    token = exchange(graph, sim_app, result["code"])

    response = graph.get(f"/{result['waba_id']}/phone_numbers", headers=bearer(token))

    assert response.status_code == 200
    assert [phone["id"] for phone in response.json()["data"]] == [result["phone_number_id"]]


def test_a_code_works_once(graph, api, sim_app):
    code = signup(api)["code"]
    assert exchange_raw(graph, sim_app, code).status_code == 200

    error = meta_error(exchange_raw(graph, sim_app, code), 400, 100, 36009)

    assert error["message"] == "This authorization code has been used."


def test_a_code_older_than_30_seconds_has_expired(roost, graph, api, sim_app):
    code = signup(api)["code"]
    roost.sql("UPDATE sim_codes SET created_at = created_at - 31000 WHERE code_hash = :h", h=code_hash(code))

    error = meta_error(exchange_raw(graph, sim_app, code), 400, 100, 36007)

    assert error["message"] == "This authorization code has expired."
    assert roost.sql("SELECT used_at FROM sim_codes WHERE code_hash = :h", h=code_hash(code)) == [(None,)]


def test_a_code_29_seconds_old_still_works(roost, graph, api, sim_app):
    code = signup(api)["code"]
    roost.sql("UPDATE sim_codes SET created_at = created_at - 29000 WHERE code_hash = :h", h=code_hash(code))

    assert exchange_raw(graph, sim_app, code).status_code == 200


def test_an_unknown_code_has_an_invalid_format(graph, sim_app):
    error = meta_error(exchange_raw(graph, sim_app, "AQnot-a-code"), 400, 100)

    assert error["message"] == "Invalid verification code format."


def test_a_code_of_another_app_fails_verification(roost, graph, api, sim_app):
    other = roost.new_org()
    with other.client() as other_api:
        other_code = signup(other_api)["code"]

    error = meta_error(exchange_raw(graph, sim_app, other_code), 400, 100, 36008)

    assert error["message"] == REDIRECT_MISMATCH
    # The code is left intact for its own app.
    assert roost.sql("SELECT used_at FROM sim_codes WHERE code_hash = :h", h=code_hash(other_code)) == [(None,)]


def test_a_redirect_uri_sent_for_a_popup_code_fails_verification(graph, api, sim_app):
    code = signup(api)["code"]

    error = meta_error(exchange_raw(graph, sim_app, code, redirect_uri="https://example.com/cb"), 400, 100, 36008)

    assert error["message"] == REDIRECT_MISMATCH
    # Not consumed: the same code still works without redirect_uri.
    assert exchange_raw(graph, sim_app, code).status_code == 200


@pytest.mark.parametrize("client_id", ["not-an-app", "0123", "12ab"])
def test_a_bad_client_id_is_an_invalid_application(graph, api, sim_app, client_id):
    code = signup(api)["code"]
    response = graph.get("/oauth/access_token", params={"client_id": client_id, "client_secret": sim_app["app_secret"], "code": code})

    error = meta_error(response, 400, 101)

    assert error["message"] == "Error validating application. Invalid application ID."


def test_a_wrong_secret_fails_client_validation_and_keeps_the_code(graph, api, sim_app):
    code = signup(api)["code"]
    response = graph.get("/oauth/access_token", params={"client_id": sim_app["app_id"], "client_secret": "wrong", "code": code})

    error = meta_error(response, 400, 1)

    assert error["message"] == "Error validating client secret."
    assert exchange_raw(graph, sim_app, code).status_code == 200


def test_two_exchanges_of_one_code_at_once_mint_one_token(roost, graph, api, sim_app):
    from concurrent.futures import ThreadPoolExecutor

    code = signup(api)["code"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: exchange_raw(graph, sim_app, code), range(4)))

    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]
    assert roost.sql("SELECT count(*) FROM sim_tokens WHERE app_id = :a AND source = 'code'", a=sim_app["app_id"]) == [(1,)]


def test_a_code_meta_refused_cannot_be_exchanged_later(graph, api, sim_app):
    # Meta's refusal is final: the code is spent, as after an exchange (the injected refusal is
    # one-shot, the code's refusal is not).
    code = signup(api)["code"]
    fault = api.post("/_sim/control/faults", json={"call": "oauth/access_token", "kind": "graph_error", "meta_code": 100})
    assert fault.status_code == 201, fault.text
    meta_error(exchange_raw(graph, sim_app, code), 400, 100)

    error = meta_error(exchange_raw(graph, sim_app, code), 400, 100, 36009)

    assert error["message"] == "This authorization code has been used."


def test_a_code_answered_with_a_server_error_can_still_be_exchanged(graph, api, sim_app):
    # A 5xx is no answer on the code: it stays unused for the retry.
    code = signup(api)["code"]
    fault = api.post("/_sim/control/faults", json={"call": "oauth/access_token", "kind": "http_error", "status": 503})
    assert fault.status_code == 201, fault.text
    assert exchange_raw(graph, sim_app, code).status_code == 503

    assert exchange_raw(graph, sim_app, code).status_code == 200
