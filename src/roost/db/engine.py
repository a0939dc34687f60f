"""Database engine for SQLite (embedded default) and PostgreSQL (production)."""

import asyncio
import os
import sqlite3
from functools import partial
from pathlib import Path

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    """Accept the plain URLs users write and pick the async driver ourselves."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {parsed.drivername!r}: use sqlite:/// or postgresql://")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve()


def create_engine(url: str) -> AsyncEngine:
    if not is_sqlite(url):
        # asyncpg prepares statements; PostgreSQL's generic plans can pick the wrong index for a
        # list filter whose selectivity depends on the values, so plan every execution.
        return create_async_engine(
            async_url(url),
            pool_size=10,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
        )

    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    database = str(path) if path is not None else ":memory:"

    async def connect() -> aiosqlite.Connection:
        connection = _LoopThreadConnection(partial(sqlite3.connect, database, check_same_thread=False), 64)
        connection._thread.daemon = True
        return await connection

    # One connection: SQLite has a single writer anyway, and queueing in the pool (async, FIFO)
    # is far cheaper than connections racing for the write lock in SQLite's busy handler.
    engine = create_async_engine(async_url(url), async_creator=connect, pool_size=1, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy's "begin" hook below issue BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn):  # noqa: ANN001
        # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
        # instead of one failing half-way with "database is locked" (SQLite's only writer).
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class _LoopThreadConnection(aiosqlite.Connection):
    """aiosqlite's connection, but every call runs at once on the event loop's thread.

    A statement on a local SQLite file takes microseconds; handing each call to aiosqlite's
    thread and back (a queue, a thread wake-up, then a loop wake-up) cost more than the SQL:
    a create makes 14 such calls and spent over half its CPU on them. The price: while a call
    runs, nothing else in the process does (a write waiting for another process's lock blocks
    the loop up to busy_timeout), and a transaction no longer suspends anywhere, so code that runs
    many transactions in a row yields between them itself (`yield_to_other_tasks`).
    docs/decisions.md says why that is the right trade for SQLite.
    Only opening the connection (and SQLAlchemy's isolation-level setter) still uses aiosqlite's
    thread, which otherwise sleeps.
    """

    async def _execute(self, fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if not self._running or not self._connection:
            raise ValueError("Connection closed")  # what aiosqlite raises, which SQLAlchemy maps
        return fn(*args, **kwargs)


async def yield_to_other_tasks() -> None:
    """Between the transactions of a long loop (a backlog of expiries, a retention purge).

    On SQLite a transaction never suspends (see _LoopThreadConnection), so without this a loop
    of them would keep the server from answering anyone until it ends. Yielding here, after a
    transaction has returned its connection, rather than inside one, matters: a request that
    yielded while holding SQLite's one connection would make the others queue for it, and
    newcomers (which never suspend) would keep taking it ahead of them.
    """
    await asyncio.sleep(0)


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def secure_write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
