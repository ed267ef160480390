"""The number typed in a simulator page: normalised, or a French message that shows it as typed.

Shared by the voice and SMS simulators (``ivr.simulator``, the simulator routes of ``sms.routes``). The
message is for the person at the page; logs get the number masked (``core.phones.mask_phone``).
"""

from __future__ import annotations

from core.phones import InvalidPhone, normalize_phone

EXAMPLES = "par exemple 76 12 34 56 ou +223 76 12 34 56"
SHOWN_MAX = 40


def invalid_number_message(raw: str) -> str:
    """What the page says about a number it cannot call or text: the number as typed, and examples."""
    shown = (raw or "").strip()
    if not shown:
        return f"Tapez d'abord un numéro du Mali, {EXAMPLES}."
    if len(shown) > SHOWN_MAX:
        shown = shown[:SHOWN_MAX] + "…"
    return f"« {shown} » n'est pas un numéro du Mali. Un numéro a 8 chiffres, {EXAMPLES}."


def checked(raw: str) -> tuple[str | None, str]:
    """``(+223..., "")`` for a Mali number, ``(None, the message)`` for anything else."""
    try:
        return normalize_phone(raw), ""
    except InvalidPhone:
        return None, invalid_number_message(raw)
