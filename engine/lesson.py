"""The learning engine: ``advance(course, bookmark, input) -> Result(steps, bookmark, awaiting)``.

Pure and total: it never touches a database, a network or a clock, and it answers every input,
even one that makes no sense where the listener stands. Conventions (DESIGN.md, voice line):
``1``–``9`` choose, ``*`` repeats, ``0`` goes back; no input at a question prompts again up to
twice, then ends; an invalid input says so and asks again (it counts as a miss too). In a course's pre-test
the answers are taken without saying whether they are right (``Feedback.reveal``); the score comes at the end.
"""

from __future__ import annotations

from content.model import Chunk, Course, Lesson
from engine.answers import parse_choice
from engine.types import (
    AskQuestion,
    Bookmark,
    Continue,
    Digits,
    End,
    Feedback,
    HangUp,
    Input,
    Invalid,
    LessonComplete,
    LessonIntro,
    NoInput,
    Result,
    SayChunk,
    Start,
    Step,
    Text,
    Timeout,
)

MAX_MISSES = 3
"""The third consecutive miss (no input or invalid input) at one prompt ends the session."""

REPEAT = "*"
BACK = "0"
CONTINUE_KEYS = frozenset({"1", "#"})


def start_bookmark(course: Course, lesson_id: str) -> Bookmark:
    course.lesson(lesson_id)  # KeyError for an unknown lesson
    return Bookmark(course_id=course.id, lesson_id=lesson_id)


def advance(course: Course, bookmark: Bookmark, event: Input) -> Result:
    """The steps that answer ``event`` and the bookmark to keep."""
    lesson = course.lesson(bookmark.lesson_id)
    if isinstance(event, HangUp):
        return _end(bookmark.but(misses=0), "hangup")
    if bookmark.index >= len(lesson.items):
        if isinstance(event, Start):  # a finished run: start the lesson again, as a new attempt
            fresh = Bookmark(
                course_id=course.id,
                lesson_id=lesson.id,
                started=True,
                completed=bookmark.completed,
                attempt=bookmark.attempt + 1,
            )
            return _present(lesson, fresh, [LessonIntro(lesson.title, resumed=False)])
        return _end(bookmark, "completed")
    if isinstance(event, Start) or not bookmark.started:
        resumed = bookmark.started and (bookmark.index > 0 or bool(bookmark.answers))
        return _present(lesson, bookmark.but(started=True, misses=0), [LessonIntro(lesson.title, resumed)])
    item = lesson.items[bookmark.index]
    if isinstance(item, Chunk):
        return _at_chunk(lesson, bookmark, event)
    return _at_question(lesson, bookmark, event)


def _at_chunk(lesson: Lesson, bm: Bookmark, event: Input) -> Result:
    if isinstance(event, Continue | Timeout):
        return _next(lesson, bm, [])
    raw = event.value.strip() if isinstance(event, Digits | Text) else ""
    if raw == REPEAT:
        return _present(lesson, bm.but(misses=0), [])
    if raw == BACK:
        return _back(lesson, bm)
    if isinstance(event, Text) or raw in CONTINUE_KEYS:
        return _next(lesson, bm, [])
    return _miss(lesson, bm, Invalid(raw), present_again=False)


def _at_question(lesson: Lesson, bm: Bookmark, event: Input) -> Result:
    question = lesson.items[bm.index]
    assert not isinstance(question, Chunk)
    if isinstance(event, Continue):
        return _present(lesson, bm, [])
    if isinstance(event, Timeout):
        return _miss(lesson, bm, NoInput(bm.misses + 1), present_again=True)
    raw = event.value.strip()
    if raw == REPEAT:
        return _present(lesson, bm.but(misses=0), [])
    if raw == BACK:
        return _back(lesson, bm)
    if isinstance(event, Digits):
        chosen = next((o for o in question.options if o.key == raw), None)
    else:
        chosen = parse_choice(raw, question.options)
    if chosen is None:
        return _miss(lesson, bm, Invalid(raw), present_again=True)
    answers, score = bm.answers, bm.score
    if question.id not in answers:  # the first answer in a run is the one that counts
        answers = {**answers, question.id: chosen.key}
        score += chosen.correct
    feedback = Feedback(question, chosen.correct, chosen, reveal=lesson.kind != "pretest")
    return _next(lesson, bm.but(answers=answers, score=score), [feedback])


def _miss(lesson: Lesson, bm: Bookmark, why: Invalid | NoInput, *, present_again: bool) -> Result:
    misses = bm.misses + 1
    if misses >= MAX_MISSES:
        return Result((why, End("no_input")), bm.but(misses=0), None)
    bm = bm.but(misses=misses)
    if present_again:
        return _present(lesson, bm, [why])
    return Result((why,), bm, _awaiting(lesson, bm))


def _back(lesson: Lesson, bm: Bookmark) -> Result:
    if bm.index == 0:
        return _end(bm.but(misses=0), "back")
    return _present(lesson, bm.but(index=bm.index - 1, misses=0), [])


def _next(lesson: Lesson, bm: Bookmark, prefix: list[Step]) -> Result:
    bm = bm.but(index=bm.index + 1, misses=0)
    if bm.index < len(lesson.items):
        return _present(lesson, bm, prefix)
    done = LessonComplete(score=bm.score, total=len(lesson.questions), first_time=not bm.completed, kind=lesson.kind)
    return Result((*prefix, done, End("completed")), bm.but(completed=True), None)


def _present(lesson: Lesson, bm: Bookmark, prefix: list[Step]) -> Result:
    item = lesson.items[bm.index]
    if isinstance(item, Chunk):
        step: Step = SayChunk(item, bm.index + 1, len(lesson.items))
    else:
        questions = lesson.questions
        step = AskQuestion(item, questions.index(item) + 1, len(questions))
    return Result((*prefix, step), bm, _awaiting(lesson, bm))


def _awaiting(lesson: Lesson, bm: Bookmark):
    return "continue" if isinstance(lesson.items[bm.index], Chunk) else "answer"


def _end(bm: Bookmark, reason) -> Result:
    return Result((End(reason),), bm, None)
