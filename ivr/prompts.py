"""The voice line's own prompts (``ivr/prompts.yaml``): menus, errors, goodbye, in both languages.

Pure data: each prompt is a ``Localized`` text whose recording stem is ``prompts/<key>``. A prompt may carry
``review: {fr: draft|reviewed, bm: ...}`` like a lesson (content/README.md); no mark means draft.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from content.model import LANGUAGES, REVIEW_STATES, Localized

PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")
REVIEW_KEY = "review"


def prompt_stem(key: str) -> str:
    return f"prompts/{key}"


@cache
def _load(path: Path) -> tuple[dict[str, Localized], dict[str, dict[str, str]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    prompts, reviews = {}, {}
    for key, texts in data.items():
        missing = [lang for lang in LANGUAGES if not str(texts.get(lang, "")).strip()]
        if missing:
            raise ValueError(f"{path.name}: prompt {key!r} has no text in {', '.join(missing)}")
        unknown = sorted(set(texts) - {*LANGUAGES, REVIEW_KEY})
        if unknown:
            raise ValueError(f"{path.name}: prompt {key!r}: unknown key(s) {', '.join(map(str, unknown))}")
        review = texts.get(REVIEW_KEY) or {}
        bad = {lang: state for lang, state in review.items() if lang not in LANGUAGES or state not in REVIEW_STATES}
        if bad:
            raise ValueError(f"{path.name}: prompt {key!r}: review {bad} (states: {', '.join(REVIEW_STATES)})")
        stem = prompt_stem(key)
        prompts[key] = Localized(
            texts={lang: str(texts[lang]) for lang in LANGUAGES}, audio=dict.fromkeys(LANGUAGES, stem)
        )
        reviews[key] = {lang: review.get(lang, "draft") for lang in LANGUAGES}
    return prompts, reviews


def load_prompts(path: Path = PROMPTS_FILE) -> dict[str, Localized]:
    return _load(path)[0]


def prompts_to_review(lang: str, path: Path = PROMPTS_FILE) -> tuple[str, ...]:
    """Prompt keys whose ``lang`` text no native reader has marked reviewed yet."""
    return tuple(key for key, review in _load(path)[1].items() if review[lang] != "reviewed")


def prompt(key: str) -> Localized:
    return load_prompts()[key]


def is_template(key: str) -> bool:
    """A prompt with {placeholders} is spoken by text-to-speech: its numbers change from call to call."""
    return "{" in prompt(key).text("fr")


def expected_prompt_recordings(lang: str) -> tuple[str, ...]:
    """Recording stems the voice line plays for ``lang`` (templates excluded), for the coverage report."""
    return tuple(prompt_stem(key) for key in load_prompts() if not is_template(key))
