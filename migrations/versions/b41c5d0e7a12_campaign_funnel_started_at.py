"""Campaigns: when the listener started the lesson a delivery sent (``deliveries.started_at``), and indexes for
the funnel (one GROUP BY over a campaign's deliveries, index-only on PostgreSQL) and the next send time.

On PostgreSQL the builds run without the statement timeout (seconds at a million deliveries; they block writes to
the table meanwhile: run it outside the calling window).

Revision ID: b41c5d0e7a12
Revises: 72ab195db82b
Create Date: 2026-11-24 17:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b41c5d0e7a12"
down_revision = "72ab195db82b"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")
    op.add_column("deliveries", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_deliveries_campaign_status", table_name="deliveries")
    op.create_index(
        "ix_deliveries_campaign_status_due", "deliveries", ["campaign_id", "status", "due_at"], unique=False
    )
    op.create_index(
        "ix_deliveries_funnel",
        "deliveries",
        ["campaign_id", "status", "attempts"],
        unique=False,
        postgresql_include=["channel", "started_at", "completed_at"],
    )


def downgrade():
    op.drop_index("ix_deliveries_funnel", table_name="deliveries")
    op.drop_index("ix_deliveries_campaign_status_due", table_name="deliveries")
    op.create_index("ix_deliveries_campaign_status", "deliveries", ["campaign_id", "status"], unique=False)
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("started_at")
