"""Logging that never prints a phone number in clear (``+2237612****``)."""

from __future__ import annotations

import logging
import re

from core.phones import mask_phone

_PHONE = re.compile(r"(?<![\w.])\+?\d[\d ]{6,16}\d(?![\w.])")


class MaskPhonesFilter(logging.Filter):
    """Rewrites each record's message with every phone-number-looking run of digits masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _PHONE.sub(lambda m: mask_phone(m.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, MaskPhonesFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(MaskPhonesFilter())
        root.addHandler(handler)
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, MaskPhonesFilter) for f in handler.filters):
            handler.addFilter(MaskPhonesFilter())
