"""Home: the figures of the user's scope — listeners, active learners this week, lessons completed,
completion by course — and the last calls and SMS.

Fast at a million listeners (``bench/dashboard.py``): for a user who sees everyone the counts read the
progress tables alone, through index-only scans (no join to ``listeners``); for an agent they start from the
listeners in scope (``listener_clause`` served by the place indexes, index-only) and join by ``listener_id``.
The lessons completed and the people per course come from one pass over the completions, grouped by course
and listener first (in the order of ``ix_lesson_completions_course_listener``) rather than ``count(distinct)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, render_template
from sqlalchemy import ColumnElement, Select, distinct, func, select

from accounts.models import User
from accounts.roles import Permission, scoped
from accounts.scope import listener_clause
from content.catalog import get_catalog
from core.db import db
from dashboard.access import me, now, require
from ivr.models import CallSession
from listeners.models import LessonCompletion, LessonProgress, Listener
from sms.models import Message

bp = Blueprint("home", __name__, url_prefix="/dashboard", template_folder="templates")
RECENT = 10
WEEK = timedelta(days=7)


@bp.get("/")
@require(Permission.VIEW)
def index():
    home = figures(me(), now())
    courses = [(c, home.people_by_course.get(c.id, 0)) for c in get_catalog() if c.lessons]
    return render_template("dashboard/home.html", home=home, courses=courses)


@dataclass(frozen=True)
class Figures:
    listeners: int
    active: int  # listeners whose progress moved in the last 7 days
    completed: int  # lessons completed (every completed run)
    people_by_course: dict[str, int]  # course id -> listeners who completed at least one of its lessons
    calls: list  # the latest (CallSession, Listener) pairs
    messages: list  # the latest (Message, Listener) pairs


def figures(user: User, today: datetime) -> Figures:
    """The home page's figures for ``user``'s scope at ``today``."""
    rows = {name: db.session.execute(query).all() for name, query in queries(user, today)}
    by_course = rows["completions by course"]
    return Figures(
        listeners=rows["listeners"][0][0],
        active=rows["active this week"][0][0],
        completed=sum(int(done) for _course, done, _people in by_course),
        people_by_course={course_id: people for course_id, _done, people in by_course},
        calls=[tuple(row) for row in rows["last calls"]],
        messages=[tuple(row) for row in rows["last SMS"]],
    )


def queries(user: User, today: datetime) -> list[tuple[str, Select]]:
    """The home page's queries for ``user`` (named; ``bench/dashboard.py`` prints their plans)."""
    everyone = not scoped(user.role)
    in_scope = listener_clause(user)

    def scoped_to(query: Select, column: ColumnElement) -> Select:
        return query if everyone else query.join(Listener, Listener.id == column).where(in_scope)

    # completed runs per (course, listener), streamed in index order: no sort for count(distinct)
    per_listener = scoped_to(
        select(LessonCompletion.course_id, LessonCompletion.listener_id, func.count().label("runs")).group_by(
            LessonCompletion.course_id, LessonCompletion.listener_id
        ),
        LessonCompletion.listener_id,
    ).subquery()
    return [
        ("listeners", select(func.count()).select_from(Listener).where(in_scope)),
        (
            "active this week",
            scoped_to(
                select(func.count(distinct(LessonProgress.listener_id))).where(
                    LessonProgress.updated_at >= today - WEEK
                ),
                LessonProgress.listener_id,
            ),
        ),
        (
            "completions by course",
            select(per_listener.c.course_id, func.sum(per_listener.c.runs), func.count()).group_by(
                per_listener.c.course_id
            ),
        ),
        (
            "last calls",
            select(CallSession, Listener)
            .join(Listener, Listener.id == CallSession.listener_id)
            .where(in_scope)
            .order_by(CallSession.created_at.desc(), CallSession.id.desc())
            .limit(RECENT),
        ),
        (
            "last SMS",
            select(Message, Listener)
            .join(Listener, Listener.id == Message.listener_id)
            .where(in_scope)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(RECENT),
        ),
    ]
