"""Which listeners a list shows: search and filters, read from a page's (or an export's, or the API's) query
arguments, turned into WHERE clauses on ``Listener``, always inside the user's scope.

    flt = ListenerFilter.from_args(request.args, catalog)
    query = listeners_query(me(), flt)       # select(Listener) in scope, filtered, ordered by id
    page = listeners_page(me(), flt, after=request.args.get("after"))   # 50 rows, and the next cursor

Unknown or malformed arguments are ignored and named in ``flt.problems`` (shown next to the filter form);
they never raise. Progress filters need a lesson (``lesson=<course_id>/<lesson_id>``), except
``started_not_finished`` which, without a lesson, means any lesson.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select

from accounts.models import User
from accounts.scope import listener_clause, sql_place_keys
from content.loader import Catalog
from core.db import db
from core.phones import InvalidPhone, normalize_phone
from listeners.models import LessonProgress, Listener, ProgressStatus, listener_groups

LANGUAGES = ("bm", "fr", "none")
CONSENTS = ("active", "opted_out", "never")
PROGRESS = ("completed", "not_completed", "started_not_finished", "not_started")
MAX_TEXT = 120
PAGE_SIZE = 50
COUNT_CAP = 1000  # a list counts its rows up to this, then says "more than": never a full scan at 1M rows


@dataclass(frozen=True)
class ListenerFilter:
    q: str = ""  # a phone number (any Mali format), or part of a name or village
    group_id: int | None = None
    region: str = ""
    commune: str = ""
    village: str = ""
    language: str = ""  # bm | fr | none (not chosen yet)
    consent: str = ""  # active (may be contacted) | opted_out | never (no consent recorded)
    lesson: str = ""  # "<course_id>/<lesson_id>"
    progress: str = ""  # completed | not_completed | started_not_finished | not_started (of ``lesson``)
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str], catalog: Catalog | None = None) -> ListenerFilter:
        problems: list[str] = []

        def text(name: str) -> str:
            value = (args.get(name) or "").replace("\x00", "").strip()
            return " ".join(value.split())[:MAX_TEXT]

        def choice(name: str, allowed: tuple[str, ...]) -> str:
            value = text(name)
            if value and value not in allowed:
                problems.append(name)
                return ""
            return value

        group = text("group")
        group_id = int(group) if group.isascii() and group.isdigit() and len(group) <= 9 else None
        if group and group_id is None:
            problems.append("group")
        lesson = text("lesson")
        unknown = catalog is not None and not _known_lesson(catalog, lesson)
        if lesson and (not _lesson_shape(lesson) or unknown):
            problems.append("lesson")
            lesson = ""
        progress = choice("progress", PROGRESS)
        if progress and not lesson and progress != "started_not_finished":
            problems.append("progress")
            progress = ""
        return cls(
            q=text("q"),
            group_id=group_id,
            region=text("region"),
            commune=text("commune"),
            village=text("village"),
            language=choice("language", LANGUAGES),
            consent=choice("consent", CONSENTS),
            lesson=lesson,
            progress=progress,
            problems=tuple(problems),
        )

    def args(self) -> dict[str, str]:
        """The filter as query arguments (for links: next page, export, API)."""
        out = {
            "q": self.q,
            "group": str(self.group_id) if self.group_id is not None else "",
            "region": self.region,
            "commune": self.commune,
            "village": self.village,
            "language": self.language,
            "consent": self.consent,
            "lesson": self.lesson,
            "progress": self.progress,
        }
        return {k: v for k, v in out.items() if v}

    def with_(self, **changes) -> ListenerFilter:
        return replace(self, **changes)

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.q:
            out.append(_search(self.q))
        for column, value in ((Listener.region, self.region), (Listener.commune, self.commune),
                              (Listener.village, self.village)):  # fmt: skip
            if value:
                out.append(func.lower(func.trim(column)).in_(sql_place_keys({value})))
        if self.group_id is not None:
            out.append(
                exists().where(
                    and_(listener_groups.c.listener_id == Listener.id, listener_groups.c.group_id == self.group_id)
                )
            )
        if self.language == "none":
            out.append(Listener.language.is_(None))
        elif self.language:
            out.append(Listener.language == self.language)
        if self.consent == "active":
            out.append(Listener.opted_out.is_(False))
        elif self.consent == "opted_out":
            out.append(Listener.opted_out.is_(True))
        elif self.consent == "never":
            out.append(Listener.consent_at.is_(None))
        if self.progress:
            out.append(self._progress())
        return out

    def _progress(self) -> ColumnElement[bool]:
        row = LessonProgress.listener_id == Listener.id
        if self.lesson:
            course_id, lesson_id = self.lesson.split("/", 1)
            row = and_(row, LessonProgress.course_id == course_id, LessonProgress.lesson_id == lesson_id)
        done = LessonProgress.status == ProgressStatus.COMPLETED
        started = LessonProgress.status == ProgressStatus.IN_PROGRESS
        if self.progress == "completed":
            return exists().where(row, done)
        if self.progress == "not_completed":
            return not_(exists().where(row, done))
        if self.progress == "started_not_finished":
            return exists().where(row, started)
        return not_(exists().where(row, or_(done, started)))  # not_started


def _lesson_shape(value: str) -> bool:
    course_id, slash, lesson_id = value.partition("/")
    return bool(slash and course_id and lesson_id) and len(course_id) <= 64 and len(lesson_id) <= 64


def _known_lesson(catalog: Catalog, value: str) -> bool:
    course_id, _, lesson_id = value.partition("/")
    return any(c.id == course_id and any(lesson.id == lesson_id for lesson in c.lessons) for c in catalog)


def _search(q: str) -> ColumnElement[bool]:
    """A whole phone number in any format the phone module accepts (exact match, the unique index); four or
    more digits (spaces, dots, dashes, a leading + allowed): numbers containing them; else part of a name or
    village, whatever the case."""
    try:
        return Listener.phone == normalize_phone(q)
    except InvalidPhone:
        pass
    digits = "".join(c for c in q if c in "0123456789")
    if len(digits) >= 4 and all(c in "0123456789 .-+()" for c in q):
        return Listener.phone.contains(digits, autoescape=True)
    pattern = f"%{_escape_like(q.lower())}%"
    return or_(
        func.lower(Listener.name).like(pattern, escape="\\"),
        func.lower(Listener.village).like(pattern, escape="\\"),
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def listeners_query(user: User, flt: ListenerFilter, *, after: int | None = None) -> Select:
    """``select(Listener)`` in ``user``'s scope, filtered, in id order; ``after``: only ids above it (keyset
    pagination: the next page starts after the last id shown, never with OFFSET)."""
    query = select(Listener).where(listener_clause(user), *flt.clauses())
    if after is not None:
        query = query.where(Listener.id > after)
    return query.order_by(Listener.id)


def parse_cursor(value: str | None) -> int | None:
    """``after=<id>`` from a link: a positive id, or None for the first page (junk is the first page too)."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


@dataclass(frozen=True)
class Page:
    rows: list[Listener]
    next_after: int | None  # the cursor of the next page, None on the last one


def listeners_page(user: User, flt: ListenerFilter, *, after: int | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of the list: ``size`` listeners after the cursor (one more is read to know if a next exists)."""
    rows = list(db.session.scalars(listeners_query(user, flt, after=after).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, next_after=rows[-1].id if more and rows else None)


def count_listeners(user: User, flt: ListenerFilter, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many listeners match, counting at most ``cap`` (then ``(cap, True)``: "more than")."""
    inner = select(Listener.id).where(listener_clause(user), *flt.clauses()).limit(cap + 1).subquery()
    counted = db.session.scalar(select(func.count()).select_from(inner)) or 0
    return min(counted, cap), counted > cap
