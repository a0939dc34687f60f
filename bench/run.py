"""Roost's performance benchmark: starts `roost serve` on SQLite and on PostgreSQL and measures

1. create-session throughput and latency at a fixed concurrency, next to GET /healthz on the
   same server with the same load generator (ratio create/healthz; goal >= 0.5);
2. list latency (p50/p99 over sequential requests) with a metadata filter and with a status
   filter over N sessions of one organization (goal p99 <= 10 ms), plus the query plans;
3. the server's resident memory (VmRSS) after the run.

    .venv/bin/python bench/run.py [--sqlite-only] [--quick]

Results: a table on stdout and bench/results/latest.json. See docs/performance.md.
"""

import argparse
import ast
import asyncio
import http.client
import json
import os
import platform
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import asyncpg  # noqa: E402

import databases  # noqa: E402
import load  # noqa: E402
import plans  # noqa: E402
from dataset import Shape, digest, user_value  # noqa: E402
from roost.db.engine import create_engine  # noqa: E402
from roost.kit import pagination  # noqa: E402
from roost.kit.timeutil import now_ms  # noqa: E402
from roost.organizations.service import Caller  # noqa: E402
from roost.sessions import service  # noqa: E402
from roost.sessions.state import SessionStatus  # noqa: E402
from roostproc import CpuMeter, QuietWaiter, RoostServer, roost_cli  # noqa: E402

SESSIONS_PATH = "/v1/organization/embedded-signup/sessions"
CREATE_GOAL_RATIO = 0.5
LIST_GOAL_P99_MS = 10.0


def seed_body() -> dict[str, Any]:
    """SEED_BODY from tests/support/__init__.py, read as a literal (importing the test harness is not needed)."""
    tree = ast.parse((REPO / "tests" / "support" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SEED_BODY" for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit("SEED_BODY not found in tests/support/__init__.py")


# Sizes per mode; --smoke only checks that the benchmark runs (tests/test_bench.py).
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"sessions": 1_000_000, "warmup": 5, "duration": 20, "list_requests": 300, "list_warmup": 20,
             "scenario_cap_seconds": 30, "quiet_budget": 180},
    "quick": {"sessions": 100_000, "warmup": 2, "duration": 8, "list_requests": 100, "list_warmup": 10,
              "scenario_cap_seconds": 15, "quiet_budget": 60},
    "smoke": {"sessions": 2_000, "warmup": 0.5, "duration": 1, "list_requests": 5, "list_warmup": 2,
              "scenario_cap_seconds": 15, "quiet_budget": 0},
}


@dataclass
class Config:
    quick: bool
    sessions: int
    connections: int
    warmup: float
    duration: float
    list_requests: int
    list_warmup: int
    scenario_cap_seconds: float
    generator: str  # wrk | python
    wrk: str | None
    quiet: QuietWaiter


# -- throughput --------------------------------------------------------------------------


def load_run(config: Config, url: str, seconds: float, method: str = "GET", body: str = "", headers: dict | None = None) -> dict:
    if config.generator == "wrk":
        return load.run_wrk(config.wrk, url, config.connections, seconds, method, body, headers)
    return load.run_python(url, config.connections, seconds, method, body, headers)


