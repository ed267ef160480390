"""Import listeners from CSV: columns phone, name, language, village, commune, region, groups.

Every bad row is reported with its line number. By default nothing is imported if any row is bad;
``partial=True`` imports the good rows and reports the rest. An existing listener (same phone in
any accepted format) is updated, never duplicated.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from core.db import db
from core.phones import InvalidPhone, normalize_phone
from listeners.models import Group, Listener

COLUMNS = ("phone", "name", "language", "village", "commune", "region", "groups")
LANGUAGE_WORDS = {
    "bm": "bm", "bambara": "bm", "bamanankan": "bm", "bamana": "bm",
    "fr": "fr", "francais": "fr", "français": "fr", "french": "fr", "faransikan": "fr",
    "": None,
}  # fmt: skip


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)  # "line 7: ..."
    imported: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Row:
    line: int
    phone: str
    fields: dict[str, str | None]
    groups: list[str]


def _parse(text: str, report: ImportReport) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), skipinitialspace=True)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "phone" not in header:
        report.errors.append("line 1: the header must name a 'phone' column (columns: " + ", ".join(COLUMNS) + ")")
        return []
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        report.errors.append(f"line 1: unknown column(s) {', '.join(unknown)} (columns: {', '.join(COLUMNS)})")
        return []
    reader.fieldnames = header
    rows, seen = [], {}
    for record in reader:
        line = reader.line_num
        if None in record:
            report.errors.append(f"line {line}: more values than columns")
            continue
        values = {k: (v or "").strip() for k, v in record.items()}
        if not any(values.values()):
            continue
        try:
            phone = normalize_phone(values.get("phone", ""))
        except InvalidPhone as exc:
            report.errors.append(f"line {line}: {exc}")
            continue
        language_word = values.get("language", "").lower()
        if language_word not in LANGUAGE_WORDS:
            report.errors.append(f"line {line}: language must be bm or fr (or empty), got {values['language']!r}")
            continue
        if phone in seen:
            report.errors.append(f"line {line}: the same phone number as line {seen[phone]}")
            continue
        seen[phone] = line
        fields = {k: values[k] for k in ("name", "village", "commune", "region") if k in values}
        if "language" in values:
            fields["language"] = LANGUAGE_WORDS[language_word]
        groups = [g.strip() for g in values.get("groups", "").replace("|", ";").split(";") if g.strip()]
        rows.append(_Row(line, phone, fields, groups))
    return rows


def import_listeners(text: str, now: datetime, *, partial: bool = False) -> ImportReport:
    """Validate, then add/update the listeners and flush. The caller commits (or rolls back)."""
    report = ImportReport()
    rows = _parse(text, report)
    if report.errors and not partial:
        return report
    groups: dict[str, Group] = {}
    existing = {
        listener.phone: listener
        for listener in db.session.scalars(select(Listener).where(Listener.phone.in_([r.phone for r in rows])))
    }
    for row in rows:
        listener = existing.get(row.phone)
        if listener is None:
            listener = Listener(phone=row.phone, created_at=now, consent_at=now, consent_channel="import")
            db.session.add(listener)
            report.created += 1
        else:
            report.updated += 1
        for key, value in row.fields.items():
            if value or key == "language":
                setattr(listener, key, value)
        for name in row.groups:
            group = groups.get(name.lower())
            if group is None:
                group = db.session.scalars(select(Group).where(Group.name == name)).first() or Group(
                    name=name, created_at=now
                )
                groups[name.lower()] = group
            if group not in listener.groups:
                listener.groups.append(group)
    db.session.flush()
    report.imported = True
    return report
