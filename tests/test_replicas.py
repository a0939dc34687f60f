"""Many replicas behind a balancer, as docs/deploying.md draws them: Debian's nginx (with the
proxy settings of deploy/nginx/roost-proxy.conf) in front of two `roost serve --no-worker`
and one `roost worker` on one PostgreSQL database. A signup in a real browser completes through
it; the rate limit and idempotency hold across replicas; a replica killed while it provisions a
signup loses nothing. Runs only with ROOST_TEST_DATABASE_URL and /usr/sbin/nginx."""

import json
import os
import subprocess
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from roost.kit.crypto import new_key_text
from roost.kit.timeutil import now_ms
from tests.hosted.conftest import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM
from tests.hosted.helpers import (
    CodeInFlight, event_types, get_session, open_link, start_flow, visible, wait_for,
)
from tests.processes import (
    RoostProcess, RoostServer, database_for, execute_sql, release_database, roost_env, run_roost, run_roost_json,
)
from tests.support import PG_URL, SESSIONS, free_port, wait_for_room_in_window

NGINX = "/usr/sbin/nginx"
PROXY_CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "roost-proxy.conf"
RATE_LIMIT = 20
REPLICA = "x-roost-replica"  # which replica answered (added by this test's balancer)

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="needs ROOST_TEST_DATABASE_URL (PostgreSQL)"),
    pytest.mark.skipif(not os.path.exists(NGINX), reason=f"needs nginx at {NGINX}"),
]


def nginx_config(directory: Path, port: int, upstreams: list[int]) -> str:
    servers = "".join(f"        server 127.0.0.1:{upstream} max_fails=1 fail_timeout=30s;\n" for upstream in upstreams)
    temp_paths = "".join(f"    {kind}_temp_path {directory / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        ("user root;\n" if os.geteuid() == 0 else "")  # its workers read this test's private directory
        + f"daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'nginx.error.log'} warn;\n"
        + "events { worker_connections 256; }\n"
        + "http {\n    access_log off;\n" + temp_paths
        + f"    upstream roost {{\n{servers}        keepalive 16;\n        keepalive_timeout 4s;\n    }}\n"
        + f"    server {{\n        listen 127.0.0.1:{port};\n        add_header X-Roost-Replica $upstream_addr always;\n"
        + f"        include {PROXY_CONF};\n    }}\n}}\n"
    )


