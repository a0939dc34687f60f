"""Fixtures for the client's tests.

- `recorder`: a real HTTP server on loopback that records every request and answers with what
  the test scripted (for the request shapes, retries and error mapping, and for the endpoints
  the server does not have yet).
- `roost_server` / `org_key`: a real Roost (the repo's own harness, tests/support/: uvicorn
  on a free loopback port) on SQLite, and on PostgreSQL too when ROOST_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[3]
if (REPO / "tests" / "support").is_dir() and str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the server harness lives in the repo's tests package


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any
    raw: bytes = b""

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"id": "obj_1", "object": "thing"})
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


class Recorder:
    """A loopback HTTP server that records requests and plays scripted replies in order
    (then the default reply)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: list[Reply] = []
        self.default = Reply()
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with recorder.lock:
                    recorder.requests.append(
                        Recorded(
                            method=self.command,
                            path=parts.path,
                            query=parse_qsl(parts.query, keep_blank_values=True),
                            headers={name.lower(): value for name, value in self.headers.items()},
                            body=json.loads(raw) if raw else None,
                            raw=raw,
                        )
                    )
                    reply = recorder.replies.pop(0) if recorder.replies else recorder.default
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_{len(recorder.requests)}")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


TEST_KEY = "sk_admin_test_recorded"


@pytest.fixture
def client(recorder: Recorder) -> Iterator[Any]:
    from roost_client import Roost

    with Roost(TEST_KEY, base_url=recorder.base_url, initial_retry_delay=0.01, max_retry_delay=0.05) as roost:
        yield roost


# The real server ---------------------------------------------------------------------------


def _backends() -> list[str]:
    import os

    return ["sqlite"] + (["postgres"] if os.environ.get("ROOST_TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session", params=_backends())
def server_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL of the client tests' own (a private PostgreSQL database, or a SQLite file)."""
    support = pytest.importorskip("tests.support", reason="the Roost server is not installed")
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('client-sqlite') / 'roost.db'}"
        return
    url = support.private_postgres_database()
    yield url
    support.drop_postgres_database(url)


@pytest.fixture(scope="session")
def start_server(server_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start a Roost on loopback with other settings: `start_server(rate_limit_per_minute=3)`.
    The first one uses the run's database; later ones (and `own_database=True`) get a database of
    their own on SQLite, and share the run's on PostgreSQL unless `own_database=True` (a server
    whose background work must not be picked up by another one, such as webhook delivery)."""
    from tests import support

    started: list[Any] = []
    databases: list[str] = []

    def start(own_database: bool = False, **overrides: Any) -> Any:
        if own_database and server_database.startswith("postgresql"):
            databases.append(support.private_postgres_database())
            overrides.setdefault("database_url", databases[-1])
        elif server_database.startswith("postgresql") or not (started or own_database):
            overrides.setdefault("database_url", server_database)
        else:
            overrides.setdefault("database_url", f"sqlite:///{tmp_path_factory.mktemp('client-sqlite') / 'roost.db'}")
        settings = support.make_settings("sqlite", tmp_path_factory.mktemp("client-roost"), **overrides)
        server = support.RunningRoost(settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for url in databases:
        support.drop_postgres_database(url)


@pytest.fixture(scope="session")
def roost_server(start_server: Any) -> Any:
    return start_server()


@pytest.fixture
def org_key(roost_server: Any) -> str:
    """A fresh organization's test admin key."""
    return roost_server.new_org("Client tests").test_key
