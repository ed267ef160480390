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
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Contact:
    key: str  # our name, also the key in Settings.contacts
    env: str  # the environment variable that holds its number
    name: dict[str, str]  # the service, as said in each language


CONTACTS: tuple[Contact, ...] = (
    Contact(
        "social_service",
        "KALANSO_CONTACT_SOCIAL_SERVICE",
        {"fr": "service local du développement social", "bm": "sosiyali ɲɛtaa baarada"},
    ),
    Contact(
        "police_children",
        "KALANSO_CONTACT_POLICE_CHILDREN",
        {"fr": "police ou gendarmerie, service des mineurs", "bm": "polisi walima zandaramari, denmisɛnw ka baarada"},
    ),
    Contact(
        "helpline",
        "KALANSO_CONTACT_HELPLINE",
        {"fr": "ligne d'écoute pour les enfants", "bm": "denmisɛnw lamɛnni telefɔni"},
    ),
    Contact(
        "field_agent",
        "KALANSO_CONTACT_FIELD_AGENT",
        {"fr": "agent de terrain du programme", "bm": "porogaramu baarakɛla"},
    ),
)

PLACEHOLDERS: tuple[str, ...] = ("contacts",)
"""The only placeholders a course text may use."""

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NUMBER = re.compile(r"^\+?[0-9][0-9 ]{1,18}[0-9]$")

_LEAD = {"fr": "Les numéros : ", "bm": "Nimɔrɔw: "}
_SEPARATOR = {"fr": " ; ", "bm": "; "}
_FALLBACK = {
    "fr": "Pour leurs numéros, demandez à l'agent de terrain, au maître ou à la mairie.",
    "bm": "U nimɔrɔw ɲininka porogaramu baarakɛla, karamɔgɔ walima meri fɛ.",
}


def read_contacts(get: Callable[[str], str]) -> dict[str, str]:
    """The configured numbers by contact key (empty ones left out); ValueError names a bad variable."""
    out: dict[str, str] = {}
    for contact in CONTACTS:
        value = " ".join(get(contact.env).split())
        if not value:
            continue
        if not _NUMBER.match(value):
            raise ValueError(
                f"{contact.env} must be a phone number (digits, spaces, an optional leading +), got {value!r}"
            )
        out[contact.key] = value
    return out


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
