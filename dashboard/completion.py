"""Completion: who has finished which lesson, per village (or per group), and the follow-up lists of a lesson.

- ``completion.index`` (``/dashboard/completion/``): a matrix of villages or groups (``by=village|group``) × the
  lessons of one course (``course=``): listeners who completed / listeners of the row, in the user's scope. Each
  cell drills down to the people (the listeners list when it is there, else the follow-up list below).
- ``completion.followup`` (``/dashboard/completion/lesson``): for one lesson (``lesson=<course>/<lesson>``), in a
  village or group or the whole scope, the people who have not started it, started without finishing, completed
  it with a score under half, or completed it; with CSV/XLSX export links.

Every query goes through ``accounts.scope.listener_clause``. A matrix page costs four grouped queries, never one
per cell: the rows (listeners per village or group, one page of rows), the completed cells of those rows, and the
same two for the total line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import format_percent
from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import aliased
from werkzeug.routing import BuildError

from accounts.models import User
from accounts.roles import Permission, scoped
from accounts.scope import group_clause, listener_clause
from content.catalog import get_catalog
from content.loader import Catalog
from content.model import Course
from core.db import db
from dashboard.access import me, require
from dashboard.listing import ListenerFilter, listeners_query
from listeners.models import Group, LessonProgress, Listener, ProgressStatus, listener_groups

bp = Blueprint("completion", __name__, url_prefix="/dashboard/completion", template_folder="templates")

PAGE = 100  # rows of the matrix, people of a list, per page
# follow-up list -> the listener filter's progress word; ``under_half`` adds ``score_under_half``
LISTS = {
    "not_started": "not_started",
    "started": "started_not_finished",
    "under_half": "completed",
    "completed": "completed",
}


@bp.get("/")
@require(Permission.VIEW)
def index():
    catalog = get_catalog()
    course = pick_course(catalog, request.args.get("course", ""))
    by = "group" if request.args.get("by") == "group" else "village"
    after = request.args.get("after")
    matrix = completion_matrix(me(), course, by, after=after, limit=PAGE) if course else None
    courses = [c for c in catalog if c.lessons]
    return render_template(
        "dashboard/completion/matrix.html",
        matrix=matrix,
        course=course,
        courses=courses,
        by=by,
        drill=drill_url,
        percent=format_percent,
    )


@bp.get("/lesson")
@require(Permission.VIEW)
def followup():
    catalog = get_catalog()
    flt = ListenerFilter.from_args(request.args, catalog)
    chosen = request.args.get("list", "not_started")
    chosen = chosen if chosen in LISTS else "not_started"
    lessons = [(f"{c.id}/{lesson.id}", c, lesson) for c in catalog for lesson in c.lessons]
    if not flt.lesson:
        return render_template("dashboard/completion/followup.html", lessons=lessons, flt=flt, lesson=None)
    check_place(me(), flt)
    counts = followup_counts(me(), flt)
    people, next_after = followup_people(me(), flt, chosen, after=_int(request.args.get("after")))
    course_id, lesson_id = flt.lesson.split("/", 1)
    place = {"village": flt.village or None, "group": flt.group_id}
    return render_template(
        "dashboard/completion/followup.html",
        lessons=lessons,
        flt=flt,
        course=catalog.course(course_id),
        lesson=catalog.lesson(course_id, lesson_id),
        chosen=chosen,
        counts=counts,
        people=people,
        next_after=next_after,
        group=db.session.get(Group, flt.group_id) if flt.group_id is not None else None,
        record=record_url,
        place=place,
        export_args={**place, **list_args(flt.lesson, chosen)},
    )


# --- the matrix -------------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str  # the village as written (one of its spellings), or the group's name
    village: str = ""  # for links (village mode)
    group_id: int | None = None  # for links (group mode)
    listeners: int = 0
    completed: dict[str, int] = field(default_factory=dict)  # lesson id -> listeners who completed it

    def count(self, lesson_id: str) -> int:
        return self.completed.get(lesson_id, 0)

    def share(self, lesson_id: str) -> float:
        return self.count(lesson_id) / self.listeners if self.listeners else 0.0


@dataclass
class Matrix:
    course: Course
    by: str  # village | group
    rows: list[Row]
    total: Row | None  # the whole scope (village mode: villages do not overlap; groups may)
    next_after: str | None  # keyset of the next page of rows


def pick_course(catalog: Catalog, course_id: str) -> Course | None:
    courses = [c for c in catalog if c.lessons]
    return next((c for c in courses if c.id == course_id), courses[0] if courses else None)


def village_key() -> ColumnElement[str]:
    """How villages are grouped: as the listener filter compares them (``lower(trim(village))``)."""
    return func.lower(func.trim(Listener.village))


def completion_matrix(user: User, course: Course, by: str, *, after: str | None = None, limit: int | None = PAGE):
    """The rows (in name order, ``limit`` of them after ``after``) with their completed counts per lesson."""
    in_scope = listener_clause(user)
    done = and_(
        LessonProgress.listener_id == Listener.id,
        LessonProgress.course_id == course.id,
        LessonProgress.status == ProgressStatus.COMPLETED,
    )
    if by == "group":
        rows, next_after = _group_rows(user, in_scope, done, after, limit)
        total = None
    else:
        rows, next_after = _village_rows(in_scope, done, after, limit, scoped=scoped(user.role))
        total = Row(label="")
        if after is None and next_after is None:  # the page holds every village of the scope: add them up
            total.listeners = sum(r.listeners for r in rows)
            for row in rows:
                for lesson_id, n in row.completed.items():
                    total.completed[lesson_id] = total.completed.get(lesson_id, 0) + n
            return Matrix(course=course, by=by, rows=rows, total=total, next_after=next_after)
        total.listeners = db.session.scalar(select(func.count()).select_from(Listener).where(in_scope)) or 0
        totals = select(LessonProgress.lesson_id, func.count()).select_from(LessonProgress)
        if scoped(user.role):
            totals = totals.join(Listener, done).where(in_scope)
        else:  # everyone: no join to listeners (an index on progress answers it alone)
            totals = totals.where(
                LessonProgress.course_id == course.id, LessonProgress.status == ProgressStatus.COMPLETED
            )
        total.completed = dict(db.session.execute(totals.group_by(LessonProgress.lesson_id)).all())
    return Matrix(course=course, by=by, rows=rows, total=total, next_after=next_after)


def _village_rows(in_scope, done, after, limit, *, scoped: bool):
    """The villages of a page. For everyone, LIMIT in SQL (the village index gives them in order); in a scope,
    the scope's rows are grouped first and the page cut here: with a LIMIT, PostgreSQL would walk the village
    index over every listener and filter the scope row by row (0.9 s for a commune at a million listeners)."""
    key = village_key()
    query = (
        select(key.label("key"), func.min(func.trim(Listener.village)), func.count())
        .where(in_scope)
        .group_by(key)
        .order_by(key)
    )
    if after is not None:
        query = query.where(key > after)
    if limit is not None and not scoped:
        query = query.limit(limit + 1)
    found = db.session.execute(query).all()
    next_after = found[limit - 1][0] if limit is not None and len(found) > limit else None
    found = found[:limit] if limit is not None else found
    rows = {}
    for k, name, n in found:
        label = _village_label(name)
        rows[k] = Row(label=label, village=label, listeners=n)
    if rows:
        cells = (
            select(key, LessonProgress.lesson_id, func.count())
            .select_from(LessonProgress)
            .join(Listener, done)
            .where(in_scope, *([key.in_(list(rows))] if limit is not None else []))
            .group_by(key, LessonProgress.lesson_id)
        )
        for k, lesson_id, n in db.session.execute(cells):
            if k in rows:
                rows[k].completed[lesson_id] = n
    return list(rows.values()), next_after


def _group_rows(user, in_scope, done, after, limit):
    # an alias, so that the scope's own ``exists(listener_groups ...)`` is not correlated with this join
    member = listener_groups.alias("member")
    query = (
        select(Group.id, Group.name, func.count(Listener.id))
        .select_from(Group)
        .outerjoin(member, member.c.group_id == Group.id)
        .outerjoin(Listener, and_(Listener.id == member.c.listener_id, in_scope))
        .where(group_clause(user))
        .group_by(Group.id, Group.name)
        .order_by(Group.name)
    )
    if after is not None:
        query = query.where(Group.name > after)
    if limit is not None:
        query = query.limit(limit + 1)
    found = db.session.execute(query).all()
    next_after = found[limit - 1][1] if limit is not None and len(found) > limit else None
    found = found[:limit] if limit is not None else found
    rows = {gid: Row(label=name, group_id=gid, listeners=n) for gid, name, n in found}
    if rows:
        cells = (
            select(member.c.group_id, LessonProgress.lesson_id, func.count())
            .select_from(LessonProgress)
            .join(Listener, done)
            .join(member, member.c.listener_id == Listener.id)
            .where(in_scope, member.c.group_id.in_(list(rows)))
            .group_by(member.c.group_id, LessonProgress.lesson_id)
        )
        for gid, lesson_id, n in db.session.execute(cells):
            rows[gid].completed[lesson_id] = n
    return list(rows.values()), next_after


def _village_label(name: str) -> str:
    """One spelling of a village typed several ways; ``KANIKO`` or ``kaniko`` shown as ``Kaniko``."""
    name = " ".join(name.split())
    return name.title() if name.isupper() or name.islower() else name


def drill_url(course: Course, lesson_id: str, row: Row) -> str:
    """The people of one cell: the listeners list filtered (when that page exists), else the follow-up list."""
    place = {"group": row.group_id} if row.group_id is not None else {"village": row.village}
    lesson = f"{course.id}/{lesson_id}"
    if "listeners.index" in current_app.view_functions:
        return url_for("listeners.index", lesson=lesson, progress="completed", **place)
    return url_for("completion.followup", lesson=lesson, list="completed", **place)


# --- follow-up lists --------------------------------------------------------------------------------------


def score_under_half(lesson: str) -> ColumnElement[bool]:
    """Completed ``lesson`` (``<course>/<lesson>``) with a best score under half of the questions."""
    course_id, lesson_id = lesson.split("/", 1)
    return exists().where(
        LessonProgress.listener_id == Listener.id,
        LessonProgress.course_id == course_id,
        LessonProgress.lesson_id == lesson_id,
        LessonProgress.status == ProgressStatus.COMPLETED,
        LessonProgress.best_score * 2 < LessonProgress.total,
    )


def list_filter(flt: ListenerFilter, chosen: str) -> tuple[ListenerFilter, list[ColumnElement[bool]]]:
    """The listener filter (and extra clauses) of one follow-up list of ``flt.lesson``."""
    extra = [score_under_half(flt.lesson)] if chosen == "under_half" else []
    return flt.with_(progress=LISTS[chosen]), extra


def list_args(lesson: str, chosen: str) -> dict[str, str]:
    """A follow-up list as the listener filter's arguments (for the listeners list, exports and the API)."""
    out = {"lesson": lesson, "progress": LISTS[chosen]}
    return {**out, "score": "under_half"} if chosen == "under_half" else out


