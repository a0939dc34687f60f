"""Where a create's CPU goes: the server's CPU per request along a ladder of routes, each adding
one stage of `POST /v1/organization/embedded-signup/sessions` to the one before, next to
`GET /healthz`, in one run on one server (SQLite).

    .venv/bin/python bench/create_cost.py [--duration 6] [--rounds 3]

The rungs reuse Roost's own pieces (its app, middleware, authentication dependency, body parsing,
validation model and transaction); the ladder's routes exist only in this script's server, never
in Roost. The last rung, `direct`, is the create with the dependency injection and the database
layer taken out, to show what rewriting the hot path without them could gain at most. Rounds
alternate the rungs so that a change in the machine's speed touches all of them; the table shows
each rung's median. See docs/performance.md ("Where a create's CPU goes").
"""

import argparse
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

SESSIONS = "/v1/organization/embedded-signup/sessions"
LADDER = "/bench-ladder"
RUNGS = [
    ("healthz", "GET /healthz: HTTP, middleware (request id, log line, metrics), routing, a JSON answer"),
    ("plain", "POST with the create body, answered without reading it"),
    ("authenticated", "+ the admin-key dependency (a key seen in the last second: no query) and the database session"),
    ("validated", "+ reading the JSON body and validating it with SessionCreateParams"),
    ("transaction", "+ a transaction that writes nothing: the mode-settings cache, BEGIN IMMEDIATE, COMMIT"),
    ("create", "the real create: + three INSERTs (session, metadata index, event), the response, the counter"),
    # Not a step up from the rung before: the create again, without the layers a rewrite could drop.
    ("direct", "the create without FastAPI's dependencies and SQLAlchemy: the key cache and validation "
               "called directly, Roost's own create_session, its three INSERTs sent to sqlite3 on the event loop"),
]


