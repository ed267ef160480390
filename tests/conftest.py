"""Shared fixtures: an app on a freshly migrated database per test, the CLI runner, factories.

SQLite is the default backend. Tests marked ``postgres`` (or using the ``backend`` fixture's
``postgresql`` side) run against the real server named by ``TEST_DATABASE_URL``; they skip with a
reason when it is unset, except under CI (``CI=true``), where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from content.loader import COURSES_DIR, load_catalog
from core.db import db

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Bamako
pytest_plugins = ["tests.dashboard_support", "tests.browser_support"]  # make_user; browser, live_app

BASE_CONFIG = {
    "SECRET_KEY": "test-secret-key",
    "PUBLIC_BASE_URL": "https://kalanso.example.org",
    "VOICE_PROVIDER": "local",
    "SMS_PROVIDER": "local",
    "KALANSO_TIMEZONE": "Africa/Bamako",
    "KALANSO_DEFAULT_LANGUAGE": "fr",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "test-twilio-token",
    "TWILIO_NUMBER": "+15005550006",
    "AT_USERNAME": "sandbox",
    "AT_API_KEY": "test-at-key",
    "AT_SHORTCODE": "36001",
    "AT_VOICE_NUMBER": "+22344000000",
    "AT_CALLBACK_SECRET": "s3cretPathSegment0123",
    # the providers' rates are the sender's business (tests/test_sender.py): not what the other tests wait on
    "SMS_RATE_PER_SECOND": "10000",
    "CALL_RATE_PER_SECOND": "10000",
}


FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_COURSES = FIXTURES / "courses"  # small and stable: channel tests depend on its exact texts
FIXTURE_AUDIO = FIXTURES / "audio"  # empty: no recording, whatever `make audio` left in content/audio


def make_app(database_url: str, **overrides: str) -> Flask:
    app = create_app({**BASE_CONFIG, "DATABASE_URL": database_url, **overrides})
    app.config.update(TESTING=True, KALANSO_COURSES_DIR=FIXTURE_COURSES, KALANSO_AUDIO_DIR=FIXTURE_AUDIO)
    return app


def migrate_to_head(database_url: str) -> None:
    app = make_app(database_url)
    with app.app_context():
        upgrade()
        db.engine.dispose()


# --- SQLite ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once with ``flask db upgrade``; each test gets a copy."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    path = tmp_path / "kalanso.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


# --- PostgreSQL -----------------------------------------------------------------------------------


def _require_postgres() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_DATABASE_URL is not set, and CI requires the PostgreSQL suite")
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests skipped (see README)")
    return url


@contextmanager
def new_postgres_database(server_url: str, prefix: str = "kalanso_test") -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` (whose user may create databases);
    its URL is yielded and the database is dropped afterwards."""
    base = make_url(server_url)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A new, empty database on the test server for this session; dropped afterwards."""
    with new_postgres_database(_require_postgres()) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_migrated(postgres_server_url) -> str:
    migrate_to_head(postgres_server_url)
    return postgres_server_url


def _truncate_all(app: Flask) -> None:
    with app.app_context():
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


# --- the app --------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """Parametrise a test over both databases."""
    return request.param


@pytest.fixture
def database_url(request, sqlite_template, tmp_path) -> str:
    if "backend" in request.fixturenames and request.getfixturevalue("backend") == "postgresql":
        return request.getfixturevalue("postgres_migrated")
    path = tmp_path / "kalanso.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app_config(request) -> dict[str, str]:
    """Settings on top of BASE_CONFIG for this test's app. A test parametrised over providers (a ``provider`` or
    ``line`` parameter) whose value is ``somleng`` runs on the Twilio provider in Somleng mode
    (tests/somleng_support.py): the same journey as Twilio's, in Somleng's words."""
    from tests.somleng_support import CONFIG as SOMLENG

    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec else {}
    return dict(SOMLENG) if "somleng" in (params.get("provider"), params.get("line")) else {}


@pytest.fixture
def app(database_url, app_config) -> Iterator[Flask]:
    app = make_app(database_url, **app_config)
    app.config["KALANSO_CLOCK"] = lambda: NOW  # the dashboard's clock (dashboard.access.now)
    with app.app_context():
        yield app
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            _truncate_all(app)
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def audio(app, tmp_path):
    """An empty audio folder for this test's recordings (the content's own stays untouched)."""
    folder = tmp_path / "audio"
    app.config["KALANSO_AUDIO_DIR"] = folder
    return folder


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """What a process keeps in memory between requests starts empty in every test."""
    from content.recordings import forget_recordings
    from ivr.audio import FALLBACKS
    from studio.playback import forget as forget_published

    forget_recordings()
    forget_published()
    FALLBACKS.pending.clear()
    yield
    FALLBACKS.pending.clear()


def send_outbox(app: Flask, now: datetime = NOW, **options):
    """Run the real sender once, in this thread, until nothing due is left: what the sender process would
    have sent meanwhile. Returns its report (``sent``, ``failed``, ``cancelled``...)."""
    from sender.loop import Sender

    db.session.commit()  # what the test wrote is committed, as a request's would be (SQLite: frees the write lock)
    return Sender(app, inline=True, clock=lambda: now, **options).drain()


@pytest.fixture
def drain(app):
    """``drain()`` sends what the outbox holds, through the real sender (see ``send_outbox``)."""
    return lambda now=NOW, **options: send_outbox(app, now, **options)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def catalog():
    """The courses the test app serves (tests/fixtures/courses)."""
    return load_catalog(FIXTURE_COURSES)


@pytest.fixture(scope="session")
def shipped_catalog():
    """The real curriculum (content/courses)."""
    return load_catalog(COURSES_DIR)


@pytest.fixture
def make_listener(app):
    """Factory: ``make_listener(phone="76 12 34 56", language="bm", ...)`` adds and flushes one listener."""
    from listeners.models import Listener

    counter = iter(range(10_000_000))

    def make(**overrides):
        fields = {"phone": f"+2237{next(counter):07d}", "created_at": NOW}
        fields.update(overrides)
        listener = Listener(**fields)
        db.session.add(listener)
        db.session.flush()
        return listener

    return make


@pytest.fixture
def clock(monkeypatch):
    """The voice line's edge clock (``utcnow``), frozen at NOW; ``clock.set(t)`` moves it."""
    import ivr.callbacks
    import ivr.cli
    import ivr.routes
    import ivr.simulator

    class Clock:
        now = NOW

        def set(self, moment: datetime) -> None:
            self.now = moment

    clock = Clock()
    for module in (ivr.routes, ivr.simulator, ivr.cli, ivr.callbacks):
        monkeypatch.setattr(module, "utcnow", lambda: clock.now)
    return clock
