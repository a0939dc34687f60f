"""The hosted page in a real browser through Meta's (simulated) flow: success by redirect and by
popup, cancel, try again, Meta's errors, a closed dialog, late and lost codes (SPEC 4.2, 4.4)."""

import time
from typing import Any
from urllib.parse import quote

import pytest

from roost.hosted.endpoints import TIMING

from tests.hosted.helpers import (
    close_meta_window,
    assert_signed,
    create_session,
    event_types,
    events,
    get_session,
    open_link,
    redirect_secret,
    result_from_url,
    set_fault,
    start_flow,
    visible,
    wait_for,
    wait_status,
)


def finish_and_return(page: Any, dialog: Any, platform: Any, hook: str = "es-sim-finish") -> dict[str, str]:
    dialog.click(f'[data-testid="{hook}"]')
    page.wait_for_url(f"{platform.callback}*", timeout=30_000)
    return result_from_url(page.url)


def test_redirect_mode_success(hosted, platform, page, api, org):
    session = create_session(api, redirect_uri=f"{platform.callback}?tenant=42", state="csrf-123",
                             prefill={"business": {"name": "Acme"}})
    open_link(page, session["url"])
    assert "token" not in page.url  # the token left the address bar at once
    assert visible(page, "platform-name").inner_text() == "Test platform"

    dialog = start_flow(page)
    dialog.click('[data-testid="es-sim-finish"]')
    visible(page, "result-completed")
    continue_link = visible(page, "continue-link")
    assert continue_link.get_attribute("href").startswith(f"{platform.callback}?tenant=42&session_id=")
    # Automatically, 1.5 s after the result: test mode's payment note (Tech Provider, the default)
    # only describes the live step, so the page does not hold for it (live: 8 s).
    started = time.monotonic()
    page.wait_for_url(f"{platform.callback}*", timeout=20_000)
    assert time.monotonic() - started < 6

    params = result_from_url(page.url)
    assert params["tenant"] == "42"  # the redirect URI's own parameter is kept
    del params["tenant"]
    assert_signed(params, redirect_secret(api))
    after = get_session(api, session["id"])
    assert after["status"] == "completed" and after["business_profile_id"]
    assert params == {**params, "session_id": session["id"], "state": "csrf-123", "status": "completed",
                      "business_profile_id": after["business_profile_id"], "waba_id": after["waba_id"],
                      "phone_number_id": after["phone_number_id"]}
    assert set(params) == {"session_id", "state", "status", "business_profile_id", "waba_id", "phone_number_id",
                           "timestamp", "signature"}
    profile = api.get(f"/v1/organization/whatsapp/business-profiles/{after['business_profile_id']}").json()
    assert profile["waba_id"] == after["waba_id"]
    types = event_types(api, session["id"])
    for expected in ("page.opened", "session.started", "meta.launched", "meta.message", "meta.code_received",
                     "result.redirected"):
        assert expected in types
    assert page.errors == []


@pytest.mark.parametrize("failure", ["unreachable", "503"])
def test_metas_code_and_messages_are_sent_again_when_they_do_not_reach_roost(hosted, page, api, failure):
    # They exist only in the page: a request lost on the way (Roost restarting, the network)
    # must not lose a signup the user finished at Meta.
    session = create_session(api)
    failed: dict[str, int] = {}

    def fail_the_first(route: Any) -> None:
        call = route.request.url.rsplit("/", 1)[1]
        failed[call] = failed.get(call, 0) + 1
        if failed[call] > 1:
            route.continue_()
        elif failure == "unreachable":
            route.abort("connectionrefused")
        else:
            route.fulfill(status=503, content_type="application/json", body='{"error": {"code": "unavailable"}}')

    for call in ("launch", "message", "code"):
        page.route(f"**/embed/api/{call}", fail_the_first)
    open_link(page, session["url"])
    start_flow(page).click('[data-testid="es-sim-finish"]')

    visible(page, "result-completed")
    assert failed == {"launch": 2, "message": 2, "code": 2}
    after = get_session(api, session["id"])
    assert after["status"] == "completed" and after["waba_id"] and after["business_profile_id"]
    types = event_types(api, session["id"])
    assert (types.count("meta.launched"), types.count("meta.message"), types.count("meta.code_received")) == (1, 1, 1)


