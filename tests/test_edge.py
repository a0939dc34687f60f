"""The HTTP edge of a real `roost serve` on loopback (docs/deploying.md, section 8): the
request head limited in size and time, a stalled body dropped, keep-alive, proxy headers only
from ROOST_TRUSTED_PROXIES, several processes, and provisioning drained on SIGTERM."""

import json
import re
import socket
import time
from pathlib import Path

import pytest

from roost.kit.crypto import new_key_text
from tests.hosted.helpers import CodeInFlight, wait_for
from tests.processes import (
    RoostServer, database_for, execute_sql, release_database, roost_env, run_roost, run_roost_json,
)
from tests.support import PG_URL, SESSIONS

LIMIT = 32_768
SHORT = 1.5  # the head, body and keep-alive timeouts of the module's server, in seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("edge")
    env = roost_env(
        ROOST_DATABASE_URL=f"sqlite:///{directory / 'roost.db'}",
        ROOST_LOG_LEVEL="info",
        ROOST_TRUSTED_PROXIES="127.0.0.1",
        ROOST_HTTP_HEAD_TIMEOUT_SECONDS=str(SHORT),
        ROOST_HTTP_BODY_TIMEOUT_SECONDS=str(SHORT),
        ROOST_HTTP_KEEP_ALIVE_SECONDS=str(SHORT),
    )
    server = RoostServer(env, directory, name="edge")
    server.admin_key = run_roost_json("orgs", "create", "Edge", "--json", env=env, cwd=directory)["admin_key"]
    yield server
    server.stop()


def connect(server: RoostServer, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=(source, 0))


