"""Webhook delivery benchmark: deliveries per second from one `roost worker` to a local receiver
(goal ≥ 500/s) and the delay from a state change to its first delivery attempt (goal p99 ≤ 1 s).

    .venv/bin/python bench/webhooks.py                        # SQLite
    .venv/bin/python bench/webhooks.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

Three measurements, each against the real `roost` command in subprocesses:

1. delay, `roost serve` with its worker: sessions are cancelled one by one over the API; the
   receiver notes when each event arrives; delay = arrival − the event's `timestamp` (the
   moment of the transition, same clock). The commit wakes the dispatcher in-process.
2. delay, `roost serve --no-worker` + `roost worker`: the same, with the worker in another
   process (it finds the event by polling every 0.2 s).
3. throughput: N events are written to the outbox with Roost's own `emit` while no worker runs,
   then one `roost worker` starts; deliveries/s = N / (last arrival − first arrival).

The receiver is a minimal asyncio HTTP/1.1 server (keep-alive) in this process, answering 200 at
once, so that it is not what limits the figure.
"""

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import read_http_message  # noqa: E402
from roostproc import free_port, machine_cpu, process_cpu_seconds, roost_command, roost_env  # noqa: E402

from roost.kit.crypto import new_key_text  # noqa: E402


class Receiver:
    """HTTP/1.1 on loopback: reads each request, answers 200, notes (arrival, body)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", self.port, backlog=512)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                _, body = await read_http_message(reader)
                self.arrivals.append((time.time(), json.loads(body)))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def clear(self) -> None:
        self.arrivals = []


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.log = cwd / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([roost_command(), *args], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, base_url: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"roost exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"{base_url}/readyz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"roost not ready; see {self.log}")

    def wait_log(self, event: str) -> None:
        deadline = time.monotonic() + 60
        while f'"event": "{event}"' not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no {event}; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def request(base_url: str, key: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base_url + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read())


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure_delay(receiver: Receiver, base_url: str, key: str, count: int, rate: float) -> dict[str, float]:
    receiver.clear()
    from roost.kit.timeutil import parse_time

    for _ in range(count):
        started = time.monotonic()
        session = request(base_url, key, "POST", "/v1/organization/embedded-signup/sessions", {})
        request(base_url, key, "DELETE", f"/v1/organization/embedded-signup/sessions/{session['id']}")
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    deadline = time.monotonic() + 30
    while len(receiver.arrivals) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    delays = [(at - parse_time(body["timestamp"]) / 1000) * 1000 for at, body in receiver.arrivals]
    return {
        "events": count, "received": len(delays),
        "p50_ms": percentile(delays, 0.5), "p90_ms": percentile(delays, 0.9),
        "p99_ms": percentile(delays, 0.99), "max_ms": max(delays),
    }


async def seed_events(database_url: str, organization_id: str, count: int) -> None:
    """N events in the outbox, written by Roost's own emit (500 per transaction)."""
    from roost.tables import load_all_models
    from roost.db.engine import create_engine, session_factory
    from roost.kit.timeutil import now_ms
    from roost.webhooks import outbox

    load_all_models()
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    data = {"id": "wss_bench", "object": "embedded_signup_session", "status": "cancelled", "metadata": {"n": 0}}
    for start in range(0, count, 500):
        async with sessions() as db, db.begin():
            for index in range(start, min(count, start + 500)):
                outbox.emit(db, organization_id=organization_id, livemode=False, type="embedded_signup.session.cancelled",
                            data={**data, "metadata": {"n": index}}, at=now_ms())
    await engine.dispose()


