"""embedded signup sessions: Meta's code, sealed, while its exchange is in flight, so another process can take the exchange over

Revision ID: 0014
Revises: 0013
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: on PostgreSQL a catalog change, no table rewrite. Not
    # in batch mode: on SQLite a rebuilt table would lose 0010's trigger (ALTER TABLE keeps it).
    op.add_column('embedded_signup_sessions', sa.Column('code_encrypted', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('embedded_signup_sessions', 'code_encrypted')
