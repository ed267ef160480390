"""The database: Flask extensions created unbound and attached in ``create_app`` (never ``db = SQLAlchemy(app)``),
the declarative base, a UTC datetime type and the way status enums are stored."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_cls: type[enum.Enum], name: str) -> SAEnum:
    """Store our own status words as short strings with a CHECK constraint (same on every database)."""
    return SAEnum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda cls: [m.value for m in cls],
        validate_strings=True,
    )


def render_migration_item(type_: str, obj, autogen_context):
    """Alembic hook: write our column types as plain SQLAlchemy types, so migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


# --- the engine ------------------------------------------------------------------------------------

JOB_STATEMENT_TIMEOUT_SECONDS = 300
"""Scheduler jobs run bigger statements (expanding a campaign to its whole audience) than a webhook."""


def engine_options(database_url: str, connect_timeout: int, statement_timeout: int) -> dict:
    """SQLAlchemy engine options: timeouts, so that a hung or unreachable database gives a polite answer within
    the provider's budget (Twilio waits 15 s) instead of a 30-65 s stall; and no SQL parameters in error
    messages (they hold phone numbers)."""
    options: dict = {"pool_pre_ping": True, "hide_parameters": True}
    if make_url(database_url).get_backend_name() == "postgresql":
        ms = statement_timeout * 1000
        server = f"-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={6 * ms}"
        options["pool_timeout"] = connect_timeout
        options["connect_args"] = {
            "connect_timeout": connect_timeout,
            "options": server,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
    else:  # SQLite: the busy timeout is how long a transaction waits for the write lock
        options["connect_args"] = {"timeout": statement_timeout}
    return options


def install_engine_events(engine: Engine) -> None:
    """SQLite: every transaction takes the write lock when it begins (``BEGIN IMMEDIATE``), in WAL mode.

    SQLite has one writer at a time anyway; taking the lock at BEGIN instead of at the first write makes
    every read-modify-write (a voice or SMS turn, a claim) see the latest committed data and run alone,
    so two requests for one call or one listener never interleave, and no transaction fails half-way
    with "database is locked" because another one started writing first. PostgreSQL uses row locks.
    """
    if engine.dialect.name != "sqlite" or getattr(engine, "_kalanso_events", False):
        return
    engine._kalanso_events = True

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # no implicit BEGIN from the driver: ours below
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def set_job_statement_timeout(session) -> None:
    """For the current transaction of a scheduler job: allow long statements (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {JOB_STATEMENT_TIMEOUT_SECONDS * 1000}"))


# --- retrying a turn --------------------------------------------------------------------------------

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def retryable(exc: BaseException) -> bool:
    """A deadlock or a serialization failure (PostgreSQL), or a unique constraint hit by a concurrent twin
    request: running the whole turn again, once, gives the right answer."""
    from sqlalchemy.exc import DBAPIError, IntegrityError

    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
    return False


def with_retry(work, *, attempts: int = 2):
    """Run ``work()`` and commit; on a retryable failure roll back and run it again (once by default)."""
    for attempt in range(1, attempts + 1):
        try:
            result = work()
            db.session.commit()
            return result
        except Exception as exc:
            db.session.rollback()
            if attempt == attempts or not retryable(exc):
                raise
    raise AssertionError("unreachable")
