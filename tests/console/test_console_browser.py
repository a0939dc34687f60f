"""The operator console in Chromium: signing in, lock-out, CSRF, a viewer, finding a user's failed
session, resending a failed webhook delivery and sending a test event, admin keys, and the audit
log of these actions (issue 17)."""

import re

import httpx

from roost.console import accounts
from tests.console.conftest import PASSWORD, make_user, sign_in
from tests.hosted.helpers import create_session
from tests.support import SESSIONS
from tests.webhooks.helpers import Receiver


def test_sign_in_with_a_wrong_then_the_right_password_and_out_again(roost, org, page, context):
    email = make_user(roost, org, "ops@acme.test")
    page.goto(f"{roost.base_url}/console/sessions?status=failed")
    assert "/console/login?next=" in page.url  # no session: the sign-in form, then back here

    page.fill("#email", email)
    page.fill("#password", "not the password at all")
    page.click('[data-testid="sign-in"]')
    assert page.locator('[data-testid="login-problem"]').inner_text() == "Wrong e-mail or password."

    page.fill("#password", PASSWORD)
    page.click('[data-testid="sign-in"]')
    page.wait_for_url(re.compile(r".*/console/sessions\?status=failed$"))
    assert page.locator('[data-testid="test-data-marker"]').is_visible()
    (cookie,) = [c for c in context.cookies() if c["name"] == "roost_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console" and cookie["expires"] > 0
    assert page.evaluate("document.cookie") == ""

    page.goto(f"{roost.base_url}/console")
    assert page.locator('[data-testid="funnel-7"] svg rect').count() == 5
    assert page.locator('[data-testid="funnel-30"]').is_visible()
    assert page.errors == []
    headers = httpx.get(f"{roost.base_url}/console/login").headers
    assert "script-src 'self'" in headers["content-security-policy"] and "unsafe-inline" not in headers["content-security-policy"]

    page.click('[data-testid="sign-out"]')
    page.wait_for_url(re.compile(r".*/console/login\?notice=signed_out$"))
    page.goto(f"{roost.base_url}/console/keys")
    assert "/console/login" in page.url  # the cookie is gone, and so is its login on the server


def test_repeated_failures_lock_the_account_even_for_the_right_password(roost, org, page):
    email = make_user(roost, org, "locked@acme.test")
    page.goto(f"{roost.base_url}/console/login")
    for _ in range(accounts.LOCK_AFTER):
        page.fill("#email", email)
        page.fill("#password", "wrong password, again")
        page.click('[data-testid="sign-in"]')
        page.wait_for_load_state()
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click('[data-testid="sign-in"]')
    assert "locked" in page.locator('[data-testid="login-problem"]').inner_text()
    assert "/console/login" in page.url
    (row,) = roost.sql("SELECT failed_logins, locked_until FROM console_users WHERE email = :email", email=email)
    assert row.failed_logins == accounts.LOCK_AFTER and row.locked_until is not None


def test_a_post_without_the_csrf_token_is_refused(roost, org, page, context):
    email = make_user(roost, org, "csrf@acme.test")
    sign_in(page, roost.base_url, email, target="/console/keys")
    keys_before = roost.sql("SELECT count(*) AS n FROM admin_keys WHERE organization_id = :org", org=org.id)[0].n
    no_token = context.request.post(f"{roost.base_url}/console/keys", form={"name": "forged"})
    wrong_token = context.request.post(f"{roost.base_url}/console/keys", form={"name": "forged", "csrf_token": "x" * 43})
    assert no_token.status == 403 and wrong_token.status == 403
    assert "CSRF" in no_token.text()
    assert roost.sql("SELECT count(*) AS n FROM admin_keys WHERE organization_id = :org", org=org.id)[0].n == keys_before


def test_a_pasted_link_to_a_session_of_another_organization_switches_to_it(roost, org, page):
    other = roost.new_org("Other Platform")
    email = make_user(roost, org, "two@acme.test")
    make_user(roost, other, "two@acme.test", role="viewer")
    with other.client() as api:
        session = create_session(api)
    sign_in(page, roost.base_url, email, target=f"/console/sessions/{session['id']}")
    page.wait_for_url(f"**/console/sessions/{session['id']}")
    assert page.locator('[data-testid="session-status"]').inner_text() == "pending"
    assert page.locator('[data-testid="org-switch"]').input_value() == other.id
    assert page.locator('[data-testid="viewer-note"]').is_visible()  # a viewer there

    page.select_option('[data-testid="org-switch"]', org.id)  # console.js submits the switch
    page.wait_for_url(re.compile(r".*/console/sessions\?notice=switched$"))
    assert page.locator('[data-testid="org-switch"]').input_value() == org.id
    assert session["id"] not in page.content()


def test_a_viewer_sees_the_session_but_cannot_act_on_it(roost, org, page, context):
    with org.client() as api:
        session = create_session(api, metadata={"externalUserId": "viewer_case"})
    email = make_user(roost, org, "viewer@acme.test", role="viewer")
    sign_in(page, roost.base_url, email, target=f"/console/sessions/{session['id']}")
    assert page.locator('[data-testid="session-status"]').inner_text() == "pending"
    assert page.locator('[data-testid="viewer-note"]').is_visible()
    assert page.locator('[data-testid="cancel-session"]').count() == 0
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    refused = context.request.post(f"{roost.base_url}/console/sessions/{session['id']}/cancel", form={"csrf_token": token})
    assert refused.status == 403 and "viewer" in refused.text()
    with org.client() as api:
        assert api.get(f"{SESSIONS}/{session['id']}").json()["status"] == "pending"


def test_finding_a_users_session_by_metadata_and_reading_why_it_failed(roost, org, page):
    with org.client() as api:
        other = create_session(api, metadata={"externalUserId": "user_someone_else"})
        failed = create_session(api, metadata={"externalUserId": "user_123"})
        simulated = api.post(f"{SESSIONS}/{failed['id']}/simulate", json={"outcome": "signup_error", "error_code": "2388093"})
        assert simulated.status_code == 200, simulated.text
        # A later attempt of the same user: Meta refuses to subscribe Roost's app to the account.
        refused = create_session(api, metadata={"externalUserId": "user_123"})
        fault = {"call": "subscribed_apps", "kind": "graph_error", "meta_code": 100, "status": 400, "message": "Invalid parameter"}
        assert api.post("/_sim/control/faults", json=fault).status_code == 201
        assert api.post(f"{SESSIONS}/{refused['id']}/simulate", json={"outcome": "completed"}).json()["status"] == "failed"
    email = make_user(roost, org, "support@acme.test")
    sign_in(page, roost.base_url, email, target="/console/sessions?metadata[externalUserId]=user_123")
    rows = page.locator('[data-testid="sessions"] tbody tr')
    assert rows.count() == 2 and other["id"] not in page.content()
    assert refused["id"] in rows.first.inner_text()  # newest first
    rows.first.locator("a").click()
    page.wait_for_url(f"**/console/sessions/{refused['id']}")
    assert "provisioning_failed" in page.locator('[data-testid="session-error"]').inner_text()
    step = page.locator('[data-testid="provisioning"] tr', has_text="subscribe_app").inner_text()
    assert "failed" in step and "Invalid parameter" in step and "code 100" in step and "fbtrace_id" in step

    page.goto(f"{roost.base_url}/console/sessions/{failed['id']}")
    assert page.locator('[data-testid="session-status"]').inner_text() == "failed"
    why = page.locator('[data-testid="session-error"]').inner_text()
    assert "signup_error" in why and "2388093" in why
    assert "meta.message" in page.locator('[data-testid="timeline"]').inner_text()

    # The filter form writes the same address as the link.
    page.goto(f"{roost.base_url}/console/sessions")
    page.fill("#f-key", "externalUserId")
    page.fill("#f-value", "user_123")
    page.select_option("#f-status", "failed")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r".*metadata%5BexternalUserId%5D=user_123"))
    assert page.locator('[data-testid="sessions"] tbody tr').count() == 2


