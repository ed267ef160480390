"""Authoring-time checks of what the SMS line would send, wired into ``flask content check``.

- Too long a text is an error to fix in the content, never a text cut short.
- No course text or answer option may contain an opt-out or opt-in word as a word (a learner answering
  with a lesson's own words must never stop by accident), and no option may start with any keyword.
- ``lesson_costs`` is what one lesson costs by SMS, in segments per language: the lesson walked with
  right answers through the real engine, each turn rendered and packed as the line does.
"""

from __future__ import annotations

from dataclasses import dataclass

from content.loader import Catalog
from content.model import LANGUAGES, Chunk, Course, Lesson, localized_texts
from engine import AskQuestion, Continue, Feedback, Input, LessonIntro, SayChunk, Start, Text, advance, start_bookmark
from engine.answers import normalize
from sms import machine
from sms.encoding import MessageTooLong, check_length, cost
from sms.keywords import CONSENT_ACTIONS, Keywords
from sms.service import keywords, pack, render
from sms.texts import keys as text_keys
from sms.texts import text as t


def course_problems(catalog: Catalog, settings, keywords: Keywords | None = None) -> list[str]:
    """Every SMS text the courses would send that is over ``SMS_MAX_SEGMENTS``, every course text or
    option that contains an opt-out or opt-in word, and every option whose first word is a keyword."""
    problems: list[str] = []
    for course in catalog:
        for lesson in course.lessons:
            questions = lesson.questions
            for lang in LANGUAGES:
                where = f"{course.id} › {lesson.id} [{lang}]"
                parts: list[tuple[str, list]] = [("title", [LessonIntro(lesson.title, resumed=True)])]
                for n, item in enumerate(lesson.items):
                    if isinstance(item, Chunk):
                        parts.append((item.id, [SayChunk(item, n + 1, len(lesson.items))]))
                    else:
                        ask = AskQuestion(item, questions.index(item) + 1, len(questions))
                        parts.append((item.id, [ask]))
                        for option in item.options[:1]:
                            for correct in (True, False):
                                label = "feedback correct" if correct else "feedback wrong"
                                parts.append((f"{item.id}: {label}", [Feedback(item, correct, option)]))
                for label, steps in parts:
                    for text in render(steps, lang, transliterate=settings.sms_transliterate):
                        problems.extend(_too_long(f"{where} › {label}", text, settings))
            if keywords is not None:
                for question in questions:
                    for option in question.options:
                        for lang, label in option.label.items():
                            command = keywords.route(label)
                            if command is not None:
                                first = normalize(label).split()[0]
                                problems.append(
                                    f"{course.id} › {lesson.id} › {question.id}: option {option.key} [{lang}] "
                                    f"starts with the SMS keyword {first.upper()!r} ({command.action})"
                                )
        if keywords is not None:
            problems.extend(consent_word_problems(course, keywords))
    return problems


def consent_word_problems(course: Course, keywords: Keywords) -> list[str]:
    """Every text of a course (titles, chunks, questions, feedback, their SMS texts, options) that contains
    an opt-out or opt-in word as a word: a learner repeating it would stop, or restart, by accident."""
    consent = {word: action for action in CONSENT_ACTIONS for word in keywords.words(action)}
    texts: list[tuple[str, str, str]] = []
    for where, localized in localized_texts(course):
        for lang in LANGUAGES:
            texts.append((where, lang, localized.text(lang)))
            if lang in localized.sms:
                texts.append((f"{where} (sms)", lang, localized.sms[lang]))
    for lesson in course.lessons:
        for question in lesson.questions:
            for option in question.options:
                for lang, label in option.label.items():
                    texts.append((f"{course.id} › {lesson.id} › {question.id}: option {option.key}", lang, label))
    problems = []
    for where, lang, text in texts:
        for word in dict.fromkeys(normalize(text).split()):
            if word in consent:
                kind = "opt-out" if consent[word] == "stop" else "opt-in"
                problems.append(
                    f"{where} [{lang}]: contains the {kind} word {word.upper()!r}: a learner repeating it "
                    f"would {'stop' if kind == 'opt-out' else 'restart'} by accident; use another word "
                    f"(or change SMS_OPT_OUT_WORD_BM / SMS_OPT_IN_WORD_BM)"
                )
    return problems