def measure_throughput(receiver: Receiver, env: dict[str, str], cwd: Path, database_url: str, organization_id: str, count: int) -> dict[str, float]:
    asyncio.run(seed_events(database_url, organization_id, count))
    receiver.clear()
    worker = Proc(["worker"], {**env, "ROOST_LOG_LEVEL": "info"}, cwd, f"worker-throughput-{secrets.token_hex(2)}")
    try:
        worker.wait_log("webhook_dispatcher_started")
        cpu0, machine0 = process_cpu_seconds(worker.process.pid), machine_cpu()
        deadline = time.monotonic() + 300
        while len(receiver.arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu1, machine1 = process_cpu_seconds(worker.process.pid), machine_cpu()
    finally:
        worker.stop()
    times = [at for at, _ in receiver.arrivals]
    elapsed = max(times) - min(times)
    machine = 100 * (os.cpu_count() or 1) * (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
    return {
        "events": count, "received": len(times), "seconds": round(elapsed, 2),
        "per_second": round(len(times) / elapsed, 1) if elapsed else float("nan"),
        "worker_cpu_seconds": round(cpu1 - cpu0, 2), "machine_cpu_percent": round(machine, 1),
    }


def run_backend(name: str, database_url: str, args: argparse.Namespace, receiver: Receiver, directory: Path) -> dict[str, Any]:
    env = roost_env(database_url, new_key_text())
    env.update(ROOST_WEBHOOK_ALLOW_PRIVATE="1", ROOST_LOG_LEVEL="warning")
    org = json.loads(subprocess.run([roost_command(), "orgs", "create", "Webhook bench", "--json"], env=env, cwd=directory,
                                    capture_output=True, text=True, check=True).stdout)
    key, results = org["admin_key"], {}

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    serve = Proc(["serve", "--port", str(port)], env, directory, f"serve-{name}")
    try:
        serve.wait_ready(base_url)
        endpoint = request(base_url, key, "POST", "/v1/organization/webhooks", {"url": receiver.url, "events": ["*"]})
        measure_delay(receiver, base_url, key, 20, args.rate)  # warm-up
        results["delay_in_process"] = measure_delay(receiver, base_url, key, args.events, args.rate)
    finally:
        serve.stop()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env_nomigrate = {**env, "ROOST_MIGRATE_ON_START": "0"}
    serve = Proc(["serve", "--port", str(port), "--no-worker"], env_nomigrate, directory, f"serve-noworker-{name}")
    worker = Proc(["worker"], {**env_nomigrate, "ROOST_LOG_LEVEL": "info"}, directory, f"worker-{name}")
    try:
        serve.wait_ready(base_url)
        worker.wait_log("webhook_dispatcher_started")
        measure_delay(receiver, base_url, key, 20, args.rate)
        results["delay_other_process"] = measure_delay(receiver, base_url, key, args.events, args.rate)
    finally:
        worker.stop()
        serve.stop()

    results["throughput"] = measure_throughput(receiver, env_nomigrate, directory, database_url, org["organization_id"], args.deliveries)
    del endpoint
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=5000, help="events queued for the throughput run")
    parser.add_argument("--events", type=int, default=300, help="state changes for each delay run")
    parser.add_argument("--rate", type=float, default=20.0, help="state changes per second in the delay runs")
    parser.add_argument("--postgres-url", default=None, help="also run on PostgreSQL (a database is created and dropped)")
    args = parser.parse_args()

    receiver = Receiver()
    backends = {}
    with tempfile.TemporaryDirectory(prefix="roost-webhook-bench-") as tmp:
        directory = Path(tmp)
        backends["SQLite"] = run_backend("sqlite", f"sqlite:///{directory / 'bench.db'}", args, receiver, directory)
        if args.postgres_url:
            from sqlalchemy.engine import make_url

            name = f"roost_webhook_bench_{os.getpid()}"
            admin = make_url(args.postgres_url)
            subprocess.run(["psql", admin.render_as_string(hide_password=False), "-qc", f'CREATE DATABASE "{name}"'], check=True)
            try:
                url = admin.set(database=name).render_as_string(hide_password=False)
                backends["PostgreSQL"] = run_backend("postgres", url, args, receiver, directory)
            finally:
                subprocess.run(["psql", admin.render_as_string(hide_password=False), "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])

    print(f"\nWebhook delivery ({os.cpu_count()} cores, Python {sys.version.split()[0]})\n")
    names = list(backends)
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))

    def row(label: str, cell) -> None:
        print(f"| {label} | " + " | ".join(cell(backends[name]) for name in names) + " |")

    row(f"deliveries/s, one `roost worker` ({args.deliveries:,} queued)",
        lambda r: f"{r['throughput']['per_second']:,.0f} ({r['throughput']['received']:,} in {r['throughput']['seconds']} s; "
                  f"worker CPU {r['throughput']['worker_cpu_seconds']} s)")
    for key, label in (("delay_in_process", "delay to first attempt, `roost serve` (p50 / p90 / p99 / max)"),
                       ("delay_other_process", "delay to first attempt, separate `roost worker` (p50 / p90 / p99 / max)")):
        row(label, lambda r, key=key: "{p50_ms:.0f} / {p90_ms:.0f} / {p99_ms:.0f} / {max_ms:.0f} ms".format(**r[key])
            + ("" if r[key]["received"] == r[key]["events"] else f" (only {r[key]['received']}/{r[key]['events']})"))
    print(json.dumps(backends, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
