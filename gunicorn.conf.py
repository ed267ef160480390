"""gunicorn settings of the web process (``Procfile``: ``gunicorn -c gunicorn.conf.py ... 'app:app'``).

- Logs: gunicorn's error log (stderr) and access log (stdout) format through ``core.logs.RedactingFormatter``,
  like the app's own: an access line shows the Africa's Talking secret path (``/ivr/at/<secret>/voice``) and
  may show URL-encoded numbers (``?phone=%2B22376...``); both come out redacted.
- Configuration: ``on_starting`` reads the settings (after ``.env``, as ``app.py`` does) in the master, before
  any worker starts. A bad setting prints ``Kalanso configuration error: ...`` and stops gunicorn with exit
  status 1, instead of every worker failing to import the app and being restarted in a loop.

Bind address and worker count stay on the command line (``--bind``, ``--workers``), as in the ``Procfile``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the formatter below is imported by name before the app is

accesslog = "-"  # stdout (the error log goes to stderr, gunicorn's default)

_REDACTING = "core.logs.RedactingFormatter"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "error": {
            "()": _REDACTING,
            "fmt": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
        },
        "access": {"()": _REDACTING, "fmt": "%(message)s"},  # gunicorn's access_log_format, redacted
    },
    "handlers": {
        "error": {"class": "logging.StreamHandler", "formatter": "error", "stream": "ext://sys.stderr"},
        "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
    },
    "root": {"level": "INFO", "handlers": ["error"]},  # the app's own loggers (core.logs keeps this handler)
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}


def on_starting(server) -> None:
    """Check the configuration in the master; stop with the message on the first bad setting."""
    from dotenv import load_dotenv

    from core.config import ConfigError, load_settings
    from core.logs import register_secrets
    from sms.keywords import KeywordError, Keywords

    load_dotenv(ROOT / ".env", override=False)
    try:
        settings = load_settings()
        try:  # the SMS keyword table is the one other thing create_app refuses to start with
            Keywords.from_settings(settings)
        except KeywordError as exc:
            raise ConfigError(f"SMS_KEYWORDS_FILE / SMS_OPT_OUT_WORD_BM / SMS_OPT_IN_WORD_BM: {exc}") from exc
    except ConfigError as exc:
        print(f"Kalanso configuration error: {exc}", file=sys.stderr, flush=True)
        if server.pidfile is not None:
            server.pidfile.unlink()
        sys.exit(1)
    register_secrets(settings.secrets)  # the workers inherit them; create_app registers them again
