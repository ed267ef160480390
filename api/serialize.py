"""Rows as JSON objects: our own words (statuses, channels), times in ISO 8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from campaigns.funnel import campaign_funnel
from campaigns.models import Campaign
from campaigns.service import next_send
from ivr.models import CallSession
from listeners.models import Group, LessonCompletion, LessonProgress, Listener, QuizAnswer
from sms.models import Message


def when(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(UTC) if value.tzinfo else value).isoformat().replace("+00:00", "Z")


def listener(row: Listener) -> dict:
    return {
        "id": row.id,
        "phone": row.phone,
        "name": row.name,
        "village": row.village,
        "commune": row.commune,
        "region": row.region,
        "language": row.language,
        "language_set_by": row.language_set_by,
        "consent_at": when(row.consent_at),
        "consent_channel": row.consent_channel,
        "opted_out": row.opted_out,
        "opted_out_at": when(row.opted_out_at),
        "groups": sorted(g.id for g in row.groups),
        "created_at": when(row.created_at),
        "last_contact_at": when(row.last_contact_at),
    }


def group(row: Group) -> dict:
    return {"id": row.id, "name": row.name, "description": row.description, "created_at": when(row.created_at)}


def progress(row: LessonProgress) -> dict:
    return {
        "id": row.id,
        "listener_id": row.listener_id,
        "course_id": row.course_id,
        "lesson_id": row.lesson_id,
        "status": row.status.value,
        "score": row.score,
        "best_score": row.best_score,
        "total": row.total,
        "attempts": row.attempts,
        "channel": row.channel.value if row.channel else None,
        "started_at": when(row.started_at),
        "completed_at": when(row.completed_at),
        "updated_at": when(row.updated_at),
    }


def completion(row: LessonCompletion) -> dict:
    return {
        "id": row.id,
        "listener_id": row.listener_id,
        "course_id": row.course_id,
        "lesson_id": row.lesson_id,
        "attempt": row.attempt,
        "score": row.score,
        "total": row.total,
        "channel": row.channel.value,
        "completed_at": when(row.completed_at),
    }


def answer(row: QuizAnswer) -> dict:
    return {
        "id": row.id,
        "listener_id": row.listener_id,
        "course_id": row.course_id,
        "lesson_id": row.lesson_id,
        "question_id": row.question_id,
        "answer": row.answer,
        "option_key": row.option_key,
        "correct": row.correct,
        "counted": row.counted,
        "attempt": row.attempt,
        "channel": row.channel.value,
        "answered_at": when(row.answered_at),
    }


def call(row: CallSession) -> dict:
    return {
        "id": row.id,
        "listener_id": row.listener_id,
        "direction": row.direction.value,
        "status": row.status.value,
        "path": [{"at": step[0], "node": step[1]} for step in row.path or [] if len(step) >= 2],
        "duration_seconds": row.duration_seconds,
        "created_at": when(row.created_at),
        "answered_at": when(row.answered_at),
        "ended_at": when(row.ended_at),
    }


def message(row: Message) -> dict:
    return {
        "id": row.id,
        "listener_id": row.listener_id,
        "direction": row.direction.value,
        "body": row.body,
        "status": row.status.value,
        "purpose": row.purpose,
        "segments": row.segments,
        "created_at": when(row.created_at),
        "sent_at": when(row.sent_at),
        "delivered_at": when(row.delivered_at),
    }


def campaign(row: Campaign, settings, now: datetime, *, detail: bool = False) -> dict:
    """A campaign with its next send time and its funnel (``campaigns.funnel``: the page's and the CLI's numbers);
    the list gives the stages and the completion, one campaign gives the whole funnel."""
    funnel = campaign_funnel(row, settings)
    figures = funnel.as_dict()
    out = {
        "id": row.id,
        "name": row.name,
        "channel": row.channel.value,
        "state": row.state.value,
        "schedule_kind": row.schedule_kind.value,
        "lesson": f"{row.course_id}/{row.lesson_id}" if row.lesson_id else None,
        "next_send": when(next_send(row, settings, now)),
        "created_at": when(row.created_at),
        "funnel": figures if detail else {k: figures[k] for k in ("stages", "expected_audience", "open", "completion")},
    }
    if detail:
        out.update(
            message=row.message or None,
            audience=row.audience,
            schedule=row.schedule,
            calling_window=row.calling_window or settings.calling_window,
            blocked_days=row.blocked_days,
            max_retries=row.max_retries,
            sms_fallback=row.sms_fallback,
            started_at=when(row.started_at),
        )
    return out
