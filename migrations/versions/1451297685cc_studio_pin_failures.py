"""Phone studio: the wrong studio PINs typed in a row, across calls (at 10 the phone studio is locked until a new PIN).

Revision ID: 1451297685cc
Revises: c7e1a2b3d4f5
Create Date: 2026-11-25 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1451297685cc'
down_revision = 'c7e1a2b3d4f5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('studio_pin_failures', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('studio_pin_failures')
