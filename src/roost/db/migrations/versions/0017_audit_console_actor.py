"""audit log: a console user as the actor (operators' actions), so the admin key becomes optional

Revision ID: 0017
Revises: 0016
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite changes a column's nullability only by rebuilding the table (this one
    # has no trigger to lose). On PostgreSQL these are two ALTERs.
    with op.batch_alter_table('audit_log_entries') as batch:
        batch.alter_column('admin_key_id', existing_type=sa.String(length=40), nullable=True)
        batch.add_column(sa.Column('console_user_id', sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM audit_log_entries WHERE admin_key_id IS NULL")  # operators' entries have no key
    with op.batch_alter_table('audit_log_entries') as batch:
        batch.drop_column('console_user_id')
        batch.alter_column('admin_key_id', existing_type=sa.String(length=40), nullable=False)
