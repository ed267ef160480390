"""Every French text of the dashboard and the API pages has its English translation (no page half in French)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dashboard.i18n import SOURCE

ROOT = Path(__file__).resolve().parent.parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def _english() -> dict[str, str]:
    out: dict[str, str] = {}
    for po in SOURCE.glob("*/en/LC_MESSAGES/messages.po"):
        with po.open("rb") as f:
            out.update({m.id: m.string for m in read_po(f) if m.id})
    return out


def test_every_dashboard_text_is_translated_to_english():
    english = _english()
    missing, seen = [], set()
    for package in ("dashboard", "api"):
        folder = ROOT / package
        if not folder.exists():
            continue
        for filename, _line, message, _comments, _context in extract_from_dir(
            folder, METHODS, keywords={"_": None, "_l": None, "gettext": None, "lazy_gettext": None}
        ):
            seen.add((filename.rsplit(".", 1)[-1], message))
            if isinstance(message, str) and not english.get(message):
                missing.append(f"{package}/{filename}: {message!r}")
    assert missing == []
    assert {kind for kind, _ in seen} >= {"html", "py"}  # both templates and code were read
