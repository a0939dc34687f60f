"""Roost's SQLite engine runs statements on the event loop's thread (docs/decisions.md, Storage);
tests/profiles/test_retention.py checks that a loop of transactions still lets other tasks run."""

import asyncio
import threading
from pathlib import Path

from sqlalchemy import text

from roost.db.engine import create_engine


def test_statements_run_on_the_event_loops_thread(tmp_path: Path) -> None:
    async def scenario() -> set[int]:
        engine = create_engine(f"sqlite:///{tmp_path / 'roost.db'}")
        threads: set[int] = set()
        try:
            async with engine.begin() as connection:
                raw = await connection.get_raw_connection()
                # sqlite3 calls a Python function from the thread that runs the statement.
                await raw.driver_connection.create_function("thread_id", 0, lambda: threads.add(threading.get_ident()) or 1)
                await connection.execute(text("CREATE TABLE t (x INTEGER)"))
                await connection.execute(text("INSERT INTO t VALUES (thread_id())"))
                await connection.execute(text("SELECT thread_id()"))
        finally:
            await engine.dispose()
        return threads

    assert asyncio.run(scenario()) == {threading.get_ident()}
