"""simulator: Meta's side of test mode (sim_ tables)

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sim_apps',
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('system_user_token_hash', sa.String(length=64), nullable=False),
    sa.Column('partner_business_id', sa.String(length=32), nullable=False),
    sa.Column('credit_line_id', sa.String(length=32), nullable=False),
    sa.Column('callback_url', sa.Text(), nullable=True),
    sa.Column('callback_verify_token', sa.String(length=255), nullable=True),
    sa.Column('callback_fields', sa.JSON(), nullable=True),
    sa.Column('callback_version', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_sim_apps'))
    )
    with op.batch_alter_table('sim_apps', schema=None) as batch_op:
        batch_op.create_index('ix_sim_apps_partner', ['partner_business_id'], unique=False)
        batch_op.create_index('ix_sim_apps_system_token', ['system_user_token_hash'], unique=True)

    op.create_table('sim_businesses',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_by_app_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_businesses'))
    )
    op.create_table('sim_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('business_id', sa.String(length=32), nullable=False),
    sa.Column('signup_id', sa.String(length=40), nullable=True),
    sa.Column('redirect_uri', sa.Text(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('used_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_sim_codes'))
    )
    with op.batch_alter_table('sim_codes', schema=None) as batch_op:
        batch_op.create_index('ix_sim_codes_app', ['app_id', 'created_at'], unique=False)

    op.create_table('sim_faults',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('call', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('delay_ms', sa.Integer(), nullable=True),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('meta_code', sa.Integer(), nullable=True),
    sa.Column('meta_subcode', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=True),
    sa.Column('remaining', sa.Integer(), nullable=True),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_faults'))
    )
    with op.batch_alter_table('sim_faults', schema=None) as batch_op:
        batch_op.create_index('ix_sim_faults_lookup', ['app_id', 'call', 'created_at'], unique=False)

    op.create_table('sim_signups',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.Column('business_id', sa.String(length=32), nullable=False),
    sa.Column('waba_id', sa.String(length=32), nullable=False),
    sa.Column('phone_number_id', sa.String(length=32), nullable=True),
    sa.Column('extras', sa.JSON(), nullable=False),
    sa.Column('fault_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_signups'))
    )
    with op.batch_alter_table('sim_signups', schema=None) as batch_op:
        batch_op.create_index('ix_sim_signups_app', ['app_id', 'created_at'], unique=False)
        batch_op.create_index('ix_sim_signups_nonce', ['app_id', 'nonce'], unique=True)

    op.create_table('sim_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('business_id', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_sim_tokens'))
    )
    with op.batch_alter_table('sim_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_sim_tokens_business', ['app_id', 'business_id'], unique=False)

    op.create_table('sim_webhook_deliveries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('webhook_id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=True),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=80), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_webhook_deliveries'))
    )
    with op.batch_alter_table('sim_webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_sim_webhook_deliveries_app', ['app_id', 'created_at'], unique=False)
        batch_op.create_index('ix_sim_webhook_deliveries_webhook', ['webhook_id', 'attempt'], unique=False)

    op.create_table('sim_wabas',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('business_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('timezone_id', sa.String(length=8), nullable=False),
    sa.Column('message_template_namespace', sa.String(length=64), nullable=False),
    sa.Column('account_review_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['business_id'], ['sim_businesses.id'], name=op.f('fk_sim_wabas_business_id_sim_businesses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_wabas'))
    )
    with op.batch_alter_table('sim_wabas', schema=None) as batch_op:
        batch_op.create_index('ix_sim_wabas_business', ['business_id', 'created_at'], unique=False)

    op.create_table('sim_phone_numbers',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('waba_id', sa.String(length=32), nullable=False),
    sa.Column('country_code', sa.String(length=4), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('display_phone_number', sa.String(length=32), nullable=False),
    sa.Column('verified_name', sa.String(length=255), nullable=False),
    sa.Column('code_verification_status', sa.String(length=16), nullable=False),
    sa.Column('quality_rating', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('platform_type', sa.String(length=16), nullable=False),
    sa.Column('is_on_biz_app', sa.Boolean(), nullable=False),
    sa.Column('pin_hash', sa.String(length=64), nullable=True),
    sa.Column('onboarded_at', sa.BigInteger(), nullable=False),
    sa.Column('registered_at', sa.BigInteger(), nullable=True),
    sa.Column('register_blocked_until', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['waba_id'], ['sim_wabas.id'], name=op.f('fk_sim_phone_numbers_waba_id_sim_wabas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_phone_numbers'))
    )
    with op.batch_alter_table('sim_phone_numbers', schema=None) as batch_op:
        batch_op.create_index('ix_sim_phone_numbers_waba', ['waba_id', 'onboarded_at'], unique=False)

    op.create_table('sim_waba_shares',
    sa.Column('waba_id', sa.String(length=32), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('shared_at', sa.BigInteger(), nullable=False),
    sa.Column('subscribed', sa.Boolean(), nullable=False),
    sa.Column('override_callback_uri', sa.Text(), nullable=True),
    sa.Column('override_verify_token', sa.String(length=255), nullable=True),
    sa.Column('allocation_config_id', sa.String(length=32), nullable=True),
    sa.Column('credit_currency', sa.String(length=8), nullable=True),
    sa.ForeignKeyConstraint(['waba_id'], ['sim_wabas.id'], name=op.f('fk_sim_waba_shares_waba_id_sim_wabas')),
    sa.PrimaryKeyConstraint('waba_id', 'app_id', name=op.f('pk_sim_waba_shares'))
    )
    with op.batch_alter_table('sim_waba_shares', schema=None) as batch_op:
        batch_op.create_index('ix_sim_waba_shares_app', ['app_id', 'shared_at'], unique=False)

    op.create_table('sim_register_attempts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('phone_number_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['phone_number_id'], ['sim_phone_numbers.id'], name=op.f('fk_sim_register_attempts_phone_number_id_sim_phone_numbers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_register_attempts'))
    )
    with op.batch_alter_table('sim_register_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_sim_register_attempts_phone', ['phone_number_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sim_register_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_register_attempts_phone')

    op.drop_table('sim_register_attempts')
    with op.batch_alter_table('sim_waba_shares', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_waba_shares_app')

    op.drop_table('sim_waba_shares')
    with op.batch_alter_table('sim_phone_numbers', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_phone_numbers_waba')

    op.drop_table('sim_phone_numbers')
    with op.batch_alter_table('sim_wabas', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_wabas_business')

    op.drop_table('sim_wabas')
    with op.batch_alter_table('sim_webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_webhook_deliveries_webhook')
        batch_op.drop_index('ix_sim_webhook_deliveries_app')

    op.drop_table('sim_webhook_deliveries')
    with op.batch_alter_table('sim_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_tokens_business')

    op.drop_table('sim_tokens')
    with op.batch_alter_table('sim_signups', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_signups_nonce')
        batch_op.drop_index('ix_sim_signups_app')

    op.drop_table('sim_signups')
    with op.batch_alter_table('sim_faults', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_faults_lookup')

    op.drop_table('sim_faults')
    with op.batch_alter_table('sim_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_codes_app')

    op.drop_table('sim_codes')
    op.drop_table('sim_businesses')
    with op.batch_alter_table('sim_apps', schema=None) as batch_op:
        batch_op.drop_index('ix_sim_apps_system_token')
        batch_op.drop_index('ix_sim_apps_partner')

    op.drop_table('sim_apps')
