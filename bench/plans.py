"""The query plans of the list endpoint, taken from the service's own SQL.

`capture_list_sql` calls roost.sessions.service.list_sessions (the code the endpoint runs) on an
engine made by roost.db.engine.create_engine, and records the statement and parameters it sends
to the driver. That exact statement is then explained:
- SQLite: EXPLAIN QUERY PLAN (a `SCAN <table>` of a sessions or metadata table is a full scan);
- PostgreSQL: EXPLAIN (ANALYZE, BUFFERS) as the driver runs it (custom plan), and again through
  PREPARE/EXECUTE with plan_cache_mode = force_generic_plan, because asyncpg prepares
  statements and PostgreSQL switches a prepared statement to its generic plan after five runs.
Each statement is also timed in the database alone (median of a few runs) to separate database
time from the rest of the request.
"""

import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from roost.db.engine import session_factory
from roost.kit import pagination
from roost.organizations.service import Caller
from roost.sessions import service

BIG_TABLES = ("embedded_signup_sessions", "session_metadata_values")
_SQLITE_SCAN = re.compile(r"\bSCAN (\w+)")
_PG_SEQ = re.compile(r"Seq Scan on (\w+)")
_PG_REMOVED = re.compile(r"Rows Removed by (?:Filter|Join Filter): (\d+)")
_PG_EXEC = re.compile(r"Execution Time: ([\d.]+) ms")


@dataclass
class Plan:
    statement: str
    params: list[Any]
    plan: list[str]
    full_scans: list[str]
    db_ms: float
    generic_plan: list[str] = field(default_factory=list)
    rows_removed_by_filter: int | None = None
    notes: list[str] = field(default_factory=list)
    custom_ms: float | None = None  # PostgreSQL: EXPLAIN ANALYZE execution time of each plan
    generic_ms: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "statement": self.statement, "params": [str(value) for value in self.params], "plan": self.plan,
            "generic_plan": self.generic_plan or None, "full_scans": self.full_scans, "db_ms": self.db_ms,
            "rows_removed_by_filter": self.rows_removed_by_filter, "notes": self.notes,
            "custom_plan_ms": self.custom_ms, "generic_plan_ms": self.generic_ms,
        }


async def capture_list_sql(
    engine: AsyncEngine, caller: Caller, filters: service.SessionFilters, page: pagination.Page, now: int
) -> tuple[str, tuple]:
    """The list statement (the one with ORDER BY) that service.list_sessions sends."""
    captured: list[tuple[str, tuple]] = []
    ours: list[Any] = []

    def record(conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001
        # Only this session's connection: the server's webhook worker shares the engine.
        if conn in ours:
            captured.append((statement, tuple(parameters or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with session_factory(engine)() as db, db.begin():
            ours.append((await db.connection()).sync_connection)
            await service.list_sessions(db, caller, filters, page, now)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return next((s, p) for s, p in reversed(captured) if "ORDER BY" in s)


def _sqlite_tree(rows: list[tuple]) -> list[str]:
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


async def _timed(run: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


async def explain_sqlite(engine: AsyncEngine, statement: str, params: tuple, repeat: int = 15) -> Plan:
    async with engine.connect() as connection:
        rows = (await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)).fetchall()

        async def run() -> None:
            (await connection.exec_driver_sql(statement, params)).fetchall()

        db_ms = await _timed(run, repeat)
        await connection.rollback()
    lines = _sqlite_tree([tuple(row) for row in rows])
    partial = await _sqlite_partial_indexes(engine)
    scans, notes = [], []
    for line in lines:
        match = _SQLITE_SCAN.search(line)
        if match and _is_big_table(match.group(1)):
            used = re.search(r"USING (?:COVERING )?INDEX (\w+)", line)
            if used and used.group(1) in partial:
                notes.append(f"{line.strip()}: walks the whole partial index {used.group(1)} (all organizations)")
            else:
                scans.append(line.strip())
    return Plan(statement, list(params), lines, scans, db_ms, notes=notes)


async def _sqlite_partial_indexes(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        found = {name for name, sql in rows if " WHERE " in sql.upper()}
        await connection.rollback()
    return found


def _is_big_table(name: str) -> bool:
    # m1, m2, … are the service's aliases of session_metadata_values for extra metadata filters.
    return name in BIG_TABLES or re.fullmatch(r"m\d+", name) is not None


def _pg_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def explain_postgres(url: str, statement: str, params: tuple, repeat: int = 15) -> Plan:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    # Timed as the server runs it: Roost plans every execution (roost.db.engine), so a prepared
    # statement never switches to its generic plan there.
    connection = await asyncpg.connect(dsn, server_settings={"plan_cache_mode": "force_custom_plan"})
    try:
        custom = [row[0] for row in await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *params)]

        async def run() -> None:
            await connection.fetch(statement, *params)

        db_ms = await _timed(run, repeat)
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await connection.execute("PREPARE bench_list AS " + statement)
        arguments = ", ".join(_pg_literal(value) for value in params)
        generic = [row[0] for row in await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_list({arguments})")]
        await connection.execute("DEALLOCATE bench_list")
        await connection.execute("RESET plan_cache_mode")
    finally:
        await connection.close()
    scans = [
        f"{kind}: {line.strip()}"
        for kind, plan in (("custom", custom), ("generic", generic))
        for line in plan
        if (m := _PG_SEQ.search(line)) and _is_big_table(m.group(1))
    ]
    removed = max([int(m.group(1)) for line in custom + generic if (m := _PG_REMOVED.search(line))], default=0)
    plan = Plan(statement, list(params), custom, scans, db_ms, generic, removed)
    plan.custom_ms, plan.generic_ms = _execution_ms(custom), _execution_ms(generic)
    if plan.generic_ms > max(5.0, 10 * plan.custom_ms):
        plan.notes.append(
            f"the generic plan (what a prepared statement switches to after 5 runs) takes {plan.generic_ms:.1f} ms "
            f"against {plan.custom_ms:.1f} ms for the custom plan"
        )
    return plan


def _execution_ms(plan: list[str]) -> float:
    return next((float(m.group(1)) for line in plan if (m := _PG_EXEC.search(line))), 0.0)
