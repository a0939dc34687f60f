"""Migrations that move data: run on a database that has rows, down and up again."""

from alembic import command

from roost.db.migrate import alembic_config
from tests.processes import execute_sql
from tests.support import SESSIONS, RunningRoost, drop_postgres_database, make_settings, own_database_url


def test_0010_copies_each_sessions_status_into_its_metadata_rows_and_keeps_it(backend, tmp_path):
    private = own_database_url(backend)
    url = private or f"sqlite:///{tmp_path / 'roost.db'}"
    try:
        server = RunningRoost(make_settings(backend, tmp_path, database_url=url), run_worker=False).start()
        try:
            with server.new_org().client() as api:
                ids = [api.post(SESSIONS, json={"metadata": {"n": str(n), "team": "a"}}).json()["id"] for n in range(3)]
        finally:
            server.stop()

        # Before 0010 nothing copies a status change into the metadata rows.
        command.downgrade(alembic_config(url), "0009")
        execute_sql(url, "UPDATE embedded_signup_sessions SET status = 'completed' WHERE id = :id", id=ids[0])
        execute_sql(url, "UPDATE embedded_signup_sessions SET status = 'cancelled' WHERE id = :id", id=ids[1])

        command.upgrade(alembic_config(url), "head")
        copied = "SELECT s.id, s.status, m.status FROM embedded_signup_sessions s JOIN session_metadata_values m ON m.session_id = s.id"
        rows = execute_sql(url, copied)
        assert len(rows) == 6
        assert {(session_id, stored) for session_id, stored, _ in rows} == {
            (ids[0], "completed"), (ids[1], "cancelled"), (ids[2], "pending")
        }
        assert all(stored == indexed for _, stored, indexed in rows), rows

        execute_sql(url, "UPDATE embedded_signup_sessions SET status = 'expired' WHERE id = :id", id=ids[2])
        assert {indexed for session_id, _, indexed in execute_sql(url, copied) if session_id == ids[2]} == {"expired"}
    finally:
        if private:
            drop_postgres_database(private)
