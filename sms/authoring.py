"""Authoring-time checks of what the SMS line would send: too long a text is an error to fix in
the content, never a text cut short. The integrator wires ``course_problems`` into ``flask content check``.
"""

from __future__ import annotations

from content.loader import Catalog
from content.model import LANGUAGES, Chunk
from engine import AskQuestion, Feedback, LessonIntro, SayChunk
from engine.answers import normalize
from sms.encoding import MessageTooLong, check_length
from sms.keywords import Keywords
from sms.service import render
from sms.texts import keys as text_keys
from sms.texts import text as t


def course_problems(catalog: Catalog, settings, keywords: Keywords | None = None) -> list[str]:
    """Every SMS text the courses would send that is over ``SMS_MAX_SEGMENTS``, and every answer
    option whose first word is a keyword (a listener texting it would trigger the keyword instead)."""
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
                    for text in render(steps, lang):
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
    return problems


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
    "prompt": "...",
    "options": "1) ...",
    "choices": "1, 2 ou 3",
    "score": 9,
    "done": 9,
    "current": "",
    "stop": "DABILA",
}


def _too_long(where: str, text: str, settings) -> list[str]:
    try:
        check_length(text, settings)
    except MessageTooLong as exc:
        return [f"{where}: {exc}"]
    return []
