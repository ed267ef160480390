"""The phone studio's kept takes, waiting to be fetched from the provider (one per provider recording).

Revision ID: c7e1a2b3d4f5
Revises: 8a33b27bcbd1
Create Date: 2026-11-24 21:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7e1a2b3d4f5'
down_revision = '8a33b27bcbd1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('studio_takes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('recording_key', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=300), nullable=False),
    sa.Column('lang', sa.String(length=2), nullable=False),
    sa.Column('stem', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('call_session_id', sa.Integer(), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'stored', 'failed', name='studio_take_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studio_takes')),
    sa.UniqueConstraint('provider', 'recording_key', name=op.f('uq_studio_takes_provider_recording_key'))
    )
    with op.batch_alter_table('studio_takes', schema=None) as batch_op:
        batch_op.create_index('ix_studio_takes_status', ['status', 'updated_at'], unique=False)


def downgrade():
    with op.batch_alter_table('studio_takes', schema=None) as batch_op:
        batch_op.drop_index('ix_studio_takes_status')
    op.drop_table('studio_takes')
