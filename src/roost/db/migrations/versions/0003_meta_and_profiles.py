"""meta apps, provisioning and business profiles

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('business_profiles',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=True),
    sa.Column('waba_id', sa.String(length=32), nullable=False),
    sa.Column('business_id', sa.String(length=32), nullable=True),
    sa.Column('business_name', sa.String(length=255), nullable=True),
    sa.Column('coexistence', sa.Boolean(), nullable=False),
    sa.Column('token_encrypted', sa.Text(), nullable=True),
    sa.Column('token_expires_at', sa.BigInteger(), nullable=True),
    sa.Column('onboarding_completed_at', sa.BigInteger(), nullable=True),
    sa.Column('review_status', sa.String(length=16), nullable=True),
    sa.Column('review_decided_at', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_business_profiles_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_profiles')),
    sa.UniqueConstraint('organization_id', 'livemode', 'waba_id', name='uq_profiles_waba')
    )
    with op.batch_alter_table('business_profiles', schema=None) as batch_op:
        batch_op.create_index('ix_profiles_list', ['organization_id', 'livemode', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_profiles_waba', ['waba_id', 'status'], unique=False)

    op.create_table('phone_numbers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('business_profile_id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=40), nullable=False),
    sa.Column('livemode', sa.Boolean(), nullable=False),
    sa.Column('phone_number_id', sa.String(length=32), nullable=False),
    sa.Column('display_phone_number', sa.String(length=40), nullable=True),
    sa.Column('verified_name', sa.String(length=255), nullable=True),
    sa.Column('quality_rating', sa.String(length=16), nullable=True),
    sa.Column('code_verification_status', sa.String(length=32), nullable=True),
    sa.Column('is_on_biz_app', sa.Boolean(), nullable=False),
    sa.Column('cloud_api_registered', sa.Boolean(), nullable=False),
    sa.Column('registration_error', sa.JSON(), nullable=True),
    sa.Column('registration_attempts', sa.Integer(), nullable=False),
    sa.Column('pin_encrypted', sa.Text(), nullable=True),
    sa.Column('onboarded_at', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['business_profile_id'], ['business_profiles.id'], name=op.f('fk_phone_numbers_business_profile_id_business_profiles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_numbers')),
    sa.UniqueConstraint('business_profile_id', 'phone_number_id', name='uq_phone_numbers_profile_phone')
    )
    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.create_index('ix_phone_numbers_pending_verification', ['code_verification_status', 'cloud_api_registered'], unique=False)

    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('business_token_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('provisioning_next_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('provisioning_lease_until', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_sessions_provisioning_due', ['provisioning_next_at'], unique=False, sqlite_where=sa.text('provisioning_next_at IS NOT NULL'), postgresql_where=sa.text('provisioning_next_at IS NOT NULL'))

    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meta_app_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('meta_app_secret_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('meta_config_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('meta_system_user_token_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('meta_verify_token_encrypted', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('meta_partner_type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('meta_credit_line_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('messages_callback_url', sa.Text(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.drop_column('messages_callback_url')
        batch_op.drop_column('meta_credit_line_id')
        batch_op.drop_column('meta_partner_type')
        batch_op.drop_column('meta_verify_token_encrypted')
        batch_op.drop_column('meta_system_user_token_encrypted')
        batch_op.drop_column('meta_config_id')
        batch_op.drop_column('meta_app_secret_encrypted')
        batch_op.drop_column('meta_app_id')

    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_provisioning_due', sqlite_where=sa.text('provisioning_next_at IS NOT NULL'), postgresql_where=sa.text('provisioning_next_at IS NOT NULL'))
        batch_op.drop_column('provisioning_lease_until')
        batch_op.drop_column('provisioning_next_at')
        batch_op.drop_column('business_token_encrypted')

    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.drop_index('ix_phone_numbers_pending_verification')

    op.drop_table('phone_numbers')
    with op.batch_alter_table('business_profiles', schema=None) as batch_op:
        batch_op.drop_index('ix_profiles_waba')
        batch_op.drop_index('ix_profiles_list')

    op.drop_table('business_profiles')
