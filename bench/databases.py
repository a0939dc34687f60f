"""The two databases the benchmark runs on, each built from its cache or seeded from scratch.

SQLite: the seeded database is cached as bench/.data/sqlite-<N>.db; each run works on a copy.
PostgreSQL: each run creates a fresh database (dropped at the end) and fills it from the
cached dump bench/.data/postgres-<N>.dump (pg_restore), or seeds it with COPY and then
writes that dump.
"""

import asyncio
import json
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from dataset import METADATA_COLUMNS, SESSION_COLUMNS, Shape, generate
from roost.db.migrate import head_revision
from roost.kit.crypto import new_key_text
from roost.kit.timeutil import now_ms
from roostproc import roost_cli, roost_env

CACHE_FORMAT = 2  # bump when dataset.py changes the data


@dataclass
class Prepared:
    """A database ready for a run, with the organization that owns the seeded sessions."""

    kind: str  # sqlite | postgres
    url: str
    secret_key: str
    list_org_id: str
    list_key: str
    sessions: int
    seeded_at: int
    timings: dict[str, float] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return roost_env(self.url, self.secret_key)


def _cache_meta(path: Path, shape: Shape) -> dict[str, Any] | None:
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    expected = {"format": CACHE_FORMAT, "sessions": shape.sessions, "migration": head_revision()}
    return meta if all(meta.get(name) == value for name, value in expected.items()) else None


def _write_meta(path: Path, shape: Shape, **values: Any) -> None:
    meta = {"format": CACHE_FORMAT, "sessions": shape.sessions, "migration": head_revision(), **values}
    path.write_text(json.dumps(meta, indent=2))


def _log(message: str) -> None:
    print(f"  · {message}", flush=True)


# -- SQLite ------------------------------------------------------------------------------


def prepare_sqlite(data: Path, work: Path, shape: Shape, seed_body: dict[str, Any]) -> Prepared:
    cache, meta_path = data / f"sqlite-{shape.sessions}.db", data / f"sqlite-{shape.sessions}.json"
    timings: dict[str, float] = {}
    meta = _cache_meta(meta_path, shape) if cache.exists() else None
    if meta is None:
        started = time.monotonic()
        meta = _seed_sqlite(cache, data, shape, seed_body)
        _write_meta(meta_path, shape, **meta)
        timings["seed_seconds"] = round(time.monotonic() - started, 1)
    else:
        _log(f"SQLite: using the cached {shape.sessions:,}-session database {cache}")
    started = time.monotonic()
    target = work / "sqlite.db"
    for leftover in work.glob("sqlite.db*"):
        leftover.unlink()
    shutil.copyfile(cache, target)
    timings["copy_seconds"] = round(time.monotonic() - started, 1)
    prepared = Prepared(
        "sqlite", f"sqlite:///{target}", meta["secret_key"], meta["org_id"], meta["admin_key"], shape.sessions,
        meta["seeded_at"], timings,
    )
    with sqlite3.connect(target) as connection:
        refresh_pending_sqlite(connection, prepared.list_org_id)
    return prepared