def measure_throughput(config: Config, server: RoostServer, create_key: str, postgres: bool) -> dict[str, Any]:
    body = json.dumps(seed_body())
    headers = {"Authorization": f"Bearer {create_key}", "Content-Type": "application/json"}
    results: dict[str, Any] = {}
    for name, path, method, payload, extra in (
        ("healthz", "/healthz", "GET", "", None),
        ("create", SESSIONS_PATH, "POST", body, headers),
    ):
        url = server.base_url + path
        quiet = config.quiet(patience=90)
        load_run(config, url, config.warmup, method, payload, extra)
        with CpuMeter(server.pid, postgres) as cpu:
            outcome = load_run(config, url, config.duration, method, payload, extra)
        outcome.update(cpu.result, machine_cpu_percent_before=quiet)
        outcome["server_cpu_ms_per_request"] = round(1000 * cpu.result["server_cpu_seconds"] / max(1, outcome["requests"]), 3)
        results[name] = outcome
        print(
            f"  {name:8s} {outcome['rps']:9.1f} req/s  p50 {outcome['p50_ms']:7.2f} ms  p99 {outcome['p99_ms']:7.2f} ms"
            f"  errors {outcome['errors']}  server CPU {outcome['server_cpu_ms_per_request']:.2f} ms/request"
            f"  CPU: server {outcome['server_cpu_percent']:.0f}%"
            f" generator {outcome['generator_cpu_percent']:.0f}% other {outcome['other_cpu_percent']:.0f}%",
            flush=True,
        )
    results["ratio_create_to_healthz"] = round(results["create"]["rps"] / results["healthz"]["rps"], 3)
    results["goal_ratio"] = CREATE_GOAL_RATIO
    results["goal_met"] = results["ratio_create_to_healthz"] >= CREATE_GOAL_RATIO and results["create"]["errors"] == 0
    return results


# -- list latency ------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    filters: dict[str, str]  # the query parameters shared by every request
    cursors: list[str] | None  # starting_after values, used in turn; None = first page
    rotate: list[dict[str, str]] | None = None  # per-request extra parameters, used in turn
    in_goal: bool = True
    note: str = ""

    def query(self, index: int) -> dict[str, str]:
        params = dict(self.filters)
        if self.rotate:
            params.update(self.rotate[index % len(self.rotate)])
        if self.cursors:
            params["starting_after"] = self.cursors[index % len(self.cursors)]
        return params