def read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def error_of(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- the head's size ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["header", "request line", "many headers"])
def test_a_head_over_32_kb_gets_431_and_the_connection_closes(server, where):
    filler = "a" * (LIMIT + 100)
    head = {
        "header": f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n",
        "request line": f"GET /healthz?{filler} HTTP/1.1\r\nHost: x\r\n\r\n",
        "many headers": "GET /healthz HTTP/1.1\r\nHost: x\r\n" + "X-F: 0123456789\r\n" * 2000 + "\r\n",
    }[where]
    with connect(server) as connection:
        connection.sendall(head.encode())
        response = read_until_closed(connection)
    assert status_of(response) == 431
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_head_too_large")
    assert error["request_id"].startswith("req_")


def test_a_head_just_under_the_limit_is_served(server):
    head = f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Filler: {'a' * (LIMIT - 200)}\r\n\r\n"
    with connect(server) as connection:
        connection.sendall(head.encode())
        assert status_of(read_until_closed(connection)) == 200


def test_a_huge_head_is_refused_without_the_server_growing(server):
    """The audit's case: 100 MB of head once grew the server by 200 MB. Sent in 1 MB writes,
    the head is refused after its first 32 KB; the server keeps its size."""
    before = rss_kib(server.process.pid)
    chunk = b"a" * 1_048_576
    sent = 0
    with connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ")
        try:
            while sent < 100 * len(chunk):
                connection.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            response = read_until_closed(connection)
        except ConnectionResetError:
            response = b""
    grown_kib = rss_kib(server.process.pid) - before
    assert sent < 100 * len(chunk), "the server read the whole 100 MB head"
    assert grown_kib < 8 * 1024, f"the server grew by {grown_kib} KiB"
    assert response == b"" or status_of(response) == 431
    with server.client() as client:
        assert client.get("/healthz").status_code == 200  # and it still serves


# -- time --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"], ids=["nothing", "half a head"])
def test_a_head_that_does_not_arrive_in_time_gets_408(server, sent):
    with connect(server) as connection:
        started = time.monotonic()
        connection.sendall(sent)
        response = read_until_closed(connection)
        waited = time.monotonic() - started
    assert status_of(response) == 408
    assert error_of(response)["code"] == "request_timeout"
    assert SHORT * 0.9 <= waited < SHORT + 3


def create_request(server: RoostServer, body: bytes, length: int | None = None) -> bytes:
    return (
        f"POST {SESSIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.admin_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) if length is None else length}\r\n\r\n"
    ).encode()


def session_count(server: RoostServer) -> int:
    with server.client(server.admin_key) as client:
        return len(client.get(SESSIONS, params={"limit": 100}).json()["data"])


def test_a_body_that_stops_arriving_drops_the_connection_and_creates_nothing(server):
    before = session_count(server)
    body = b'{"metadata": {"a": "b"}}'
    with connect(server) as connection:
        started = time.monotonic()
        connection.sendall(create_request(server, body) + body[:5])
        received = read_until_closed(connection)
        waited = time.monotonic() - started
    assert received == b""  # no answer of ours: the application may have been answering already
    assert SHORT * 0.9 <= waited < SHORT + 3
    assert session_count(server) == before


def test_a_slow_body_that_keeps_coming_is_served(server):
    """The body's limit is on silence, not on the whole: pieces closer than it get through."""
    body = b'{"metadata": {"a": "b"}}'
    with connect(server) as connection:
        connection.sendall(create_request(server, body))
        for start in range(0, len(body), 8):
            time.sleep(SHORT * 0.4)
            connection.sendall(body[start : start + 8])
        response = connection.recv(65536)
    assert status_of(response) == 201


def test_an_idle_keep_alive_connection_is_closed(server):
    with connect(server) as connection:
        started = time.monotonic()
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        response = read_until_closed(connection)
        waited = time.monotonic() - started
    assert status_of(response) == 200
    assert b"connection: close" not in response.lower()  # kept alive, then closed for idling
    assert SHORT * 0.9 <= waited < SHORT + 3


# -- proxy headers -----------------------------------------------------------------------------


def logged_client(server: RoostServer, request_id: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in server.stderr().splitlines():
            if request_id in line and '"event": "request"' in line:
                return json.loads(line)["client"]
        time.sleep(0.05)
    raise AssertionError(f"no request line for {request_id}")


@pytest.mark.parametrize(
    ("source", "expected"), [("127.0.0.1", "203.0.113.7"), ("127.0.0.2", "127.0.0.2")], ids=["trusted", "untrusted"]
)
def test_forwarded_headers_are_believed_only_from_trusted_proxies(server, source, expected):
    with connect(server, source) as connection:
        connection.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\r\n"
        )
        response = read_until_closed(connection).decode()
    request_id = re.search(r"request-id: (\S+)", response, re.IGNORECASE).group(1)
    assert logged_client(server, request_id) == expected


# -- processes ---------------------------------------------------------------------------------


def test_several_workers_need_postgresql(tmp_path):
    env = roost_env(ROOST_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    result = run_roost("serve", "--workers", "2", env=env, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "--workers above 1 needs PostgreSQL" in result.stderr


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not PG_URL, reason="needs ROOST_TEST_DATABASE_URL (PostgreSQL)")
def test_serve_with_two_workers_runs_two_processes_that_answer_and_stop_together(tmp_path):
    database_url = database_for("postgres", tmp_path)
    env = roost_env(ROOST_DATABASE_URL=database_url, ROOST_SECRET_KEY=new_key_text())
    server = RoostServer(env, tmp_path, name="workers", extra_args=("--workers", "2", "--no-worker"), wait=False)
    try:
        server.wait_until_ready(timeout=90)  # three interpreters starting at once on a busy machine
        # uvicorn's supervisor also starts a helper for its pipes; the two serving processes
        # are those that hold the app (the command line names no module of its own).
        deadline = time.monotonic() + 20
        while len(serving := serving_processes(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(serving) == 2
        with server.client() as client:
            assert all(client.get("/readyz").status_code == 200 for _ in range(20))
        assert server.stop() in (0, -15)
        assert all(not Path(f"/proc/{pid}").exists() for pid in serving)
    finally:
        server.stop()
        release_database(database_url)


def serving_processes(pid: int) -> list[int]:
    serving = []
    for child in children_of(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"resource_tracker" not in command:
            serving.append(child)
    return serving


# -- graceful shutdown -------------------------------------------------------------------------


def test_sigterm_lets_provisioning_in_flight_finish(tmp_path):
    """Meta's code arrives, provisioning is under way (the simulator answers its subscription
    call 2 s late) and the process is told to stop: it finishes first, and the page gets its answer."""
    env = roost_env(ROOST_DATABASE_URL=f"sqlite:///{tmp_path / 'roost.db'}", ROOST_SHUTDOWN_GRACE_SECONDS="20")
    org = run_roost_json("orgs", "create", "Draining", "--json", env=env, cwd=tmp_path)
    server = RoostServer(env, tmp_path, name="drain")

    def session_column(signup: CodeInFlight, column: str):
        statement = f"SELECT {column} FROM embedded_signup_sessions WHERE id = :id"
        return execute_sql(env["ROOST_DATABASE_URL"], statement, id=signup.session["id"])[0][0]

    try:
        with server.client(org["admin_key"]) as api, server.client() as page:
            signup = CodeInFlight(api, page, delay_ms=2000)
            wait_for(lambda: session_column(signup, "code_received_at"), timeout=10, every=0.05)
            assert server.stop() in (0, -15)  # uvicorn raises the signal again once it has stopped
            answer = signup.answer()
        assert "timeout graceful shutdown exceeded" not in server.stderr()
        assert (answer.status_code, answer.json()) == (200, {"accepted": True})
        assert session_column(signup, "status") == "completed"
    finally:
        server.stop()
