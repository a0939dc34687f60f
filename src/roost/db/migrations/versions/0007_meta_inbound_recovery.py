"""inbound Meta webhooks and recovery (issue 5)

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('meta_webhook_changes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('dedupe_key', sa.String(length=64), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=True),
    sa.Column('waba_id', sa.String(length=32), nullable=True),
    sa.Column('owner_business_id', sa.String(length=32), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('occurred_at', sa.BigInteger(), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meta_webhook_changes')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_meta_webhook_changes_dedupe_key'))
    )
    with op.batch_alter_table('meta_webhook_changes', schema=None) as batch_op:
        batch_op.create_index('ix_meta_changes_proof', ['waba_id', 'app_id', 'field', 'received_at'], unique=False)

    op.create_table('meta_webhook_relays',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('signature', sa.String(length=100), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.BigInteger(), nullable=True),
    sa.Column('abandoned_at', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meta_webhook_relays'))
    )
    with op.batch_alter_table('meta_webhook_relays', schema=None) as batch_op:
        batch_op.create_index('ix_meta_relays_due', ['next_attempt_at'], unique=False, sqlite_where=sa.text('next_attempt_at IS NOT NULL'), postgresql_where=sa.text('next_attempt_at IS NOT NULL'))
        batch_op.create_index('ix_meta_relays_created', ['created_at'], unique=False)

    op.create_table('meta_simulated_apps',
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_meta_simulated_apps')),
    sa.UniqueConstraint('organization_id', name=op.f('uq_meta_simulated_apps_organization_id'))
    )

    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meta_forward_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('auto_claim', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_index('ix_mode_settings_meta_app', ['meta_app_id'], unique=False)

    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recovered_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('claim_started_at', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_sessions_recovered_waba', ['waba_id'], unique=False, sqlite_where=sa.text("status = 'recovered'"), postgresql_where=sa.text("status = 'recovered'"))


def downgrade() -> None:
    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_recovered_waba', sqlite_where=sa.text("status = 'recovered'"), postgresql_where=sa.text("status = 'recovered'"))
        batch_op.drop_column('claim_started_at')
        batch_op.drop_column('recovered_at')

    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.drop_index('ix_mode_settings_meta_app')
        batch_op.drop_column('auto_claim')
        batch_op.drop_column('meta_forward_url')

    op.drop_table('meta_simulated_apps')
    with op.batch_alter_table('meta_webhook_relays', schema=None) as batch_op:
        batch_op.drop_index('ix_meta_relays_created')
        batch_op.drop_index('ix_meta_relays_due', sqlite_where=sa.text('next_attempt_at IS NOT NULL'), postgresql_where=sa.text('next_attempt_at IS NOT NULL'))
    op.drop_table('meta_webhook_relays')
    with op.batch_alter_table('meta_webhook_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_meta_changes_proof')
    op.drop_table('meta_webhook_changes')
