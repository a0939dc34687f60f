"""phone numbers: when the registration attempt now in flight started, so one a crash cut short is resumed

Revision ID: 0012
Revises: 0011
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: on PostgreSQL a catalog change, no table rewrite.
    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_started_at', sa.BigInteger(), nullable=True))
    # The worker looks for attempts left in flight every few seconds: only those rows are indexed.
    op.create_index(
        'ix_phone_numbers_registration_in_flight', 'phone_numbers', ['registration_started_at'], unique=False,
        sqlite_where=sa.text('registration_started_at IS NOT NULL'),
        postgresql_where=sa.text('registration_started_at IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_phone_numbers_registration_in_flight', table_name='phone_numbers')
    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.drop_column('registration_started_at')