@dataclass(frozen=True)
class LessonCost:
    course_id: str
    lesson_id: str
    segments: dict[str, int]  # language -> SMS segments for the whole lesson


def lesson_costs(catalog: Catalog, settings) -> list[LessonCost]:
    """What each lesson costs by SMS, per language: intro, chunks, questions, feedback and completion,
    walked with right answers, every turn packed as the line packs it (``SMS_MAX_SEGMENTS``)."""
    courses = tuple(
        machine.CourseEntry(
            c.id, c.title, tuple(machine.LessonEntry(lsn.id, lsn.title, kind=lsn.kind) for lsn in c.lessons)
        )
        for c in catalog
        if c.lessons
    )
    out = []
    for course in catalog:
        for lesson in course.lessons:
            segments = {}
            for lang in LANGUAGES:
                ctx = machine.Context(
                    keywords=Keywords({}),
                    language=lang,
                    default_language=lang,
                    courses=courses,
                    transliterate=settings.sms_transliterate,
                )
                turn = machine.Turn(course.id, lesson.id, Start(), lang)
                total = 0
                for steps in _walk(course, lesson):
                    texts = machine.lesson_replies(ctx, turn, steps)
                    total += sum(cost(sms).segments for sms in pack(texts, settings))
                segments[lang] = total
            out.append(LessonCost(course.id, lesson.id, segments))
    return out


def _walk(course: Course, lesson: Lesson) -> list[list]:
    """The engine's steps for each SMS turn of a lesson answered right: QUIZ, then each answer."""
    bookmark = start_bookmark(course, lesson.id)
    turns = []
    event: Input = Start()
    while True:
        result = advance(course, bookmark, event)
        steps = list(result.steps)
        while result.awaiting == "continue":
            result = advance(course, result.bookmark, Continue())
            steps.extend(result.steps)
        turns.append(steps)
        if result.awaiting is None:
            return turns
        bookmark = result.bookmark
        question = lesson.items[bookmark.index]
        event = Text(question.correct_option.key)


def text_problems(settings) -> list[str]:
    """The SMS line's own texts (``sms/texts.yaml``) over the segment limit."""
    problems = []
    for key in text_keys():
        for lang in LANGUAGES:
            try:
                sample = t(key, lang, **_SAMPLE)
            except (KeyError, IndexError):
                problems.append(f"sms/texts.yaml › {key} [{lang}]: unknown placeholder")
                continue
            problems.extend(_too_long(f"sms/texts.yaml › {key} [{lang}]", sample, settings))
    return problems


_SAMPLE = {
    "list": "1) ...\n2) ...",
    "title": "...",
    "number": 1,
    "total": 9,
    "lessons": 9,
    "prompt": "...",
    "options": "1) ...",
    "choices": "1, 2 ou 3",
    "score": 9,
    "before": 9,
    "done": 9,
    "current": "",
    "stop": "BANNI",
    "start": "SEGINNI",
    "who": "Fatoumata Coulibaly (+2237612****)",
    "courses": "Le travail des enfants 6/6, L'argent 0/6",
    "last": "24/11/2026",
    "village": "Kaniko",
    "listeners": 1234,
    "query": "76123456",
}


def _too_long(where: str, text: str, settings) -> list[str]:
    try:
        check_length(text, settings)
    except MessageTooLong as exc:
        return [f"{where}: {exc}"]
    return []


def catalog_problems(catalog: Catalog) -> list[str]:
    """What the SMS line would refuse in a catalog, with the app's settings and keywords: a reloaded catalog must
    have none (``content.catalog``, registered by ``sms.init_app``), as ``flask content check`` requires."""
    from flask import current_app

    return [f"SMS: {p}" for p in course_problems(catalog, current_app.config["KALANSO"], keywords())]
