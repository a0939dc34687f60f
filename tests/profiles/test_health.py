"""Account health (issue 16): every lifecycle webhook Meta documents, sent by the simulator's
control API to Roost's real receiver, moves the profile's `health` and its numbers, once each and
in the order of Meta's timestamps; refresh re-reads the truth from Meta (the simulator)."""

import json
import time
from typing import Any

import httpx
import pytest

from tests.profiles.test_numbers_after_signup import add, only_waba_profile
from tests.recovery.helpers import (
    account_update, claim, envelope, mark_interrupted, post_webhook, set_settings, sim_app, sim_signup, start_attempt,
)
from tests.support.errors import assert_error
from tests.support.signups import PROFILES, add_fault, get_profile, get_session, play, unused_phone_number

CONTROL = "/_sim/control/webhooks"
FUTURE = int(time.time()) + 30 * 86_400  # a restriction still in force
PAST = int(time.time()) - 86_400  # one that already ended


def connected(api: httpx.Client) -> dict[str, Any]:
    session = play(api)
    assert session["status"] == "completed", session
    return get_profile(api, session["business_profile_id"])


def send(api: httpx.Client, kind: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"{CONTROL}/{kind}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "delivered", response.json()
    return response.json()


def account(api: httpx.Client, profile: dict[str, Any], event: str, **details: Any) -> dict[str, Any]:
    send(api, "account-update", waba_id=profile["waba_id"], event=event, **details)
    return get_profile(api, profile["id"])


def events(api: httpx.Client, type: str) -> list[dict[str, Any]]:
    response = api.get("/v1/organization/events", params={"type": type, "limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def refresh(api: httpx.Client, profile_id: str) -> httpx.Response:
    return api.post(f"{PROFILES}/{profile_id}/refresh")


def test_a_new_profile_is_healthy(api):
    profile = connected(api)
    health = profile["health"]
    assert health["status"] == "ok"
    assert health["restrictions"] == [] and health["violation"] is None and health["ban"] is None
    assert health["disconnection"] is None and health["notices"] == {}
    phone = profile["phone_numbers"][0]
    assert {"name_status", "messaging_limit_tier", "quality_event", "name_rejection_reason"} <= set(phone)


def test_restrictions_violations_and_bans_follow_metas_events(api):
    profile = connected(api)

    restricted = account(api, profile, "ACCOUNT_RESTRICTION", restriction_info=[
        {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": FUTURE}])
    assert restricted["health"]["status"] == "restricted"
    (restriction,) = restricted["health"]["restrictions"]
    assert restriction["type"] == "RESTRICTED_BIZ_INITIATED_MESSAGING" and restriction["expires_at"].startswith(
        time.strftime("%Y-%m-%d", time.gmtime(FUTURE)))
    assert [event["data"]["id"] for event in events(api, "whatsapp.business_profile.health_updated")] == [profile["id"]]

    violated = account(api, profile, "ACCOUNT_VIOLATION", violation_info={"violation_type": "SCAM"})
    assert violated["health"]["violation"]["type"] == "SCAM" and violated["health"]["status"] == "restricted"

    scheduled = account(api, profile, "DISABLED_UPDATE", ban_info={"waba_ban_state": "SCHEDULE_FOR_DISABLE",
                                                                     "waba_ban_date": "April 17, 2025"})
    assert scheduled["health"]["ban"]["state"] == "SCHEDULE_FOR_DISABLE" and scheduled["health"]["ban"]["date"] == "April 17, 2025"
    assert scheduled["health"]["status"] == "restricted"  # scheduled is not banned yet

    banned = account(api, profile, "DISABLED_UPDATE", ban_info={"waba_ban_state": "DISABLE"})
    assert banned["health"]["status"] == "banned"
    assert banned["health"]["ban"]["date"]  # the simulator dates it today, as Meta does
    # Meta's Graph API shows the ban too: refresh reads it back.
    refreshed = refresh(api, profile["id"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["health"]["can_send_message"] == "BLOCKED"

    reinstated = account(api, profile, "DISABLED_UPDATE", ban_info={"waba_ban_state": "REINSTATE"})
    assert reinstated["health"]["status"] == "restricted" and reinstated["health"]["ban"]["state"] == "REINSTATE"
    assert refresh(api, profile["id"]).json()["health"]["can_send_message"] == "LIMITED"

    # Meta's new list replaces the old one; a restriction whose expiration passed no longer counts.
    lifted = account(api, profile, "ACCOUNT_RESTRICTION", restriction_info=[
        {"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": PAST}])
    assert lifted["health"]["status"] == "ok" and lifted["health"]["restrictions"] == []
    assert refresh(api, profile["id"]).json()["health"]["can_send_message"] == "AVAILABLE"
    assert lifted["status"] == "connected"
    assert len(events(api, "whatsapp.business_profile.health_updated")) >= 6


def test_offboarding_reconnection_and_deletion(api):
    profile = connected(api)
    assert account(api, profile, "ACCOUNT_OFFBOARDED")["health"]["status"] == "offboarded"
    assert account(api, profile, "ACCOUNT_RECONNECTED")["health"]["status"] == "ok"
    deleted = account(api, profile, "ACCOUNT_DELETED")
    assert deleted["health"]["status"] == "deleted"


def test_events_roost_only_records_keep_their_last_value(api):
    profile = connected(api)
    account(api, profile, "MM_LITE_TERMS_SIGNED")
    account(api, profile, "AD_ACCOUNT_LINKED", ad_account_linked="123456789")
    account(api, profile, "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", country="BR")
    account(api, profile, "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", country="DE")
    account(api, profile, "VOLUME_BASED_PRICING_TIER_UPDATE", volume_tier_info={
        "tier_update_time": 1_750_000_000, "pricing_category": "MARKETING", "tier": "25000001:50000000",
        "effective_month": "2025-07", "region": "India"})
    account(api, profile, "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE", auth_international_rate_eligibility={
        "start_time": 1_750_000_000, "exception_countries": [{"country_code": "IN", "start_time": 1_750_000_000}]})
    final = account(api, profile, "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
                    partner_client_certification_info={"status": "APPROVED"})

    notices = final["health"]["notices"]
    assert set(notices) == {
        "MM_LITE_TERMS_SIGNED", "AD_ACCOUNT_LINKED", "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE",
        "VOLUME_BASED_PRICING_TIER_UPDATE", "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE", "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE"}
    assert notices["BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE"]["country"] == "DE"
    assert notices["AD_ACCOUNT_LINKED"]["ad_account_linked"] == "123456789"
    assert notices["VOLUME_BASED_PRICING_TIER_UPDATE"]["volume_tier_info"]["tier"] == "25000001:50000000"
    certification = notices["PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE"]["partner_client_certification_info"]
    assert certification["status"] == "APPROVED" and certification["client_business_id"] == final["business_id"]
    assert final["health"]["status"] == "ok"


def test_the_app_uninstalled_disconnects_the_profile(roost, api):
    profile = connected(api)
    gone = account(api, profile, "PARTNER_APP_UNINSTALLED")
    assert gone["status"] == "disconnected" and gone["health"]["status"] == "disconnected"
    assert gone["health"]["disconnection"]["reason"] == "partner_app_uninstalled"
    assert [event["data"]["id"] for event in events(api, "whatsapp.business_profile.disconnected")] == [profile["id"]]


def test_partner_removed_keeps_metas_disconnection_info(api):
    profile = connected(api)
    gone = account(api, profile, "PARTNER_REMOVED", disconnection_info={"reason": "PRIMARY_INACTIVITY", "initiated_by": "SYSTEM"})
    assert gone["status"] == "disconnected"
    assert gone["health"]["disconnection"] == {
        "reason": "partner_removed", "meta_reason": "PRIMARY_INACTIVITY", "initiated_by": "SYSTEM",
        "at": gone["disconnected_at"]}
    # Disconnected profiles are not refreshed: Roost no longer acts for the customer.
    assert_error(refresh(api, profile["id"]), 409, "profile_disconnected")


def test_a_number_still_in_review_is_not_reported_as_disconnected(api):
    """Right after signup the WABA's review is pending and the number is neither verified nor
    registered: that is `in_review`, never `disconnected`."""
    profile = only_waba_profile(api)
    created = add(api, profile["id"], unused_phone_number())
    assert created.status_code == 201, created.text
    assert created.json()["code_verification_status"] == "NOT_VERIFIED" and not created.json()["cloud_api_registered"]

    send(api, "account-review-update", waba_id=profile["waba_id"], decision="PENDING")
    pending = get_profile(api, profile["id"])
    assert pending["health"]["status"] == "in_review" and pending["status"] == "connected"

    refreshed = refresh(api, profile["id"])
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["health"]["status"] == "in_review" and body["review_status"] == "PENDING"
    assert body["phone_numbers"][0]["cloud_api_registered"] is False
    assert body["health"]["disconnection"] is None

    send(api, "account-review-update", waba_id=profile["waba_id"], decision="REJECTED")
    assert get_profile(api, profile["id"])["health"]["status"] == "restricted"  # only APPROVED is usable
    send(api, "account-review-update", waba_id=profile["waba_id"], decision="APPROVED")
    assert get_profile(api, profile["id"])["health"]["status"] == "ok"
    assert len(events(api, "whatsapp.business_profile.review_updated")) == 3


def test_a_review_meta_decided_before_the_profile_existed_is_kept(api):
    """Meta often reviews a new account while Roost is still provisioning it: the decision that
    arrived first is on the profile once it is created (here a recovered signup, claimed later)."""
    set_settings(api, auto_claim=False)
    attempt = start_attempt(api)
    signup = sim_signup(api)
    mark_interrupted(api, attempt["id"], signup["waba_id"])
    send(api, "account-review-update", waba_id=signup["waba_id"], decision="PENDING")

    claimed = claim(api, attempt["id"])
    assert claimed.status_code == 200, claimed.text
    profile = get_profile(api, get_session(api, attempt["id"])["business_profile_id"])
    assert profile["review_status"] == "PENDING" and profile["health"]["status"] == "in_review"


def test_an_older_event_delivered_late_never_overwrites_a_newer_one(api):
    profile = connected(api)
    base = int(time.time())
    account(api, profile, "DISABLED_UPDATE", ban_info={"waba_ban_state": "DISABLE"}, time=base)
    late = account(api, profile, "DISABLED_UPDATE", ban_info={"waba_ban_state": "REINSTATE"}, time=base - 60)
    assert late["health"]["status"] == "banned"  # the reinstatement happened before the ban
    assert late["health"]["ban"]["state"] == "DISABLE"
    # Each dimension keeps its own order: an older restriction still applies (no restriction was newer).
    restricted = account(api, profile, "ACCOUNT_RESTRICTION", time=base - 120, restriction_info=[
        {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": FUTURE}])
    assert len(restricted["health"]["restrictions"]) == 1
    # A removal older than the profile's connection is history: the profile stays connected.
    removed = account(api, profile, "PARTNER_REMOVED", time=base - 3_600)
    assert removed["status"] == "connected"


def test_a_redelivered_webhook_is_applied_once(roost, api):
    profile = connected(api)
    sent = send(api, "account-update", waba_id=profile["waba_id"], event="ACCOUNT_VIOLATION",
                violation_info={"violation_type": "ADULT"})
    before = events(api, "whatsapp.business_profile.health_updated")
    body = json.dumps(sent["payload"], separators=(",", ":"), ensure_ascii=False).encode()
    with roost.http() as http:
        again = http.post(f"/meta/webhooks/{sim_app(api)['app_id']}", content=body,
                          headers={"X-Hub-Signature-256": sent["signature"], "Content-Type": "application/json"})
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert events(api, "whatsapp.business_profile.health_updated") == before


def test_quality_and_name_updates_change_the_number(api):
    profile = connected(api)
    phone = profile["phone_numbers"][0]
    base = int(time.time())

    send(api, "phone-number-quality-update", phone_number_id=phone["phone_number_id"], event="UPGRADE",
         old_limit="TIER_250", current_limit="TIER_10K", quality_rating="YELLOW", time=base)
    updated = get_profile(api, profile["id"])["phone_numbers"][0]
    assert updated["messaging_limit_tier"] == "TIER_10K" and updated["quality_event"] == "UPGRADE"
    (quality_event,) = events(api, "whatsapp.phone_number.quality_updated")
    assert quality_event["data"]["business_profile_id"] == profile["id"]
    assert quality_event["data"]["id"] == phone["id"] and quality_event["data"]["messaging_limit_tier"] == "TIER_10K"

    send(api, "phone-number-name-update", phone_number_id=phone["phone_number_id"], decision="REJECTED",
         requested_verified_name="Best Shop Ever", rejection_reason="NAME_FORMAT_UNACCEPTABLE", time=base)
    send(api, "phone-number-name-update", phone_number_id=phone["phone_number_id"], decision="PENDING", time=base - 60)
    named = get_profile(api, profile["id"])["phone_numbers"][0]
    assert named["name_status"] == "DECLINED" and named["name_rejection_reason"] == "NAME_FORMAT_UNACCEPTABLE"
    assert named["verified_name"] == phone["verified_name"]
    assert len(events(api, "whatsapp.phone_number.name_updated")) == 1  # the late PENDING changed nothing

    # Meta's number node shows the same: refresh reads the quality rating the webhook could not carry.
    refreshed = refresh(api, profile["id"]).json()["phone_numbers"][0]
    assert refreshed["quality_rating"] == "YELLOW" and refreshed["messaging_limit_tier"] == "TIER_10K"
    assert refreshed["name_status"] == "DECLINED"
    assert len(events(api, "whatsapp.phone_number.quality_updated")) == 2  # the refresh's YELLOW

    send(api, "phone-number-name-update", phone_number_id=phone["phone_number_id"], decision="APPROVED",
         requested_verified_name="Best Shop")
    approved = get_profile(api, profile["id"])["phone_numbers"][0]
    assert approved["name_status"] == "APPROVED" and approved["verified_name"] == "Best Shop"
    assert approved["name_rejection_reason"] is None


def test_refresh_changes_nothing_when_meta_says_the_same(api):
    profile = connected(api)
    first = refresh(api, profile["id"])
    assert first.status_code == 200, first.text
    count = len(events(api, "whatsapp.business_profile.health_updated"))
    second = refresh(api, profile["id"])
    assert second.status_code == 200
    assert len(events(api, "whatsapp.business_profile.health_updated")) == count
    assert second.json()["health"]["status"] == "ok" and second.json()["review_status"] == "APPROVED"


def test_metas_refusal_of_a_refresh_is_a_424_and_changes_nothing(api):
    profile = connected(api)
    add_fault(api, call="waba", kind="graph_error", status=400, meta_code=100, message="Unsupported get request")
    refused = refresh(api, profile["id"])
    error = assert_error(refused, 424, "refresh_failed", type="provider_error")
    assert error["provider"]["code"] == 100
    assert get_profile(api, profile["id"])["health"] == profile["health"]
    add_fault(api, call="phone_numbers", kind="http_error", status=503, count=5)
    assert_error(refresh(api, profile["id"]), 502, "meta_unavailable", type="api_error")


def test_refresh_is_per_tenant_and_takes_no_body(roost, api):
    profile = connected(api)
    with roost.new_org().client() as other:
        assert_error(refresh(other, profile["id"]), 404, "resource_missing")
    assert_error(refresh(api, "wabp_nope"), 404, "resource_missing")
    with_body = api.post(f"{PROFILES}/{profile['id']}/refresh", json={"x": 1})
    assert with_body.status_code == 400, with_body.text


def test_another_organizations_app_cannot_touch_the_profile(roost, api):
    profile = connected(api)
    with roost.new_org().client() as other_api, roost.http() as http:
        other = sim_app(other_api)
        payload = envelope(account_update(profile["waba_id"], "ACCOUNT_DELETED", profile["waba_id"], profile["business_id"]))
        assert post_webhook(http, other, payload).json()["stored"] == 1
    assert get_profile(api, profile["id"])["health"]["status"] == "ok"


@pytest.mark.parametrize(
    ("kind", "body", "param"),
    [
        ("account-update", {"event": "ACCOUNT_RESTRICTION"}, "restriction_info"),
        ("account-update", {"event": "ACCOUNT_VIOLATION"}, "violation_info"),
        ("account-update", {"event": "DISABLED_UPDATE"}, "ban_info"),
        ("account-update", {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "BANNED"}}, "ban_info.waba_ban_state"),
        ("account-update", {"event": "AD_ACCOUNT_LINKED"}, "ad_account_linked"),
        ("account-update", {"event": "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", "country": "Brazil"}, "country"),
        ("account-update", {"event": "ACCOUNT_DELETED", "country": "BR"}, "country"),
        ("account-update", {"event": "PARTNER_REMOVED", "disconnection_info": {"reason": "BORED", "initiated_by": "USER"}},
         "disconnection_info.reason"),
        ("account-update", {"event": "ACCOUNT_RESTRICTION", "restriction_info": [{"restriction_type": "RESTRICTED_X"}]},
         "restriction_info[0].expiration"),
        ("account-update", {"event": "NOT_AN_EVENT"}, "event"),
        ("account-update", {"event": "ACCOUNT_DELETED", "time": -5}, "time"),
        ("phone-number-quality-update", {"event": "FLAGGED", "current_limit": "TIER_250", "old_limit": "TIER_50"}, "old_limit"),
        ("phone-number-quality-update", {"event": "UPGRADE", "current_limit": "TIER_3K"}, "current_limit"),
        ("phone-number-name-update", {"decision": "REJECTED"}, "rejection_reason"),
        ("phone-number-name-update", {"decision": "APPROVED", "rejection_reason": "UNKNOWN"}, "rejection_reason"),
    ],
)
def test_bad_control_requests_are_refused_with_the_param(api, kind, body, param):
    profile = connected(api)
    target = {"waba_id": profile["waba_id"]} if kind == "account-update" else {
        "phone_number_id": profile["phone_numbers"][0]["phone_number_id"]}
    response = api.post(f"{CONTROL}/{kind}", json={**target, **body})
    assert response.status_code == 400, response.text
    assert param in {problem["param"] for problem in response.json()["error"]["errors"]}, response.json()
    assert get_profile(api, profile["id"])["health"] == profile["health"]


def test_a_number_of_another_organization_is_not_found(roost, api):
    profile = connected(api)
    with roost.new_org().client() as other:
        response = other.post(f"{CONTROL}/phone-number-quality-update", json={
            "phone_number_id": profile["phone_numbers"][0]["phone_number_id"], "event": "FLAGGED", "current_limit": "TIER_250"})
        assert_error(response, 404, "resource_missing")