def check_place(user: User, flt: ListenerFilter) -> None:
    """A group the user may not see, or (for an agent) a village with nobody in their scope: 404."""
    visible_group = select(Group.id).where(Group.id == flt.group_id, group_clause(user))
    if flt.group_id is not None and db.session.scalar(visible_group) is None:
        abort(404)
    if flt.village and scoped(user.role):
        place = ListenerFilter(village=flt.village).clauses()
        if not db.session.scalar(select(exists().where(listener_clause(user), *place))):
            abort(404)


def followup_counts(user: User, flt: ListenerFilter) -> dict[str, int]:
    """How many people are in each list, for the lesson and place of ``flt`` (one query)."""
    course_id, lesson_id = flt.lesson.split("/", 1)
    p = LessonProgress
    place = ListenerFilter(village=flt.village, group_id=flt.group_id).clauses()
    completed = p.status == ProgressStatus.COMPLETED
    total, done, started, low = db.session.execute(
        select(
            func.count(Listener.id),
            func.count(case((completed, 1))),
            func.count(case((p.status == ProgressStatus.IN_PROGRESS, 1))),
            func.count(case((and_(completed, p.best_score * 2 < p.total), 1))),
        )
        .select_from(Listener)
        .outerjoin(p, and_(p.listener_id == Listener.id, p.course_id == course_id, p.lesson_id == lesson_id))
        .where(listener_clause(user), *place)
    ).one()
    return {"not_started": total - done - started, "started": started, "under_half": low, "completed": done}


def followup_people(user: User, flt: ListenerFilter, chosen: str, *, after: int | None = None):
    """One page of a follow-up list: (listener, best score, total, attempts) rows and the next page's key."""
    course_id, lesson_id = flt.lesson.split("/", 1)
    list_flt, extra = list_filter(flt.with_(q="", language="", consent=""), chosen)
    p = aliased(LessonProgress)  # not correlated with the filter's own ``exists(lesson_progress ...)``
    query = (
        listeners_query(user, list_flt)
        .add_columns(p.best_score, p.total, p.attempts)
        .outerjoin(p, and_(p.listener_id == Listener.id, p.course_id == course_id, p.lesson_id == lesson_id))
        .where(*extra)
        .limit(PAGE + 1)
    )
    if after is not None:
        query = query.where(Listener.id > after)
    rows = db.session.execute(query).all()
    next_after = rows[PAGE - 1][0].id if len(rows) > PAGE else None
    return rows[:PAGE], next_after


def record_url(listener: Listener) -> str | None:
    """A listener's record page, when that area is installed."""
    if "listeners.show" not in current_app.view_functions:
        return None
    try:
        return url_for("listeners.show", listener_id=listener.id)
    except BuildError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) <= 18 else None
