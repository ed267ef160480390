"""The SMS line's conversation as a small pure machine (no Flask, database or provider here).

``receive(state, ctx, text)`` answers one incoming text with an ``Outcome``: the replies (texts, and at
most one ``Turn`` of a lesson for the service to run in the engine), the effects for the service to carry
out (opt out, opt in, set the language) and the purpose of the replies. When the service has run a turn,
``lesson_replies(ctx, turn, steps)`` says what to send for the engine's steps. Everything the line says
comes from ``sms/texts.yaml``; the keywords, including the words that choose a language, from
``sms/keywords.yaml`` (``ctx.keywords``).

The SMS line keeps no state of its own: the service reads it from the listener's rows at every text
(``state``: ``{"node": "idle"}``, ``{"node": "lesson", "course_id", "lesson_id", "at_chunk"}`` for a run
started and unfinished, ``{"node": "done", "course_id", "lesson_id"}`` when the last run finished), so a
lesson started by voice goes on by SMS.

Rules: an opt-out word (first word) wins over everything, even mid-quiz, and is confirmed once; an
opted-out listener gets the opt-in confirmation for an opt-in word, otherwise at most one short hint a
day (``ctx.resume_hint_due``) and nothing else. ``LANGUE 1`` is Bambara and ``LANGUE 2`` French, as on
the voice line. Outside a lesson a number or a letter (``1``/``a``) picks a course; after a lesson
``QUIZ`` starts the next one, and a finished course leads to the next course.

``SUIVI`` (a field agent's follow-up figures) is answered here only for the figures the service loaded for an
active dashboard user (``suivi_query``, ``suivi_reply``); from anyone else it is an ordinary text, as if it were
no keyword: a listener learns nothing, not even that the word means something.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from content.model import Localized
from core.vocabulary import Purpose
from engine import (
    AskQuestion,
    End,
    Feedback,
    Input,
    Invalid,
    LessonComplete,
    LessonIntro,
    SayChunk,
    Start,
    Step,
    Text,
)
from engine.answers import normalize
from sms.encoding import cost, for_sms
from sms.keywords import Keywords
from sms.texts import text as t

MAX_REPLIES = 3  # texts in one outcome, besides at most one lesson turn
# A course finished, in a list: "(ok)" is GSM-7 (a "✓" would turn the whole list into UCS-2, halving what
# fits in an SMS), costs 5 characters and is read the same in French and Bambara; "*" is the repeat key.
DONE_MARK = "(ok)"
LETTERS = "abcdefgh"  # letters pick list items like digits: a = 1, b = 2...


# --- what the machine knows -------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonEntry:
    id: str
    title: Localized
    done: bool = False  # completed at least once
    kind: str = "lesson"  # lesson | pretest | posttest (content.model.LESSON_KINDS)


@dataclass(frozen=True)
class CourseEntry:
    id: str
    title: Localized
    lessons: tuple[LessonEntry, ...]

    @property
    def done(self) -> int:
        """Lessons done, the pre-test and the post-test aside (they measure; they are not the course)."""
        return sum(lesson.done for lesson in self.lessons if lesson.kind == "lesson")

    @property
    def teaching(self) -> int:
        """Lessons in the course, the pre-test and the post-test aside."""
        return sum(lesson.kind == "lesson" for lesson in self.lessons)

    def lesson(self, lesson_id: str | None) -> LessonEntry | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)

    def to_offer(self, lesson: LessonEntry) -> bool:
        """Whether to lead a listener to this lesson: not done yet, and not a pre-test once a lesson of the course
        is done (it would no longer measure what the listener knew before)."""
        if lesson.done:
            return False
        return lesson.kind != "pretest" or not any(x.done for x in self.lessons if x.kind == "lesson")


@dataclass(frozen=True)
class Context:
    keywords: Keywords
    language: str | None  # None until known (a first text)
    default_language: str
    courses: tuple[CourseEntry, ...]  # courses with lessons, in catalog order, with the lessons done
    opted_out: bool = False
    first_contact: bool = False  # no text received from this listener before this one
    resume_hint_due: bool = False  # opted out and not told how to resume in the last 24 hours
    score: int = 0  # right answers in completed lessons
    total: int = 0  # questions in completed lessons
    stop_word: str = "BANNI"  # the Bambara opt-out and opt-in words, as the texts say them
    start_word: str = "SEGINNI"
    transliterate: bool = True  # SMS_TRANSLITERATE: decides what fits in one SMS

    def course(self, course_id: str | None) -> CourseEntry | None:
        return next((c for c in self.courses if c.id == course_id), None)


# --- what the machine answers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """Run one lesson turn in the engine (the service continues past chunks), then ``lesson_replies``."""

    course_id: str
    lesson_id: str
    event: Input
    lang: str


@dataclass(frozen=True)
class SetLanguage:
    lang: str
    chosen: bool = True  # False: the default language given to a first text that did not choose one


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class OptIn:
    pass


Effect = SetLanguage | OptOut | OptIn
Reply = str | Turn


@dataclass(frozen=True)
class Outcome:
    replies: tuple[Reply, ...] = ()
    effects: tuple[Effect, ...] = ()
    purpose: Purpose = Purpose.REPLY


# --- the incoming text ------------------------------------------------------------------------------


def receive(state: dict[str, Any], ctx: Context, text: str) -> Outcome:
    """Answer one incoming text. Never raises on any text."""
    command = ctx.keywords.route(text)
    if command is not None and command.action == "suivi":
        command = None  # SUIVI reaches the machine only from someone who is no agent: an ordinary text
    action = command.action if command else None
    args = command.args if command else ()
    lang = ctx.language or (command.language if command else None) or ctx.default_language
    chose = bool(command and command.language)
    effects: tuple[Effect, ...] = () if ctx.language else (SetLanguage(lang, chosen=chose),)

    if action == "stop":
        if ctx.opted_out:  # confirmed once: a second opt-out word gets nothing
            return Outcome((), effects, Purpose.OPT_OUT_CONFIRMATION)
        said = t("stopped", lang, start=ctx.start_word)
        return Outcome((said,), (*effects, OptOut()), Purpose.OPT_OUT_CONFIRMATION)
    if ctx.opted_out:
        if action == "start":
            return Outcome((t("restarted", lang),), (*effects, OptIn()), Purpose.OPT_IN_CONFIRMATION)
        hint = (t("resume_hint", lang, start=ctx.start_word),) if ctx.resume_hint_due else ()
        return Outcome(hint, effects, Purpose.RESUME_HINT)

    node = state.get("node") or "idle"
    if action in ("quiz", "start"):
        replies = _quiz(state, ctx, lang, args)
    elif action == "help":
        replies = (t("help", lang, stop=ctx.stop_word),)
    elif action == "language":
        wanted = ctx.keywords.language_of(args[0]) if args else None
        if wanted is None and ctx.language is None:
            wanted = lang  # a first text "KAN" or "LANGUE" has just chosen the keyword's language
        wanted = wanted or ("fr" if lang == "bm" else "bm")
        effects = (SetLanguage(wanted),)
        replies = (t("language_set", wanted),)
        if node == "lesson":  # go on with the lesson, in the new language
            replies += (Turn(state["course_id"], state["lesson_id"], Start(), wanted),)
    elif action == "progress":
        replies = (_progress(state, ctx, lang),)
    elif node == "lesson":
        event: Input = Start() if state.get("at_chunk") else Text(text or "")
        replies = (Turn(state["course_id"], state["lesson_id"], event, lang),)
    else:
        words = normalize(text or "").split()
        course = _pick(ctx, words[0], by_id=False) if len(words) == 1 else None
        if course is not None:
            replies = (_start_course(course, lang),)
        elif ctx.first_contact:
            replies = (t("welcome", lang), _course_list(ctx, lang))
        else:
            replies = (t("no_lesson", lang),)
    return Outcome(replies, effects, Purpose.REPLY)


def lesson_replies(ctx: Context, turn: Turn, steps: list[Step]) -> list[str]:
    """The texts for what the engine answered a turn; after a completed lesson, what comes next."""
    out = render(steps, turn.lang, transliterate=ctx.transliterate)
    if any(isinstance(s, LessonComplete) for s in steps):
        out.append(_what_next(ctx, turn.course_id, turn.lesson_id, turn.lang))
    return out


# --- keywords ----------------------------------------------------------------------------------------


def _quiz(state: dict[str, Any], ctx: Context, lang: str, args: tuple[str, ...]) -> tuple[Reply, ...]:
    node = state.get("node") or "idle"
    if args:
        course = _pick(ctx, args[0], by_id=True)
        if course is None:
            return (t("unknown_course", lang),)
        return (_start_course(course, lang),)
    if node == "lesson":
        return (Turn(state["course_id"], state["lesson_id"], Start(), lang),)
    if node == "done":
        target = _next_lesson(ctx, state.get("course_id"), state.get("lesson_id"))
        if target is not None:
            return (Turn(target[0], target[1], Start(), lang),)
    return (_course_list(ctx, lang),)


def _progress(state: dict[str, Any], ctx: Context, lang: str) -> str:
    current = ""
    course = ctx.course(state.get("course_id")) if state.get("node") == "lesson" else None
    lesson = course.lesson(state.get("lesson_id")) if course else None
    if lesson is not None:
        current = t("progress_current", lang, title=lesson.title.text(lang))
    done = sum(c.done for c in ctx.courses)
    if not done:
        return t("progress_none", lang, current=current)
    lessons = sum(c.teaching for c in ctx.courses)
    return t("progress", lang, done=done, lessons=lessons, score=ctx.score, total=ctx.total, current=current)


# --- courses and lessons -------------------------------------------------------------------------------


def _pick(ctx: Context, word: str, *, by_id: bool) -> CourseEntry | None:
    """The course a word names: its number (``2``), letter (``b``) or, after QUIZ, its id (``money``)."""
    word = normalize(word or "")
    n = None
    if word.isascii() and word.isdigit() and len(word) <= 2:
        n = int(word)
    elif len(word) == 1 and word in LETTERS:
        n = LETTERS.index(word) + 1
    if n is not None:
        return ctx.courses[n - 1] if 1 <= n <= len(ctx.courses) else None
    if by_id:
        return next((c for c in ctx.courses if normalize(c.id) == word), None)
    return None


def _course_list(ctx: Context, lang: str) -> str:
    if not ctx.courses:
        return t("no_courses", lang)
    lines = []
    for n, course in enumerate(ctx.courses, start=1):
        if course.done == course.teaching:
            mark = f" {DONE_MARK}"
        elif course.done:
            mark = f" ({course.done}/{course.teaching})"
        else:
            mark = ""
        lines.append(f"{n}) {course.title.text(lang)}{mark}")
    return t("courses", lang, list="\n".join(lines))


def _start_course(course: CourseEntry, lang: str) -> Turn:
    """The course's first lesson not done yet (or its first lesson again, as a new attempt)."""
    first = next((lesson for lesson in course.lessons if lesson.kind == "lesson"), course.lessons[0])
    lesson = next((lesson for lesson in course.lessons if course.to_offer(lesson)), first)
    return Turn(course.id, lesson.id, Start(), lang)