class Cluster:
    """nginx, two API replicas and a worker on a PostgreSQL database of their own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.database_url = database_for("postgres", directory)
        self.port = free_port()
        self.public_url = f"http://127.0.0.1:{self.port}"
        self.env = roost_env(
            ROOST_DATABASE_URL=self.database_url,
            ROOST_SECRET_KEY=new_key_text(),
            ROOST_PUBLIC_URL=self.public_url,
            ROOST_TRUSTED_PROXIES="127.0.0.1",
            ROOST_MIGRATE_ON_START="0",
            ROOST_RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT),
            ROOST_WORKER_INTERVAL_SECONDS="0.2",
            ROOST_LOG_LEVEL="info",
        )
        self.processes: list[RoostProcess] = []
        self.nginx: subprocess.Popen | None = None

    def start(self) -> None:
        run_roost("migrate", env=self.env, cwd=self.directory)  # a separate step, as in a deployment
        self.replicas = [
            RoostServer(self.env, self.directory, name=f"api-{n}", extra_args=("--no-worker",), wait=False) for n in (1, 2)
        ]
        self.processes += [*self.replicas, RoostProcess(["worker"], self.env, self.directory, "worker")]
        self.admin_key = run_roost_json("orgs", "create", "Balanced", "--json", env=self.env, cwd=self.directory)["admin_key"]
        for replica in self.replicas:
            replica.wait_until_ready()
        config = self.directory / "nginx.conf"
        config.write_text(nginx_config(self.directory, self.port, [replica.port for replica in self.replicas]))
        self.nginx = subprocess.Popen(
            [NGINX, "-p", str(self.directory), "-e", str(self.directory / "nginx.error.log"), "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        wait_for(lambda: self._answers("/readyz"), timeout=15, every=0.05)

    def _answers(self, path: str) -> bool:
        if self.nginx.poll() is not None:
            raise AssertionError(f"nginx exited {self.nginx.returncode}: {self.nginx.stderr.read().decode()}")
        try:
            return httpx.get(self.public_url + path, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def api(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.public_url, headers={"Authorization": f"Bearer {key or self.admin_key}"}, timeout=30)

    def new_key(self) -> str:
        with self.api() as api:
            response = api.post("/v1/organization/admin-keys", json={})
        assert response.status_code == 201, response.text
        return response.json()["admin_key"]

    def stop(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=10)
        for process in self.processes:
            process.stop()
        release_database(self.database_url)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("replicas"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"needs Debian's Chromium at {CHROMIUM}")
def test_a_signup_in_a_browser_through_the_balancer_completes(cluster):
    from playwright.sync_api import sync_playwright

    with cluster.api() as api:
        session = api.post(SESSIONS, json={}).json()
        answered_by: set[str] = set()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context().new_page()
                page.set_default_timeout(15_000)
                page.on("response", lambda response: answered_by.add(response.headers.get(REPLICA)))
                open_link(page, session["url"])
                dialog = start_flow(page)
                dialog.click('[data-testid="es-sim-finish"]')
                visible(page, "result-completed")
            finally:
                browser.close()
        after = get_session(api, session["id"])
        assert after["status"] == "completed" and after["business_profile_id"]
    # The page's own calls went to both replicas: its session is no replica's in particular.
    assert {f"127.0.0.1:{replica.port}" for replica in cluster.replicas} <= answered_by


def test_the_rate_limit_holds_across_replicas(cluster):
    key = cluster.new_key()
    wait_for_room_in_window(10.0)
    with cluster.api(key) as api:
        responses = [api.get("/v1/organization/settings") for _ in range(RATE_LIMIT + 1)]
    assert [response.status_code for response in responses] == [200] * RATE_LIMIT + [429]
    assert len({response.headers[REPLICA] for response in responses}) == 2
    assert responses[-1].json()["error"]["code"] == "rate_limited"


def test_an_idempotency_key_holds_across_replicas(cluster):
    idempotency_key = f"replicas-{uuid.uuid4()}"
    body = {"metadata": {"test": idempotency_key}}
    with cluster.api(cluster.new_key()) as api:
        first = api.post(SESSIONS, json=body, headers={"Idempotency-Key": idempotency_key})
        again = api.post(SESSIONS, json=body, headers={"Idempotency-Key": idempotency_key})
        assert (first.status_code, again.status_code) == (201, 201)
        assert first.headers[REPLICA] != again.headers[REPLICA]
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["Idempotent-Replayed"] == "true"

        # At the same moment on both replicas: still one session.
        concurrent_key = f"{idempotency_key}-together"
        answers: list[httpx.Response] = []
        senders = [
            threading.Thread(target=lambda: answers.append(api.post(SESSIONS, json=body, headers={"Idempotency-Key": concurrent_key})))
            for _ in range(2)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        created = [answer.json()["id"] for answer in answers if answer.status_code == 201]
        others = [answer.json()["error"]["code"] for answer in answers if answer.status_code != 201]
        assert len(set(created)) == 1 and set(others) <= {"idempotency_key_in_use"}
        listed = api.get(SESSIONS, params={"metadata[test]": idempotency_key, "limit": 10}).json()["data"]
        assert len(listed) == 2  # the first key's session and the concurrent key's


def took_the_code(replica: RoostServer, session_id: str) -> bool:
    lines = replica.stderr().splitlines()
    return any('"event": "code_received"' in line and f'"session_id": "{session_id}"' in line for line in lines)


def test_a_replica_killed_while_it_provisions_loses_nothing(cluster):
    """Meta's code reaches one replica, which dies (SIGKILL) in the middle of provisioning. The
    page's request fails at the balancer; the worker resumes from the last finished step once
    the dead replica's lease runs out (aged here rather than waiting its 90 s)."""
    with cluster.api(cluster.new_key()) as api, httpx.Client(base_url=cluster.public_url, timeout=30) as page:
        flow = CodeInFlight(api, page, delay_ms=5000)
        session_id, waba_id = flow.session["id"], flow.signup["waba_id"]

        def stored() -> dict:
            """The session's row, read from the database (polling through the API would use up
            the key's rate limit)."""
            statement = "SELECT status, provisioning, provisioning_lease_until FROM embedded_signup_sessions WHERE id = :id"
            status, steps, lease_until = execute_sql(cluster.database_url, statement, id=session_id)[0]
            steps = {step["step"]: step for step in (json.loads(steps) if isinstance(steps, str) else steps or [])}
            return {"status": status, "steps": steps, "lease_until": lease_until}

        wait_for(lambda: stored()["steps"].get("subscribe_app", {}).get("status") == "running", timeout=15, every=0.05)
        (victim,) = [replica for replica in cluster.replicas if took_the_code(replica, session_id)]
        victim.process.kill()
        victim.process.wait()
        assert flow.answer().status_code == 502  # the balancer lost its upstream mid-request

        held = stored()
        assert held["status"] == "pending" and held["lease_until"] > now_ms()  # the dead replica's lease
        statement = "UPDATE embedded_signup_sessions SET provisioning_lease_until = :now, provisioning_next_at = :now WHERE id = :id"
        execute_sql(cluster.database_url, statement, now=now_ms(), id=session_id)
        # Completed, and the number's registration (the last step, after completion) finished too.
        wait_for(lambda: (row := stored())["status"] == "completed" and row["steps"]["register_phone"]["finished_at"], timeout=30)
        done = get_session(api, session_id)
        assert done["business_profile_id"] and done["waba_id"] == waba_id
        assert {step["status"] for step in done["provisioning"]} <= {"succeeded", "skipped"}, done["provisioning"]
        types = event_types(api, session_id)
        assert types.count("meta.code_received") == 1
        assert types.count("session.status_changed") == 1  # pending to completed, once
        profiles = api.get("/v1/organization/whatsapp/business-profiles", params={"limit": 100}).json()["data"]
        assert [profile["id"] for profile in profiles if profile["waba_id"] == waba_id] == [done["business_profile_id"]]
