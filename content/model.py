"""Course content as plain, immutable data.

Pure: no Flask, no database, no provider. The loader (``content.loader``) builds these objects from
YAML; the learning engine (``engine``) walks them; channels render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LANGUAGES: tuple[str, ...] = ("bm", "fr")
"""Every text exists in each of these languages (Bambara, French)."""

Language = Literal["bm", "fr"]
REVIEW_STATES: tuple[str, ...] = ("draft", "reviewed")
LESSON_KINDS: tuple[str, ...] = ("lesson", "pretest", "posttest")
"""A lesson teaches; a course's pre-test and post-test ask the same questions before and after it (scored; the
pre-test gives no feedback). ``content.loader`` builds both tests from a course file's ``test:`` block."""
PRE_TEST, POST_TEST = "pre-test", "post-test"  # the tests' lesson ids, reserved in every course


@dataclass(frozen=True)
class Localized:
    """One text in every language, plus the recording that speaks it.

    ``audio`` maps a language to a recording *stem*: a path under ``content/audio/<lang>/`` without
    its extension (``.wav`` or ``.mp3`` both count). ``sms`` holds, for some languages, a shorter text
    that the SMS line sends instead (the voice line always says ``texts``).
    """

    texts: dict[str, str]
    audio: dict[str, str]
    sms: dict[str, str] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return self.texts[lang]

    def sms_text(self, lang: str) -> str:
        """What the SMS line sends: the shorter ``sms`` text when there is one, else the text."""
        return self.sms.get(lang) or self.texts[lang]

    def recording(self, lang: str) -> str:
        return self.audio[lang]


@dataclass(frozen=True)
class Option:
    key: str  # "1".."4": what a listener presses or texts
    label: dict[str, str]  # language -> text; spoken inside the question's recording
    correct: bool


@dataclass(frozen=True)
class Chunk:
    id: str
    body: Localized
    kind: Literal["chunk"] = "chunk"
    native_review: tuple[str, ...] = ()  # what a native reader must check in the Bambara (``native_review:``)


@dataclass(frozen=True)
class Question:
    id: str
    prompt: Localized  # its recording reads the question and its numbered options
    options: tuple[Option, ...]
    feedback_correct: Localized
    feedback_wrong: Localized
    kind: Literal["question"] = "question"
    native_review: tuple[str, ...] = ()

    @property
    def correct_option(self) -> Option:
        return next(o for o in self.options if o.correct)


Item = Chunk | Question


@dataclass(frozen=True)
class Lesson:
    id: str
    title: Localized
    items: tuple[Item, ...]
    review: dict[str, str] = field(default_factory=dict)  # language -> draft | reviewed
    kind: Literal["lesson", "pretest", "posttest"] = "lesson"
    native_review: tuple[str, ...] = ()

    @property
    def is_test(self) -> bool:
        """A pre-test or a post-test (``LESSON_KINDS``)."""
        return self.kind != "lesson"

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(i for i in self.items if isinstance(i, Question))

    def item_index(self, item_id: str) -> int:
        for n, item in enumerate(self.items):
            if item.id == item_id:
                return n
        raise KeyError(item_id)


@dataclass(frozen=True)
class Course:
    id: str
    topic: str
    title: Localized
    lessons: tuple[Lesson, ...]
    source: str = ""  # the file it came from, for messages

    def lesson(self, lesson_id: str) -> Lesson:
        for lesson in self.lessons:
            if lesson.id == lesson_id:
                return lesson
        raise KeyError(lesson_id)

    @property
    def teaching(self) -> tuple[Lesson, ...]:
        """The lessons that teach, without the pre-test and the post-test."""
        return tuple(lesson for lesson in self.lessons if not lesson.is_test)

    def test(self, kind: str) -> Lesson | None:
        """The course's ``pretest`` or ``posttest`` lesson, if it has one."""
        return next((lesson for lesson in self.lessons if lesson.kind == kind), None)


def localized_texts(course: Course) -> list[tuple[str, Localized]]:
    """Every spoken/written text of a course with a label, in listening order (the questions the pre-test and the
    post-test share, once)."""
    out: list[tuple[str, Localized]] = [(f"{course.id}: title", course.title)]
    seen: set[int] = set()
    for lesson in course.lessons:
        where = f"{course.id} › {lesson.id}"
        out.append((f"{where}: title", lesson.title))
        for item in lesson.items:
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, Chunk):
                out.append((f"{where} › {item.id}", item.body))
            else:
                out.append((f"{where} › {item.id}", item.prompt))
                out.append((f"{where} › {item.id}: feedback correct", item.feedback_correct))
                out.append((f"{where} › {item.id}: feedback wrong", item.feedback_wrong))
    return out


def native_review_marks(course: Course) -> list[tuple[str, str]]:
    """Every ``native_review`` mark of a course (where, what to check), once each, in listening order."""
    out: list[tuple[str, str]] = []
    seen: set[int] = set()
    for lesson in course.lessons:
        where = f"{course.id} › {lesson.id}"
        if lesson.native_review and not (lesson.is_test and lesson.kind == "posttest"):
            out.extend((where, note) for note in lesson.native_review)
        for item in lesson.items:
            if id(item) in seen:
                continue
            seen.add(id(item))
            out.extend((f"{where} › {item.id}", note) for note in item.native_review)
    return out