def test_pages_of_sessions_newest_first_both_ways(roost, org, page):
    with org.client() as api:
        created = [create_session(api, metadata={"externalUserId": "pager"})["id"] for _ in range(22)]
    email = make_user(roost, org, "pager@acme.test")
    sign_in(page, roost.base_url, email, target="/console/sessions?metadata[externalUserId]=pager")

    def shown() -> list[str]:
        return [link.inner_text() for link in page.locator('[data-testid="sessions"] tbody tr td:first-child a').all()]

    newest = created[::-1]
    assert shown() == newest[:20]
    page.click('a[rel="next"]')
    page.wait_for_url(re.compile(r".*starting_after="))
    assert shown() == newest[20:] and page.locator('a[rel="next"]').count() == 0
    page.click('a[rel="prev"]')
    page.wait_for_url(re.compile(r".*ending_before="))
    assert shown() == newest[:20] and page.locator('a[rel="prev"]').count() == 0



def test_resending_a_failed_delivery_that_the_receiver_then_gets(roost, org, page):
    answers = {"status": 500}
    receiver = Receiver(behaviour=lambda index, body: (answers["status"], {}, 0.0))
    receiver.answer_body = b"busy <b>now</b>"
    try:
        with org.client() as api:
            created = api.post("/v1/organization/webhooks", json={"url": receiver.url, "events": ["*"]})
            assert created.status_code == 201, created.text
            endpoint = created.json()
            receiver.secrets.append(endpoint["secret"])
            session = create_session(api)
            assert api.post(f"{SESSIONS}/{session['id']}/simulate", json={"outcome": "cancelled"}).status_code == 200
        email = make_user(roost, org, "hooks@acme.test")
        sign_in(page, roost.base_url, email, target=f"/console/webhooks/{endpoint['id']}")
        for _ in range(50):  # the first attempt fails; the next one is 10 minutes away
            if page.locator('[data-testid="attempt"]').count():
                break
            page.wait_for_timeout(200)
            page.reload()
        attempt = page.locator('[data-testid="attempt"]').first
        attempt.locator("summary").click()
        assert "failed" in attempt.inner_text() and "500" in attempt.inner_text()
        assert "busy <b>now</b>" in attempt.locator('[data-testid="answer"]').inner_text()  # the answer, as text
        assert "embedded_signup.session.cancelled" in attempt.locator("pre").first.inner_text()
        failed_event = receiver.received[0].webhook_id

        answers["status"] = 200
        attempt.locator('[data-testid="resend"]').click()
        page.wait_for_url(re.compile(r".*notice=resent$"))
        for _ in range(100):
            if len(receiver.received) >= 2:
                break
            page.wait_for_timeout(100)
        assert [received.webhook_id for received in receiver.received[:2]] == [failed_event, failed_event]
        # The receiver has the request before the dispatcher records its answer: read until it has.
        for _ in range(50):
            page.reload()
            if "delivered" in page.locator('[data-testid="attempt"]').first.inner_text():
                break
            page.wait_for_timeout(200)
        assert "delivered" in page.locator('[data-testid="attempt"]').first.inner_text()

        page.click('[data-testid="send-test"]')
        page.wait_for_url(re.compile(r".*notice=tested$"))
        for _ in range(100):
            tests = [item for item in receiver.received if item.body["type"] == "webhook_endpoint.test"]
            if tests:
                break
            page.wait_for_timeout(100)
        assert len(tests) == 1 and tests[0].verified_by == [0] and tests[0].body["data"]["id"] == endpoint["id"]

        page.goto(f"{roost.base_url}/console/audit")  # both actions, by this operator
        log = page.locator('[data-testid="audit"]').inner_text()
        assert "event.resend" in log and "webhook_endpoint.test" in log and "hooks@acme.test (console)" in log
    finally:
        receiver.stop()


