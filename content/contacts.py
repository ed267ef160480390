"""Whom to call: contact numbers are settings, never written in the course files.

A course text may contain the placeholder ``{contacts}``. The loader replaces it, in each language,
with one sentence built from the configured numbers (``KALANSO_CONTACT_*`` settings), or with a
sentence that sends the listener to the field agent when none is configured. So a number can change
without touching a course file, the SMS text and the French synthetic audio follow the settings,
and a human recording (which must never contain a number: it says the fallback sentence) stays
valid whatever the numbers.

Pure: no Flask, no database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.contacts import CONTACTS

PLACEHOLDERS: tuple[str, ...] = ("contacts",)
"""The only placeholders a course text may use."""

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

_LEAD = {"fr": "Les numéros : ", "bm": "Nimɔrɔw: "}
_SEPARATOR = {"fr": " ; ", "bm": "; "}
_FALLBACK = {
    "fr": "Pour leurs numéros, demandez à l'agent de terrain, au maître ou à la mairie.",
    "bm": "U nimɔrɔw ɲininka porogaramu baarakɛla, karamɔgɔ walima meri fɛ.",
}


def contacts_sentence(lang: str, numbers: Mapping[str, str]) -> str:
    """The sentence that replaces ``{contacts}`` in language ``lang``."""
    parts = [f"{c.name[lang]}, {numbers[c.key]}" for c in CONTACTS if numbers.get(c.key)]
    if not parts:
        return _FALLBACK[lang]
    return _LEAD[lang] + _SEPARATOR[lang].join(parts) + "."


def fill(text: str, lang: str, numbers: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with its placeholders filled, and the problems found (unknown placeholders, stray braces)."""
    problems = [
        f"unknown placeholder '{{{name}}}' (known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
        for name in PLACEHOLDER.findall(text)
        if name not in PLACEHOLDERS
    ]
    if not problems and ("{" in PLACEHOLDER.sub("", text) or "}" in PLACEHOLDER.sub("", text)):
        problems.append("unbalanced '{' or '}' (placeholders look like {contacts})")
    if problems:
        return text, problems
    return PLACEHOLDER.sub(lambda m: contacts_sentence(lang, numbers), text), []
