"""list index for pending sessions, led by the tenant (performance)

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


def upgrade() -> None:
    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.create_index(
            'ix_sessions_pending_list',
            ['organization_id', 'livemode', 'created_at', 'id'],
            unique=False,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_pending_list', sqlite_where=PENDING, postgresql_where=PENDING)
