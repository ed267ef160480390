"""Home: the figures of the user's scope — listeners, active learners this week, lessons completed,
completion by course — and the last calls and SMS."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from sqlalchemy import distinct, func, select

from accounts.roles import Permission
from content.catalog import get_catalog
from core.db import db
from dashboard.access import now, require, scope
from ivr.models import CallSession
from listeners.models import LessonCompletion, LessonProgress, Listener
from sms.models import Message

bp = Blueprint("home", __name__, url_prefix="/dashboard", template_folder="templates")
RECENT = 10


@bp.get("/")
@require(Permission.VIEW)
def index():
    today = now()
    in_scope = scope()
    listeners = db.session.scalar(select(func.count()).select_from(Listener).where(in_scope))
    active = db.session.scalar(
        select(func.count(distinct(LessonProgress.listener_id)))
        .join(Listener, Listener.id == LessonProgress.listener_id)
        .where(in_scope, LessonProgress.updated_at >= today - timedelta(days=7))
    )
    completed = db.session.scalar(
        select(func.count())
        .select_from(LessonCompletion)
        .join(Listener, Listener.id == LessonCompletion.listener_id)
        .where(in_scope)
    )
    by_course = dict(
        db.session.execute(
            select(LessonCompletion.course_id, func.count(distinct(LessonCompletion.listener_id)))
            .join(Listener, Listener.id == LessonCompletion.listener_id)
            .where(in_scope)
            .group_by(LessonCompletion.course_id)
        ).all()
    )
    courses = [(c, by_course.get(c.id, 0)) for c in get_catalog() if c.lessons]
    calls = db.session.execute(
        select(CallSession, Listener)
        .join(Listener, Listener.id == CallSession.listener_id)
        .where(in_scope)
        .order_by(CallSession.created_at.desc(), CallSession.id.desc())
        .limit(RECENT)
    ).all()
    messages = db.session.execute(
        select(Message, Listener)
        .join(Listener, Listener.id == Message.listener_id)
        .where(in_scope)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(RECENT)
    ).all()
    return render_template(
        "dashboard/home.html",
        listeners=listeners,
        active=active,
        completed=completed,
        courses=courses,
        calls=calls,
        messages=messages,
    )
