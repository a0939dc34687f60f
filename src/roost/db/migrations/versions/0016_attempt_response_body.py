"""webhook attempts: the start of the endpoint's answer, and whether it was cut

Revision ID: 0016
Revises: 0015
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch mode), like 0014. A constant default: no table rewrite on PostgreSQL.
    op.add_column('webhook_attempts', sa.Column('response_body', sa.Text(), nullable=True))
    op.add_column('webhook_attempts', sa.Column('response_body_truncated', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('webhook_attempts', 'response_body_truncated')
    op.drop_column('webhook_attempts', 'response_body')
