"""initial schema

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body_encrypted', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('organization_id', 'livemode', 'key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_keys_created', ['created_at'], unique=False)

    op.create_table('organizations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations'))
    )
    op.create_table('rate_limit_windows',
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key_id', 'window_start', name=op.f('pk_rate_limit_windows'))
    )
    op.create_table('admin_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_admin_keys_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_admin_keys_key_hash'))
    )
    with op.batch_alter_table('admin_keys', schema=None) as batch_op:
        batch_op.create_index('ix_admin_keys_org', ['organization_id', 'livemode', 'created_at'], unique=False)

    op.create_table('embedded_signup_sessions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('deadline_at', sa.BigInteger(), nullable=True),
    sa.Column('started_at', sa.BigInteger(), nullable=True),
    sa.Column('code_received_at', sa.BigInteger(), nullable=True),
    sa.Column('completed_at', sa.BigInteger(), nullable=True),
    sa.Column('cancelled_at', sa.BigInteger(), nullable=True),
    sa.Column('redirect_uri', sa.Text(), nullable=True),
    sa.Column('state', sa.Text(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('prefill', sa.JSON(), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=True),
    sa.Column('coexistence', sa.Boolean(), nullable=False),
    sa.Column('waba_id', sa.String(length=32), nullable=True),
    sa.Column('business_id', sa.String(length=32), nullable=True),
    sa.Column('phone_number_id', sa.String(length=32), nullable=True),
    sa.Column('business_profile_id', sa.String(length=40), nullable=True),
    sa.Column('last_step', sa.String(length=64), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('provisioning', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_embedded_signup_sessions_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_embedded_signup_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_embedded_signup_sessions_token_hash'))
    )
    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_sessions_list', ['organization_id', 'livemode', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_sessions_pending_deadline', ['deadline_at'], unique=False, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_sessions_source', ['organization_id', 'livemode', 'source', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_sessions_status', ['organization_id', 'livemode', 'status', 'created_at', 'id'], unique=False)

    op.create_table('organization_mode_settings',
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('allowed_origins', sa.JSON(), nullable=False),
    sa.Column('allowed_redirect_uris', sa.JSON(), nullable=False),
    sa.Column('redirect_secret_encrypted', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_mode_settings_organization_id_organizations')),
    sa.PrimaryKeyConstraint('organization_id', 'livemode', name=op.f('pk_organization_mode_settings'))
    )
    op.create_table('session_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['embedded_signup_sessions.id'], name=op.f('fk_session_events_session_id_embedded_signup_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_session_events')),
    sa.UniqueConstraint('id', name=op.f('uq_session_events_id'))
    )
    with op.batch_alter_table('session_events', schema=None) as batch_op:
        batch_op.create_index('ix_session_events_timeline', ['session_id', 'seq'], unique=False)

    op.create_table('session_metadata_values',
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('value_digest', sa.String(length=32), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['embedded_signup_sessions.id'], name=op.f('fk_session_metadata_values_session_id_embedded_signup_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'key', name=op.f('pk_session_metadata_values'))
    )
    with op.batch_alter_table('session_metadata_values', schema=None) as batch_op:
        batch_op.create_index('ix_session_metadata_lookup', ['organization_id', 'livemode', 'key', 'value_digest', 'created_at', 'session_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('session_metadata_values', schema=None) as batch_op:
        batch_op.drop_index('ix_session_metadata_lookup')

    op.drop_table('session_metadata_values')
    with op.batch_alter_table('session_events', schema=None) as batch_op:
        batch_op.drop_index('ix_session_events_timeline')

    op.drop_table('session_events')
    op.drop_table('organization_mode_settings')
    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_status')
        batch_op.drop_index('ix_sessions_source')
        batch_op.drop_index('ix_sessions_pending_deadline', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index('ix_sessions_list')

    op.drop_table('embedded_signup_sessions')
    with op.batch_alter_table('admin_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_admin_keys_org')

    op.drop_table('admin_keys')
    op.drop_table('rate_limit_windows')
    op.drop_table('organizations')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_created')

    op.drop_table('idempotency_keys')