def test_the_completed_screen_shows_the_numbers_and_the_payment_step(hosted, page, api):
    session = create_session(api)  # no redirect_uri, no opener: the result stays on screen
    open_link(page, session["url"])
    start_flow(page).click('[data-testid="es-sim-finish"]')

    visible(page, "result-completed")
    numbers = visible(page, "connected-numbers").locator("li").all_inner_texts()
    after = get_session(api, session["id"])
    profile = api.get(f"/v1/organization/whatsapp/business-profiles/{after['business_profile_id']}").json()
    assert numbers == [f"{p['display_phone_number']} · {p['verified_name']}" for p in profile["phone_numbers"]]
    assert profile["phone_numbers"][0]["cloud_api_registered"] is True  # the page waited for registration
    assert visible(page, "payment-note").inner_text().startswith("Test mode:")  # live: a Tech Provider's customer pays Meta
    visible(page, "close-note")


def test_popup_mode_posts_the_result_to_the_opener_and_closes(hosted, platform, context, api):
    assert api.patch("/v1/organization/settings", json={"allowed_origins": [platform.origin]}).status_code == 200
    session = create_session(api, state="popup-state")
    opener = context.new_page()
    opener.goto(f"{platform.origin}/opener#{quote(session['url'], safe='')}")
    with opener.expect_popup() as popup_info:
        opener.click("#open")
    page = popup_info.value
    page.wait_for_load_state()

    dialog = start_flow(page)
    dialog.click('[data-testid="es-sim-finish"]')
    page.wait_for_event("close", timeout=20_000)

    (message,) = [m for m in opener.evaluate("window.received") if isinstance(m["data"], dict)]
    assert message["origin"] == hosted.base_url
    data = dict(message["data"])
    assert data.pop("type") == "roost:embedded_signup"
    assert data["status"] == "completed" and data["state"] == "popup-state" and data["session_id"] == session["id"]
    assert_signed(data, redirect_secret(api))
    assert "result.posted" in event_types(api, session["id"])


def test_messages_from_any_other_origin_are_ignored(hosted, platform, context, api):
    """Only Meta's dialog origins count: here the platform (the page's own opener) posts a fake
    FINISH and CANCEL while Meta's window is open, and the page takes no notice."""
    session = create_session(api, state="s")
    opener = context.new_page()
    opener.goto(f"{platform.origin}/opener#{quote(session['url'], safe='')}")
    with opener.expect_popup() as popup_info:
        opener.click("#open")
    page = popup_info.value
    page.wait_for_load_state()
    dialog = start_flow(page)
    visible(page, "waiting")

    opener.evaluate("""() => {
      const fake = (event, data) => JSON.stringify({type: 'WA_EMBEDDED_SIGNUP', event: event, data: data, version: 3});
      window.child.postMessage(fake('FINISH', {waba_id: '1', phone_number_id: '2', business_id: '3'}), '*');
      window.child.postMessage(fake('CANCEL', {current_step: 'PERMISSIONS'}), '*');
      window.child.postMessage({type: 'WA_EMBEDDED_SIGNUP', event: 'CANCEL', data: {current_step: 'PERMISSIONS'}}, '*');
    }""")
    page.wait_for_timeout(1500)
    visible(page, "waiting")
    assert "meta.message" not in event_types(api, session["id"])
    assert get_session(api, session["id"])["waba_id"] is None

    dialog.click('[data-testid="es-sim-finish"]')
    visible(page, "result-completed")
    visible(page, "close-note")  # an opener, but no target origin to post to and no redirect_uri
    assert get_session(api, session["id"])["status"] == "completed"


