"""Import listeners from CSV: columns phone, name, language, village, commune, region, groups.

The file: UTF-8 (Excel's "CSV UTF-8" starts with a byte-order mark: accepted) or, failing that, Windows-1252
(Excel's plain "CSV" on a French Windows), which cannot hold the Bambara letters ɛ ɔ ɲ ŋ: the report says so.
Separators ``,`` or ``;`` (Excel in French writes ``;``), found from the header line.

Every bad row is reported with its line number. By default nothing is imported if any row is bad;
``partial=True`` imports the good rows and reports the rest. An existing listener (same phone in any
accepted format) is updated, never duplicated. A language the listener chose by phone (voice or SMS) is
never overwritten; a language the import sets is recorded as set by ``import``. An empty cell changes
nothing. New listeners are recorded as having consented through the import (the consent history says so).

``limits`` (the dashboard, for a field agent) keeps an import inside the user's scope: a row that would
land outside it, or a phone number already registered outside it, is a bad row; groups must then exist
and be allowed. Without limits (a manager, the CLI) groups are created as needed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from core.db import db
from core.phones import InvalidPhone, mask_phone, normalize_phone
from listeners.models import Group, Listener
from listeners.service import give_consent

COLUMNS = ("phone", "name", "language", "village", "commune", "region", "groups")
PLACES = ("village", "commune", "region")
LANGUAGE_WORDS = {
    "bm": "bm", "bambara": "bm", "bamanankan": "bm", "bamana": "bm",
    "fr": "fr", "francais": "fr", "français": "fr", "french": "fr", "faransikan": "fr",
    "": None,
}  # fmt: skip
SEPARATORS = (",", ";")
BY = "import"  # how an import records who set a language, and the consent's channel

# What went wrong, by code: the English words (the CLI); the dashboard has its own French ones.
MESSAGES = {
    "not_text": "the file is not text (save it as CSV UTF-8)",
    "empty": "the file is empty",
    "header_no_phone": "the header must name a 'phone' column (columns: {columns})",
    "header_unknown": "unknown column(s) {unknown} (columns: {columns})",
    "too_many_values": "more values than columns",
    "phone_missing": "no phone number",
    "phone_invalid": "{reason}",
    "language": "language must be bm or fr (or empty), got {value!r}",
    "duplicate": "the same phone number as line {first}",
    "out_of_scope": "this village, commune, region or group is outside your area",
    "phone_taken": "this number is already registered, outside your area",
    "unknown_group": "unknown group {group!r} (or not one of yours)",
}


@dataclass(frozen=True)
class RowError:
    line: int
    code: str  # a key of MESSAGES
    values: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"line {self.line}: " + MESSAGES[self.code].format(**self.values)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    language_kept: int = 0  # rows whose language was not applied: the listener had chosen theirs by phone
    groups_created: int = 0
    rows: int = 0  # data rows read (blank lines left out)
    errors: list[RowError] = field(default_factory=list)
    imported: bool = False
    encoding: str = "utf-8"  # how the file was read: utf-8 or cp1252
    separator: str = ","
    listener_ids: list[int] = field(default_factory=list)  # created or updated

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_lines(self) -> int:
        return len({e.line for e in self.errors})


@dataclass(frozen=True)
class Limits:
    """What a scoped user may import (``dashboard.imports`` builds it from ``accounts.scope``).

    ``visible(listeners)``: the ids among these existing listeners the user may see (and so update);
    ``may_place(village, commune, region, group_ids)``: whether a listener with these places and groups is
    inside the user's scope; ``groups``: the groups the user may put listeners in, by lower-case name."""

    visible: Callable[[Sequence[Listener]], set[int]]
    may_place: Callable[[str, str, str, set[int]], bool]
    groups: dict[str, Group]


