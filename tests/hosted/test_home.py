"""`GET /`: a person who opens Roost's address is pointed to the API reference and the console;
an API client gets the JSON 404 of any unknown path, with the same pointers."""

import httpx
import pytest

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html;q=0.5, application/json"])
def test_an_api_client_gets_the_json_404_with_pointers(hosted, accept):
    headers = {"Accept": accept} if accept else {}
    response = httpx.get(f"{hosted.base_url}/", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "resource_missing"
    assert "/docs" in error["message"] and "/console" in error["message"]


def test_a_browser_is_shown_where_to_go(hosted, page):
    page.goto(f"{hosted.base_url}/")
    assert page.locator("h1").inner_text() == "Roost is running"
    assert page.get_attribute('[data-testid="home-docs"]', "href") == "/docs"
    assert page.get_attribute('[data-testid="home-console"]', "href") == "/console"
    # The CSP lets its own style through (by hash) and nothing else.
    assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"
    response = httpx.get(f"{hosted.base_url}/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert page.errors == []
    page.click('[data-testid="home-docs"]')  # (Swagger UI's script comes from a CDN: not offline)
    page.wait_for_url(f"{hosted.base_url}/docs")