class Database:
    """Direct queries on the benchmark database (to pick cursors), with the same engine as Roost."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(url)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def column(self, statement: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        async def query() -> list[Any]:
            async with self.engine.connect() as connection:
                rows = (await connection.execute(text(statement), params)).fetchall()
                await connection.rollback()
                return [row[0] for row in rows]

        return self.run(query())

    def close(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()


def _spread(low: int, high: int, count: int, rng: random.Random) -> list[int]:
    return sorted(rng.randrange(low, high) for _ in range(count))


def build_scenarios(db: Database, org: str, shape: Shape, seeded_at: int) -> list[Scenario]:
    rng = random.Random(7)
    span_start = seeded_at - 180 * 86_400_000
    # Deep cursors: sessions created between 30 % and 70 % of the way back, i.e. that deep in the list.
    depths = [seeded_at - int((seeded_at - span_start) * f) for f in (0.3 + 0.4 * rng.random() for _ in range(25))]
    org_where = "organization_id = :org AND livemode = :live"

    def session_at(when: int, extra: str = "", **params: Any) -> str:
        return db.column(
            f"SELECT id FROM embedded_signup_sessions WHERE {org_where} {extra} AND created_at <= :t "
            "ORDER BY created_at DESC, id DESC LIMIT 1",
            org=org, live=False, t=when, **params,
        )[0]

    def metadata_at(when: int, key: str, value: str, offset: int = 0) -> str | None:
        found = db.column(
            f"SELECT session_id FROM session_metadata_values WHERE {org_where} AND key = :key AND value_digest = :d "
            "AND created_at <= :t ORDER BY created_at DESC, session_id DESC LIMIT 1 OFFSET :o",
            org=org, live=False, key=key, d=digest(value), t=when, o=offset,
        )
        return found[0] if found else None

    free = {"metadata[plan]": "free"}
    # 50 users, each with at least 6 sessions, so that "after its 5th session" is a real page.
    user_cursors = []
    for index in rng.sample(range(shape.users), min(shape.users, 400)):
        cursor = metadata_at(seeded_at, "externalUserId", user_value(index), offset=4)
        if cursor is not None and metadata_at(seeded_at, "externalUserId", user_value(index), offset=5) is not None:
            user_cursors.append((user_value(index), cursor))
        if len(user_cursors) == 50:
            break
    pending = db.column(
        f"SELECT id FROM embedded_signup_sessions WHERE {org_where} AND status = 'pending' ORDER BY created_at DESC, id DESC",
        org=org, live=False,
    )
    pending_free = db.column(
        "SELECT m.session_id FROM session_metadata_values m JOIN embedded_signup_sessions s ON s.id = m.session_id "
        "WHERE m.organization_id = :org AND m.livemode = :live AND m.key = 'plan' AND m.value_digest = :d "
        "AND s.status = 'pending' ORDER BY m.created_at DESC, m.session_id DESC",
        org=org, live=False, d=digest("free"),
    )
    middle_pending = pending[len(pending) // 4 : max(len(pending) // 4 + 1, 3 * len(pending) // 4)]
    scenarios = [
        Scenario("no filter, first page", {}, None),
        Scenario("no filter, deep page", {}, [session_at(t) for t in depths]),
        Scenario("metadata[plan]=free (35 % of rows), first page", free, None),
        Scenario("metadata[plan]=free, deep page", free, [metadata_at(t, "plan", "free") for t in depths]),
        Scenario(
            "metadata[externalUserId]=<user> (~10 rows), first page", {}, None,
            rotate=[{"metadata[externalUserId]": user} for user, _ in user_cursors],
        ),
        Scenario(
            "metadata[externalUserId]=<user>, after its 5th session", {}, None,
            rotate=[{"metadata[externalUserId]": user, "starting_after": cursor} for user, cursor in user_cursors],
        ),
        Scenario("status=completed (52 %), first page", {"status": "completed"}, None),
        Scenario(
            "status=completed, deep page", {"status": "completed"},
            [session_at(t, "AND status = 'completed'") for t in depths],
        ),
        Scenario("status=expired (38 %, two index ranges), first page", {"status": "expired"}, None),
        Scenario(
            "status=expired, deep page", {"status": "expired"}, [session_at(t, "AND status = 'expired'") for t in depths],
        ),
        Scenario(f"status=pending ({len(pending)} rows), first page", {"status": "pending"}, None),
        Scenario("status=pending, deep page", {"status": "pending"}, middle_pending or None),
        Scenario(
            f"status=pending & metadata[plan]=free ({len(pending_free)} rows), first page",
            {"status": "pending", **free}, None, in_goal=False, note="status and metadata combined",
        ),
    ]
    if len(pending_free) > 2:
        scenarios.append(
            Scenario(
                "status=pending & metadata[plan]=free, last page", {"status": "pending", **free}, [pending_free[-2]],
                in_goal=False, note="status and metadata combined: the page that has to prove there are no more rows",
            )
        )
    return scenarios


def measure_list(config: Config, server: RoostServer, key: str, scenario: Scenario) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    items: list[int] = []
    more: list[bool] = []
    started = time.monotonic()
    total = config.list_warmup + config.list_requests
    sent = 0
    for index in range(total):
        if index >= config.list_warmup and time.monotonic() - started > config.scenario_cap_seconds and len(latencies) >= 20:
            break  # a slow scenario: enough samples for its percentiles within the time cap
        sent += 1
        path = SESSIONS_PATH + "?" + urlencode(scenario.query(index))
        began = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        elapsed = (time.perf_counter() - began) * 1000
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {raw[:500]!r}")
        if index >= config.list_warmup:
            latencies.append(elapsed)
            page = json.loads(raw)
            items.append(len(page["data"]))
            more.append(page["has_more"])
    connection.close()
    ordered = sorted(latencies)
    pick = lambda fraction: round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)  # noqa: E731
    result = {
        "scenario": scenario.name, "example_query": urlencode(scenario.query(0)), "requests": len(ordered), "requests_sent": sent,
        "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99), "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2), "items_per_page": round(statistics.fmean(items), 1),
        "has_more_share": round(sum(more) / len(more), 2), "in_goal": scenario.in_goal, "note": scenario.note,
    }
    result["goal_met"] = result["p99_ms"] <= LIST_GOAL_P99_MS if scenario.in_goal else None
    return result


def explain_scenario(db: Database, kind: str, org: str, scenario: Scenario) -> plans.Plan:
    query = scenario.query(0)
    filters = service.SessionFilters(
        status=SessionStatus(query["status"]) if "status" in query else None,
        metadata={k[len("metadata[") : -1]: v for k, v in query.items() if k.startswith("metadata[")},
    )
    page = pagination.Page(starting_after=query.get("starting_after"))
    caller = Caller(key_id="bench", organization_id=org, livemode=False)
    statement, params = db.run(plans.capture_list_sql(db.engine, caller, filters, page, now_ms()))
    if kind == "sqlite":
        return db.run(plans.explain_sqlite(db.engine, statement, params))
    return db.run(plans.explain_postgres(db.url, statement, params))


# -- one database ------------------------------------------------------------------------


def bench_database(config: Config, prepared: databases.Prepared, work: Path, logs: Path) -> dict[str, Any]:
    kind = prepared.kind
    result: dict[str, Any] = {"prepare": prepared.timings, "sessions": prepared.sessions}
    env = prepared.env()
    create_org = roost_cli(["orgs", "create", "Bench create org", "--json"], env, work)
    server = RoostServer(env, work, logs / f"roost-{kind}.log").start()
    try:
        result["memory_kib_at_start"] = server.memory()
        print(f"\n[{kind}] roost serve pid {server.pid} on {server.base_url} — throughput, {config.connections} connections, "
              f"{config.duration:g} s each ({config.generator})", flush=True)
        result["throughput"] = measure_throughput(config, server, create_org["admin_key"], kind == "postgres")
        db = Database(prepared.url)
        try:
            created = db.column(
                "SELECT count(*) FROM embedded_signup_sessions WHERE organization_id = :org", org=create_org["organization_id"]
            )[0]
            result["throughput"]["create"]["rows_created_incl_warmup"] = created
            result["memory_kib_after_throughput"] = server.memory()
            print(f"\n[{kind}] list latency over {prepared.sessions:,} sessions, {config.list_requests} sequential requests each", flush=True)
            scenarios = build_scenarios(db, prepared.list_org_id, Shape(prepared.sessions), prepared.seeded_at)
            result["list"] = []
            for scenario in scenarios:
                quiet = config.quiet(patience=20)
                with CpuMeter(server.pid, kind == "postgres") as cpu:
                    measured = measure_list(config, server, prepared.list_key, scenario)
                measured.update(
                    other_cpu_percent=cpu.result["other_cpu_percent"], machine_cpu_percent_before=quiet,
                    server_cpu_ms_per_request=round(1000 * cpu.result["server_cpu_seconds"] / measured["requests_sent"], 3),
                )
                result["list"].append(measured)
                flag = "" if measured["goal_met"] is None else ("ok" if measured["goal_met"] else "OVER GOAL")
                print(f"  {scenario.name:62s} p50 {measured['p50_ms']:7.2f}  p99 {measured['p99_ms']:8.2f} ms  {flag}", flush=True)
            print(f"\n[{kind}] query plans", flush=True)
            for scenario, measured in zip(scenarios, result["list"]):
                plan = explain_scenario(db, kind, prepared.list_org_id, scenario)
                measured["plan"] = plan.as_json()
                measured["db_ms"] = plan.db_ms
                status = "FULL SCAN: " + "; ".join(plan.full_scans) if plan.full_scans else "no full scan"
                if plan.custom_ms is not None:
                    status += f" (EXPLAIN ANALYZE: custom plan {plan.custom_ms:.2f} ms, generic plan {plan.generic_ms:.2f} ms)"
                if plan.notes:
                    status += " (note: " + "; ".join(plan.notes) + ")"
                print(f"  {scenario.name:62s} db {plan.db_ms:7.2f} ms  {status}", flush=True)
        finally:
            db.close()
        result["memory_kib_after_run"] = server.memory()
    finally:
        server.stop()
    return result


# -- report ------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1), "kernel": platform.release(),
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
    }


def roost_info() -> dict[str, Any]:
    import roost

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip()

    source = Path(roost.__file__).resolve().parent
    inside = source.is_relative_to(REPO)
    return {
        "version": roost.__version__, "source": str(source),
        "commit": git("rev-parse", "--short", "HEAD") if inside else None,
        "src_modified": bool(git("status", "--porcelain", "--", "src")) if inside else None,
    }


async def postgres_info(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(databases._asyncpg_dsn(url))
    try:
        info = {"version": await connection.fetchval("SHOW server_version")}
        for setting in ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost", "synchronous_commit", "max_connections"):
            info[setting] = await connection.fetchval(f"SHOW {setting}")
        return info
    finally:
        await connection.close()


NOISY_PERCENT = 25.0  # other programs' CPU (in % of one core) above which a measurement is marked


def print_summary(report: dict[str, Any]) -> None:
    print("\n" + "=" * 112)
    print(f"Roost benchmark — {report['mode']} — {report['machine']['cores']} cores, generator {report['generator']['name']}, "
          f"{report['settings']['connections']} connections, {report['settings']['duration_seconds']:g} s per run")
    noisy_seen = False
    for kind, data in report["databases"].items():
        if "error" in data:
            print(f"\n{kind}: not measured ({data['error']})")
            continue
        t = data["throughput"]
        print(f"\n{kind}  ({data['sessions']:,} seeded sessions)")
        print(f"  {'endpoint':10s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s} {'server CPU':>11s} {'CPU ms/req':>11s}")
        for name in ("healthz", "create"):
            row = t[name]
            noisy = row["other_cpu_percent"] > NOISY_PERCENT
            noisy_seen |= noisy
            print(f"  {name:10s} {row['rps']:9.1f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['errors']:7d} "
                  f"{row['server_cpu_percent']:10.0f}% {row['server_cpu_ms_per_request']:11.2f}{'  *' if noisy else ''}")
        verdict = "met" if t["goal_met"] else "NOT met"
        print(f"  create/healthz = {t['ratio_create_to_healthz']:.3f}  (goal >= {CREATE_GOAL_RATIO}: {verdict})")
        print(f"\n  {'list scenario':62s} {'p50 ms':>8s} {'p99 ms':>8s} {'db ms':>7s} {'CPU ms':>7s}  goal p99<={LIST_GOAL_P99_MS:g}")
        for row in data["list"]:
            goal = "—" if row["goal_met"] is None else ("met" if row["goal_met"] else "NOT met")
            scan = "  FULL SCAN" if row["plan"]["full_scans"] else ""
            noisy = row["other_cpu_percent"] > NOISY_PERCENT
            noisy_seen |= noisy
            print(f"  {row['scenario']:62s} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['db_ms']:7.2f} "
                  f"{row['server_cpu_ms_per_request']:7.2f}  {goal}{scan}{'  *' if noisy else ''}")
        memory = data["memory_kib_after_run"]
        print(f"\n  roost serve memory after the run: VmRSS {memory['VmRSS'] / 1024:.0f} MiB (peak VmHWM {memory['VmHWM'] / 1024:.0f} MiB)")
    if noisy_seen:
        print(f"\n* other programs used more than {NOISY_PERCENT:g} % of a core during this measurement: treat it with care")
    print("=" * 112)


def markdown(report: dict[str, Any]) -> str:
    """The results as the Markdown tables of docs/performance.md."""
    lines = [
        f"Run of {report['generated_at']} ({report['mode']}), Roost {report['roost']['version']} "
        f"({report['roost'].get('label') or 'commit ' + str(report['roost']['commit'])}), {report['generator']['version']}.",
        "",
        "| database | healthz req/s | create req/s | create / healthz | create p50 | create p99 | server CPU per create | per healthz |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, data in report["databases"].items():
        if "error" in data:
            continue
        t = data["throughput"]
        h, c = t["healthz"], t["create"]
        lines.append(
            f"| {kind} | {h['rps']:,.0f} | {c['rps']:,.0f} | **{t['ratio_create_to_healthz']:.3f}** | {c['p50_ms']:.0f} ms | "
            f"{c['p99_ms']:.0f} ms | {c['server_cpu_ms_per_request']:.2f} ms | {h['server_cpu_ms_per_request']:.2f} ms |"
        )
    kinds = [kind for kind, data in report["databases"].items() if "error" not in data]
    header = "| list scenario | " + " | ".join(f"{k} p50 | {k} p99 | {k} db | {k} CPU" for k in kinds) + " |"
    lines += ["", header, "| --- |" + " ---: |" * (4 * len(kinds))]
    first = report["databases"][kinds[0]]["list"]
    for index, row in enumerate(first):
        cells = []
        for kind in kinds:
            other = report["databases"][kind]["list"][index]
            p99 = f"{other['p99_ms']:.1f}"
            if other["goal_met"] is not None:
                p99 = p99 + (" ✓" if other["goal_met"] else " ✗")
            cells.append(f"{other['p50_ms']:.1f} | {p99} | {other['db_ms']:.2f} | {other['server_cpu_ms_per_request']:.2f}")
        name = re.sub(r" \(\d+ rows\)", "", row["scenario"])
        lines.append(f"| {name}{'' if row['in_goal'] else ' (extra)'} | " + " | ".join(cells) + " |")
    lines += ["", "| database | VmRSS at start | after throughput | after the run | peak (VmHWM) |", "| --- | ---: | ---: | ---: | ---: |"]
    for kind in kinds:
        data = report["databases"][kind]
        mib = lambda kib: f"{kib / 1024:.0f} MiB"  # noqa: E731
        lines.append(
            f"| {kind} | {mib(data['memory_kib_at_start']['VmRSS'])} | {mib(data['memory_kib_after_throughput']['VmRSS'])} | "
            f"{mib(data['memory_kib_after_run']['VmRSS'])} | {mib(data['memory_kib_after_run']['VmHWM'])} |"
        )
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="100,000 sessions and short runs (about 2 minutes)")
    parser.add_argument("--smoke", action="store_true",
                        help="2,000 sessions, 1-second runs, 5 requests per list scenario, no waiting: "
                             "checks that the benchmark works (the test suite runs it), measures nothing useful")
    parser.add_argument("--out", type=Path, default=BENCH,
                        help="folder for .data/ (caches) and results/ (default: bench/)")
    parser.add_argument("--sessions", type=int, help="sessions to seed (default 1,000,000; --quick 100,000)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections for healthz/create (16)")
    parser.add_argument("--duration", type=float, help="seconds per throughput measurement (20; --quick 8)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk (installed with apt-get when missing), else the Python generator")
    parser.add_argument("--no-wait", action="store_true",
                        help="do not wait for other programs' CPU load to settle before each measurement")
    parser.add_argument("--postgres-url", default=os.environ.get("ROOST_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL server (any database on it): the benchmark creates and drops its own database there")
    parser.add_argument("--label", help="a note on what is measured, kept in the results (e.g. the commit of a checkout)")
    parser.add_argument("--markdown", metavar="RESULTS_JSON", help="only print the tables of a results file as Markdown")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return
    # SIGTERM unwinds like Ctrl-C, so the server is stopped and the PostgreSQL database dropped.
    signal.signal(signal.SIGTERM, _interrupt)

    wrk = load.ensure_wrk(install=args.generator != "python") if args.generator != "python" else None
    if args.generator == "wrk" and wrk is None:
        raise SystemExit("wrk is not available and could not be installed")
    preset = PRESETS["smoke" if args.smoke else "quick" if args.quick else "full"]
    config = Config(
        quick=args.quick or args.smoke,
        sessions=args.sessions or preset["sessions"],
        connections=4 if args.smoke else args.connections,
        warmup=preset["warmup"],
        duration=args.duration or preset["duration"],
        list_requests=preset["list_requests"],
        list_warmup=preset["list_warmup"],
        scenario_cap_seconds=preset["scenario_cap_seconds"],
        generator="wrk" if wrk else "python",
        wrk=wrk,
        quiet=QuietWaiter(budget=0 if args.no_wait or args.smoke else preset["quiet_budget"]),
    )
    data, results = args.out / ".data", args.out / "results"
    work, logs = data / "work", results / "logs"
    for folder in (data, work, results, logs):
        folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    body = seed_body()
    shape = Shape(config.sessions)
    report: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": "smoke" if args.smoke else "quick" if config.quick else "full",
        "machine": machine_info(),
        "roost": {**roost_info(), "label": args.label},
        "generator": {"name": config.generator, "version": load.wrk_version(wrk) if wrk else f"bench/load.py (asyncio, Python {platform.python_version()})",
                      "threads": 1 if wrk else None},
        "settings": {
            "connections": config.connections, "warmup_seconds": config.warmup, "duration_seconds": config.duration,
            "list_requests": config.list_requests, "list_warmup": config.list_warmup, "sessions": config.sessions,
            "rate_limit_per_minute": 0, "server": "one `roost serve` process (uvicorn, worker on), log level info",
        },
        "goals": {"create_to_healthz_ratio": CREATE_GOAL_RATIO, "list_p99_ms": LIST_GOAL_P99_MS},
        "databases": {},
    }
    print(f"Roost benchmark ({report['mode']}): {config.sessions:,} sessions, generator {config.generator}", flush=True)

    print("\n[sqlite] preparing the database", flush=True)
    prepared = databases.prepare_sqlite(data, work, shape, body)
    try:
        report["databases"]["sqlite"] = bench_database(config, prepared, work, logs)
    finally:
        for leftover in work.glob("sqlite.db*"):
            leftover.unlink()

    if not args.sqlite_only:
        name = f"roost_bench_{os.getpid()}"
        try:
            report["postgres"] = asyncio.run(postgres_info(args.postgres_url))
        except (OSError, asyncpg.PostgresError) as problem:
            report["databases"]["postgres"] = {"error": f"PostgreSQL unreachable at {args.postgres_url}: {problem}"}
            print(f"\n[postgres] skipped: {problem}", flush=True)
        else:
            print(f"\n[postgres] preparing database {name}", flush=True)
            try:
                prepared = databases.prepare_postgres(data, args.postgres_url, name, shape, body)
                report["databases"]["postgres"] = bench_database(config, prepared, work, logs)
            finally:
                databases.drop_database(args.postgres_url, name)

    report["total_seconds"] = round(time.monotonic() - started, 1)
    report["waited_for_quiet_seconds"] = round(config.quiet.waited, 1)
    text = json.dumps(report, indent=2)
    (results / "latest.json").write_text(text)
    (results / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{report['mode']}.json").write_text(text)
    print_summary(report)
    print(f"written: {results / 'latest.json'}  ({report['total_seconds']:.0f} s)")
    scans = [
        f"{kind}: {row['scenario']}: {'; '.join(row['plan']['full_scans'])}"
        for kind, data in report["databases"].items()
        for row in data.get("list", [])
        if row["plan"]["full_scans"]
    ]
    if scans:
        raise SystemExit("a list query scans a whole table:\n  " + "\n  ".join(scans))


if __name__ == "__main__":
    main()