def _seed_sqlite(cache: Path, data: Path, shape: Shape, seed_body: dict[str, Any]) -> dict[str, Any]:
    building = data / "sqlite-building.db"
    for leftover in data.glob("sqlite-building.db*"):
        leftover.unlink()
    secret_key = new_key_text()
    env = roost_env(f"sqlite:///{building}", secret_key)
    _log(f"SQLite: seeding {shape.sessions:,} sessions into {building} (first run only)")
    created = roost_cli(["orgs", "create", "Bench list org", "--json"], env, data)  # migrates, then creates
    now = now_ms()
    connection = sqlite3.connect(building, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-2000000", "temp_store=MEMORY"):
        connection.execute(f"PRAGMA {pragma}")
    insert_session = (
        f"INSERT INTO embedded_signup_sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({', '.join('?' * len(SESSION_COLUMNS))})"
    )
    insert_metadata = (
        f"INSERT INTO session_metadata_values ({', '.join(METADATA_COLUMNS)}) VALUES ({', '.join('?' * len(METADATA_COLUMNS))})"
    )
    written = 0
    connection.execute("BEGIN")
    for sessions, metadata in generate(shape, created["organization_id"], seed_body, now):
        connection.executemany(insert_session, sessions)
        connection.executemany(insert_metadata, metadata)
        written += len(sessions)
        if written % 200_000 == 0:
            connection.execute("COMMIT")
            connection.execute("BEGIN")
            _log(f"SQLite: {written:,} sessions")
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()
    building.replace(cache)
    return {"org_id": created["organization_id"], "admin_key": created["admin_key"], "secret_key": secret_key, "seeded_at": now}


def refresh_pending_sqlite(connection: sqlite3.Connection, org_id: str) -> None:
    """Pending sessions get a deadline in the future, as they would have on a live server (the
    seed's `now` is in the past on a cached database); otherwise the worker would expire them."""
    deadline = now_ms() + 3_600_000
    connection.execute(
        "UPDATE embedded_signup_sessions SET deadline_at = ?, expires_at = ? WHERE organization_id = ? AND status = 'pending'",
        (deadline, deadline, org_id),
    )


# -- PostgreSQL --------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(_with_database(url, "postgres")))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server_url: str, name: str) -> str:
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    return _with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _pg_tool_args(url: str) -> list[str]:
    parsed = make_url(url)
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]
    return args


def prepare_postgres(data: Path, server_url: str, database: str, shape: Shape, seed_body: dict[str, Any]) -> Prepared:
    """Create `database` (fresh) and fill it from the cached dump, or seed it and write the dump."""
    dump, meta_path = data / f"postgres-{shape.sessions}.dump", data / f"postgres-{shape.sessions}.json"
    timings: dict[str, float] = {}
    url = create_database(server_url, database)
    meta = _cache_meta(meta_path, shape) if dump.exists() else None
    started = time.monotonic()
    if meta is None:
        secret_key = new_key_text()
        _log(f"PostgreSQL: seeding {shape.sessions:,} sessions into {database} with COPY (first run only)")
        created = roost_cli(["orgs", "create", "Bench list org", "--json"], roost_env(url, secret_key), data)
        now = now_ms()
        asyncio.run(_seed_postgres(url, shape, created["organization_id"], seed_body, now))
        timings["seed_seconds"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        partial = dump.with_suffix(".dump.partial")
        subprocess.run(
            ["pg_dump", *_pg_tool_args(url), "-Fc", "-Z", "1", "-f", str(partial), make_url(url).database],
            check=True, timeout=900,
        )
        partial.replace(dump)
        meta = {"org_id": created["organization_id"], "admin_key": created["admin_key"], "secret_key": secret_key, "seeded_at": now}
        _write_meta(meta_path, shape, **meta)
        timings["dump_seconds"] = round(time.monotonic() - started, 1)
    else:
        _log(f"PostgreSQL: restoring the cached {shape.sessions:,}-session dump {dump} into {database}")
        subprocess.run(
            ["pg_restore", *_pg_tool_args(url), "--no-owner", "-j", "2", "-d", database, str(dump)],
            check=True, timeout=900,
        )
        asyncio.run(_execute(url, "ANALYZE"))  # pg_restore does not bring the planner statistics
        timings["restore_seconds"] = round(time.monotonic() - started, 1)
    prepared = Prepared(
        "postgres", url, meta["secret_key"], meta["org_id"], meta["admin_key"], shape.sessions, meta["seeded_at"], timings
    )
    deadline = now_ms() + 3_600_000
    asyncio.run(
        _execute(
            url,
            "UPDATE embedded_signup_sessions SET deadline_at = $1, expires_at = $1 WHERE organization_id = $2 AND status = 'pending'",
            deadline, prepared.list_org_id,
        )
    )
    return prepared


async def _execute(url: str, statement: str, *args: Any) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


async def _seed_postgres(url: str, shape: Shape, org_id: str, seed_body: dict[str, Any], now: int) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        written = 0
        for sessions, metadata in generate(shape, org_id, seed_body, now):
            await connection.copy_records_to_table("embedded_signup_sessions", records=sessions, columns=SESSION_COLUMNS)
            await connection.copy_records_to_table("session_metadata_values", records=metadata, columns=METADATA_COLUMNS)
            written += len(sessions)
            if written % 200_000 == 0:
                _log(f"PostgreSQL: {written:,} sessions")
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