@dataclass
class _Row:
    line: int
    phone: str
    fields: dict[str, str]  # name and places, only the non-empty cells
    language: str | None  # None: the cell is empty or absent (nothing to set)
    groups: list[str]


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and how it was read: UTF-8 (with or without Excel's byte-order mark), else Windows-1252.
    Raises ValueError for what is not text at all (UTF-16, a spreadsheet saved as .xlsx...)."""
    if b"\x00" in data[:4096]:
        raise ValueError("not_text")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:  # the five bytes Windows-1252 leaves undefined
        raise ValueError("not_text") from exc


def sniff_separator(text: str) -> str:
    """``;`` or ``,``: whichever the header line holds more of (``,`` when neither)."""
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _parse(text: str, report: ImportReport) -> list[_Row]:
    text = text.lstrip("\ufeff")
    if not text.strip():
        report.errors.append(RowError(1, "empty"))
        return []
    report.separator = sniff_separator(text)
    reader = csv.DictReader(io.StringIO(text), delimiter=report.separator, skipinitialspace=True)
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    columns = ", ".join(COLUMNS)
    if "phone" not in header:
        report.errors.append(RowError(1, "header_no_phone", {"columns": columns}))
        return []
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        report.errors.append(RowError(1, "header_unknown", {"unknown": ", ".join(unknown), "columns": columns}))
        return []
    reader.fieldnames = header
    rows, seen = [], {}
    for record in reader:
        line = reader.line_num
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        if not any(values.values()) and None not in record:
            continue
        report.rows += 1
        if None in record:
            report.errors.append(RowError(line, "too_many_values"))
            continue
        if not values.get("phone"):
            report.errors.append(RowError(line, "phone_missing"))
            continue
        try:
            phone = normalize_phone(values["phone"])
        except InvalidPhone as exc:
            report.errors.append(
                RowError(line, "phone_invalid", {"reason": str(exc), "value": mask_phone(values["phone"])})
            )
            continue
        language_word = values.get("language", "").lower()
        if language_word not in LANGUAGE_WORDS:
            report.errors.append(RowError(line, "language", {"value": values["language"]}))
            continue
        if phone in seen:
            report.errors.append(RowError(line, "duplicate", {"first": seen[phone]}))
            continue
        seen[phone] = line
        fields = {k: values[k] for k in ("name", *PLACES) if values.get(k)}
        groups = [g.strip() for g in values.get("groups", "").replace("|", ";").replace(",", ";").split(";")]
        rows.append(_Row(line, phone, fields, LANGUAGE_WORDS[language_word], [g for g in groups if g]))
    return rows


def import_listeners(
    text: str,
    now: datetime,
    *,
    partial: bool = False,
    limits: Limits | None = None,
    by: int | None = None,
    encoding: str = "utf-8",
) -> ImportReport:
    """Validate, then add/update the listeners and flush. The caller commits (or rolls back).

    ``by``: the dashboard user importing (recorded in the consent history of the new listeners)."""
    report = ImportReport(encoding=encoding)
    rows = _parse(text, report)
    existing = {
        listener.phone: listener
        for n in range(0, len(rows), 500)
        for listener in db.session.scalars(
            select(Listener).where(Listener.phone.in_([r.phone for r in rows[n : n + 500]]))
        )
    }
    groups = _known_groups(rows, limits)
    if limits is not None:
        rows = _within(rows, existing, groups, limits, report)
    report.errors.sort(key=lambda e: e.line)
    if report.errors and not partial:
        return report
    new: list[Listener] = []
    touched: list[Listener] = []
    for row in rows:
        listener = existing.get(row.phone)
        if listener is None:
            listener = Listener(phone=row.phone, created_at=now)
            db.session.add(listener)
            new.append(listener)
            report.created += 1
        else:
            report.updated += 1
        touched.append(listener)
        for key, value in row.fields.items():
            setattr(listener, key, value)
        if row.language is not None:
            if listener.chose_language_by_phone():
                report.language_kept += row.language != listener.language
            else:
                listener.set_language(row.language, BY)
        for name in row.groups:
            group = groups.get(name.lower())
            if group is None:  # no limits: created as needed
                group = groups[name.lower()] = Group(name=name, created_at=now)
                db.session.add(group)
                report.groups_created += 1
            if group not in listener.groups:
                listener.groups.append(group)
    db.session.flush()
    for listener in new:
        give_consent(listener, now, BY, by=by)
    db.session.flush()
    report.listener_ids = sorted(listener.id for listener in touched)
    report.imported = True
    return report


def _known_groups(rows: list[_Row], limits: Limits | None) -> dict[str, Group]:
    """The groups the rows name that exist (case ignored), by lower-case name; a scoped user: only theirs."""
    if limits is not None:
        return dict(limits.groups)
    names = sorted({g.lower() for r in rows for g in r.groups})
    found: dict[str, Group] = {}
    for n in range(0, len(names), 500):
        for group in db.session.scalars(select(Group).where(func.lower(Group.name).in_(names[n : n + 500]))):
            found.setdefault(group.name.lower(), group)
    # SQLite's lower() leaves non-ASCII letters: match those names in Python
    rest = [name for name in names if name not in found and not name.isascii()]
    if rest:
        for group in db.session.scalars(select(Group)):
            if group.name.lower() in rest:
                found.setdefault(group.name.lower(), group)
    return found


def _within(
    rows: list[_Row], existing: dict[str, Listener], groups: dict[str, Group], limits: Limits, report: ImportReport
) -> list[_Row]:
    """The rows a scoped user may import; the others are reported."""
    visible = limits.visible([existing[r.phone] for r in rows if r.phone in existing])
    kept = []
    for row in rows:
        unknown = [g for g in row.groups if g.lower() not in groups]
        if unknown:
            report.errors.append(RowError(row.line, "unknown_group", {"group": unknown[0]}))
            continue
        listener = existing.get(row.phone)
        if listener is not None and listener.id not in visible:
            report.errors.append(RowError(row.line, "phone_taken"))
            continue
        places = {k: row.fields.get(k) or (getattr(listener, k) if listener is not None else "") for k in PLACES}
        group_ids = {groups[g.lower()].id for g in row.groups}
        if listener is not None:
            group_ids |= {g.id for g in listener.groups}
        if not limits.may_place(places["village"], places["commune"], places["region"], group_ids):
            report.errors.append(RowError(row.line, "out_of_scope"))
            continue
        kept.append(row)
    return kept
