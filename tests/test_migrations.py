"""Migrations: upgrade from nothing, no drift between models and migrations, down and up again.

Run on SQLite and on the real PostgreSQL (each in a database of its own).
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from core.db import db
from tests.conftest import _require_postgres, make_app, new_postgres_database

TABLES = {
    "alembic_version",
    "api_tokens",
    "audit_events",
    "consent_events",
    "user_scopes",
    "users",
    "audio_fallbacks",
    "call_facts",
    "call_sessions",
    "campaign_runs",
    "campaigns",
    "deliveries",
    "groups",
    "lesson_progress",
    "listener_groups",
    "listeners",
    "messages",
    "missed_call_callbacks",
    "quiz_answers",
    "lesson_completions",
    "outbox",
    "rate_buckets",
    "recordings",
    "text_reviews",
    "studio_takes",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with new_postgres_database(_require_postgres(), "kalanso_mig") as url:
        yield url


def drift(app) -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_item": app.extensions["migrate"].configure_args["render_item"]}
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_has_no_drift_and_downgrades_cleanly(empty_database):
    app = make_app(empty_database)
    with app.app_context():
        upgrade()
        assert set(inspect(db.engine).get_table_names()) == TABLES
        assert drift(app) == [], "models and migrations disagree: run `flask db migrate`"
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(inspect(db.engine).get_table_names()) == TABLES
        db.engine.dispose()


def test_flask_db_upgrade_command(empty_database):
    app = make_app(empty_database)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version
        db.session.remove()
        db.engine.dispose()