class DirectWrites:
    """Stands in for the database session that sessions.service.create_session writes through:
    it keeps the Core INSERTs and their rows, and `commit` sends them to sqlite3 itself, in one
    BEGIN IMMEDIATE … COMMIT, with no SQLAlchemy in between (the `direct` rung)."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, list[tuple]]] = []
        self._compiled: dict[tuple, tuple[str, list]] = {}

    async def connection(self) -> "DirectWrites":
        return self

    async def execute(self, statement, rows) -> None:  # noqa: ANN001
        rows = rows if isinstance(rows, list) else [rows]
        sql, columns = self._compile(statement, tuple(rows[0]))
        self.pending.append((sql, [tuple(self._value(column, row[column.name]) for column in columns) for row in rows]))

    def _compile(self, statement, keys: tuple[str, ...]) -> tuple[str, list]:  # noqa: ANN001
        """The INSERT of just these columns, as SQLAlchemy would send it, with ? parameters."""
        if (id(statement), keys) not in self._compiled:
            from sqlalchemy.dialects import sqlite

            compiled = statement.compile(dialect=sqlite.dialect(), column_keys=list(keys))
            self._compiled[id(statement), keys] = (str(compiled), [statement.table.columns[name] for name in compiled.positiontup])
        return self._compiled[id(statement), keys]

    @staticmethod
    def _value(column, value):  # noqa: ANN001, ANN205
        from sqlalchemy import JSON

        if isinstance(column.type, JSON):
            return json.dumps(value)  # SQLAlchemy's JSON on SQLite: None is stored as 'null' too
        return int(value) if isinstance(value, bool) else value

    def commit(self, connection) -> None:  # noqa: ANN001
        pending, self.pending = self.pending, []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in pending:
                connection.executemany(sql, rows)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def serve(port: int) -> None:
    """The benchmark's server: Roost's app as `roost serve` builds it, plus the ladder's routes."""
    import uvicorn
    from fastapi import APIRouter, Depends, Request
    from fastapi.responses import JSONResponse
    from sqlalchemy.ext.asyncio import AsyncSession

    from roost.app import create_app
    from roost.config import Settings
    from roost.kit.timeutil import now_ms
    from roost.kit.web import parse_model, read_json_object
    from roost.organizations.auth import require_admin_key
    from roost.organizations.service import Caller, cached_caller, cached_mode_settings, key_hash_of, lookup_key
    from roost.runtime import Runtime, build_runtime, get_db, runtime_dependency
    from roost.sessions import service
    from roost.sessions.schemas import SessionCreateParams

    runtime = build_runtime(Settings(), port=port)
    ladder = APIRouter(prefix=LADDER)

    @ladder.post("/plain")
    async def plain() -> JSONResponse:
        return JSONResponse({"ok": True}, status_code=201)

    @ladder.post("/authenticated")
    async def authenticated(caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)) -> JSONResponse:
        return JSONResponse({"ok": True}, status_code=201)

    async def validated_body(request: Request, runtime: Runtime) -> SessionCreateParams:
        body = await read_json_object(request)
        return parse_model(SessionCreateParams, body, {"allow_insecure_redirects": runtime.settings.allow_insecure_redirects})

    @ladder.post("/validated")
    async def validated(
        request: Request,
        caller: Caller = Depends(require_admin_key),
        db: AsyncSession = Depends(get_db),
        runtime: Runtime = Depends(runtime_dependency),
    ) -> JSONResponse:
        await validated_body(request, runtime)
        return JSONResponse({"ok": True}, status_code=201)

    @ladder.post("/transaction")
    async def transaction(
        request: Request,
        caller: Caller = Depends(require_admin_key),
        db: AsyncSession = Depends(get_db),
        runtime: Runtime = Depends(runtime_dependency),
    ) -> JSONResponse:
        await validated_body(request, runtime)
        async with db.begin():
            await cached_mode_settings(db, caller.organization_id, caller.livemode, check=lambda mode: None)
            await db.connection()
        return JSONResponse({"ok": True}, status_code=201)

    direct_writes = DirectWrites()

    @ladder.post("/direct")
    async def direct(request: Request) -> JSONResponse:
        key_hash, secret = key_hash_of(request.headers.get("authorization"))
        caller = cached_caller(key_hash)
        if caller is None:  # once a second, as in require_admin_key
            async with runtime.sessions() as db, db.begin():
                caller = await lookup_key(db, key_hash, secret)
        body = await read_json_object(request)
        params = parse_model(SessionCreateParams, body, {"allow_insecure_redirects": runtime.settings.allow_insecure_redirects})
        now = now_ms()
        session, url = await service.create_session(
            direct_writes, caller, params, runtime.session_policy, now, allowed_redirect_uris=[]
        )
        async with runtime.engine.connect() as connection:
            sqlite_connection = (await connection.get_raw_connection()).driver_connection._connection
            direct_writes.commit(sqlite_connection)
        runtime.metrics.sessions_created.labels("test").inc()
        return JSONResponse(service.present(session, now, url), status_code=201)

    app = create_app(runtime, run_worker=False)
    app.include_router(ladder)
    # Matched first, as the sessions router is: FastAPI tries the app's routers in order, and
    # each router it passes costs CPU (/healthz, eighth, pays for seven).
    app.router.routes.insert(0, app.router.routes.pop())
    gc.collect()
    gc.freeze()  # as `roost serve` does
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=6, help="seconds measured per rung and round (6)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all rungs (3)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per rung, once (2)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto", help="as bench/run.py")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="where create_cost.json goes")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # internal: run the server on this port
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    import load
    from roostproc import free_port, process_cpu_seconds, roost_cli, roost_env

    from run import seed_body

    from roost.kit.crypto import new_key_text

    wrk = load.ensure_wrk(install=args.generator != "python") if args.generator != "python" else None
    if args.generator == "wrk" and not wrk:
        raise SystemExit("wrk is not installed")
    work = Path(tempfile.mkdtemp(prefix="roost-create-cost-"))
    env = roost_env(f"sqlite:///{work / 'roost.db'}", new_key_text())
    key = roost_cli(["orgs", "create", "Create cost", "--json"], env, work)["admin_key"]
    port = free_port()
    log = open(work / "server.log", "wb")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        body = json.dumps(seed_body())
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        def measure(rung: str, seconds: float) -> dict:
            url = base + ("/healthz" if rung == "healthz" else SESSIONS if rung == "create" else f"{LADDER}/{rung}")
            method = "GET" if rung == "healthz" else "POST"
            before = process_cpu_seconds(server.pid)
            if wrk:
                outcome = load.run_wrk(wrk, url, args.connections, seconds, method, body, headers)
            else:
                outcome = load.run_python(url, args.connections, seconds, method, body, headers)
            cpu = process_cpu_seconds(server.pid) - before
            if outcome["errors"]:
                raise RuntimeError(f"{rung}: {outcome['errors']} failed requests ({outcome['error_detail']}); see {work}/server.log")
            return {"rps": outcome["rps"], "cpu_ms": 1000 * cpu / max(1, outcome["requests"])}

        _check_direct_writes(base, headers, body)
        # Warm-up: code paths, caches, the key cache (wrk counts whole seconds).
        for rung, _ in RUNGS:
            measure(rung, max(1.0, args.warmup) if wrk else args.warmup)
        runs: dict[str, list[dict]] = {rung: [] for rung, _ in RUNGS}
        for round_number in range(args.rounds):
            order = [rung for rung, _ in RUNGS]
            if round_number % 2:
                order.reverse()
            for rung in order:
                runs[rung].append(measure(rung, args.duration))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    shutil.rmtree(work)  # kept when a run fails, for its server.log
    report(runs, args)


