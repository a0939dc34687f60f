"""Fixtures for the hosted page: a Roost whose simulator is on another origin, a platform site
on a third origin, and Debian's Chromium driven by Playwright.

Roost listens on 127.0.0.1:<port> with public URL http://127.0.0.1:<port> and simulator URL
http://localhost:<port>: the page, Meta's (simulated) dialog and the platform are three origins,
so origin checks, the CSP and postMessage targets work across origins as they do live.
"""

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from roost.app import create_app
from roost.config import Settings
from roost.runtime import build_runtime
from tests.support import RunningRoost, free_port, make_settings, own_database_url

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


class HostedRoost(RunningRoost):
    """RunningRoost on a port chosen first, so that the settings can name it twice."""

    def __init__(self, backend: str, tmp_path: Path, own_database: bool = False, **overrides: Any) -> None:  # noqa: D107
        self.private_database = own_database_url(backend) if own_database else None
        if self.private_database:
            overrides["database_url"] = self.private_database
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.simulator_url = f"http://localhost:{self.port}"
        settings: Settings = make_settings(
            backend, tmp_path, public_url=self.base_url, simulator_url=self.simulator_url, **overrides
        )
        self.runtime = build_runtime(settings, port=self.port)
        app = create_app(self.runtime, run_worker=True)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.loop = None
        self.thread = threading.Thread(target=self._serve, daemon=True)


@pytest.fixture(scope="session")
def hosted(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostedRoost]:
    """The hosted page's server for this backend (simulator on http://localhost:<port>)."""
    server = HostedRoost(backend, tmp_path_factory.mktemp(f"hosted-{backend}")).start()
    yield server
    server.stop()


@pytest.fixture
def start_hosted(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Another hosted server with other settings: `start_hosted(session_ttl_seconds=1)`."""
    started: list[HostedRoost] = []

    def start(**overrides: Any) -> HostedRoost:
        server = HostedRoost(backend, tmp_path_factory.mktemp("hosted-extra"), **overrides).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class PlatformSite:
    """The platform's own web pages on a third origin: a page that opens the link in a popup
    (and records what it receives), and a callback page for redirects."""

    OPENER = """<!doctype html><html><head><meta charset="utf-8"><title>Platform</title></head><body>
<button id="open">Connect WhatsApp</button>
<script>
window.received = [];
window.addEventListener('message', function (event) {
  window.received.push({origin: event.origin, data: event.data});
});
document.getElementById('open').addEventListener('click', function () {
  window.child = window.open(decodeURIComponent(location.hash.slice(1)), 'roost_connect', 'width=520,height=720');
});
</script></body></html>"""
    CALLBACK = "<!doctype html><html><head><meta charset='utf-8'><title>Callback</title></head><body>Back on the platform</body></html>"

    def __init__(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                body = (site.OPENER if path == "/opener" else site.CALLBACK).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.callback = f"{self.origin}/callback"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def platform() -> Iterator[PlatformSite]:
    site = PlatformSite()
    yield site
    site.close()


@pytest.fixture(scope="module")
def browser(backend: str) -> Iterator[Any]:
    # Depends on `backend` so that it is closed before the next backend is set up: Playwright's
    # sync API keeps an event loop running in this thread, and that setup uses asyncio.run().
    if not HAVE_CHROMIUM:
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context: Any) -> Any:
    page = context.new_page()
    page.errors = []  # uncaught exceptions of the page (there must be none)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


@pytest.fixture
def org(hosted: HostedRoost) -> Any:
    """A fresh organization on the hosted page's server (overrides the suite's `org`)."""
    return hosted.new_org()


@pytest.fixture
def api(org: Any) -> Iterator[Any]:
    with org.client() as client:
        yield client
