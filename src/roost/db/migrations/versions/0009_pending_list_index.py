"""pending sessions: a list index led by the tenant; the expiry index only for sessions with a deadline (performance)

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")
PENDING_WITH_DEADLINE = sa.text("status = 'pending' AND deadline_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.create_index(
            'ix_sessions_pending_list',
            ['organization_id', 'livemode', 'created_at', 'id'],
            unique=False,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )
        # A `status=pending` list (deadline_at IS NULL OR deadline_at > now) cannot use this index
        # any more, so it never reads every tenant's pending sessions; the expiry sweep
        # (deadline_at <= now) still can.
        batch_op.drop_index('ix_sessions_pending_deadline', sqlite_where=PENDING, postgresql_where=PENDING)
        batch_op.create_index(
            'ix_sessions_pending_deadline',
            ['deadline_at'],
            unique=False,
            sqlite_where=PENDING_WITH_DEADLINE,
            postgresql_where=PENDING_WITH_DEADLINE,
        )


def downgrade() -> None:
    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.drop_index(
            'ix_sessions_pending_deadline', sqlite_where=PENDING_WITH_DEADLINE, postgresql_where=PENDING_WITH_DEADLINE
        )
        batch_op.create_index(
            'ix_sessions_pending_deadline', ['deadline_at'], unique=False, sqlite_where=PENDING, postgresql_where=PENDING
        )
        batch_op.drop_index('ix_sessions_pending_list', sqlite_where=PENDING, postgresql_where=PENDING)
