"""coexistence sync: each business-app number's contacts and history syncs (a durable task on the
number), the per-mode setting that turns the history sync off, and the simulator's record of the
sync requests it accepted

Revision ID: 0018
Revises: 0017
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

SYNCS = ('contacts', 'history')


def upgrade() -> None:
    # Nullable columns without defaults (and one with a server default): no table rewrite on PostgreSQL.
    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coexistence_onboarded_at', sa.BigInteger(), nullable=True))
        for sync in SYNCS:
            batch_op.add_column(sa.Column(f'{sync}_sync_status', sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column(f'{sync}_sync_request_id', sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column(f'{sync}_sync_requested_at', sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column(f'{sync}_sync_completed_at', sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column(f'{sync}_sync_error', sa.JSON(), nullable=True))
            batch_op.add_column(sa.Column(f'{sync}_sync_attempts', sa.Integer(), server_default='0', nullable=False))
            batch_op.add_column(sa.Column(f'{sync}_sync_next_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('history_sync_progress', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('history_sync_phase', sa.Integer(), nullable=True))
    # The worker looks for due syncs every few seconds: only rows with work ahead are indexed.
    for sync in SYNCS:
        op.create_index(
            f'ix_phone_numbers_{sync}_sync_due', 'phone_numbers', [f'{sync}_sync_next_at'], unique=False,
            sqlite_where=sa.text(f'{sync}_sync_next_at IS NOT NULL'),
            postgresql_where=sa.text(f'{sync}_sync_next_at IS NOT NULL'),
        )
    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coexistence_history_sync', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_table(
        'sim_sync_requests',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('phone_number_id', sa.String(length=32), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('sync_type', sa.String(length=32), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['phone_number_id'], ['sim_phone_numbers.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sim_sync_requests_phone', 'sim_sync_requests', ['phone_number_id', 'sync_type', 'created_at'], unique=False)
    with op.batch_alter_table('sim_phone_numbers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history_declined', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('sim_phone_numbers', schema=None) as batch_op:
        batch_op.drop_column('history_declined')
    op.drop_index('ix_sim_sync_requests_phone', table_name='sim_sync_requests')
    op.drop_table('sim_sync_requests')
    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.drop_column('coexistence_history_sync')
    for sync in SYNCS:
        op.drop_index(f'ix_phone_numbers_{sync}_sync_due', table_name='phone_numbers')
    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.drop_column('history_sync_phase')
        batch_op.drop_column('history_sync_progress')
        for sync in reversed(SYNCS):
            for column in ('next_at', 'attempts', 'error', 'completed_at', 'requested_at', 'request_id', 'status'):
                batch_op.drop_column(f'{sync}_sync_{column}')
        batch_op.drop_column('coexistence_onboarded_at')