def _next_lesson(ctx: Context, course_id: str | None, lesson_id: str | None) -> tuple[str, str] | None:
    """After ``lesson_id``: the next lesson not done in its course (in order, then from the start), else
    the first lesson not done of the next course with one; None when every lesson is done."""
    course = ctx.course(course_id)
    if course is not None:
        at = next((n for n, lesson in enumerate(course.lessons) if lesson.id == lesson_id), -1)
        ordered = course.lessons[at + 1 :] + course.lessons[: at + 1]
        lesson = next((lesson for lesson in ordered if course.to_offer(lesson) and lesson.id != lesson_id), None)
        if lesson is not None:
            return course.id, lesson.id
    at = next((n for n, c in enumerate(ctx.courses) if c.id == course_id), -1)
    for other in ctx.courses[at + 1 :] + ctx.courses[: at + 1]:
        if other.id == course_id:
            continue
        lesson = next((lesson for lesson in other.lessons if other.to_offer(lesson)), None)
        if lesson is not None:
            return other.id, lesson.id
    return None


def _what_next(ctx: Context, course_id: str, lesson_id: str, lang: str) -> str:
    target = _next_lesson(ctx, course_id, lesson_id)
    if target is None:
        return t("all_done", lang)
    course = ctx.course(target[0])
    assert course is not None
    if target[0] == course_id:
        lesson = course.lesson(target[1])
        assert lesson is not None
        return t("next_lesson", lang, title=lesson.title.text(lang))
    return t("course_done", lang, title=course.title.text(lang))


