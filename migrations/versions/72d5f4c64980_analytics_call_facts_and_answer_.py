"""Analytics: call facts (one row per finished call, written when a call ends) and the language of each quiz answer.

After upgrading, run ``flask analytics rebuild`` once to write the facts of the calls made before (batched,
idempotent). Existing answers take their listener's language (answers of a listener who never chose one keep
"" and count in the default language). On PostgreSQL the statements run without the statement timeout.

Revision ID: 72d5f4c64980
Revises: b41c5d0e7a12
Create Date: 2026-11-24 17:18:58.560455

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '72d5f4c64980'
down_revision = "b41c5d0e7a12"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET LOCAL statement_timeout = 0")
    op.create_table('call_facts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_session_id', sa.Integer(), nullable=False),
    sa.Column('listener_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('local_hour', sa.SmallInteger(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('lang', sa.String(length=2), nullable=False),
    sa.Column('region_key', sa.String(length=120), nullable=False),
    sa.Column('commune_key', sa.String(length=120), nullable=False),
    sa.Column('village_key', sa.String(length=120), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('entry', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('answered', sa.Boolean(), nullable=False),
    sa.Column('chose_language', sa.Boolean(), nullable=False),
    sa.Column('reached_main', sa.Boolean(), nullable=False),
    sa.Column('started_lesson', sa.Boolean(), nullable=False),
    sa.Column('completed', sa.Boolean(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('course_id', sa.String(length=64), nullable=False),
    sa.Column('lesson_id', sa.String(length=64), nullable=False),
    sa.Column('chunks_heard', sa.SmallInteger(), nullable=False),
    sa.Column('chunks_total', sa.SmallInteger(), nullable=False),
    sa.Column('score', sa.SmallInteger(), nullable=True),
    sa.Column('total', sa.SmallInteger(), nullable=True),
    sa.Column('first_call', sa.Boolean(), nullable=False),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('cost_fcfa', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('cost_source', sa.String(length=8), nullable=False),
    sa.Column('nodes_entered', sa.Integer(), nullable=False),
    sa.Column('nodes_timed_out', sa.Integer(), nullable=False),
    sa.Column('nodes_invalid', sa.Integer(), nullable=False),
    sa.Column('exit_node', sa.String(length=20), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_session_id'], ['call_sessions.id'], name=op.f('fk_call_facts_call_session_id_call_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['listener_id'], ['listeners.id'], name=op.f('fk_call_facts_listener_id_listeners'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_facts')),
    sa.UniqueConstraint('call_session_id', name=op.f('uq_call_facts_call_session_id'))
    )
    with op.batch_alter_table('call_facts', schema=None) as batch_op:
        batch_op.create_index('ix_call_facts_commune_day', ['commune_key', 'local_day'], unique=False)
        batch_op.create_index('ix_call_facts_day', ['local_day'], unique=False)
        batch_op.create_index('ix_call_facts_lesson_day', ['course_id', 'lesson_id', 'local_day'], unique=False)
        batch_op.create_index('ix_call_facts_listener', ['listener_id'], unique=False)
        batch_op.create_index('ix_call_facts_region_day', ['region_key', 'local_day'], unique=False)
        batch_op.create_index('ix_call_facts_village_day', ['village_key', 'local_day'], unique=False)

    with op.batch_alter_table('quiz_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lang', sa.String(length=2), server_default='', nullable=False))
    op.execute(
        "UPDATE quiz_answers SET lang = COALESCE("
        "(SELECT language FROM listeners WHERE listeners.id = quiz_answers.listener_id), '')"
    )
    with op.batch_alter_table('quiz_answers', schema=None) as batch_op:
        batch_op.create_index('ix_quiz_answers_results', ['answered_at', 'course_id', 'lesson_id', 'question_id', 'lang', 'correct', 'attempt'], unique=False, postgresql_where=sa.text('counted'), sqlite_where=sa.text('counted'))



def downgrade():
    with op.batch_alter_table('quiz_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_quiz_answers_results', postgresql_where=sa.text('counted'), sqlite_where=sa.text('counted'))
        batch_op.drop_column('lang')

    with op.batch_alter_table('call_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_call_facts_village_day')
        batch_op.drop_index('ix_call_facts_region_day')
        batch_op.drop_index('ix_call_facts_listener')
        batch_op.drop_index('ix_call_facts_lesson_day')
        batch_op.drop_index('ix_call_facts_day')
        batch_op.drop_index('ix_call_facts_commune_day')

    op.drop_table('call_facts')
