"""Provisioning benchmark: how long the user waits after Meta's FINISH, and what Roost costs per signup.

    .venv/bin/python bench/provisioning.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/provisioning.py --sqlite-only --signups 10

Each signup takes the hosted page's path against the built-in simulator (test mode): the page's
`launch`, Meta's FINISH relayed by `message`, then Meta's code to `POST /embed/api/code`, which
answers once provisioning has run (exchange, verification, subscription, profile, registration).
The same is measured with `simulate` (the test helper that plays the dialog and provisions in
one request), as the issue that asked for this benchmark measured it. Three figures per
database, medians over the signups:

- **round trips**: with the simulator's `latency` fault at 200 ms on every Graph call, the wait
  from sending the code until the session is `completed` (the account connected; `completed_at`,
  same clock), divided by 200 ms. Also the whole code request (phone registration included).
- **own time**: the same wait with no latency: what Roost (and the in-process simulator) costs.
- **transactions**: database transactions begun for one `POST /embed/api/code` (the request and
  the provisioning it runs), the simulator's own excluded. Counted on the engine (`begin` events),
  attributed by the request's id; the worker is off, so nothing else runs.

Roost runs in this process (uvicorn in a thread) so that its engine can be watched; the client
is httpx in the main thread. Writes `bench/results/provisioning.json`.
"""

import argparse
import asyncio
import contextvars
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import structlog
import uvicorn
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
from databases import create_database, drop_database  # noqa: E402
from roostproc import free_port  # noqa: E402

from roost.app import create_app  # noqa: E402
from roost.config import Settings  # noqa: E402
from roost.db.migrate import upgrade_async  # noqa: E402
from roost.kit.crypto import new_key_text  # noqa: E402
from roost.organizations import service as organizations  # noqa: E402
from roost.runtime import build_runtime  # noqa: E402
from roost.simulator.service import GRAPH_CALLS  # noqa: E402

LATENCY_MS = 200
SESSIONS = "/v1/organization/embedded-signup/sessions"
FAULTS = "/_sim/control/faults"
IN_SIMULATOR = contextvars.ContextVar("in_simulator", default=False)


class MarkSimulator(httpx.AsyncBaseTransport):
    """Wraps the in-process transport to the simulator, so its own transactions are told apart."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        token = IN_SIMULATOR.set(True)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            IN_SIMULATOR.reset(token)


class TransactionCounter:
    """Transactions begun on an engine, per request id (structlog's context, copied into the
    tasks a request starts), leaving out the simulator's."""

    def __init__(self, engine: Any) -> None:
        self.by_request: dict[str, int] = {}
        event.listen(engine.sync_engine, "begin", self._begun)

    def _begun(self, connection: Any) -> None:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id and not IN_SIMULATOR.get():
            self.by_request[request_id] = self.by_request.get(request_id, 0) + 1