# --- rendering the engine's steps ---------------------------------------------------------------------


def choices(question, lang: str) -> str:
    keys = [o.key for o in question.options]
    return keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} {t('or', lang)} {keys[-1]}"


# A question's text is written for the voice line too, so it says its keys ("Pour oui, tapez 1." /
# "Ni a ye ɔwɔ ye, i ka 1 digi.", enforced by tests/test_curriculum.py). By SMS the numbered options
# follow the question, so those sentences are left out: shorter, cheaper, not said twice.
_KEY_SENTENCE = re.compile(r"[^.?!]*\b(?:tapez \d|i ka \d digi)\b[^.?!]*[.?!]\s*", re.IGNORECASE)


def sms_prompt(text: str) -> str:
    return _KEY_SENTENCE.sub("", text).strip() or text


def _options(step: AskQuestion, lang: str) -> str:
    return "\n".join(f"{o.key}) {o.label[lang]}" for o in step.options)


def render_question(step: AskQuestion, lang: str) -> str:
    return t(
        "question",
        lang,
        number=step.number,
        total=step.total,
        prompt=sms_prompt(step.question.prompt.sms_text(lang)),
        options=_options(step, lang),
        choices=choices(step.question, lang),
    )


def unclear_hint(step: AskQuestion, lang: str, *, transliterate: bool = True) -> str:
    """One SMS for an answer not understood: the options only; without them if they do not fit."""
    hint = t("unclear", lang, choices=choices(step.question, lang), options=_options(step, lang))
    if cost(for_sms(hint, transliterate=transliterate)).segments == 1:
        return hint
    return t("unclear_short", lang, choices=choices(step.question, lang))


