"""Bounds for every field a provider parser takes from a webhook, so that what reaches the services fits
the database and the Python built-ins (no ``DataError``, no ``OverflowError``, no ``int()`` of 5,000 digits).

Each function takes the raw value (``None`` when absent) and returns it tidied, or raises ``ValueError``
(the voice parsers let it propagate: the route answers with the apology; the SMS parsers turn it into
``None``: the route answers with the empty answer). Numbers that are merely informative (a duration, a
cost) become ``None`` when out of range instead of refusing the whole callback.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

MAX_ID = 64  # CallSid, MessageSid (34), sessionId, AT message id; our columns are String(64)
MAX_PHONE = 32  # an E.164 number is at most 16 characters; room for spaces and "client:" names
MAX_REFERENCE = 2_147_483_647  # our row ids (a PostgreSQL integer)
MAX_DURATION = 86_400  # seconds: no call lasts a day
MAX_AMOUNT = Decimal("99999999")  # call_sessions.cost is Numeric(12, 4)
MAX_TEXT = 1600  # Twilio's longest Body (a reassembled multi-part SMS)
MAX_DIGITS = 32  # keys pressed in one Gather / GetDigits
MAX_WORD = 64  # a status word or similar, kept for audit
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")  # control characters and lone surrogates
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # the same but tab, CR, LF
_ASCII_DIGITS = re.compile(r"[0-9]+")


def shown(value: object, limit: int = 40) -> str:
    """A value for an error message or a log line: quoted and cut short."""
    text = str(value or "")
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def _plain(value: str | None, name: str, limit: int) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise ValueError(f"{name} longer than {limit} characters")
    if _ANY_CONTROL.search(text):
        raise ValueError(f"{name} holds a control character")
    return text


def ident(value: str | None, name: str) -> str:
    """A provider's id (``CallSid``, ``MessageSid``, ``sessionId``, AT ``id``): at most 64 characters, no control
    characters; ``""`` when absent."""
    return _plain(value, name, MAX_ID)


def phone(value: str | None, name: str) -> str:
    """A phone field as the provider gave it (normalised later by the services): at most 32 characters."""
    return _plain(value, name, MAX_PHONE)


def word(value: str | None, name: str) -> str:
    """A short word kept as the provider said it (a status, a direction, a cause): at most 64 characters."""
    return _plain(value, name, MAX_WORD)


def digits(value: str | None, name: str) -> str:
    """The keys pressed, as sent (the menus judge them): at most 32 characters."""
    return _plain(value, name, MAX_DIGITS)


def token(value: str | None, limit: int = 100) -> str:
    """An optional opaque token (Twilio's idempotency header): cut to ``limit``; ``""`` when it holds a control
    character (it only helps recognise a retry, so junk is ignored rather than refused)."""
    text = (value or "").strip()[:limit]
    return "" if _ANY_CONTROL.search(text) else text


def reference(value: str | None) -> str:
    """Our own id echoed in a URL (``?ref=``): ``""`` when absent, else ASCII digits up to 2,147,483,647."""
    text = (value or "").strip()
    if not text:
        return ""
    if len(text) > 10 or not _ASCII_DIGITS.fullmatch(text) or int(text) > MAX_REFERENCE:
        raise ValueError(f"ref {shown(text)} is not one of our ids")
    return text


def duration(value: str | None) -> int | None:
    """Seconds from 0 to 86,400 (ASCII digits); None when absent or out of range."""
    text = (value or "").strip()
    if not text or len(text) > 6 or not _ASCII_DIGITS.fullmatch(text):
        return None
    seconds = int(text)
    return seconds if seconds <= MAX_DURATION else None


def amount(value: str | None) -> float | None:
    """A finite decimal below 100,000,000 in size (a call's cost); None when absent or not one."""
    text = (value or "").strip()
    if not text or len(text) > 32:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        return None
    result = float(number)
    return result if math.isfinite(result) else None


def text(value: str | None) -> str:
    """An SMS text: control characters other than tab, CR and LF (NUL above all) and lone surrogates removed,
    then cut to 1600 characters. Nothing a provider sends is longer; a longer text is cut rather than refused,
    so a listener's message is still answered (its first words decide) and the row stays bounded."""
    return _TEXT_CONTROL.sub("", value or "")[:MAX_TEXT]