class InProcessRoost:
    """`roost serve` without its worker, in a thread of this process."""

    def __init__(self, database_url: str) -> None:
        settings = Settings(
            _env_file=None, database_url=database_url, secret_key=new_key_text(), log_level="warning", rate_limit_per_minute=0
        )
        asyncio.run(upgrade_async(database_url))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.runtime = build_runtime(settings, port=self.port)
        app = create_app(self.runtime, run_worker=False)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(self.server.serve()), daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise SystemExit("roost did not start")
            time.sleep(0.05)
        simulator = self.runtime.simulator_http
        self.runtime.simulator_http = httpx.AsyncClient(
            transport=MarkSimulator(simulator._transport), base_url=simulator.base_url, timeout=simulator.timeout
        )
        self.transactions = TransactionCounter(self.runtime.engine)

    def test_key(self) -> str:
        async def create() -> str:
            async with self.runtime.sessions() as db, db.begin():
                organization = await organizations.create_organization(db, self.runtime.keyring, "Provisioning benchmark")
                await db.flush()
                return (await organizations.create_admin_key(db, organization.id, livemode=False))[1]

        return asyncio.run_coroutine_threadsafe(create(), self.loop).result(timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def signup(roost: InProcessRoost, api: httpx.Client, page: httpx.Client) -> dict[str, float]:
    """One signup on the hosted page's path; the timings of its code and its transactions."""
    created = api.post(SESSIONS, json={})
    created.raise_for_status()
    session_id = created.json()["id"]
    link = parse_qs(urlsplit(created.json()["url"]).query)["token"][0]
    page.post("/embed/api/launch", json={"token": link}).raise_for_status()
    played = api.post("/_sim/control/signups", json={"webhook_event": None})
    played.raise_for_status()
    page.post("/embed/api/message", json={"token": link, "message": played.json()["event"]}).raise_for_status()
    sent_at_ms = time.time_ns() / 1e6
    answer = page.post("/embed/api/code", json={"token": link, "code": played.json()["code"]})
    whole_ms = time.time_ns() / 1e6 - sent_at_ms
    if answer.status_code != 200 or answer.json().get("accepted") is not True:
        raise SystemExit(f"the code was refused: {answer.status_code} {answer.text}")
    session = api.get(f"{SESSIONS}/{session_id}").json()
    if session["status"] != "completed" or session["provisioning"][-1]["status"] != "succeeded":
        raise SystemExit(f"the signup did not complete: {session['status']} {session['provisioning']}")
    completed_ms = _epoch_ms(session["completed_at"]) - sent_at_ms
    return {
        "completed_ms": completed_ms,
        "whole_ms": whole_ms,
        "transactions": roost.transactions.by_request[answer.headers["request-id"]],
    }


def simulated(api: httpx.Client) -> dict[str, float]:
    """One signup by `simulate` (how the issue measured it: the dialog's signup, the code, the
    whole provisioning, in one request)."""
    session_id = api.post(SESSIONS, json={}).json()["id"]
    started = time.perf_counter()
    answer = api.post(f"{SESSIONS}/{session_id}/simulate", json={"outcome": "completed"})
    elapsed_ms = (time.perf_counter() - started) * 1000
    if answer.status_code != 200 or answer.json()["status"] != "completed":
        raise SystemExit(f"simulate did not complete: {answer.status_code} {answer.text}")
    return {"simulate_ms": elapsed_ms}


def _epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def measure(database_url: str, signups: int) -> dict[str, Any]:
    roost = InProcessRoost(database_url)
    try:
        key = roost.test_key()
        with httpx.Client(base_url=roost.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api, httpx.Client(
            base_url=roost.base_url, headers={"Origin": roost.base_url}, timeout=60
        ) as page:
            signup(roost, api, page)  # warm-up: imports, caches, the first connections
            quiet = [signup(roost, api, page) for _ in range(signups)]
            quiet_simulated = [simulated(api) for _ in range(signups)]
            for call in GRAPH_CALLS:
                fault = api.post(FAULTS, json={"call": call, "kind": "latency", "delay_ms": LATENCY_MS, "count": None})
                fault.raise_for_status()
            slow = [signup(roost, api, page) for _ in range(signups)]
            slow_simulated = [simulated(api) for _ in range(signups)]
            api.delete(FAULTS).raise_for_status()
    finally:
        roost.stop()

    def median(rows: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(row[key] for row in rows), 1)

    return {
        "signups": signups,
        "round_trips_until_completed": round(median(slow, "completed_ms") / LATENCY_MS, 2),
        "round_trips_whole_code_request": round(median(slow, "whole_ms") / LATENCY_MS, 2),
        "wait_until_completed_ms_at_200ms": median(slow, "completed_ms"),
        "whole_code_request_ms_at_200ms": median(slow, "whole_ms"),
        "round_trips_simulate": round(median(slow_simulated, "simulate_ms") / LATENCY_MS, 2),
        "own_ms_simulate": median(quiet_simulated, "simulate_ms"),
        "own_ms_until_completed": median(quiet, "completed_ms"),
        "own_ms_whole_code_request": median(quiet, "whole_ms"),
        "transactions_per_code_request": sorted({int(row["transactions"]) for row in quiet + slow}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signups", type=int, default=30, help="signups measured per database and latency (30)")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a server where the benchmark may create and drop its own database")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        results["sqlite"] = measure(f"sqlite:///{directory}/bench.db", args.signups)
    if not args.sqlite_only:
        results["postgres"] = with_postgres(args.postgres_url, lambda url: measure(url, args.signups))

    columns = (
        ("round trips", "round_trips_until_completed"), ("(whole code)", "round_trips_whole_code_request"),
        ("(simulate)", "round_trips_simulate"), ("own ms", "own_ms_until_completed"),
        ("(whole code)", "own_ms_whole_code_request"), ("(simulate)", "own_ms_simulate"),
        ("transactions", "transactions_per_code_request"),
    )
    print(f"{'database':<10}" + "".join(f"{title:>14}" for title, _ in columns))
    for name, row in results.items():
        cells = [",".join(map(str, row[key])) if isinstance(row[key], list) else str(row[key]) for _, key in columns]
        print(f"{name:<10}" + "".join(f"{cell:>14}" for cell in cells))
    out = args.out / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "provisioning.json").write_text(json.dumps(results, indent=2) + "\n")


def with_postgres(server_url: str, work: Any) -> Any:
    """Run `work(url)` on a database of its own on that server, dropped afterwards."""
    name = f"roost_bench_provisioning_{os.getpid()}"
    url = create_database(server_url, name)
    try:
        return work(url)
    finally:
        drop_database(server_url, name)


if __name__ == "__main__":
    main()
