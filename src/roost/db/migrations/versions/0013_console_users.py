"""console: operator accounts, their organizations and their signed-in browsers

Revision ID: 0013
Revises: 0012
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'console_users',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('disabled_at', sa.BigInteger(), nullable=True),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', sa.BigInteger(), nullable=True),
        sa.Column('last_login_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_users')),
        sa.UniqueConstraint('email', name=op.f('uq_console_users_email')),
    )
    op.create_table(
        'console_memberships',
        sa.Column('user_id', sa.String(length=40), nullable=False),
        sa.Column('organization_id', sa.String(length=40), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_console_memberships_organization_id_organizations')),
        sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name=op.f('fk_console_memberships_user_id_console_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'organization_id', name=op.f('pk_console_memberships')),
    )
    op.create_table(
        'console_logins',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=40), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('organization_id', sa.String(length=40), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name=op.f('fk_console_logins_user_id_console_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_console_logins')),
    )
    op.create_index('ix_console_logins_user', 'console_logins', ['user_id'], unique=False)
    op.create_index('ix_console_logins_expires', 'console_logins', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_console_logins_expires', table_name='console_logins')
    op.drop_index('ix_console_logins_user', table_name='console_logins')
    op.drop_table('console_logins')
    op.drop_table('console_memberships')
    op.drop_table('console_users')
