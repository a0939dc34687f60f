"""`POST {phone}/register`: PIN rules, verification, the 14-day window, 10 calls per 72 hours (research §4.4)."""

import pytest

from tests.simulator.helpers import bearer, meta_error, onboard

DAY_MS = 24 * 3600 * 1000


def register(graph, token, phone_id, pin="123456", **body):
    return graph.post(f"/{phone_id}/register", headers=bearer(token), json={"messaging_product": "whatsapp", "pin": pin, **body})


def attempts(roost, phone_id):
    return roost.sql("SELECT count(*) FROM sim_register_attempts WHERE phone_number_id = :p", p=phone_id)[0][0]


def test_register_connects_the_number_to_the_cloud_api(graph, api, sim_app):
    account = onboard(api, graph, sim_app)

    response = register(graph, account.token, account.phone_number_id)

    assert response.status_code == 200
    assert response.json() == {"success": True}
    phone = graph.get(f"/{account.phone_number_id}", params={"fields": "status,platform_type,is_pin_enabled,throughput"},
                      headers=bearer(account.token)).json()
    assert phone["status"] == "CONNECTED"
    assert phone["platform_type"] == "CLOUD_API"
    assert phone["is_pin_enabled"] is True
    assert phone["throughput"] == {"level": "STANDARD"}


def test_register_accepts_a_form_body(graph, api, sim_app):
    account = onboard(api, graph, sim_app)

    response = graph.post(f"/{account.phone_number_id}/register", headers=bearer(account.token),
                          data={"messaging_product": "whatsapp", "pin": "654321"})

    assert response.status_code == 200


@pytest.mark.parametrize("pin", ["12345", "1234567", "12345a", ""])
def test_a_pin_must_be_six_digits(roost, graph, api, sim_app, pin):
    account = onboard(api, graph, sim_app)

    error = meta_error(register(graph, account.token, account.phone_number_id, pin=pin), 400, 100)

    assert error["message"] == "(#100) Param pin must be 6 characters long."
    assert attempts(roost, account.phone_number_id) == 0
    assert roost.sql("SELECT status, pin_hash FROM sim_phone_numbers WHERE id = :p", p=account.phone_number_id) == [("PENDING", None)]


def test_the_messaging_product_must_be_whatsapp(graph, api, sim_app):
    account = onboard(api, graph, sim_app)

    error = meta_error(register(graph, account.token, account.phone_number_id, messaging_product="sms"), 400, 100)

    assert error["message"] == '(#100) Param messaging_product must be one of {WHATSAPP} - got "sms".'


def test_a_number_that_is_not_verified_cannot_register(roost, graph, api, sim_app):
    account = onboard(api, graph, sim_app, phone_verified=False)

    error = meta_error(register(graph, account.token, account.phone_number_id), 400, 133006)

    assert error["message"] == "(#133006) Phone number re-verification needed"
    assert roost.sql("SELECT status FROM sim_phone_numbers WHERE id = :p", p=account.phone_number_id) == [("PENDING",)]


def test_a_number_verified_later_registers(graph, api, sim_app):
    account = onboard(api, graph, sim_app, phone_verified=False)
    assert api.post(f"/_sim/control/phone-numbers/{account.phone_number_id}/verify").json()["code_verification_status"] == "VERIFIED"

    assert register(graph, account.token, account.phone_number_id).status_code == 200


def test_registering_again_with_the_same_pin_succeeds(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    register(graph, account.token, account.phone_number_id, pin="111111")

    assert register(graph, account.token, account.phone_number_id, pin="111111").status_code == 200


def test_registering_again_with_another_pin_is_a_pin_mismatch(graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    register(graph, account.token, account.phone_number_id, pin="111111")

    error = meta_error(register(graph, account.token, account.phone_number_id, pin="222222"), 400, 133005)

    assert error["message"] == "(#133005) Two step verification PIN Mismatch"


def test_a_coexistence_number_already_has_a_pin(graph, api, sim_app):
    account = onboard(api, graph, sim_app, variant="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING")
    phone_id = graph.get(f"/{account.waba_id}/phone_numbers", headers=bearer(account.token)).json()["data"][0]["id"]

    meta_error(register(graph, account.token, phone_id), 400, 133005)


def test_the_eleventh_register_call_in_72_hours_is_rate_limited_and_blocks(roost, graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    for _ in range(10):
        assert register(graph, account.token, account.phone_number_id).status_code == 200

    error = meta_error(register(graph, account.token, account.phone_number_id), 400, 133016)

    assert error["message"] == "(#133016) Account register deregister rate limit exceeded"
    # Blocked for 72 hours, even once older attempts leave the window.
    roost.sql("UPDATE sim_register_attempts SET created_at = created_at - :d WHERE phone_number_id = :p", d=73 * 3600 * 1000, p=account.phone_number_id)
    meta_error(register(graph, account.token, account.phone_number_id), 400, 133016)


def test_attempts_older_than_72_hours_do_not_count(roost, graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    for _ in range(10):
        register(graph, account.token, account.phone_number_id)
    roost.sql("UPDATE sim_register_attempts SET created_at = created_at - :d WHERE phone_number_id = :p", d=73 * 3600 * 1000, p=account.phone_number_id)

    assert register(graph, account.token, account.phone_number_id).status_code == 200


def test_failed_register_calls_count_toward_the_limit(roost, graph, api, sim_app):
    account = onboard(api, graph, sim_app, phone_verified=False)
    for _ in range(10):
        meta_error(register(graph, account.token, account.phone_number_id), 400, 133006)

    meta_error(register(graph, account.token, account.phone_number_id), 400, 133016)
    assert attempts(roost, account.phone_number_id) == 11


def test_registering_more_than_14_days_after_signup_needs_a_new_signup(roost, graph, api, sim_app):
    account = onboard(api, graph, sim_app)
    roost.sql("UPDATE sim_phone_numbers SET onboarded_at = onboarded_at - :d WHERE id = :p", d=15 * DAY_MS, p=account.phone_number_id)

    error = meta_error(register(graph, account.token, account.phone_number_id), 400, 100)

    assert "14 days" in error["message"]


def test_register_on_another_business_number_is_a_permissions_error(graph, api, sim_app):
    mine = onboard(api, graph, sim_app)
    theirs = onboard(api, graph, sim_app)

    meta_error(register(graph, mine.token, theirs.phone_number_id), 403, 200)


def test_register_on_an_unknown_number_does_not_exist(graph, sim_app):
    meta_error(register(graph, sim_app["system_user_token"], "999999999999999"), 400, 100, 33, "GraphMethodException")