def test_creating_a_key_shown_once_and_revoking_it(roost, org, page):
    email = make_user(roost, org, "keys@acme.test")
    sign_in(page, roost.base_url, email, target="/console/keys")
    page.fill("#key-name", "from the console")
    page.click('[data-testid="create-key"]')
    secret = page.locator('[data-testid="secret-value"]').input_value()
    assert secret.startswith("sk_admin_test_")
    with httpx.Client(base_url=roost.base_url, headers={"Authorization": f"Bearer {secret}"}) as api:
        assert api.get(SESSIONS).status_code == 200
        page.goto(f"{roost.base_url}/console/keys")
        assert secret not in page.content()  # shown once
        row = page.locator("tr", has_text="from the console")
        row.locator('[data-testid="revoke-key"]').click()
        page.wait_for_url(re.compile(r".*notice=revoked$"))
        assert "revoked" in page.locator("tr", has_text="from the console").inner_text()
        assert api.get(SESSIONS).status_code == 401
    entries = roost.sql("SELECT action, resource_id, console_user_id, admin_key_id FROM audit_log_entries "
                        "WHERE resource_type = 'admin_key' ORDER BY created_at")
    (user,) = roost.sql("SELECT id FROM console_users WHERE email = 'keys@acme.test'")
    assert [(row.action, row.console_user_id, row.admin_key_id) for row in entries] == [
        ("admin_key.create", user.id, None), ("admin_key.revoke", user.id, None)
    ]
    assert entries[0].resource_id == entries[1].resource_id


