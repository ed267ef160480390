"""Audiences: which listeners a campaign reaches. Opted-out listeners are never in an audience.

A filter, as stored in ``Campaign.audience`` (every key optional; lists mean "any of"):
``{"groups": ["coop-koutiala"], "language": "bm", "region": ["Sikasso"], "commune": [...],
"village": [...], "not_completed": "money/saving-a-little", "completed": "child-labour/what-is-child-labour",
"joined_after": "2026-11-01"}``
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, select

from core.db import db
from listeners.models import Group, LessonProgress, Listener, ProgressStatus, listener_groups

KEYS = {"groups", "language", "region", "commune", "village", "not_completed", "completed", "joined_after"}


class AudienceError(ValueError):
    pass


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value]


def _lesson_ref(value: Any, key: str) -> tuple[str, str]:
    text = str(value or "")
    if text.count("/") != 1 or not all(text.split("/")):
        raise AudienceError(f"audience.{key}: expected course/lesson, got {value!r}")
    course_id, lesson_id = text.split("/")
    return course_id, lesson_id


def validate(spec: dict[str, Any] | None) -> dict[str, Any]:
    spec = dict(spec or {})
    unknown = set(spec) - KEYS
    if unknown:
        raise AudienceError(
            f"audience: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(KEYS))})"
        )
    out: dict[str, Any] = {}
    for key in ("groups", "region", "commune", "village"):
        if spec.get(key):
            out[key] = _as_list(spec[key])
    if spec.get("language"):
        if spec["language"] not in ("bm", "fr"):
            raise AudienceError(f"audience.language must be bm or fr, got {spec['language']!r}")
        out["language"] = spec["language"]
    for key in ("not_completed", "completed"):
        if spec.get(key):
            _lesson_ref(spec[key], key)
            out[key] = str(spec[key])
    if spec.get("joined_after"):
        try:
            out["joined_after"] = date.fromisoformat(str(spec["joined_after"])).isoformat()
        except ValueError as exc:
            raise AudienceError(f"audience.joined_after: expected YYYY-MM-DD, got {spec['joined_after']!r}") from exc
    return out


def _completed(course_id: str, lesson_id: str):
    return exists().where(
        and_(
            LessonProgress.listener_id == Listener.id,
            LessonProgress.course_id == course_id,
            LessonProgress.lesson_id == lesson_id,
            LessonProgress.status == ProgressStatus.COMPLETED,
        )
    )


def audience_query(spec: dict[str, Any] | None) -> Select:
    """``SELECT listeners.id`` for the filter, opted-out listeners excluded, in id order."""
    spec = validate(spec)
    query = select(Listener.id).where(Listener.opted_out.is_(False))
    if spec.get("groups"):
        in_groups = (
            select(listener_groups.c.listener_id)
            .join(Group, Group.id == listener_groups.c.group_id)
            .where(func.lower(Group.name).in_([g.lower() for g in spec["groups"]]))
        )
        query = query.where(Listener.id.in_(in_groups))
    if spec.get("language"):
        query = query.where(Listener.language == spec["language"])
    for key, column in (("region", Listener.region), ("commune", Listener.commune), ("village", Listener.village)):
        if spec.get(key):
            query = query.where(func.lower(column).in_([v.lower() for v in spec[key]]))
    if spec.get("not_completed"):
        query = query.where(~_completed(*_lesson_ref(spec["not_completed"], "not_completed")))
    if spec.get("completed"):
        query = query.where(_completed(*_lesson_ref(spec["completed"], "completed")))
    if spec.get("joined_after"):
        start = datetime.combine(date.fromisoformat(spec["joined_after"]), datetime.min.time(), tzinfo=UTC)
        query = query.where(Listener.created_at >= start)
    return query.order_by(Listener.id)


def audience_ids(spec: dict[str, Any] | None, batch: int = 1000) -> Iterator[int]:
    """Stream the listener ids of an audience, ``batch`` at a time (memory does not grow with size)."""
    last = 0
    base = audience_query(spec)
    while True:
        ids = db.session.scalars(base.where(Listener.id > last).limit(batch)).all()
        if not ids:
            return
        yield from ids
        last = ids[-1]


def audience_size(spec: dict[str, Any] | None) -> int:
    return db.session.scalar(select(func.count()).select_from(audience_query(spec).order_by(None).subquery()))
