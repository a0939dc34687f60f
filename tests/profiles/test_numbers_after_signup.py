"""Numbers after signup (issue 16): a profile whose signup shared only the WABA adds a number,
has Meta (the simulator) send it a code, checks the code and registers the number; Meta's
limits and refusals reach the platform as 424 with Meta's error, bad input as 400."""

from typing import Any

import httpx

from tests.profiles.helpers import disconnect
from tests.support.errors import assert_error
from tests.support.signups import PHONES, PROFILES, add_fault, get_profile, play, unused_phone_number

CODE = "/_sim/control/phone-numbers/{}/verification-code"


def only_waba_profile(api: httpx.Client) -> dict[str, Any]:
    session = play(api, variant="FINISH_ONLY_WABA")
    assert session["status"] == "completed", session
    return get_profile(api, session["business_profile_id"])


def add(api: httpx.Client, profile_id: str, number: str, **headers: str) -> httpx.Response:
    body = {"cc": "1", "phone_number": number, "verified_name": "Jasper's Market"}
    return api.post(f"{PROFILES}/{profile_id}/phone-numbers", json=body, headers=headers)


def sent_code(api: httpx.Client, phone: dict[str, Any]) -> str:
    response = api.get(CODE.format(phone["phone_number_id"]))
    assert response.status_code == 200, response.text
    return response.json()["code"]


