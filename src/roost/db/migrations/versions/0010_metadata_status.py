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


def upgrade() -> None:
    # The copy is kept by a trigger in the database, not by the state machine, so that every way
    # a status changes (transition(), a script, an operator's SQL) keeps the index right. On
    # SQLite, a later migration that rebuilds embedded_signup_sessions (batch mode) drops the
    # trigger and must create it again (tests/sessions/test_read_list.py checks it at head).
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table('session_metadata_values', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='pending', nullable=False))
    if dialect == 'postgresql':
        op.execute(
            "UPDATE session_metadata_values AS m SET status = s.status FROM embedded_signup_sessions AS s "
            "WHERE s.id = m.session_id AND m.status <> s.status"
        )
        op.execute(f"""
            CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE session_metadata_values SET status = NEW.status WHERE session_id = NEW.id;
                RETURN NULL;
            END $$
        """)
        op.execute(f"""
            CREATE TRIGGER {TRIGGER} AFTER UPDATE OF status ON embedded_signup_sessions
            FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
            EXECUTE FUNCTION {PG_FUNCTION}()
        """)
    else:
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
        batch_op.create_index(
            'ix_session_metadata_status',
            ['organization_id', 'livemode', 'key', 'value_digest', 'status', 'created_at', 'session_id'],
            unique=False,
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(f"DROP TRIGGER {TRIGGER}" + (" ON embedded_signup_sessions" if dialect == 'postgresql' else ""))
    if dialect == 'postgresql':
        op.execute(f"DROP FUNCTION {PG_FUNCTION}()")
    with op.batch_alter_table('session_metadata_values', schema=None) as batch_op:
        batch_op.drop_index('ix_session_metadata_status')
        batch_op.drop_column('status')
