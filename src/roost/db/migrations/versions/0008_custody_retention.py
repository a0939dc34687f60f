"""profile lifecycle, token custody audit, retention (issue 5)

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('business_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unsubscribe_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('unsubscribe_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('unsubscribe_next_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('unsubscribe_error', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('unsubscribed_at', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_profiles_unsubscribe_due', ['unsubscribe_next_at'], unique=False)

    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_custody_enabled', sa.Boolean(), server_default=sa.true(), nullable=False))

    with op.batch_alter_table('session_events', schema=None) as batch_op:
        batch_op.create_index('ix_session_events_created', ['created_at'], unique=False)

    op.create_table('audit_log_entries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('admin_key_id', sa.String(length=40), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('resource_id', sa.String(length=40), nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=True),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_audit_log_entries_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log_entries'))
    )
    with op.batch_alter_table('audit_log_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_list', ['organization_id', 'livemode', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_log_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_list')
    op.drop_table('audit_log_entries')

    with op.batch_alter_table('session_events', schema=None) as batch_op:
        batch_op.drop_index('ix_session_events_created')

    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.drop_column('token_custody_enabled')

    with op.batch_alter_table('business_profiles', schema=None) as batch_op:
        batch_op.drop_index('ix_profiles_unsubscribe_due')
        batch_op.drop_column('unsubscribed_at')
        batch_op.drop_column('unsubscribe_error')
        batch_op.drop_column('unsubscribe_next_at')
        batch_op.drop_column('unsubscribe_attempts')
        batch_op.drop_column('unsubscribe_status')
