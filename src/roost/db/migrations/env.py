"""Alembic environment: runs migrations over the async engine Roost itself uses."""

import asyncio

from alembic import context
from sqlalchemy import text

from roost.db.base import Base
from roost.tables import load_all_models
from roost.db.engine import create_engine

load_all_models()
target_metadata = Base.metadata


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_engine(context.config.get_main_option("roost.database_url"))
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes may start at once: one migrates, the others wait, then find it done.
            # They wait between tries, not in pg_advisory_lock: a statement blocked there holds a
            # snapshot, which a CREATE INDEX CONCURRENTLY of the migrating process waits for (a
            # deadlock PostgreSQL ends by failing the waiting process's start).
            while not (await connection.execute(text("SELECT pg_try_advisory_lock(7410523)"))).scalar():
                await connection.commit()
                await asyncio.sleep(0.2)
            await connection.commit()
        await connection.run_sync(_run)
        await connection.commit()
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_unlock(7410523)"))
            await connection.commit()
    await engine.dispose()


asyncio.run(_main())
