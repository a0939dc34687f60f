"""The operator console's pages on the benchmark's dataset: server time and page weight.

    .venv/bin/python bench/console.py                          # SQLite, 1,000,000 sessions (the cache of run.py)
    .venv/bin/python bench/console.py --sessions 100000 --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

It reuses bench/run.py's seeded database (bench/.data/, built on first use), adds a console user
with `roost users create`, starts `roost serve` with JSON request logs, signs in like a browser
and loads each page N times, one request at a time. Server time is each request's `duration_ms`
from the log (Roost's outermost middleware: routing, the database, rendering). Page weight is
the page's HTML plus the console's CSS and JS, uncompressed.

The goal (docs/performance.md): every page p99 ≤ 50 ms server time, weight ≤ 100 KB.
The overview's figures are kept for 30 s (roost.console.overview.CACHE_SECONDS): its repeated
loads are measured, and the first, uncached load is reported apart.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import httpx  # noqa: E402

import databases  # noqa: E402
from dataset import Shape, user_value  # noqa: E402
from page import summary  # noqa: E402
from roostproc import RoostServer, roost_command  # noqa: E402
from run import seed_body  # noqa: E402

GOAL_P99_MS = 50.0
GOAL_WEIGHT = 100 * 1024
PASSWORD = "benchmark console password"
EMAIL = "bench@example.com"
REFERENCE = "api_list (yardstick)"


def pages(session_id: str, failed_id: str) -> dict[str, str]:
    return {
        "overview": "/console",
        "sessions": "/console/sessions",
        "sessions_by_user": f"/console/sessions?metadata%5BexternalUserId%5D={user_value(42)}",
        "sessions_failed": "/console/sessions?status=failed",
        "sessions_by_date": "/console/sessions?created%5Bgte%5D=2000-01-01&created%5Blt%5D=2100-01-01",
        "session": f"/console/sessions/{session_id}",
        "session_failed": f"/console/sessions/{failed_id}",
        "profiles": "/console/profiles",
        "webhooks": "/console/webhooks",
        "keys": "/console/keys",
        "settings": "/console/settings",
        "audit": "/console/audit",
        REFERENCE: "/v1/organization/embedded-signup/sessions",
    }


def sign_in(client: httpx.Client) -> None:
    form = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    answer = client.post("/console/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token, "next": "/console"})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in failed: {answer.status_code} {answer.text[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="loads of each page measured (default 200)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--postgres-url", help="measure on PostgreSQL (a database is created and dropped)")
    parser.add_argument("--out", type=Path, default=BENCH)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data = args.out / ".data"
    data.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="roost-console-bench-"))
    shape = Shape(args.sessions)
    database = None
    if args.postgres_url:
        database = f"roost_console_bench_{int(time.time())}"
        prepared = databases.prepare_postgres(data, args.postgres_url, database, shape, seed_body())
    else:
        prepared = databases.prepare_sqlite(data, work, shape, seed_body())
    try:
        results = run(prepared, work, args)
    finally:
        if database:
            databases.drop_database(args.postgres_url, database)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"Console, {results['backend']}, {results['sessions']:,} sessions, {args.requests} loads a page after {args.warmup} warm-up")
    print(f"  assets: CSS {results['css']} B + JS {results['js']} B; load average at the end {results['load_average'][0]:.1f}")
    for name, page in results["pages"].items():
        s = page["server_ms"]
        print(f"  {name:<18} p50 {s['p50']:>6} ms  p99 {s['p99']:>6} ms  max {s['max']:>7} ms  weight {page['weight'] / 1024:5.1f} KB")
    print(f"  overview, first (uncached) load: {results['overview_first_ms']} ms")
    console = [page for name, page in results["pages"].items() if name != REFERENCE]
    worst = max(page["server_ms"]["p99"] for page in console)
    heaviest = max(page["weight"] for page in console)
    verdict = "met" if worst <= GOAL_P99_MS and heaviest <= GOAL_WEIGHT else "NOT met"
    print(f"  goals (p99 ≤ {GOAL_P99_MS:g} ms, ≤ {GOAL_WEIGHT // 1024} KB): {verdict} (worst p99 {worst} ms, heaviest {heaviest / 1024:.1f} KB)")


def run(prepared: databases.Prepared, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = prepared.env()
    subprocess.run(
        [roost_command(), "users", "create", "--org", prepared.list_org_id, "--email", EMAIL, "--role", "admin",
         "--password-stdin"], env=env, cwd=work, input=PASSWORD + "\n", text=True, check=True, capture_output=True,
    )
    env.update(ROOST_LOG_LEVEL="info", ROOST_WORKER_INTERVAL_SECONDS="5")
    log_path = work / "serve.log"
    server = RoostServer(env, work, log_path).start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            sign_in(client)
            listed = client.get("/console/sessions")
            session_id = re.search(r'href="/console/sessions/(wss_[A-Za-z0-9]+)"', listed.text).group(1)
            failed = client.get("/console/sessions?status=failed")
            failed_id = re.search(r'href="/console/sessions/(wss_[A-Za-z0-9]+)"', failed.text).group(1)
            css = len(client.get("/console/static/console.css").content)
            js = len(client.get("/console/static/console.js").content)
            targets = pages(session_id, failed_id)
            weights: dict[str, int] = {}
            for name, path in targets.items():
                # The API's list of the same sessions, measured the same way, as a yardstick of the
                # machine's speed at the time (docs/performance.md has its figures on a quiet one).
                headers = {"Authorization": f"Bearer {prepared.list_key}"} if name == REFERENCE else {}
                for _ in range(args.warmup + args.requests):
                    response = client.get(path, headers=headers)
                    if response.status_code != 200:
                        raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
                    weights[name] = len(response.content) + css + js
    finally:
        server.stop()
    durations: dict[str, list[float]] = {}
    order = [entry for entry in _request_log(log_path) if entry.get("path", "").startswith(("/console", "/v1/"))
             and not entry["path"].startswith(("/console/login", "/console/static"))]
    # Requests were made one page at a time, in order: the log's console requests after the two
    # lookups above are the pages' loads, in the same order.
    loads = order[2:]
    overview_first = loads[0]["duration_ms"] if loads else None
    position = 0
    for name in targets:
        chunk = loads[position : position + args.warmup + args.requests]
        position += args.warmup + args.requests
        durations[name] = [float(entry["duration_ms"]) for entry in chunk[args.warmup :]]
    return {
        "load_average": os.getloadavg(),  # other programs' load during the run, for reading the figures
        "backend": prepared.kind,
        "sessions": prepared.sessions,
        "css": css,
        "js": js,
        "overview_first_ms": overview_first,
        "pages": {name: {"path": targets[name], "server_ms": summary(durations[name]), "weight": weights[name]} for name in targets},
    }


def _request_log(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "request":
                entries.append(entry)
    return entries


if __name__ == "__main__":
    main()
