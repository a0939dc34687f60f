"""Roost's SQLite engine: statements run on the event loop's thread, and the end of every
transaction still lets other tasks run (docs/decisions.md, Storage)."""

import asyncio
import threading
from pathlib import Path

from sqlalchemy import text

from roost.db.engine import create_engine, session_factory


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


def test_each_transaction_end_lets_other_tasks_run(tmp_path: Path) -> None:
    """The worker's pattern: one session, a loop of short transactions (expiry, retention)."""

    async def scenario() -> tuple[list[int], list[int]]:
        engine = create_engine(f"sqlite:///{tmp_path / 'roost.db'}")
        turns = 0

        async def other_task() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        committed, rolled_back = [], []
        try:
            async with session_factory(engine)() as db:
                async with db.begin():
                    await db.execute(text("CREATE TABLE t (x INTEGER)"))
                for round_ in range(10):
                    async with db.begin():
                        await db.execute(text("INSERT INTO t VALUES (:x)"), {"x": round_})
                    committed.append(turns)
                for _ in range(10):
                    transaction = await db.begin()
                    await db.execute(text("SELECT count(*) FROM t"))
                    await transaction.rollback()
                    rolled_back.append(turns)
        finally:
            task.cancel()
            await engine.dispose()
        return committed, rolled_back

    committed, rolled_back = asyncio.run(scenario())
    # The other task ran between every two transactions, whether they ended in COMMIT or ROLLBACK.
    assert all(later > earlier for earlier, later in zip(committed, committed[1:])), committed
    assert all(later > earlier for earlier, later in zip(rolled_back, rolled_back[1:])), rolled_back
