"""business profile disconnection

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('business_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disconnected_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('disconnect_reason', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('business_profiles', schema=None) as batch_op:
        batch_op.drop_column('disconnect_reason')
        batch_op.drop_column('disconnected_at')
