"""session status copied into the metadata index, kept equal by a trigger (performance)

A list with a metadata filter and a status filter walked the metadata value's index range and
checked each session's status: when few sessions matched both, the page that proves there are no
more rows read the whole range (~400 ms on a million sessions on SQLite). With the status in the
metadata row, both filters are one index range.

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TRIGGER = 'tr_sessions_status_to_metadata'
PG_FUNCTION = 'roost_session_status_to_metadata'
INDEX_COLUMNS = ['organization_id', 'livemode', 'key', 'value_digest', 'status', 'created_at', 'session_id']
BACKFILL_BATCH = 10_000  # metadata rows per committed UPDATE on PostgreSQL (tests set fewer)


def upgrade() -> None:
    # The copy is kept by a trigger in the database, not by the state machine, so that every way
    # a status changes (transition(), a script, an operator's SQL) keeps the index right. On
    # SQLite, a later migration that rebuilds embedded_signup_sessions (batch mode) drops the
    # trigger and must create it again (tests/sessions/test_read_list.py checks it at head).
    if op.get_bind().dialect.name == 'postgresql':
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_sqlite() -> None:
    # One transaction: SQLite serves one process, which migrates before it serves.
    with op.batch_alter_table('session_metadata_values', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='pending', nullable=False))
    op.execute(
        "UPDATE session_metadata_values SET status = (SELECT s.status FROM embedded_signup_sessions AS s "
        "WHERE s.id = session_metadata_values.session_id) WHERE status <> (SELECT s.status FROM "
        "embedded_signup_sessions AS s WHERE s.id = session_metadata_values.session_id)"
    )
    op.execute(f"""
        CREATE TRIGGER {TRIGGER} AFTER UPDATE OF status ON embedded_signup_sessions
        FOR EACH ROW WHEN NEW.status IS NOT OLD.status
        BEGIN
            UPDATE session_metadata_values SET status = NEW.status WHERE session_id = NEW.id;
        END
    """)
    with op.batch_alter_table('session_metadata_values', schema=None) as batch_op:
        batch_op.create_index('ix_session_metadata_status', INDEX_COLUMNS, unique=False)


def _upgrade_postgresql() -> None:
    # Processes of the previous release keep serving during a rolling upgrade, so no step holds a
    # table for long: the column has a constant default (no rewrite), the trigger comes before the
    # back-fill (changes made meanwhile are copied too), the back-fill commits in batches, and the
    # index is built CONCURRENTLY. Each step can run again if an earlier attempt stopped half-way.
    with op.get_context().autocommit_block():
        op.execute(
            "ALTER TABLE session_metadata_values ADD COLUMN IF NOT EXISTS status VARCHAR(16) DEFAULT 'pending' NOT NULL"
        )
        op.execute(f"""
            CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE session_metadata_values SET status = NEW.status WHERE session_id = NEW.id;
                RETURN NULL;
            END $$
        """)
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON embedded_signup_sessions")
        op.execute(f"""
            CREATE TRIGGER {TRIGGER} AFTER UPDATE OF status ON embedded_signup_sessions
            FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
            EXECUTE FUNCTION {PG_FUNCTION}()
        """)
        connection = op.get_bind()
        batch = int(op.get_context().config.get_main_option('roost.backfill_batch') or BACKFILL_BATCH)
        after = ''
        while True:
            upto = connection.execute(
                sa.text(
                    "SELECT max(session_id) FROM (SELECT session_id FROM session_metadata_values "
                    "WHERE session_id > :after ORDER BY session_id LIMIT :batch) AS next_batch"
                ),
                {'after': after, 'batch': batch},
            ).scalar()
            if upto is None:
                break
            connection.execute(
                sa.text(
                    "UPDATE session_metadata_values AS m SET status = s.status FROM embedded_signup_sessions AS s "
                    "WHERE s.id = m.session_id AND m.session_id > :after AND m.session_id <= :upto "
                    "AND m.status <> s.status"
                ),
                {'after': after, 'upto': upto},
            )
            after = upto
        # A build that stopped half-way leaves an invalid index behind: start it afresh.
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_session_metadata_status")
        op.execute(
            "CREATE INDEX CONCURRENTLY ix_session_metadata_status ON session_metadata_values "
            f"({', '.join(INDEX_COLUMNS)})"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(f"DROP TRIGGER {TRIGGER}" + (" ON embedded_signup_sessions" if dialect == 'postgresql' else ""))
    if dialect == 'postgresql':
        op.execute(f"DROP FUNCTION {PG_FUNCTION}()")
    with op.batch_alter_table('session_metadata_values', schema=None) as batch_op:
        batch_op.drop_index('ix_session_metadata_status')
        batch_op.drop_column('status')
