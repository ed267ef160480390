"""The voice line's own prompts (``ivr/prompts.yaml``): menus, errors, goodbye, in both languages.

Pure data: each prompt is a ``Localized`` text whose recording stem is ``prompts/<key>``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from content.model import LANGUAGES, Localized

PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")


def prompt_stem(key: str) -> str:
    return f"prompts/{key}"


@cache
def load_prompts(path: Path = PROMPTS_FILE) -> dict[str, Localized]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    prompts = {}
    for key, texts in data.items():
        missing = [lang for lang in LANGUAGES if not str(texts.get(lang, "")).strip()]
        if missing:
            raise ValueError(f"{path.name}: prompt {key!r} has no text in {', '.join(missing)}")
        stem = prompt_stem(key)
        prompts[key] = Localized(
            texts={lang: str(texts[lang]) for lang in LANGUAGES}, audio=dict.fromkeys(LANGUAGES, stem)
        )
    return prompts


def prompt(key: str) -> Localized:
    return load_prompts()[key]


def is_template(key: str) -> bool:
    """A prompt with {placeholders} is spoken by text-to-speech: its numbers change from call to call."""
    return "{" in prompt(key).text("fr")


def expected_prompt_recordings(lang: str) -> tuple[str, ...]:
    """Recording stems the voice line plays for ``lang`` (templates excluded), for the coverage report."""
    return tuple(prompt_stem(key) for key in load_prompts() if not is_template(key))
