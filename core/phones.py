"""Phone numbers: normalise to E.164 (default region Mali) and mask for logs."""

from __future__ import annotations

import re

import phonenumbers

DEFAULT_REGION = "ML"
_ALLOWED = re.compile(r"^[\d\s().+\-/]+$")


class InvalidPhone(ValueError):
    """Not a phone number we can call or text."""


def normalize_phone(raw: object, region: str = DEFAULT_REGION) -> str:
    """``76 12 34 56``, ``0022376123456`` and ``+22376123456`` all give ``+22376123456``."""
    text = str(raw or "").strip()
    if not text:
        raise InvalidPhone("empty phone number")
    if not _ALLOWED.match(text):
        raise InvalidPhone(f"not a phone number: {mask_phone(text)!r} (only digits, spaces, + ( ) . - /)")
    digits = re.sub(r"\D", "", text)
    if text.startswith("00"):
        text = "+" + digits[2:]
    elif text.startswith("+"):
        text = "+" + digits
    else:
        text = digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {mask_phone(raw)!r} ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            f"not a valid phone number: {mask_phone(raw)!r} "
            f"(a Mali number has 8 digits, e.g. 76 12 34 56 or +223 76 12 34 56)"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: object) -> str:
    """Hide the last four digits: ``+22376123456`` → ``+2237612****``."""
    text = str(phone or "")
    digits_seen = sum(c.isdigit() for c in text)
    keep = max(digits_seen - 4, 0)
    out, n = [], 0
    for c in text:
        if c.isdigit():
            n += 1
            out.append(c if n <= keep else "*")
        else:
            out.append(c)
    return "".join(out)
