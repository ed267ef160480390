"""Translations: French is the language the pages are written in; English comes from ``.po`` catalogs, one per
area (``dashboard/translations/<area>/en/LC_MESSAGES/messages.po``), compiled to ``.mo`` under the instance
folder when the app starts (no build step; atomic, so several workers may start at once)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SOURCE = Path(__file__).resolve().parent / "translations"


def compiled_directories(instance_path: str) -> list[str]:
    out = []
    for po in sorted(SOURCE.glob("*/*/LC_MESSAGES/messages.po")):
        area, lang = po.parts[-4], po.parts[-3]
        target_dir = Path(instance_path) / "translations" / area
        mo = target_dir / lang / "LC_MESSAGES" / "messages.mo"
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            mo.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as f:
                catalog = read_po(f, locale=lang)
            fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                write_mo(f, catalog)
            os.replace(tmp, mo)
        out.append(str(target_dir))
    return out
