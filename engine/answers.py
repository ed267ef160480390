"""Reading a listener's free-text answer: a digit, a letter or the option's own words.

Tolerant of case, spaces, punctuation, accents and the older spellings of Bambara letters
(``è`` or ``e`` for ``ɛ``, ``ò`` or ``o`` for ``ɔ``, ``ny`` for ``ɲ``, ``ng`` for ``ŋ``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from content.model import Option

_BAMBARA = str.maketrans({"ɛ": "e", "ɔ": "o", "ɲ": "ny", "ŋ": "ng", "Ɛ": "e", "Ɔ": "o", "Ɲ": "ny", "Ŋ": "ng"})
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_THOUSANDS = re.compile(r"(?<=\d)[\s.,\u00a0\u202f](?=\d{3}(?!\d))")
LETTERS = "abcd"


def normalize(text: str) -> str:
    """Lower-case ASCII words separated by single spaces: ``"Ɲɛ, Bɔ!"`` → ``"nye bo"``."""
    text = unicodedata.normalize("NFKC", text).translate(_BAMBARA).casefold()
    text = _THOUSANDS.sub("", text)  # "5 000" and "5.000" are 5000
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.replace("ß", "ss").replace("æ", "ae").replace("œ", "oe")
    return _NOT_WORD.sub(" ", text).strip()


def parse_choice(answer: str, options: Sequence[Option]) -> Option | None:
    """The option an answer designates, or None when it is unclear."""
    words = normalize(answer).split()
    if not words:
        return None
    by_key = {o.key: o for o in options}
    if len(words) == 1 and len(words[0]) == 1 and words[0] in LETTERS[: len(options)]:
        return options[LETTERS.index(words[0])]
    keys = {w for w in words if w in by_key}
    digits = {w for w in words if w.isdigit()}
    if len(keys) == 1 and keys == digits:
        return by_key[keys.pop()]
    said = " ".join(words)
    exact, partial = [], []
    for option in options:
        for label in {normalize(t) for t in option.label.values()}:
            if not label:
                continue
            if said == label:
                exact.append(option)
            elif f" {label} " in f" {said} " or (len(said) >= 3 and f" {said} " in f" {label} "):
                partial.append(option)
    for found in (exact, partial):
        distinct = {o.key: o for o in found}
        if len(distinct) == 1:
            return next(iter(distinct.values()))
        if len(distinct) > 1:
            return None
    return None