def test_simulating_a_completed_signup_then_disconnecting_its_profile(roost, org, page):
    with org.client() as api:
        session = create_session(api, metadata={"externalUserId": "user_simulated"})
    email = make_user(roost, org, "sim@acme.test")
    sign_in(page, roost.base_url, email, target=f"/console/sessions/{session['id']}")
    page.select_option("#outcome", "completed")
    page.click('[data-testid="simulate"]')
    page.wait_for_url(re.compile(r".*notice=simulated$"), timeout=30_000)
    assert page.locator('[data-testid="session-status"]').inner_text() == "completed"
    assert "succeeded" in page.locator('[data-testid="provisioning"]').inner_text()

    page.goto(f"{roost.base_url}/console/profiles")
    profile = page.locator('[data-testid="profile"]', has_text=session["id"])
    assert "connected" in profile.inner_text()
    profile.locator('[data-testid="disconnect-profile"]').click()
    page.wait_for_url(re.compile(r".*notice=disconnected$"))
    assert "disconnected" in page.locator('[data-testid="profile"]', has_text=session["id"]).inner_text()
    with org.client() as api:
        (listed,) = api.get("/v1/organization/whatsapp/business-profiles", params={"session_id": session["id"]}).json()["data"]
    assert listed["status"] == "disconnected"


def test_settings_with_the_branding_preview_and_the_apis_own_validation(roost, org, page):
    email = make_user(roost, org, "brand@acme.test")
    sign_in(page, roost.base_url, email, target="/console/settings")
    page.fill("#s-name", "Acme Cloud Support")
    assert page.locator("[data-preview-name]").inner_text() == "Acme Cloud Support"  # as it is typed
    page.fill("#s-accent", "#0b6e4f")
    button = page.locator(".preview-button")
    assert button.evaluate("element => getComputedStyle(element).backgroundColor") == "rgb(11, 110, 79)"

    page.fill("#s-redirects", "http://insecure.example.com/cb")
    page.click('[data-testid="save-settings"]')
    assert "allowed_redirect_uris" in page.locator('[data-testid="error-message"]').inner_text()
    page.go_back()
    page.fill("#s-name", "Acme Cloud Support")
    page.fill("#s-redirects", "https://acme.example.com/whatsapp/callback")
    page.click('[data-testid="save-settings"]')
    page.wait_for_url(re.compile(r".*notice=saved$"))
    with org.client() as api:
        settings = api.get("/v1/organization/settings").json()
    assert settings["name"] == "Acme Cloud Support" and settings["branding"]["accent_color"].lower() == "#0b6e4f"
    assert settings["allowed_redirect_uris"] == ["https://acme.example.com/whatsapp/callback"]
    assert page.errors == []


def test_a_profiles_health_its_numbers_sync_and_a_refresh_from_meta(roost, org, page):
    # A Business app signup: its number shows both syncs; Meta then lowers the number's quality,
    # which its webhook does not carry: "Refresh from Meta" reads it, and the action is audited.
    with org.client() as api:
        session = create_session(api, coexistence=True)
        simulated = api.post(f"{SESSIONS}/{session['id']}/simulate",
                             json={"outcome": "completed", "variant": "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"})
        assert simulated.status_code == 200, simulated.text
        (profile,) = api.get("/v1/organization/whatsapp/business-profiles", params={"session_id": session["id"]}).json()["data"]
        (phone,) = profile["phone_numbers"]
        assert phone["quality_rating"] == "GREEN"
        quality = {"phone_number_id": phone["phone_number_id"], "event": "DOWNGRADE", "old_limit": "TIER_2K",
                   "current_limit": "TIER_250", "quality_rating": "YELLOW"}
        assert api.post("/_sim/control/webhooks/phone-number-quality-update", json=quality).status_code == 200
    email = make_user(roost, org, "health@acme.test")
    sign_in(page, roost.base_url, email, target="/console/profiles")
    card = page.locator('[data-testid="profile"]', has_text=session["id"])
    assert card.locator('[data-testid="health"]').inner_text() == "ok"
    assert "contacts sync" in card.locator('[data-testid="coexistence"]').inner_text()
    assert card.locator('[data-testid="phone-health"]').inner_text().startswith("GREEN")

    card.locator('[data-testid="refresh-profile"]').click()
    page.wait_for_url(re.compile(r".*notice=refreshed$"))
    shown = page.locator('[data-testid="profile"]', has_text=session["id"]).locator('[data-testid="phone-health"]').inner_text()
    assert shown.startswith("YELLOW") and "TIER_250" in shown
    (entry,) = roost.sql("SELECT action, resource_id FROM audit_log_entries WHERE action = 'business_profile.refresh'")
    assert entry.resource_id == profile["id"]
    assert page.errors == []
