"""numbers after signup and Multi-Partner Solutions: the simulator's verification codes, the local storage region kept for a number's registration, the solution of a mode, a session and a profile

Revision ID: 0015
Revises: 0014
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sim_verification_codes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('phone_number_id', sa.String(length=32), nullable=False),
    sa.Column('code_encrypted', sa.Text(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('wrong_guesses', sa.Integer(), nullable=False),
    sa.Column('blocked_until', sa.BigInteger(), nullable=True),
    sa.Column('used_at', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['phone_number_id'], ['sim_phone_numbers.id'], name=op.f('fk_sim_verification_codes_phone_number_id_sim_phone_numbers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_verification_codes'))
    )
    op.create_index('ix_sim_verification_codes_phone', 'sim_verification_codes', ['phone_number_id', 'created_at'], unique=False)
    # Nullable, no default: a catalog change on PostgreSQL; plain ALTER TABLE on SQLite (0014's note).
    op.add_column('phone_numbers', sa.Column('data_localization_region', sa.String(length=2), nullable=True))
    op.add_column('organization_mode_settings', sa.Column('meta_solution_id', sa.String(length=32), nullable=True))
    op.add_column('embedded_signup_sessions', sa.Column('solution_id', sa.String(length=32), nullable=True))
    op.add_column('business_profiles', sa.Column('solution_id', sa.String(length=32), nullable=True))
    op.add_column('business_profiles', sa.Column('solution_partner_business_ids', sa.JSON(), nullable=True))
    op.add_column('meta_webhook_changes', sa.Column('solution_id', sa.String(length=32), nullable=True))
    op.add_column('meta_webhook_changes', sa.Column('solution_partner_business_ids', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('meta_webhook_changes', 'solution_partner_business_ids')
    op.drop_column('meta_webhook_changes', 'solution_id')
    op.drop_column('business_profiles', 'solution_partner_business_ids')
    op.drop_column('business_profiles', 'solution_id')
    op.drop_column('embedded_signup_sessions', 'solution_id')
    op.drop_column('organization_mode_settings', 'meta_solution_id')
    op.drop_column('phone_numbers', 'data_localization_region')
    op.drop_index('ix_sim_verification_codes_phone', table_name='sim_verification_codes')
    op.drop_table('sim_verification_codes')
