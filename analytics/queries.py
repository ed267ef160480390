"""The learning analytics, as the dashboard and the API read them: ``fn(filters, user) -> figures``.

Every function reads indexed aggregates — the call facts (``analytics.models.CallFact``, one row per finished
call), the counted quiz answers (``ix_quiz_answers_results``) and the missed-call callbacks — never the call
paths themselves, and applies the scope rule of ``accounts.scope`` for agents: a call is in an agent's scope when
the listener's region, commune or village *at the time of the call* is one of the agent's places, or when the
listener belongs to one of the agent's groups.

Filters (``Filters``): a date range (local days, both ends included), a course (calls that started one of its
lessons; answers to its questions), a language (the call's; the question's), a group (its members) and a place
(region, commune, village: compared like the scope rule, trimmed and without case).

What the figures mean:

- ``voice_funnel``: calls → answered → had a language (chose one, or had one already) → reached the main menu
  (or further) → started a lesson → completed one → passed (at least half right). Each step counts calls.
- ``node_dropoff``: per menu node, the answered calls that entered it, that ended there (their last node), that
  timed out there at least once, that pressed an invalid key there at least once.
- ``question_results``: per question and language, the answers that count (the first in each run of a lesson),
  right, wrong, right at the first attempt; flagged ``most_miss`` (under 40 % right) or ``nobody_misses``
  (95 % or more right) once it has at least 20 answers.
- ``listening``: per lesson and language, the calls that started it and how far they listened before hanging up:
  at least half of its chunks, three quarters, all of them.
- ``calls_by_hour``: every call (answered or not) by local weekday (0 = Monday) and hour.
- ``new_vs_returning``: callers with an answered call in the range: new (their first answered call ever is in the
  range) and returning (they had called before).
- ``callbacks``: missed calls (the caller rang and hung up) in the range: callbacks requested, placed, skipped
  (opted out, daily cap), failed (the provider refused).
- ``costs``: what the calls cost in FCFA (the provider's figure when it gives one, else the voice tariff), per
  answered call and per completed lesson.
- ``learning``: per course with a test, what its pre-test and post-test measured. Only each listener's *first*
  completed pre-test and *first* completed post-test count (the lowest attempt among their completions, as
  ``listeners.progress.learning_scores``); a test taken again, or an attempt abandoned before its end, does not.
  The date range applies to each test's completion date; the language is the listener's (the default language
  when they never chose one); places and groups are the listener's now. Per test question and language (the one
  it was asked in): the counted answers of those first completed runs, right or not, before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, case, distinct, exists, false, func, or_, select, true
from sqlalchemy.orm import aliased

from accounts.roles import ScopeKind, scoped
from accounts.scope import listener_clause, sql_place_keys
from analytics.models import CallFact
from analytics.paths import NODE_BITS
from content.catalog import get_catalog
from content.model import POST_TEST, PRE_TEST
from core.config import LANGUAGES
from core.db import db
from ivr.menu import NODE_ORDER
from ivr.models import CallbackStatus, MissedCallCallback
from listeners.models import LessonCompletion, Listener, QuizAnswer, listener_groups

MIN_ANSWERS_TO_FLAG = 20
MOST_MISS_BELOW = Decimal("0.40")  # right share under this: "most_miss"
NOBODY_MISSES_FROM = Decimal("0.95")  # right share at least this: "nobody_misses"
MOST_MISS, NOBODY_MISSES = "most_miss", "nobody_misses"


# --- filters ------------------------------------------------------------------------------------------------


@dataclass
class Filters:
    start: date | None = None
    end: date | None = None
    course_id: str | None = None
    language: str | None = None
    group_id: int | None = None
    region: str | None = None
    commune: str | None = None
    village: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> tuple[Filters, dict[str, str]]:
        """Filters from a query string (keys are the field names; empty values are ignored), and the errors per
        field name (plain English). A field in error is left out of the filters."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}

        def given(name: str) -> str | None:
            value = (args.get(name) or "").strip()
            return value or None

        for name in ("start", "end"):
            raw = given(name)
            if raw is None:
                continue
            try:
                values[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = f"not a date: {raw!r} (YYYY-MM-DD)"
        if values.get("start") and values.get("end") and values["end"] < values["start"]:
            errors["end"] = "the end is before the start"
            del values["end"]
        course = given("course_id")
        if course is not None:
            known = {c.id for c in get_catalog()}
            if course in known:
                values["course_id"] = course
            else:
                errors["course_id"] = f"unknown course: {course!r}"
        language = given("language")
        if language is not None:
            if language in LANGUAGES:
                values["language"] = language
            else:
                errors["language"] = f"unknown language: {language!r} (one of {', '.join(LANGUAGES)})"
        group = given("group_id")
        if group is not None:
            if group.isdigit() and 0 < int(group) < 2**31:
                values["group_id"] = int(group)
            else:
                errors["group_id"] = f"not a group number: {group!r}"
        for name in ("region", "commune", "village"):
            raw = given(name)
            if raw is not None:
                values[name] = " ".join(raw.split())[:120]
        return cls(**values), errors


def day_bounds(filters: Filters, tz) -> tuple[datetime | None, datetime | None]:
    """The range as UTC instants: [start of ``start``, start of the day after ``end``)."""
    start = datetime.combine(filters.start, time(0), tzinfo=tz).astimezone(UTC) if filters.start else None
    end = datetime.combine(filters.end + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC) if filters.end else None
    return start, end


# --- scope and filters on the call facts --------------------------------------------------------------------

_FACT_PLACES = {
    ScopeKind.REGION: CallFact.region_key,
    ScopeKind.COMMUNE: CallFact.commune_key,
    ScopeKind.VILLAGE: CallFact.village_key,
}


def _in_groups(listener_id, group_ids: list[int]) -> ColumnElement[bool]:
    return exists().where(and_(listener_groups.c.listener_id == listener_id, listener_groups.c.group_id.in_(group_ids)))


def fact_scope(user) -> ColumnElement[bool]:
    """``accounts.scope.listener_clause`` for call facts: the places kept on the fact, the listener's groups."""
    if not scoped(user.role):
        return true()
    parts: list[ColumnElement[bool]] = []
    for kind, column in _FACT_PLACES.items():
        values = {s.value for s in user.scopes if s.kind is kind and s.value.strip()}
        if values:
            parts.append(column.in_(sql_place_keys(values)))
    group_ids = sorted({s.group_id for s in user.scopes if s.kind is ScopeKind.GROUP and s.group_id})
    if group_ids:
        parts.append(_in_groups(CallFact.listener_id, group_ids))
    return or_(*parts) if parts else false()


def fact_conditions(filters: Filters, user, *, course: bool = True) -> list[ColumnElement[bool]]:
    out = [fact_scope(user)]
    if filters.start:
        out.append(CallFact.local_day >= filters.start)
    if filters.end:
        out.append(CallFact.local_day <= filters.end)
    if course and filters.course_id:
        out.append(CallFact.course_id == filters.course_id)
    if filters.language:
        out.append(CallFact.lang == filters.language)
    if filters.group_id:
        out.append(_in_groups(CallFact.listener_id, [filters.group_id]))
    for name, column in (("region", CallFact.region_key), ("commune", CallFact.commune_key),
                         ("village", CallFact.village_key)):  # fmt: skip
        value = getattr(filters, name)
        if value:
            out.append(column.in_(sql_place_keys({value})))
    return out


def _count(condition) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _catalog_order() -> dict[tuple[str, ...], int]:
    """(course), (course, lesson) and (course, lesson, question) → their place in the catalog."""
    order: dict[tuple[str, ...], int] = {}
    for course in get_catalog():
        for lesson in course.lessons:
            order[(course.id, lesson.id)] = len(order)
            for question in lesson.questions:
                order[(course.id, lesson.id, question.id)] = len(order)
    return order


# --- the figures --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceFunnel:
    calls: int
    answered: int
    chose_language: int
    reached_main: int
    started_lesson: int
    completed: int
    passed: int


def voice_funnel(filters: Filters, user) -> VoiceFunnel:
    row = db.session.execute(
        select(
            func.count(),
            _count(CallFact.answered),
            _count(CallFact.chose_language),
            _count(CallFact.reached_main),
            _count(CallFact.started_lesson),
            _count(CallFact.completed),
            _count(CallFact.passed),
        ).where(*fact_conditions(filters, user))
    ).one()
    return VoiceFunnel(*(int(n) for n in row))


@dataclass(frozen=True)
class NodeRow:
    node: str
    entered: int
    left_here: int
    timed_out: int
    invalid: int


def node_dropoff(filters: Filters, user) -> list[NodeRow]:
    """Per menu node, in menu order (``ivr.menu.NODE_ORDER``)."""
    columns = []
    for node in NODE_ORDER:
        bit = NODE_BITS[node]
        columns += [
            _count(CallFact.nodes_entered.op("&")(bit) != 0),
            _count(CallFact.exit_node == node),
            _count(CallFact.nodes_timed_out.op("&")(bit) != 0),
            _count(CallFact.nodes_invalid.op("&")(bit) != 0),
        ]
    row = db.session.execute(select(*columns).where(*fact_conditions(filters, user), CallFact.answered)).one()
    return [NodeRow(node, *(int(n) for n in row[4 * i : 4 * i + 4])) for i, node in enumerate(NODE_ORDER)]


@dataclass(frozen=True)
class QuestionRow:
    course_id: str
    lesson_id: str
    question_id: str
    lang: str
    answers: int
    right: int
    wrong: int
    first_try_right: int
    flag: str | None


def question_flag(answers: int, right: int) -> str | None:
    if answers < MIN_ANSWERS_TO_FLAG:
        return None
    share = Decimal(right) / Decimal(answers)
    if share < MOST_MISS_BELOW:
        return MOST_MISS
    if share >= NOBODY_MISSES_FROM:
        return NOBODY_MISSES
    return None


def question_results(filters: Filters, user) -> list[QuestionRow]:
    """Per question and language, from the counted answers (every channel). Answers recorded before the language
    was kept count in the default language. Places and groups are the listener's now."""
    settings = current_app.config["KALANSO"]
    lang = case((QuizAnswer.lang == "", settings.default_language), else_=QuizAnswer.lang)
    conditions: list[ColumnElement[bool]] = [QuizAnswer.counted]
    start, end = day_bounds(filters, settings.tz)
    if start is not None:
        conditions.append(QuizAnswer.answered_at >= start)
    if end is not None:
        conditions.append(QuizAnswer.answered_at < end)
    if filters.course_id:
        conditions.append(QuizAnswer.course_id == filters.course_id)
    if filters.language:
        same = QuizAnswer.lang == filters.language
        conditions.append(or_(same, QuizAnswer.lang == "") if filters.language == settings.default_language else same)
    query = select(
        QuizAnswer.course_id,
        QuizAnswer.lesson_id,
        QuizAnswer.question_id,
        lang,
        func.count(),
        _count(QuizAnswer.correct),
        _count(and_(QuizAnswer.correct, QuizAnswer.attempt == 1)),
    )
    listener_conditions = _listener_conditions(filters, user)
    if listener_conditions:
        query = query.join(Listener, Listener.id == QuizAnswer.listener_id)
        conditions += listener_conditions
    rows = db.session.execute(
        query.where(*conditions).group_by(QuizAnswer.course_id, QuizAnswer.lesson_id, QuizAnswer.question_id, lang)
    ).all()
    order = _catalog_order()
    out = [
        QuestionRow(c, lesson, q, lg, int(n), int(right), int(n) - int(right), int(first), question_flag(n, right))
        for c, lesson, q, lg, n, right, first in rows
    ]
    return sorted(out, key=lambda r: (order.get((r.course_id, r.lesson_id, r.question_id), len(order)),
                                      r.course_id, r.lesson_id, r.question_id, r.lang))  # fmt: skip


def _listener_conditions(filters: Filters, user) -> list[ColumnElement[bool]]:
    """Conditions on ``Listener`` for the scope, a group and places (none for an unscoped user without them)."""
    out: list[ColumnElement[bool]] = []
    if scoped(user.role):
        out.append(listener_clause(user))
    if filters.group_id:
        out.append(_in_groups(Listener.id, [filters.group_id]))
    for name, column in (("region", Listener.region), ("commune", Listener.commune),
                         ("village", Listener.village)):  # fmt: skip
        value = getattr(filters, name)
        if value:
            out.append(func.lower(func.trim(column)).in_(sql_place_keys({value})))
    return out


@dataclass(frozen=True)
class ListeningRow:
    course_id: str
    lesson_id: str
    lang: str
    calls: int
    heard_50: int  # heard at least half of the lesson's chunks
    heard_75: int  # at least three quarters
    heard_all: int


def listening(filters: Filters, user) -> list[ListeningRow]:
    """Per lesson started on a call (the call's first) and language: how far the callers listened."""
    heard, total = CallFact.chunks_heard, CallFact.chunks_total
    rows = db.session.execute(
        select(
            CallFact.course_id,
            CallFact.lesson_id,
            CallFact.lang,
            func.count(),
            _count(2 * heard >= total),
            _count(4 * heard >= 3 * total),
            _count(heard >= total),
        )
        .where(*fact_conditions(filters, user), CallFact.started_lesson, CallFact.chunks_total > 0)
        .group_by(CallFact.course_id, CallFact.lesson_id, CallFact.lang)
    ).all()
    order = _catalog_order()
    out = [ListeningRow(c, lesson, lg, *(int(n) for n in counts)) for c, lesson, lg, *counts in rows]
    return sorted(out, key=lambda r: (order.get((r.course_id, r.lesson_id), len(order)), r.course_id,
                                      r.lesson_id, r.lang))  # fmt: skip


def calls_by_hour(filters: Filters, user) -> list[list[int]]:
    """7 × 24 counts of calls: ``grid[weekday][hour]``, weekday 0 = Monday, local hours."""
    grid = [[0] * 24 for _ in range(7)]
    rows = db.session.execute(
        select(CallFact.weekday, CallFact.local_hour, func.count())
        .where(*fact_conditions(filters, user))
        .group_by(CallFact.weekday, CallFact.local_hour)
    ).all()
    for weekday, hour, n in rows:
        grid[weekday][hour] = int(n)
    return grid


def new_vs_returning(filters: Filters, user) -> tuple[int, int]:
    """(new, returning) callers with an answered call in the range (see the module's docstring)."""
    new, callers = db.session.execute(
        select(_count(CallFact.first_call), func.count(distinct(CallFact.listener_id))).where(
            *fact_conditions(filters, user), CallFact.answered, CallFact.listener_id.is_not(None)
        )
    ).one()
    return int(new), int(callers) - int(new)


@dataclass(frozen=True)
class CallbackCounts:
    requested: int
    placed: int
    skipped: int
    failed: int


def callbacks(filters: Filters, user) -> CallbackCounts:
    """Missed-call callbacks of missed calls in the range (a course filter does not apply; the language is the
    listener's, places and groups the listener's now)."""
    settings = current_app.config["KALANSO"]
    conditions: list[ColumnElement[bool]] = []
    start, end = day_bounds(filters, settings.tz)
    if start is not None:
        conditions.append(MissedCallCallback.missed_at >= start)
    if end is not None:
        conditions.append(MissedCallCallback.missed_at < end)
    query = select(
        func.count(),
        _count(MissedCallCallback.status == CallbackStatus.PLACED),
        _count(MissedCallCallback.status == CallbackStatus.SKIPPED),
        _count(MissedCallCallback.status == CallbackStatus.FAILED),
    )
    listener_conditions = _listener_conditions(filters, user)
    if filters.language:
        language = func.coalesce(Listener.language, settings.default_language)
        listener_conditions.append(language == filters.language)
    if listener_conditions:
        query = query.join(Listener, Listener.id == MissedCallCallback.listener_id)
        conditions += listener_conditions
    row = db.session.execute(query.where(*conditions)).one()
    return CallbackCounts(*(int(n) for n in row))


@dataclass(frozen=True)
class Costs:
    total_fcfa: Decimal
    answered_calls: int
    completions: int  # calls on which a lesson was completed
    per_answered_call: Decimal | None  # None when no call was answered
    per_completion: Decimal | None
    source: str  # provider | tariff | mixed | none (nothing billed)


CENT = Decimal("0.01")


def costs(filters: Filters, user) -> Costs:
    total, answered, completions, provider, tariff = db.session.execute(
        select(
            func.coalesce(func.sum(CallFact.cost_fcfa), 0),
            _count(CallFact.answered),
            _count(CallFact.completed),
            _count(CallFact.cost_source == "provider"),
            _count(CallFact.cost_source == "tariff"),
        ).where(*fact_conditions(filters, user))
    ).one()
    total = Decimal(str(total)).quantize(CENT)
    answered, completions = int(answered), int(completions)
    source = {(True, True): "mixed", (True, False): "provider", (False, True): "tariff"}.get(
        (int(provider) > 0, int(tariff) > 0), "none"
    )

    def per(n: int) -> Decimal | None:
        return (total / n).quantize(CENT, rounding=ROUND_HALF_UP) if n else None

    return Costs(total, answered, completions, per(answered), per(completions), source)


# --- what the courses taught: pre-test and post-test --------------------------------------------------------


@dataclass(frozen=True)
class CourseLearning:
    """One course's tests: the listeners who completed each (their first completion in the range) and the sums of
    their scores; ``both_*`` are the sums among those who completed both."""

    course_id: str
    pre_takers: int
    post_takers: int
    both: int
    pre_score: int
    pre_total: int
    post_score: int
    post_total: int
    both_pre_score: int
    both_pre_total: int
    both_post_score: int
    both_post_total: int
    mean_gain: Decimal | None  # the mean over ``both`` of (post % - pre %), in points of percent, 0.1 precision

    @property
    def pre_share(self) -> Decimal | None:
        return _share(self.pre_score, self.pre_total)

    @property
    def post_share(self) -> Decimal | None:
        return _share(self.post_score, self.post_total)


@dataclass(frozen=True)
class QuestionBeforeAfter:
    """One test question in one language: the counted answers of the first completed pre-tests and post-tests."""

    course_id: str
    question_id: str
    lang: str
    pre_answers: int
    pre_right: int
    post_answers: int
    post_right: int

    @property
    def change(self) -> Decimal | None:
        """The share right after minus the share right before, in points of percent (None if one is unknown)."""
        before, after = _share(self.pre_right, self.pre_answers), _share(self.post_right, self.post_answers)
        return after - before if before is not None and after is not None else None


@dataclass(frozen=True)
class Learning:
    courses: list[CourseLearning]  # in the catalog's order
    questions: list[QuestionBeforeAfter]  # in the catalog's order (course, then the test's questions), then language


def _share(part: int, whole: int) -> Decimal | None:
    """``part`` of ``whole`` in percent, 0.1 precision (None when the whole is zero)."""
    return (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP) if whole else None


def learning(filters: Filters, user) -> Learning:
    """Pre-test and post-test figures per course (see the module's docstring): two queries, both on the listeners'
    first completed tests (no earlier completed attempt of the same test: an anti-join on the completions' unique
    key, so that a date range or a scope narrows the rows first)."""
    settings = current_app.config["KALANSO"]
    with_tests = [c for c in get_catalog() if c.test("pretest") is not None]
    if filters.course_id:
        with_tests = [c for c in with_tests if c.id == filters.course_id]
    if not with_tests:
        return Learning([], [])
    done = LessonCompletion
    earlier = aliased(LessonCompletion, name="earlier")
    conditions: list[ColumnElement[bool]] = [
        done.course_id.in_([c.id for c in with_tests]),
        done.lesson_id.in_([PRE_TEST, POST_TEST]),
        ~exists().where(  # the listener's first completion of this test (the unique key's index answers it)
            earlier.listener_id == done.listener_id,
            earlier.course_id == done.course_id,
            earlier.lesson_id == done.lesson_id,
            earlier.attempt < done.attempt,
        ),
    ]
    start, end = day_bounds(filters, settings.tz)  # then the range: a first completion made in it
    if start is not None:
        conditions.append(done.completed_at >= start)
    if end is not None:
        conditions.append(done.completed_at < end)
    first_rows = select(done.listener_id, done.course_id, done.lesson_id, done.attempt, done.score, done.total)
    listener_conditions = _listener_conditions(filters, user)
    if filters.language:
        listener_conditions.append(func.coalesce(Listener.language, settings.default_language) == filters.language)
    if listener_conditions:
        first_rows = first_rows.join(Listener, Listener.id == done.listener_id)
        conditions += listener_conditions
    first = first_rows.where(*conditions).subquery("first")

    def test_column(lesson_id: str, column):
        return func.max(case((first.c.lesson_id == lesson_id, column)))

    per_listener = (
        select(
            first.c.course_id,
            test_column(PRE_TEST, first.c.score).label("pre_score"),
            test_column(PRE_TEST, first.c.total).label("pre_total"),
            test_column(POST_TEST, first.c.score).label("post_score"),
            test_column(POST_TEST, first.c.total).label("post_total"),
        )
        .group_by(first.c.course_id, first.c.listener_id)
        .subquery("per_listener")
    )
    p = per_listener.c
    both = and_(p.pre_total > 0, p.post_total > 0)

    def when_both(column):
        return func.coalesce(func.sum(case((both, column), else_=0)), 0)

    gain = 100.0 * p.post_score / p.post_total - 100.0 * p.pre_score / p.pre_total
    course_rows = db.session.execute(
        select(
            p.course_id,
            func.count(p.pre_total),
            func.count(p.post_total),
            _count(both),
            func.coalesce(func.sum(p.pre_score), 0),
            func.coalesce(func.sum(p.pre_total), 0),
            func.coalesce(func.sum(p.post_score), 0),
            func.coalesce(func.sum(p.post_total), 0),
            when_both(p.pre_score),
            when_both(p.pre_total),
            when_both(p.post_score),
            when_both(p.post_total),
            func.avg(case((both, gain))),
        ).group_by(p.course_id)
    ).all()
    lang = case((QuizAnswer.lang == "", settings.default_language), else_=QuizAnswer.lang)
    question_rows = db.session.execute(
        select(
            first.c.course_id, first.c.lesson_id, QuizAnswer.question_id, lang, func.count(), _count(QuizAnswer.correct)
        )
        .join(
            QuizAnswer,
            and_(
                QuizAnswer.listener_id == first.c.listener_id,
                QuizAnswer.course_id == first.c.course_id,
                QuizAnswer.lesson_id == first.c.lesson_id,
                QuizAnswer.attempt == first.c.attempt,
                QuizAnswer.counted,
            ),
        )
        .group_by(first.c.course_id, first.c.lesson_id, QuizAnswer.question_id, lang)
    ).all()

    by_course = {row[0]: row for row in course_rows}
    courses = []
    for course in with_tests:
        row = by_course.get(course.id)
        if row is None:
            continue
        *counts, mean = row[1:]
        mean_gain = None if mean is None else Decimal(str(mean)).quantize(Decimal("0.1"), ROUND_HALF_UP)
        courses.append(CourseLearning(course.id, *(int(n) for n in counts), mean_gain))
    answers: dict[tuple[str, str, str], list[int]] = {}
    for course_id, lesson_id, question_id, lg, n, right in question_rows:
        counts = answers.setdefault((course_id, question_id, lg), [0, 0, 0, 0])
        at = 0 if lesson_id == PRE_TEST else 2
        counts[at : at + 2] = [int(n), int(right)]
    order = {(c.id, q.id): n for c in with_tests for n, q in enumerate(c.test("pretest").questions)}
    course_order = {c.id: n for n, c in enumerate(with_tests)}
    keys = sorted(answers, key=lambda k: (course_order.get(k[0], len(course_order)), order.get(k[:2], len(order)),
                                          k[1], k[2] != "bm", k[2]))  # fmt: skip
    return Learning(courses, [QuestionBeforeAfter(*key, *answers[key]) for key in keys])
