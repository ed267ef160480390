"""One turn of a lesson for one listener: load the bookmark, run the engine, persist what happened.

Both channels call ``take_turn``; the caller (a route, a CLI command) commits. The listener's row and the
lesson's progress row are locked first and reloaded, so concurrent turns of one listener (two calls, a call
and an SMS) run one after the other and the second sees the first's bookmark. The answer that counts is
recorded once per question and attempt, and a completed run once (unique constraints, not only code); a
completed lesson stays completed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from content.model import POST_TEST, PRE_TEST, Course
from core.db import db
from core.signals import lesson_completed, lesson_started
from core.vocabulary import Channel
from engine import (
    Bookmark,
    Digits,
    Feedback,
    Input,
    LessonComplete,
    LessonIntro,
    Result,
    Text,
    advance,
    start_bookmark,
)
from listeners.models import LessonCompletion, LessonProgress, Listener, ProgressStatus, QuizAnswer
from listeners.service import is_locked, lock_listener

_ROWS = "kalanso.progress.rows"


@event.listens_for(Session, "after_commit")
def _forget_rows(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release fires after_commit too: not the end
        session.info.pop(_ROWS, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rows_on_rollback(session: Session, _previous) -> None:
    session.info.pop(_ROWS, None)


def remember(listener: Listener, rows: Iterable[LessonProgress]) -> None:
    """Progress rows a turn read after locking their listener are current for the rest of the transaction
    (every change to them locks the listener first): ``take_turn`` uses them instead of reading them again."""
    if not is_locked(listener.id):
        return
    cache = db.session.info.setdefault(_ROWS, {})
    for row in rows:
        cache[(row.listener_id, row.course_id, row.lesson_id)] = row


def progress_row(listener: Listener, course_id: str, lesson_id: str, *, lock: bool = False) -> LessonProgress | None:
    query = select(LessonProgress).filter_by(listener_id=listener.id, course_id=course_id, lesson_id=lesson_id)
    if lock:  # reload: an object already in the session may hold what we read before waiting for the lock
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    return db.session.scalars(query).first()


def _get_or_create(listener: Listener, course_id: str, lesson_id: str, now: datetime) -> LessonProgress:
    cached = db.session.info.get(_ROWS, {}).get((listener.id, course_id, lesson_id))
    if cached is not None:
        return cached
    row = progress_row(listener, course_id, lesson_id, lock=True)
    if row is not None:
        remember(listener, [row])
        return row
    row = LessonProgress(listener_id=listener.id, course_id=course_id, lesson_id=lesson_id, bookmark={}, updated_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # another request created it first
        row = progress_row(listener, course_id, lesson_id, lock=True)
        assert row is not None
    remember(listener, [row])
    return row


def current_bookmark(row: LessonProgress | None, course: Course, lesson_id: str) -> Bookmark:
    if row is None or not row.bookmark:
        return start_bookmark(course, lesson_id)
    return Bookmark.from_json(row.bookmark)


def _starts(result: Result, before: Bookmark, channel: Channel) -> bool:
    """Whether this turn is the listener starting the lesson (``core.signals.lesson_started``)."""
    if channel == Channel.VOICE:
        return any(isinstance(step, LessonIntro) for step in result.steps)
    return not before.answers and any(isinstance(step, Feedback) for step in result.steps)


def take_turn(
    listener: Listener, course: Course, lesson_id: str, event: Input, *, channel: Channel, now: datetime
) -> Result:
    """Advance ``listener`` in one lesson by ``event``; record answers and completion (flushed when a run is
    completed; otherwise with the caller's next flush or commit)."""
    lock_listener(listener)
    row = _get_or_create(listener, course.id, lesson_id, now)
    before = current_bookmark(row, course, lesson_id)
    result = advance(course, before, event)
    after = result.bookmark

    for step in result.steps:
        if isinstance(step, Feedback):
            given = event.value if isinstance(event, Digits | Text) else step.chosen.key
            db.session.add(
                QuizAnswer(
                    listener_id=listener.id,
                    course_id=course.id,
                    lesson_id=lesson_id,
                    question_id=step.question.id,
                    answer=given[:200],
                    option_key=step.chosen.key,
                    correct=step.correct,
                    counted=step.question.id not in before.answers,
                    channel=channel,
                    attempt=after.attempt,
                    answered_at=now,
                    lang=listener.language or current_app.config["KALANSO"].default_language,
                )
            )
    if after.started and row.started_at is None:
        row.started_at = now
    if after.started:
        row.attempts = max(row.attempts, after.attempt)
        if row.status == ProgressStatus.NOT_STARTED:
            row.status = ProgressStatus.IN_PROGRESS
    done = result.completion
    if done is not None and done.kind == "posttest":  # tell the listener how far they came since the pre-test
        first = first_score(listener.id, course.id, PRE_TEST)
        if first is not None:
            done = replace(done, before=first.score)
            result = replace(result, steps=tuple(done if isinstance(s, LessonComplete) else s for s in result.steps))
    if done is not None:
        db.session.add(
            LessonCompletion(
                listener_id=listener.id,
                course_id=course.id,
                lesson_id=lesson_id,
                attempt=after.attempt,
                score=done.score,
                total=done.total,
                channel=channel,
                completed_at=now,
            )
        )
        row.score = done.score
        row.total = done.total
        row.best_score = max(done.score, row.best_score or 0)
        if row.status != ProgressStatus.COMPLETED:
            row.status = ProgressStatus.COMPLETED
            row.completed_at = now
            row.completed_channel = channel
    row.bookmark = after.to_json()
    row.channel = channel
    row.updated_at = now
    listener.last_contact_at = now
    if _starts(result, before, channel):
        lesson_started.send(listener, course_id=course.id, lesson_id=lesson_id, channel=channel, now=now)
    if done is not None:  # the completion's unique key is checked now; its receivers read what was written
        db.session.flush()
        lesson_completed.send(
            listener,
            course_id=course.id,
            lesson_id=lesson_id,
            channel=channel,
            now=now,
            first_time=done.first_time,
            score=done.score,
            total=done.total,
        )
    return result


@dataclass(frozen=True)
class Score:
    score: int
    total: int


@dataclass(frozen=True)
class LearningScores:
    """A listener's first pre-test and first post-test of one course (None: not taken): what learning is measured
    by. Later attempts are kept (``LessonCompletion``) but do not count: a second pre-test after the lessons, or a
    post-test taken again after its feedback, no longer measures what the course taught."""

    course_id: str
    pre: Score | None
    post: Score | None

    @property
    def gain(self) -> int | None:
        if self.pre is None or self.post is None:
            return None
        return self.post.score - self.pre.score


def first_score(listener_id: int, course_id: str, lesson_id: str) -> Score | None:
    """The score of a listener's first completed run of a lesson (None if never completed)."""
    row = db.session.execute(
        select(LessonCompletion.score, LessonCompletion.total)
        .where(
            LessonCompletion.listener_id == listener_id,
            LessonCompletion.course_id == course_id,
            LessonCompletion.lesson_id == lesson_id,
        )
        .order_by(LessonCompletion.attempt)
        .limit(1)
    ).first()
    return Score(row.score, row.total) if row is not None else None


def learning_scores(listener_id: int, courses: Iterable[Course]) -> list[LearningScores]:
    """The pre-/post-test scores of a listener in every course that has a test (in one query)."""
    with_tests = [c for c in courses if c.test("pretest") is not None]
    if not with_tests:
        return []
    rows = db.session.execute(
        select(LessonCompletion.course_id, LessonCompletion.lesson_id, LessonCompletion.score, LessonCompletion.total)
        .where(
            LessonCompletion.listener_id == listener_id,
            LessonCompletion.course_id.in_([c.id for c in with_tests]),
            LessonCompletion.lesson_id.in_([PRE_TEST, POST_TEST]),
        )
        .order_by(LessonCompletion.attempt.desc())
    ).all()
    first = {(r.course_id, r.lesson_id): Score(r.score, r.total) for r in rows}  # the lowest attempt wins
    return [LearningScores(c.id, first.get((c.id, PRE_TEST)), first.get((c.id, POST_TEST))) for c in with_tests]
