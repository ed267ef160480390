"""Indexes for the dashboard at a million listeners (bench/dashboard.py): the places as the scope rule compares
them (lower(trim(place)), then id for keyset pages, and on PostgreSQL the place itself for index-only counts),
trigrams for searching part of a name or village (PostgreSQL), a group's members, the progress updated this week, the
people per course, and the latest calls and SMS.

On PostgreSQL the builds run without the statement timeout (a few seconds each at a million rows; they block
writes to their table meanwhile: run it outside the calling window).

Revision ID: 72ab195db82b
Revises: 6eb8bdf88d84
Create Date: 2026-11-24 15:21:16.619577

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '72ab195db82b'
down_revision = '6eb8bdf88d84'
branch_labels = None
depends_on = None

PLACES = ("village", "commune", "region")
PLAIN = [
    ("call_sessions", "ix_call_sessions_created", ["created_at", "id"]),
    ("lesson_completions", "ix_lesson_completions_course_listener", ["course_id", "listener_id"]),
    ("lesson_progress", "ix_lesson_progress_updated", ["updated_at", "listener_id"]),
    ("listener_groups", "ix_listener_groups_group", ["group_id", "listener_id"]),
    ("messages", "ix_messages_created", ["created_at", "id"]),
]


TRIGRAMS = ("name", "village")


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("SET LOCAL statement_timeout = 0")
    for place in PLACES:
        op.create_index(
            f"ix_listeners_{place}_key", "listeners", [sa.text(f"lower(trim({place}))"), "id"], postgresql_include=[place]
        )
    for table, name, columns in PLAIN:
        op.create_index(name, table, columns, unique=False)
    if postgresql:  # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in TRIGRAMS:
            op.execute(f"CREATE INDEX ix_listeners_{column}_trgm ON listeners USING gin (lower({column}) gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for column in TRIGRAMS:
            op.execute(f"DROP INDEX ix_listeners_{column}_trgm")
    for table, name, _columns in reversed(PLAIN):
        op.drop_index(name, table_name=table)
    for place in reversed(PLACES):
        op.drop_index(f"ix_listeners_{place}_key", table_name="listeners")