def refused(response: httpx.Response, param: str) -> None:
    """A 400 in the documented shape naming `param` among its problems."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"], error
    assert param in {problem["param"] for problem in error["errors"]}, error


def test_a_number_is_added_verified_with_its_code_and_registered(roost, api):
    profile = only_waba_profile(api)
    assert profile["phone_numbers"] == []
    number = unused_phone_number()

    created = add(api, profile["id"], number, **{"Idempotency-Key": "add-1"})
    assert created.status_code == 201, created.text
    phone = created.json()
    assert phone["id"].startswith("wapn_") and phone["object"] == "phone_number"
    assert phone["code_verification_status"] == "NOT_VERIFIED" and phone["cloud_api_registered"] is False
    assert phone["verified_name"] == "Jasper's Market" and phone["display_phone_number"].endswith(number[-4:])
    replay = add(api, profile["id"], number, **{"Idempotency-Key": "add-1"})
    assert replay.json() == phone and replay.headers["Idempotent-Replayed"] == "true"
    assert [item["id"] for item in get_profile(api, profile["id"])["phone_numbers"]] == [phone["id"]]
    assert api.get(CODE.format(phone["phone_number_id"])).status_code == 404  # nothing sent yet

    requested = api.post(f"{PHONES}/{phone['id']}/request-code", json={"method": "sms", "language": "en_US"})
    assert requested.status_code == 200, requested.text
    code = sent_code(api, phone)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = api.post(f"{PHONES}/{phone['id']}/verify-code", json={"code": wrong})
    error = assert_error(refused, 424, "verification_failed", type="provider_error")
    assert error["provider"]["code"] == 100 and error["provider"]["fbtrace_id"]
    assert error["phone_number_id"] == phone["id"]
    assert get_profile(api, profile["id"])["phone_numbers"][0]["code_verification_status"] == "NOT_VERIFIED"

    verified = api.post(f"{PHONES}/{phone['id']}/verify-code", json={"code": code})
    assert verified.status_code == 200, verified.text
    assert verified.json()["code_verification_status"] == "VERIFIED"
    assert_error(api.post(f"{PHONES}/{phone['id']}/verify-code", json={"code": code}), 409, "phone_already_verified")

    registered = api.post(f"{PHONES}/{phone['id']}/register", json={"data_localization_region": "DE"})
    assert registered.status_code == 200, registered.text
    assert registered.json()["cloud_api_registered"] is True
    assert roost.sql("SELECT data_localization_region FROM phone_numbers WHERE id = :i", i=phone["id"]) == [("DE",)]
    assert roost.sql("SELECT status FROM sim_phone_numbers WHERE id = :i", i=phone["phone_number_id"]) == [("CONNECTED",)]


def test_bad_input_is_refused_and_changes_nothing(roost, api):
    profile = only_waba_profile(api)
    url = f"{PROFILES}/{profile['id']}/phone-numbers"
    for body, param in [
        ({"cc": "+1", "phone_number": "6315551000", "verified_name": "Shop"}, "cc"),
        ({"cc": "1", "phone_number": "631-555-1000", "verified_name": "Shop"}, "phone_number"),
        ({"cc": "1", "phone_number": "6315551000", "verified_name": "S"}, "verified_name"),
        ({"cc": "1", "phone_number": "6315551000"}, "verified_name"),
        ({"cc": "1", "phone_number": "6315551000", "verified_name": "Shop", "pin": "123456"}, "pin"),
    ]:
        refused(api.post(url, json=body), param)
    assert get_profile(api, profile["id"])["phone_numbers"] == []
    assert_error(api.post(f"{PROFILES}/wabp_nope/phone-numbers", json={"cc": "1", "phone_number": "6315551000",
                                                                      "verified_name": "Shop"}), 404, "resource_missing")

    phone = add(api, profile["id"], unused_phone_number()).json()
    for path, body, param in [
        ("request-code", {"method": "SMS"}, "method"),
        ("request-code", {"method": "sms", "language": "english"}, "language"),
        ("verify-code", {"code": "12345"}, "code"),
        ("verify-code", {}, "code"),
        ("register", {"data_localization_region": "FR"}, "data_localization_region"),
    ]:
        refused(api.post(f"{PHONES}/{phone['id']}/{path}", json=body), param)
    assert api.get(CODE.format(phone["phone_number_id"])).status_code == 404  # no code was requested
    assert roost.sql("SELECT registration_attempts FROM phone_numbers WHERE id = :i", i=phone["id"]) == [(0,)]

    disconnect(api, profile["id"])
    assert_error(add(api, profile["id"], unused_phone_number()), 409, "profile_disconnected")
    assert_error(api.post(f"{PHONES}/{phone['id']}/request-code", json={"method": "voice"}), 409, "profile_disconnected")


def test_metas_limits_reach_the_platform_as_its_errors(roost, api):
    first, second = only_waba_profile(api), only_waba_profile(api)
    number = unused_phone_number()
    phone = add(api, first["id"], number).json()

    taken = assert_error(add(api, second["id"], number), 424, "phone_number_not_added", type="provider_error")
    assert taken["provider"]["code"] == 100 and "already registered" in taken["provider"]["message"]

    # Five code requests an hour; the sixth is Meta's rate limit (code 4).
    for _ in range(5):
        assert api.post(f"{PHONES}/{phone['id']}/request-code", json={"method": "voice"}).status_code == 200
    limited = api.post(f"{PHONES}/{phone['id']}/request-code", json={"method": "sms"})
    assert assert_error(limited, 424, "code_request_failed", type="provider_error")["provider"]["code"] == 4

    # Five wrong guesses void the code and block the number from checking for hours.
    code = sent_code(api, phone)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        guess = api.post(f"{PHONES}/{phone['id']}/verify-code", json={"code": wrong})
        assert assert_error(guess, 424, "verification_failed", type="provider_error")["provider"]["code"] == 100
    blocked = api.post(f"{PHONES}/{phone['id']}/verify-code", json={"code": code})
    assert assert_error(blocked, 424, "verification_failed", type="provider_error")["provider"]["code"] == 4
    assert api.get(CODE.format(phone["phone_number_id"])).status_code == 404

    # Meta out of reach: 502, and the number is still there to try again.
    add_fault(api, call="add_phone_number", kind="http_error", status=503)
    unreachable = add(api, second["id"], unused_phone_number())
    assert_error(unreachable, 502, "meta_unavailable", type="api_error")
    assert get_profile(api, second["id"])["phone_numbers"] == []


def test_a_number_is_retrieved_by_its_id_and_only_by_its_own_organization_and_mode(roost):
    org = roost.new_org(live=True)
    with org.client() as api, org.client(org.keys["live"]) as live, roost.new_org("Someone else").client() as stranger:
        profile = only_waba_profile(api)
        phone = add(api, profile["id"], unused_phone_number()).json()

        read = api.get(f"{PHONES}/{phone['id']}")
        assert read.status_code == 200, read.text
        assert read.json() == phone and phone["business_profile_id"] == profile["id"]
        assert get_profile(api, profile["id"])["phone_numbers"] == [phone]  # one object, the same in both places

        assert_error(stranger.get(f"{PHONES}/{phone['id']}"), 404, "resource_missing")
        assert_error(live.get(f"{PHONES}/{phone['id']}"), 404, "resource_missing")
        assert_error(api.get(f"{PHONES}/wapn_doesnotexist"), 404, "resource_missing")
        assert_error(api.get(f"{PHONES}/{profile['id']}"), 404, "resource_missing")  # a profile's id is not a number's