def _check_direct_writes(base: str, headers: dict[str, str], body: str) -> None:
    """The `direct` rung must store what the real create stores: the API reads its session back
    as it answered, with its event, and finds it by its metadata."""
    import urllib.request

    def call(method: str, path: str, data: str | None = None) -> dict:
        request = urllib.request.Request(base + path, data=data.encode() if data else None, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    created = call("POST", f"{LADDER}/direct", body)
    read = call("GET", f"{SESSIONS}/{created['id']}")
    events = call("GET", f"{SESSIONS}/{created['id']}/events")["data"]
    user = json.loads(body)["metadata"]["externalUserId"]
    listed = call("GET", f"{SESSIONS}?metadata%5BexternalUserId%5D={user}&status=pending&limit=100")["data"]
    problems = [
        *(f"{field}: {created[field]!r} != {read.get(field)!r}" for field in created if field != "url" and read.get(field) != created[field]),
        *([] if [event["type"] for event in events] == ["session.created"] else [f"events {events}"]),
        *([] if created["id"] in {session["id"] for session in listed} else ["not found by metadata and status"]),
    ]
    if problems:
        raise SystemExit("the direct rung stores something else than a create: " + "; ".join(problems))


def _wait_ready(base: str, server) -> None:  # noqa: ANN001
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the benchmark server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the benchmark server did not become ready")


def report(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    medians = {rung: (statistics.median(r["cpu_ms"] for r in runs[rung]), statistics.median(r["rps"] for r in runs[rung])) for rung in runs}
    healthz_cpu, healthz_rps = medians["healthz"]
    print(f"Where a create's CPU goes (SQLite, {args.connections} connections, median of {args.rounds} rounds of {args.duration:g} s)")
    print("| rung | what it adds | server CPU per request | added by this rung | req/s | req/s ÷ healthz |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    previous = None
    rows = []
    for rung, what in RUNGS:
        cpu, rps = medians[rung]
        added = "" if previous is None or rung in ("plain", "direct") else f"{cpu - previous:+.3f} ms"
        print(f"| {rung} | {what} | {cpu:.3f} ms | {added} | {rps:,.0f} | {rps / healthz_rps:.2f} |")
        rows.append({"rung": rung, "what": what, "cpu_ms": round(cpu, 4), "rps": rps, "runs": runs[rung]})
        previous = cpu
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "create_cost.json").write_text(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rungs": rows}, indent=1))


if __name__ == "__main__":
    main()
