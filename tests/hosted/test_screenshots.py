"""Screenshots of the hosted page's main screens for docs/hosted-page.md (desktop and 360 px).

Skipped unless ROOST_SCREENSHOTS=1:  ROOST_SCREENSHOTS=1 .venv/bin/python -m pytest tests/hosted/test_screenshots.py
"""

import os
from pathlib import Path

import pytest

from tests.hosted.helpers import create_session, open_link, start_flow, visible
from tests.support import SESSIONS

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SIZES = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 360, "height": 740}}

pytestmark = pytest.mark.skipif(os.environ.get("ROOST_SCREENSHOTS") != "1", reason="set ROOST_SCREENSHOTS=1 to refresh docs/images")


@pytest.mark.parametrize("size", sorted(SIZES))
def test_screenshots(hosted, platform, browser, api, size):
    if hosted.runtime.settings.database_url.startswith("postgresql"):
        pytest.skip("once is enough")
    IMAGES.mkdir(parents=True, exist_ok=True)
    api.patch("/v1/organization/settings", json={"name": "Acme Cloud", "branding": {"accent_color": "#0B6E4F"}})
    prefill = {"business": {"name": "Bella's Bakery"}}

    def shot(page, name: str) -> None:
        page.wait_for_timeout(300)
        page.screenshot(path=str(IMAGES / f"hosted-{name}-{size}.png"), full_page=True)

    context = browser.new_context(viewport=SIZES[size], device_scale_factor=1)
    other = browser.new_context(viewport=SIZES[size], device_scale_factor=1)
    try:
        page = context.new_page()
        session = create_session(api, prefill=prefill)
        open_link(page, session["url"])
        page.wait_for_function("!!window.FB")
        shot(page, "connect")
        dialog = start_flow(page)
        dialog.click('[data-testid="es-sim-cancel"]')
        visible(page, "flow-cancelled")
        shot(page, "flow-cancelled")

        second = other.new_page()
        open_link(second, session["url"])
        visible(second, "result-in-use")
        shot(second, "in-use")

        start_flow(page).click('[data-testid="es-sim-finish"]')
        visible(page, "result-completed")
        visible(page, "connected-numbers")
        shot(page, "completed")

        cancelled = create_session(api, redirect_uri=platform.callback, state="s")
        page = context.new_page()
        open_link(page, cancelled["url"])
        api.delete(f"{SESSIONS}/{cancelled['id']}")
        visible(page, "result-cancelled", timeout=10_000)
        visible(page, "return-button")
        shot(page, "cancelled")
    finally:
        context.close()
        other.close()