def test_cancel_at_a_step_then_try_again_then_success(hosted, platform, page, api):
    session = create_session(api, redirect_uri=platform.callback, state="s")
    open_link(page, session["url"])
    dialog = start_flow(page)
    dialog.select_option('[data-testid="es-sim-cancel-step"]', "PHONE_NUMBER_VERIFICATION")
    dialog.click('[data-testid="es-sim-cancel"]')

    visible(page, "flow-cancelled")
    # The page shows the screen at once and relays Meta's CANCEL to Roost alongside.
    pending = wait_for(lambda: (found := get_session(api, session["id"]))["last_step"] and found)
    assert pending["status"] == "pending" and pending["last_step"] == "PHONE_NUMBER_VERIFICATION"

    params = finish_and_return(page, start_flow(page), platform)
    assert params["status"] == "completed"
    assert event_types(api, session["id"]).count("meta.launched") == 2


def test_cancel_then_return_to_the_platform(hosted, platform, page, api):
    session = create_session(api, redirect_uri=platform.callback, state="s")
    open_link(page, session["url"])
    dialog = start_flow(page)
    dialog.click('[data-testid="es-sim-cancel"]')
    visible(page, "flow-return").click()

    page.wait_for_url(f"{platform.callback}*")
    params = result_from_url(page.url)
    assert params["status"] == "cancelled" and params["error"] == "user_cancelled"
    assert params["error_description"]
    assert_signed(params, redirect_secret(api))
    after = get_session(api, session["id"])
    assert after["status"] == "cancelled" and after["error"]["code"] == "user_cancelled"


def test_a_meta_reported_error_shows_metas_message(hosted, platform, page, api):
    session = create_session(api, redirect_uri=platform.callback, state="s")
    open_link(page, session["url"])
    dialog = start_flow(page)
    dialog.select_option('[data-testid="es-sim-error-code"]', "2388002")
    dialog.click('[data-testid="es-sim-error"]')

    visible(page, "flow-error")
    message = visible(page, "meta-error-message").inner_text()
    assert message == "This phone number can't be added. Try a different number."
    assert get_session(api, session["id"])["status"] == "pending"  # the user may still try again

    visible(page, "flow-return").click()
    page.wait_for_url(f"{platform.callback}*")
    params = result_from_url(page.url)
    assert params["status"] == "failed" and params["error"] == "signup_error"
    assert params["error_description"] == message
    assert get_session(api, session["id"])["error"] == {"code": "signup_error", "message": message, "meta_code": 2388002}


def test_the_dialog_closed_without_any_event(hosted, page, api):
    session = create_session(api)
    open_link(page, session["url"])
    close_meta_window(start_flow(page))

    visible(page, "flow-cancelled")
    visible(page, "try-again")
    # No redirect and no opener: no "Return to <platform>", which would only cancel the session.
    assert page.locator('[data-testid="flow-return"]').is_hidden()
    after = get_session(api, session["id"])
    assert after["status"] == "pending" and after["started_at"] is not None and after["last_step"] is None


def test_a_code_from_an_earlier_meta_window_still_connects(hosted, page, api):
    # "Open the Facebook window again" opens a second one; the user finishes in the first.
    session = create_session(api)
    open_link(page, session["url"])
    first = start_flow(page)
    with page.expect_popup() as second:
        visible(page, "waiting").locator('[data-action="connect"]').click()
    second.value.wait_for_load_state()
    first.click('[data-testid="es-sim-finish"]')

    visible(page, "result-completed")
    assert get_session(api, session["id"])["status"] == "completed"
    assert page.errors == []


def test_a_late_code_still_completes(hosted, platform, page, api, org):
    set_fault(org, call="dialog", kind="code_late", delay_ms=3000)
    session = create_session(api, redirect_uri=platform.callback, state="s")
    open_link(page, session["url"])
    dialog = start_flow(page)
    dialog.click('[data-testid="es-sim-finish"]')
    visible(page, "progress")  # FINISH arrived; the code has not yet

    page.wait_for_url(f"{platform.callback}*", timeout=30_000)
    assert result_from_url(page.url)["status"] == "completed"


def test_a_code_without_finish_completes(hosted, platform, page, api, org):
    set_fault(org, call="dialog", kind="finish_lost")
    session = create_session(api, redirect_uri=platform.callback, state="s")
    open_link(page, session["url"])
    params = finish_and_return(page, start_flow(page), platform)
    assert params["status"] == "completed" and params["waba_id"]  # the WABA was found from the token
    assert "meta.message" not in event_types(api, session["id"])


