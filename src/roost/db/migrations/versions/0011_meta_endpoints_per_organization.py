"""live mode: an organization may override the Graph API URL and version, the SDK URL and the dialog origins (SPEC 6)

Revision ID: 0011
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

COLUMNS = ('meta_graph_url', 'meta_graph_version', 'meta_sdk_url', 'meta_dialog_origins')


def upgrade() -> None:
    # Nullable columns without a default: on PostgreSQL a catalog change, no table rewrite.
    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meta_graph_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('meta_graph_version', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('meta_sdk_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('meta_dialog_origins', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organization_mode_settings', schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
