"""The hosted connect page's own weight and its server time.

    .venv/bin/python bench/page.py                    # SQLite, 500 page loads
    .venv/bin/python bench/page.py --requests 2000 --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

1. Asset size: the page's HTML (as served for a session with the seed's prefill) plus its CSS and
   JS, uncompressed (and gzip-compressed, for information). Meta's SDK is not counted.
2. Server time of GET /embed/connect?token=…: `roost serve` runs in a subprocess with JSON
   request logs, the benchmark loads the page N times, one request at a time, and reads each
   request's `duration_ms` from the log (measured by Roost's outermost middleware: routing,
   the database read, rendering). The time seen by the client (loopback HTTP) is shown beside it.

The goal (docs/performance.md): HTML+CSS+JS ≤ 30 KB uncompressed; server time p99 ≤ 10 ms.
"""

import argparse
import gzip
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import seed_body  # noqa: E402 - the one seed body (tests/support)

SEED_BODY = seed_body()
ASSET_BUDGET = 30 * 1024
P99_GOAL_MS = 10.0


def roost_command() -> list[str]:
    beside = Path(sys.executable).parent / "roost"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "roost.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 2),
        "p90": round(percentile(values, 0.90), 2),
        "p99": round(percentile(values, 0.99), 2),
        "max": round(max(values), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="page loads measured (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="page loads before measuring (default 50)")
    parser.add_argument("--postgres-url", help="measure on this PostgreSQL server (a database is created and dropped)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="roost-page-bench-"))
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROOST_")}
    env.update(ROOST_LOG_LEVEL="info", ROOST_RATE_LIMIT_PER_MINUTE="0", ROOST_WORKER_INTERVAL_SECONDS="5")
    created_database = None
    if args.postgres_url:
        created_database = f"roost_page_bench_{os.getpid()}"
        admin = args.postgres_url
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{created_database}"'], check=True)
        env["ROOST_DATABASE_URL"] = re.sub(r"/[^/]*$", f"/{created_database}", admin)
        env["ROOST_SECRET_KEY"] = subprocess.run(
            [*roost_command(), "secret-key"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
    else:
        env["ROOST_DATABASE_URL"] = f"sqlite:///{workdir / 'roost.db'}"
    backend = "postgresql" if args.postgres_url else "sqlite"

    try:
        init = json.loads(subprocess.run([*roost_command(), "init", "--json"], env=env, cwd=workdir,
                                         capture_output=True, text=True, check=True).stdout)
        port = free_port()
        stderr_path = workdir / "serve.stderr"
        with open(stderr_path, "w") as stderr:
            server = subprocess.Popen([*roost_command(), "serve", "--port", str(port)], env=env, cwd=workdir,
                                      stdout=subprocess.DEVNULL, stderr=stderr)
        base = f"http://127.0.0.1:{port}"
        try:
            results = measure(base, init["admin_key"], args.requests, args.warmup)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        durations = []
        for line in stderr_path.read_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("event") == "request" and entry.get("path") == "/embed/connect":
                durations.append(float(entry["duration_ms"]))
        durations = durations[1 + args.warmup :]  # the first load (asset discovery), then the warm-up
        results["server_ms"] = summary(durations)
        results["measured_requests"] = len(durations)
        results["backend"] = backend
    finally:
        if created_database:
            subprocess.run(["psql", args.postgres_url, "-qc", f'DROP DATABASE IF EXISTS "{created_database}" WITH (FORCE)'])

    if args.json:
        print(json.dumps(results, indent=2))
        return
    assets = results["assets"]
    print(f"Hosted page, {backend}, {results['measured_requests']} loads of GET /embed/connect after {args.warmup} warm-up loads")
    print(f"  own assets (uncompressed): HTML {assets['html']} B + CSS {assets['css']} B + JS {assets['js']} B "
          f"= {assets['total']} B ({assets['total'] / 1024:.1f} KB; budget {ASSET_BUDGET // 1024} KB) "
          f"— gzip {assets['total_gzip']} B")
    for name in ("server_ms", "client_ms"):
        s = results[name]
        print(f"  {name.replace('_ms', ''):>6} time: p50 {s['p50']} ms, p90 {s['p90']} ms, p99 {s['p99']} ms, max {s['max']} ms")
    verdict = "met" if results["server_ms"]["p99"] <= P99_GOAL_MS and assets["total"] <= ASSET_BUDGET else "NOT met"
    print(f"  goals (≤ {ASSET_BUDGET // 1024} KB, server p99 ≤ {P99_GOAL_MS:g} ms): {verdict}")


def measure(base: str, admin_key: str, requests: int, warmup: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("roost serve did not start")
        time.sleep(0.05)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30) as api:
        created = api.post("/v1/organization/embedded-signup/sessions", json=SEED_BODY,
                           headers={"Idempotency-Key": secrets.token_hex(8)})
        created.raise_for_status()
        url = created.json()["url"]
    client_ms: list[float] = []
    with httpx.Client(timeout=30) as browser:
        page = browser.get(url)
        page.raise_for_status()
        assets = {"html": len(page.content)}
        for name in ("css", "js"):
            src = re.search(rf'(static/connect\.{name}\?v=[0-9a-f]+)', page.text).group(1)
            asset = browser.get(url.split("/embed/")[0] + "/embed/" + src)
            asset.raise_for_status()
            assets[name] = len(asset.content)
            assets[f"{name}_gzip"] = len(gzip.compress(asset.content, 9))
        assets["html_gzip"] = len(gzip.compress(page.content, 9))
        assets["total"] = assets["html"] + assets["css"] + assets["js"]
        assets["total_gzip"] = assets["html_gzip"] + assets["css_gzip"] + assets["js_gzip"]
        for index in range(warmup + requests):
            started = time.perf_counter()
            response = browser.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if index >= warmup:
                client_ms.append(elapsed)
    return {"assets": assets, "client_ms": summary(client_ms)}


if __name__ == "__main__":
    main()