def finish_without_code(
    hosted: Any, page: Any, platform: Any, api: Any, org: Any, statuses: tuple = ("recovered",)
) -> dict[str, Any]:
    """Meta's dialog finishes but its code never arrives: the page settles the session as
    recovered 15 seconds after the FINISH and hands the outcome back, signed. Returns the session."""
    set_fault(org, call="dialog", kind="code_never")
    session = create_session(api, redirect_uri=platform.callback, state="s")
    open_link(page, session["url"])
    dialog = start_flow(page)
    dialog.click('[data-testid="es-sim-finish"]')
    visible(page, "progress")
    assert wait_for(lambda: get_session(api, session["id"])["waba_id"])  # the page relayed the FINISH
    assert get_session(api, session["id"])["status"] == "pending"
    # The 15 seconds pass at once: the FINISH is made older (test_page_http checks the rule itself).
    hosted.sql("UPDATE session_events SET created_at = created_at - 15000 WHERE session_id = :id AND type = 'meta.message'",
               id=session["id"])

    page.wait_for_url(f"{platform.callback}*", timeout=35_000)
    params = result_from_url(page.url)
    assert params["status"] in statuses, params
    if params["status"] == "recovered":
        assert params["error"] == "code_not_exchanged"
    assert_signed(params, redirect_secret(api))
    return session


def test_finish_without_a_code_is_recovered_then_claimed_by_hand(hosted, platform, page, api, org):
    assert api.patch("/v1/organization/settings", json={"auto_claim": False}).status_code == 200
    session = finish_without_code(hosted, page, platform, api, org)
    after = wait_status(api, session["id"], "recovered")
    assert after["waba_id"] and after["business_profile_id"] is None
    # Meta's account_update (sent when the customer shared the WABA in the dialog) is the proof.
    recovered = "/v1/organization/whatsapp/business-profiles/recovered-attempts"
    wait_for(lambda: api.get(recovered).json()["data"][0]["proof_received_at"])

    claimed = api.post("/v1/organization/whatsapp/business-profiles/claim", json={"attempt_id": session["id"]})

    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["waba_id"] == after["waba_id"]
    completed = get_session(api, session["id"])
    assert completed["status"] == "completed" and completed["error"] is None
    assert completed["business_profile_id"] == claimed.json()["id"]


def test_finish_without_a_code_is_recovered_then_claimed_by_roost_itself(hosted, platform, page, api, org):
    # auto_claim is on by default: Meta's account_update has usually arrived by the time the page
    # settles the session as recovered, so Roost claims it at once; the page hands back whichever
    # outcome it saw last (recovered, or already completed).
    session = finish_without_code(hosted, page, platform, api, org, statuses=("recovered", "completed"))

    completed = wait_status(api, session["id"], "completed", timeout=30)
    assert completed["code_received_at"] is None and completed["business_profile_id"]
    assert completed["provisioning"][0]["step"] == "claim_token"
    types = event_types(api, session["id"])
    assert "session.claim_started" in types
    assert [e["data"]["to"] for e in events(api, session["id"]) if e["type"] == "session.status_changed"] == [
        "recovered", "completed",
    ]


def test_a_slow_connection_tells_the_user_it_is_still_being_finished(hosted, page, api, org, monkeypatch):
    # Meta slow to exchange the code (or Roost restarting mid-exchange): after a while the page
    # says the connection is still being finished instead of spinning in silence.
    monkeypatch.setitem(TIMING, "slow_progress_ms", 500)
    set_fault(org, call="oauth/access_token", kind="latency", delay_ms=2500)
    session = create_session(api)
    open_link(page, session["url"])
    start_flow(page).click('[data-testid="es-sim-finish"]')

    visible(page, "progress")
    slow = visible(page, "progress-slow")
    assert "still being finished" in slow.inner_text()
    visible(page, "result-completed")
    assert get_session(api, session["id"])["status"] == "completed"
    assert page.errors == []
