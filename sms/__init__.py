"""The SMS line: keywords, quizzes by SMS, opt-out, delivery reports, encoding and cost."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Load the keywords (a bad table stops the start, naming the setting), register routes and CLI."""
    from core.config import ConfigError
    from providers.local.cli import simulate_cli
    from sms.cli import sms_command
    from sms.keywords import KeywordError, Keywords
    from sms.routes import bp
    from sms.service import KEYWORDS_KEY

    settings = app.config["KALANSO"]
    try:
        app.extensions[KEYWORDS_KEY] = Keywords.from_settings(settings)
    except KeywordError as exc:
        raise ConfigError(f"SMS_KEYWORDS_FILE / SMS_OPT_OUT_WORD_BM / SMS_OPT_IN_WORD_BM: {exc}") from exc
    app.register_blueprint(bp)
    from content.catalog import CHECKS_KEY
    from sms.authoring import catalog_problems

    app.extensions.setdefault(CHECKS_KEY, []).append(catalog_problems)  # a reloaded catalog the line can send
    if "sms" not in simulate_cli.commands:
        simulate_cli.add_command(sms_command)
