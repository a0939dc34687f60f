"""account health (issue 16): what Meta's lifecycle webhooks said of a profile (per dimension, with
Meta's time), the numbers' display name status and messaging limit, and the simulator's own ban,
restriction and number state that refresh reads back

Revision ID: 0019
Revises: 0018
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: a catalog change on PostgreSQL; plain ALTER TABLE on SQLite (0014's note).
    op.add_column('business_profiles', sa.Column('health', sa.JSON(), nullable=True))
    op.add_column('business_profiles', sa.Column('health_updated_at', sa.BigInteger(), nullable=True))
    op.add_column('phone_numbers', sa.Column('name_status', sa.String(length=32), nullable=True))
    op.add_column('phone_numbers', sa.Column('name_rejection_reason', sa.String(length=64), nullable=True))
    op.add_column('phone_numbers', sa.Column('messaging_limit_tier', sa.String(length=24), nullable=True))
    op.add_column('phone_numbers', sa.Column('quality_event', sa.String(length=32), nullable=True))
    op.add_column('phone_numbers', sa.Column('health_times', sa.JSON(), nullable=True))
    op.add_column('sim_wabas', sa.Column('ban_state', sa.String(length=24), nullable=True))
    op.add_column('sim_wabas', sa.Column('restrictions', sa.JSON(), nullable=True))
    op.add_column('sim_phone_numbers', sa.Column('name_status', sa.String(length=32), nullable=True))
    op.add_column('sim_phone_numbers', sa.Column('messaging_limit_tier', sa.String(length=24), nullable=True))


def downgrade() -> None:
    op.drop_column('sim_phone_numbers', 'messaging_limit_tier')
    op.drop_column('sim_phone_numbers', 'name_status')
    op.drop_column('sim_wabas', 'restrictions')
    op.drop_column('sim_wabas', 'ban_state')
    op.drop_column('phone_numbers', 'health_times')
    op.drop_column('phone_numbers', 'quality_event')
    op.drop_column('phone_numbers', 'messaging_limit_tier')
    op.drop_column('phone_numbers', 'name_rejection_reason')
    op.drop_column('phone_numbers', 'name_status')
    op.drop_column('business_profiles', 'health_updated_at')
    op.drop_column('business_profiles', 'health')