def render(steps: list[Step], lang: str, *, transliterate: bool = True) -> list[str]:
    """The engine's steps as SMS texts (one part per step that says something). An answer not understood
    gets the one-SMS hint, not the question again (the question that follows it is left out)."""
    out: list[str] = []
    skip_question = False
    for n, step in enumerate(steps):
        if isinstance(step, LessonIntro):
            out.append(t("lesson_resumed" if step.resumed else "lesson_intro", lang, title=step.title.text(lang)))
        elif isinstance(step, SayChunk):
            out.append(step.chunk.body.sms_text(lang))
        elif isinstance(step, AskQuestion):
            if not skip_question:
                out.append(render_question(step, lang))
            skip_question = False
        elif isinstance(step, Feedback):  # a pre-test takes the answer without saying whether it is right
            out.append(step.text.sms_text(lang) if step.reveal else t("answer_noted", lang))
        elif isinstance(step, Invalid):
            ask = next((s for s in steps[n:] if isinstance(s, AskQuestion)), None)
            if ask is not None:
                out.append(unclear_hint(ask, lang, transliterate=transliterate))
                skip_question = True
            else:
                out.append(t("unclear_short", lang, choices="1, 2"))
        elif isinstance(step, LessonComplete):
            out.append(_completion(step, lang))
        elif isinstance(step, End):
            pass
    return out


def _completion(step: LessonComplete, lang: str) -> str:
    if step.kind == "pretest":
        return t("test_complete_pre", lang, score=step.score, total=step.total)
    if step.kind == "posttest":
        said = t("test_complete_post", lang, score=step.score, total=step.total)
        return said if step.before is None else f"{said} {t('test_before', lang, before=step.before)}"
    return t("complete", lang, score=step.score, total=step.total)


# --- SUIVI: a field agent's follow-up figures ----------------------------------------------------------

SUIVI_NAME_MAX = 30  # characters of a name or village kept in the reply (one SMS)
_PHONE_LIKE = re.compile(r"[\d\s().+\-/]+")


@dataclass(frozen=True)
class CourseCount:
    title: Localized
    done: int  # lessons done (one listener), or listeners who finished every lesson (a village)
    lessons: int  # lessons in the course


@dataclass(frozen=True)
class ListenerFigures:
    name: str
    phone: str  # masked
    courses: tuple[CourseCount, ...]
    last_activity: date | None


@dataclass(frozen=True)
class VillageFigures:
    village: str
    listeners: int
    courses: tuple[CourseCount, ...]


def suivi_query(text: str) -> tuple[str, str]:
    """What ``SUIVI ...`` asks: ("phone", the number as typed), ("village", the name) or ("none", "")."""
    parts = (text or "").strip().split(None, 1)
    rest = " ".join(parts[1].split()) if len(parts) > 1 else ""
    if not rest:
        return "none", ""
    return ("phone" if _PHONE_LIKE.fullmatch(rest) else "village"), rest


def suivi_reply(
    found: ListenerFigures | VillageFigures | None, query: str, lang: str, *, transliterate: bool = True
) -> str:
    """The one SMS answering ``SUIVI <query>``: the figures, or "nothing found" (the same words whether nobody
    has it or it is outside the agent's area), or how to ask. Course titles are cut, then left out for their
    numbers, until it fits in one SMS."""
    if not query:
        return t("suivi_usage", lang)
    if found is None:
        return t("suivi_not_found", lang, query=_cut(query))
    variants = [_suivi_text(found, lang, title_max) for title_max in (None, 12, 0)]
    for text in variants:
        if cost(for_sms(text, transliterate=transliterate)).segments == 1:
            return text
    return variants[-1]


def _cut(text: str, limit: int = SUIVI_NAME_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "."


def _suivi_text(found: ListenerFigures | VillageFigures, lang: str, title_max: int | None) -> str:
    def title(n: int, course: CourseCount) -> str:
        if title_max == 0:
            return f"{n})"
        return _cut(course.title.text(lang), title_max or 200)

    if isinstance(found, ListenerFigures):
        courses = ", ".join(f"{title(n, c)} {c.done}/{c.lessons}" for n, c in enumerate(found.courses, start=1))
        who = f"{_cut(found.name)} ({found.phone})" if found.name else found.phone
        last = found.last_activity.strftime("%d/%m/%Y") if found.last_activity else t("suivi_no_activity", lang)
        return t("suivi_listener", lang, who=who, courses=courses, last=last)
    courses = ", ".join(f"{title(n, c)} {c.done}" for n, c in enumerate(found.courses, start=1))
    return t("suivi_village", lang, village=_cut(found.village), listeners=found.listeners, courses=courses)
