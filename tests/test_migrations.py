"""Migrations that move data: run on a database that has rows, down and up again."""

from pathlib import Path

import pytest
from alembic import command

from roost.db.migrate import alembic_config
from tests.processes import execute_sql
from tests.support import SESSIONS, RunningRoost, drop_postgres_database, make_settings, own_database_url

STATUSES = "SELECT s.id, s.status, m.status FROM embedded_signup_sessions s JOIN session_metadata_values m ON m.session_id = s.id"


@pytest.fixture
def at_0009(backend: str, tmp_path: Path):
    """A database with three sessions (two metadata keys each), migrated back to 0009."""
    private = own_database_url(backend)
    url = private or f"sqlite:///{tmp_path / 'roost.db'}"
    server = RunningRoost(make_settings(backend, tmp_path, database_url=url), run_worker=False).start()
    try:
        with server.new_org().client() as api:
            ids = [api.post(SESSIONS, json={"metadata": {"n": str(n), "team": "a"}}).json()["id"] for n in range(3)]
    finally:
        server.stop()
    command.downgrade(alembic_config(url), "0009")
    yield url, ids
    if private:
        drop_postgres_database(private)


def upgrade_in_small_batches(url: str) -> None:
    config = alembic_config(url)
    config.set_main_option("roost.backfill_batch", "2")  # PostgreSQL back-fills in several commits
    command.upgrade(config, "head")


def test_0010_copies_each_sessions_status_into_its_metadata_rows_and_keeps_it(at_0009):
    url, ids = at_0009
    # Before 0010 nothing copies a status change into the metadata rows.
    execute_sql(url, "UPDATE embedded_signup_sessions SET status = 'completed' WHERE id = :id", id=ids[0])
    execute_sql(url, "UPDATE embedded_signup_sessions SET status = 'cancelled' WHERE id = :id", id=ids[2])

    upgrade_in_small_batches(url)
    rows = execute_sql(url, STATUSES)
    assert len(rows) == 6
    assert {(session_id, stored) for session_id, stored, _ in rows} == {
        (ids[0], "completed"), (ids[1], "pending"), (ids[2], "cancelled")
    }
    assert all(stored == indexed for _, stored, indexed in rows), rows

    execute_sql(url, "UPDATE embedded_signup_sessions SET status = 'expired' WHERE id = :id", id=ids[1])
    assert {indexed for session_id, _, indexed in execute_sql(url, STATUSES) if session_id == ids[1]} == {"expired"}


def test_0010_on_postgresql_completes_after_an_attempt_that_stopped_half_way(at_0009, backend):
    if backend != "postgres":
        pytest.skip("on SQLite 0010 is one transaction: it cannot stop half-way")
    url, ids = at_0009
    # What an interrupted run leaves: the column (committed at once), part of the back-fill
    # missing, and an index.
    execute_sql(url, "ALTER TABLE session_metadata_values ADD COLUMN status VARCHAR(16) DEFAULT 'pending' NOT NULL")
    execute_sql(url, "CREATE INDEX ix_session_metadata_status ON session_metadata_values (organization_id, status)")
    execute_sql(url, "UPDATE embedded_signup_sessions SET status = 'failed' WHERE id = :id", id=ids[0])

    upgrade_in_small_batches(url)
    assert all(stored == indexed for _, stored, indexed in execute_sql(url, STATUSES))
    columns = execute_sql(
        url,
        "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE c.relname = 'ix_session_metadata_status' AND i.indisvalid",
    )
    assert {name for (name,) in columns} == {
        "organization_id", "livemode", "key", "value_digest", "status", "created_at", "session_id"
    }
    execute_sql(url, "UPDATE embedded_signup_sessions SET status = 'cancelled' WHERE id = :id", id=ids[1])
    assert {indexed for session_id, _, indexed in execute_sql(url, STATUSES) if session_id == ids[1]} == {"cancelled"}
