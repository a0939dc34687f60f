"""The example platform (examples/platform) end to end in the browser: sign in, connect by
redirect and by popup (roost.js), verified results, verified webhooks, the numbers listed."""

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from examples.platform.app import Platform, create_app
from roost_client import Roost
from tests.hosted.helpers import start_flow, visible, wait_for
from tests.support import free_port


@pytest.fixture
def example(start_hosted) -> Iterator[tuple[Any, Platform, str]]:
    roost = start_hosted(webhook_allow_private=True, own_database=True)  # its worker delivers its webhooks
    org = roost.new_org()
    port = free_port()
    platform = Platform(
        roost=Roost(org.test_key, base_url=roost.base_url),
        public_url=f"http://127.0.0.1:{port}",
        roost_public_url=roost.base_url,
    )
    platform.set_up_roost()
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10)
    yield roost, platform, platform.public_url
    server.should_exit = True
    thread.join(timeout=10)
    platform.roost.close()


def webhook_types(platform: Platform) -> list[str]:
    return [entry["type"] for entry in platform.webhook_log]


def test_redirect_and_popup_connections(example, page):
    roost, platform, url = example
    page.goto(url)
    page.fill('[data-testid="name"]', "Ana")
    page.click('[data-testid="sign-in"]')

    # Redirect: the platform's form → Roost's page → Meta's (simulated) dialog → back, verified.
    page.click('[data-testid="connect-redirect"]')
    page.wait_for_url(f"{roost.base_url}/embed/connect*")
    dialog = start_flow(page)
    dialog.click('[data-testid="es-sim-finish"]')
    page.wait_for_url(f"{url}/", timeout=30_000)
    assert visible(page, "notice").inner_text() == "WhatsApp connected."
    assert page.locator('[data-testid="number"]').count() == 1

    # Popup: roost.js opens the hosted page from the click; the result comes back as a message.
    with page.expect_popup() as popup_info:
        page.click('[data-testid="connect-popup"]')
    hosted = popup_info.value
    hosted.set_default_timeout(15_000)
    hosted.wait_for_load_state()
    meta = start_flow(hosted)
    meta.click('[data-testid="es-sim-finish"]')
    # The page posts the result to the platform, which verifies it, then reloads.
    page.wait_for_function("document.querySelectorAll('[data-testid=number]').length === 2", timeout=30_000)
    assert page.locator('[data-testid="notice"]').inner_text() == "WhatsApp connected."

    # Both completions arrived as webhooks whose signatures the platform verified.
    # (Deliveries run concurrently: the events of one change may arrive in any order.)
    wait_for(lambda: webhook_types(platform).count("embedded_signup.session.completed") == 2, timeout=30)
    wait_for(lambda: webhook_types(platform).count("whatsapp.business_profile.connected") == 2, timeout=30)
    assert len({entry["id"] for entry in platform.webhook_log}) == len(platform.webhook_log)
    assert page.errors == []

    # Each user sees the webhooks about their own connections only, the numbers' too.
    wait_for(lambda: webhook_types(platform).count("whatsapp.phone_number.registered") == 2, timeout=30)
    page.reload()
    shown = page.locator('[data-testid="webhook"]').all_inner_texts()
    for kind in ("embedded_signup.session.completed", "whatsapp.phone_number.registered"):
        assert sum(text.startswith(kind + " ") for text in shown) == 2, shown
    with httpx.Client(base_url=url) as other_browser:
        other = other_browser.post("/signin", data={"name": "Bo"}, follow_redirects=True)
    assert "Hello, Bo" in other.text
    assert "data-testid='webhook'" not in other.text and "None yet." in other.text


def test_forged_results_and_webhooks_are_refused(example, page):
    roost, platform, url = example
    with httpx.Client(base_url=url) as browser:
        browser.post("/signin", data={"name": "Mallory"})
        forged = browser.get("/whatsapp/callback", params={
            "session_id": "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "state": "x", "status": "completed",
            "timestamp": "1705321800", "signature": "v1=" + "0" * 64,
        })
        assert forged.status_code == 400
        assert browser.post("/whatsapp/popup-result", json={"session_id": "wss_x", "signature": "v1=00"}).status_code == 400
        unsigned = browser.post("/webhooks/roost", content=b'{"type": "embedded_signup.session.completed"}',
                                headers={"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"})
        assert unsigned.status_code == 400
    assert platform.webhook_log == []
