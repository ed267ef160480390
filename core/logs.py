"""Logging that never prints a phone number in clear (``+2237612****``) nor a configured secret (``[secret]``).

``RedactingFormatter`` rewrites the whole formatted line — the message with its arguments, the exception
traceback (an SQL error's ``DETAIL`` holds the number that broke a constraint) and the stack — so no log
line can leak what a record's message alone would hide. ``configure_logging`` puts it on every handler of
the root logger, of werkzeug, SQLAlchemy and gunicorn, and on Flask's default handler;
``gunicorn.conf.py`` uses it for gunicorn's error and access logs (the access log shows the Africa's
Talking secret path and URL-encoded numbers).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from urllib.parse import quote

from core.phones import mask_phone

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SECRET = "[secret]"
KALANSO_HANDLER = "_kalanso"  # marks the root handler configure_logging added
MIN_SECRET_LENGTH = 4  # shorter values cannot be told apart from ordinary text
_LOGGERS = ("werkzeug", "sqlalchemy", "sqlalchemy.engine", "gunicorn.error", "gunicorn.access")  # + Flask's handler

# A phone number: with a prefix (+, its URL-encoded %2B, or 00 via the plain form below), at least 7 digits
# that may be grouped by single spaces, dashes or dots (URL-encoded: + and %20 too); without a prefix, 8 or
# more digits grouped by single spaces (in a query string, such as a dashboard search: + or %20), standing
# alone (not part of an id such as ATVId_b1782591735c..., nor of a decimal such as 0.00012345678; a full
# stop after it is punctuation). Dates (2026-11-24) and times stay readable: bare digits never group by
# dashes or colons.
_PHONE = re.compile(
    r"(?P<plus>\+|%2[Bb])(?P<intl>\d(?:(?:[ .\-]|%20|\+)?\d){6,})"
    r"|(?<![\w%])(?<!\d\.)(?P<bare>\d(?:(?: |\+|%20)?\d){7,})(?!\w|\.\d)"
)


def _mask(match: re.Match[str]) -> str:
    if match.group("plus"):  # an encoded space (%20) is a separator, not digits to count
        number = match.group("intl").replace("%20", "\x00")
        return match.group("plus") + mask_phone(number).replace("\x00", "%20")
    number = match.group("bare").replace("%20", "\x00")
    return mask_phone(number).replace("\x00", "%20")


class _Secrets:
    """The configured secrets as one compiled pattern (longest first); grows as apps are created."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.pattern: re.Pattern[str] | None = None
        self.lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self.lock:
            new = {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}
            new |= {quote(v, safe="") for v in new}  # as it appears URL-encoded
            if new <= self.values:
                return
            self.values |= new
            alternatives = sorted(self.values, key=len, reverse=True)
            self.pattern = re.compile("|".join(re.escape(v) for v in alternatives))


_secrets = _Secrets()


def register_secrets(values: Iterable[str]) -> None:
    """Values never to be logged (``Settings.secrets``): replaced by ``[secret]`` in every formatted line."""
    _secrets.add(values)


def redact(text: str) -> str:
    """``text`` with the configured secrets replaced and every phone-number-looking run of digits masked."""
    pattern = _secrets.pattern
    if pattern is not None:
        text = pattern.sub(SECRET, text)
    return _PHONE.sub(_mask, text)


class RedactingFormatter(logging.Formatter):
    """Formats a record (with ``inner`` when given, else as a plain ``logging.Formatter``), then redacts the
    whole line: message, arguments, traceback and stack info."""

    def __init__(self, fmt=None, datefmt=None, style="%", validate=True, *, inner: logging.Formatter | None = None):
        super().__init__(fmt, datefmt, style, validate)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record) if self.inner is not None else super().format(record)
        return redact(text)


def redacting(formatter: logging.Formatter | None) -> RedactingFormatter:
    """``formatter`` wrapped so that its output is redacted (itself if it already is)."""
    if isinstance(formatter, RedactingFormatter):
        return formatter
    return RedactingFormatter(inner=formatter or logging.Formatter())  # no formatter: logging's default


def configure_logging(level: int = logging.INFO, secrets: Iterable[str] = ()) -> None:
    """Root logging to stderr at ``level`` (unless a redacting handler is there already, e.g. gunicorn's);
    every handler we can reach then formats through ``RedactingFormatter``. Safe to call again."""
    register_secrets(secrets)
    root = logging.getLogger()
    if not any(getattr(h, KALANSO_HANDLER, False) or _redacting_by_design(h) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(RedactingFormatter(FORMAT))
        setattr(handler, KALANSO_HANDLER, True)
        root.addHandler(handler)
    root.setLevel(level)
    handlers = list(root.handlers)
    for name in _LOGGERS:
        handlers.extend(logging.getLogger(name).handlers)
    from flask.logging import default_handler

    handlers.append(default_handler)
    for handler in handlers:
        handler.setFormatter(redacting(handler.formatter))


def _redacting_by_design(handler: logging.Handler) -> bool:
    """Configured with a RedactingFormatter of its own (gunicorn's logconfig_dict), not one we wrapped."""
    return isinstance(handler.formatter, RedactingFormatter) and handler.formatter.inner is None


def kalanso_handler() -> logging.Handler | None:
    """The stderr handler ``configure_logging`` added to the root logger, if it added one."""
    return next((h for h in logging.getLogger().handlers if getattr(h, KALANSO_HANDLER, False)), None)
