"""The contact numbers a deployment configures (``KALANSO_CONTACT_*``): which ones exist and how they are read.

Lessons say them where a text has ``{contacts}`` (``content.contacts``); they are settings, never
written in the course files or the recordings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
    Contact(  # in Mali: the services of the promotion of women, children and the family (DRPFEF / SLPFEF)
        "child_protection",
        "KALANSO_CONTACT_CHILD_PROTECTION",
        {"fr": "service de protection de l'enfant et de la famille", "bm": "denmisɛnw ni denbaya lakanani baarada"},
    ),  # bm to check by a native reader: "lakanani baarada" (protection service)
    Contact(
        "labour_inspection",
        "KALANSO_CONTACT_LABOUR_INSPECTION",
        {"fr": "inspection du travail", "bm": "baara kɔlɔsili baarada"},
    ),  # bm to check by a native reader: "baara kɔlɔsili baarada" (labour inspection)
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

_NUMBER = re.compile(r"^\+?[0-9][0-9 ]{1,18}[0-9]$")


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
