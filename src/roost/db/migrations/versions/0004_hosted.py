"""hosted page: browser binding of started sessions, organization branding

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('browser_binding_hash', sa.String(length=64), nullable=True))

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logo_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('accent_color', sa.String(length=7), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('accent_color')
        batch_op.drop_column('logo_url')

    with op.batch_alter_table('embedded_signup_sessions', schema=None) as batch_op:
        batch_op.drop_column('browser_binding_hash')
