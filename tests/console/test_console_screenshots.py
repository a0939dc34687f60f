"""Screenshots of the console for docs/console.md (1280 and 360 px wide).

Skipped unless ROOST_SCREENSHOTS=1:  ROOST_SCREENSHOTS=1 .venv/bin/python -m pytest tests/console/test_console_screenshots.py
"""

import os
from pathlib import Path

import pytest

from tests.console.conftest import make_user, sign_in
from tests.hosted.helpers import create_session
from tests.support import SESSIONS, wait_until
from tests.webhooks.helpers import Receiver

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SIZES = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 360, "height": 740}}

pytestmark = pytest.mark.skipif(os.environ.get("ROOST_SCREENSHOTS") != "1", reason="set ROOST_SCREENSHOTS=1 to refresh docs/images")


def test_screenshots(roost, org, browser):
    if roost.runtime.settings.database_url.startswith("postgresql"):
        pytest.skip("once is enough")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with org.client() as api:
        outcomes = ["completed", "completed", "cancelled", "signup_error", None, "completed", "cancelled", None]
        for index, outcome in enumerate(outcomes):
            session = create_session(api, metadata={"externalUserId": f"user_{120 + index}"}, redirect_uri=None)
            if outcome:
                assert api.post(f"{SESSIONS}/{session['id']}/simulate", json={"outcome": outcome}).status_code == 200
        failed = create_session(api, metadata={"externalUserId": "user_123"})
        api.post(f"{SESSIONS}/{failed['id']}/simulate", json={"outcome": "signup_error", "error_code": "2388093"})
    email = make_user(roost, org, "support@acme.test")
    # A webhook endpoint whose receiver refused a test event with an error body, then took one.
    receiver = Receiver(behaviour=lambda index, body: (503 if index == 0 else 200, {}, 0.0)).start()
    receiver.answer_body = b'{"error": "database is read-only for maintenance, try again in 5 minutes"}'
    with org.client() as api:
        created = api.post("/v1/organization/webhooks", json={"url": receiver.url, "events": ["*"]})
        assert created.status_code == 201, created.text
        endpoint = created.json()
        for answered in (1, 2):
            assert api.post(f"/v1/organization/webhooks/{endpoint['id']}/test").status_code in (200, 201, 202)
            wait_until(lambda: roost.sql(
                "SELECT count(*) FROM webhook_attempts WHERE endpoint_id = :e", e=endpoint["id"])[0][0] == answered,
                what="the test event's answer recorded")
            receiver.answer_body = b'{"received": true}'
    receiver.stop()

    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        try:
            page = context.new_page()
            page.goto(f"{roost.base_url}/console/login")
            page.screenshot(path=str(IMAGES / f"console-login-{size}.png"), full_page=True)
            sign_in(page, roost.base_url, email)
            for name, path in (
                ("overview", "/console"),
                ("sessions", "/console/sessions?metadata[externalUserId]=user_123"),
                ("session", f"/console/sessions/{failed['id']}"),
                ("settings", "/console/settings"),
                ("webhook", f"/console/webhooks/{endpoint['id']}"),
            ):
                page.goto(roost.base_url + path)
                page.wait_for_timeout(200)
                page.evaluate("document.querySelectorAll('details.attempt').forEach((d) => { d.open = true })")
                page.screenshot(path=str(IMAGES / f"console-{name}-{size}.png"), full_page=True)
                # Usable at this width: nothing wider than the window (wide tables scroll inside themselves).
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
        finally:
            context.close()
