"""The SMS line's own texts in both languages (``sms/texts.yaml``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from content.model import LANGUAGES

TEXTS_FILE = Path(__file__).with_name("texts.yaml")


@cache
def _texts() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
    for key, by_language in data.items():
        missing = [lang for lang in LANGUAGES if not (by_language or {}).get(lang)]
        if missing:
            raise ValueError(f"{TEXTS_FILE.name}: {key} has no text in {', '.join(missing)}")
    return data


def text(key: str, language: str, **values: object) -> str:
    """The text ``key`` in ``language`` (French if unknown), with its placeholders filled."""
    by_language = _texts()[key]
    return by_language.get(language, by_language["fr"]).format(**values)


def keys() -> list[str]:
    return list(_texts())
