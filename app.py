"""The Kalanso web application: ``create_app(config=None)``; ``app`` for gunicorn and ``flask``."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from dotenv import load_dotenv
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from content.loader import AUDIO_DIR, COURSES_DIR
from core.config import INSTANCE_DIR, ROOT, ConfigError, load_settings
from core.db import db, engine_options, install_engine_events, migrate, render_migration_item
from core.logs import configure_logging


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app. ``config`` holds settings by their environment-variable names (tests use it)."""
    if config is None:
        load_dotenv(ROOT / ".env", override=False)
    settings = load_settings(config)
    configure_logging(secrets=settings.secrets)

    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    INSTANCE_DIR.mkdir(exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(
            settings.database_url, settings.database_connect_timeout, settings.database_statement_timeout
        ),
        KALANSO=settings,
        KALANSO_COURSES_DIR=COURSES_DIR,
        KALANSO_AUDIO_DIR=AUDIO_DIR,
        KALANSO_AUDIO_CACHE_DIR=INSTANCE_DIR / "audio-cache",  # copies of recordings kept in object storage
        JSON_AS_ASCII=False,
    )
    if settings.trusted_proxies:  # believe X-Forwarded-For/-Proto/-Host/-Prefix from that many proxies, no more
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)
    if settings.secret_key_generated:
        app.logger.warning("SECRET_KEY is not set: using a random key for this process only")

    db.init_app(app)
    with app.app_context():
        install_engine_events(db.engine)
    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        compare_type=True,
        render_as_batch=True,
        render_item=render_migration_item,
    )
    _import_models()

    from analytics import facts as analytics_facts
    from analytics.cli import analytics_cli
    from campaigns import outcomes
    from campaigns.cli import campaigns_cli, scheduler_command
    from commands.content import content_cli
    from commands.dev import dev_command
    from ivr import outbound as voice_outbound
    from listeners.cli import listeners_cli
    from providers.local.cli import simulate_cli
    from sender.cli import sender_cli
    from sms import outbound as sms_outbound
    from web.routes import bp as web_bp

    app.register_blueprint(web_bp)
    for command in (
        content_cli,
        scheduler_command,
        sender_cli,
        campaigns_cli,
        listeners_cli,
        dev_command,
        analytics_cli,
    ):
        app.cli.add_command(command)
    # what the sender is told flows back to messages, call sessions and campaign deliveries
    sms_outbound.connect()
    voice_outbound.connect()
    outcomes.connect()
    analytics_facts.connect()  # one call fact per finished call
    app.cli.add_command(simulate_cli)

    import sms

    sms.init_app(app)
    from ivr.cli import call_command
    from ivr.routes import bp as ivr_bp
    from ivr.simulator import bp as simulator_bp

    app.register_blueprint(ivr_bp)
    app.register_blueprint(simulator_bp)
    if "call" not in simulate_cli.commands:
        simulate_cli.add_command(call_command)
    from ivr.studio_fetch import studio_cli

    app.cli.add_command(studio_cli)
    import dashboard
    from commands.users import users_cli

    dashboard.init_app(app)
    app.cli.add_command(users_cli)
    return app


def _import_models() -> None:
    """Every model module, so that the metadata (and Alembic) sees every table."""
    import accounts.models  # noqa: F401
    import analytics.models  # noqa: F401
    import campaigns.models  # noqa: F401
    import core.outbox  # noqa: F401
    import ivr.models  # noqa: F401
    import listeners.models  # noqa: F401
    import sender.buckets  # noqa: F401
    import sms.models  # noqa: F401
    import studio.models  # noqa: F401


def _app_or_exit() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        sys.exit(f"Kalanso configuration error: {exc}")


app = _app_or_exit()
