"""Which listeners a list shows: search and filters, read from a page's (or an export's, or the API's) query
arguments, turned into WHERE clauses on ``Listener``, always inside the user's scope.

    flt = ListenerFilter.from_args(request.args, catalog)
    query = listeners_query(me(), flt)       # select(Listener) in scope, filtered, ordered by id

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
from core.phones import InvalidPhone, normalize_phone
from listeners.models import LessonProgress, Listener, ProgressStatus, listener_groups

LANGUAGES = ("bm", "fr", "none")
CONSENTS = ("active", "opted_out", "never")
PROGRESS = ("completed", "not_completed", "started_not_finished", "not_started")
MAX_TEXT = 120


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
        group_id = int(group) if group.isdigit() and len(group) <= 9 else None
        if group and group_id is None:
            problems.append("group")
        lesson = text("lesson")
        if lesson and catalog is not None and not _known_lesson(catalog, lesson):
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


def _known_lesson(catalog: Catalog, value: str) -> bool:
    course_id, _, lesson_id = value.partition("/")
    return any(c.id == course_id and any(lesson.id == lesson_id for lesson in c.lessons) for c in catalog)


def _search(q: str) -> ColumnElement[bool]:
    """A phone number (exact, any format the phone module accepts; or its last digits) or a name or village."""
    try:
        return Listener.phone == normalize_phone(q)
    except InvalidPhone:
        pass
    digits = "".join(c for c in q if c.isdigit())
    if digits and len(digits) >= 4 and len(digits) == len(q.replace(" ", "")):
        return Listener.phone.endswith(digits)
    pattern = f"%{_escape_like(q.lower())}%"
    return or_(
        func.lower(Listener.name).like(pattern, escape="\\"),
        func.lower(Listener.village).like(pattern, escape="\\"),
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def listeners_query(user: User, flt: ListenerFilter) -> Select:
    """``select(Listener)`` in ``user``'s scope, filtered, in id order (keyset pagination: ``after_id``)."""
    return select(Listener).where(listener_clause(user), *flt.clauses()).order_by(Listener.id)
