"""Load and validate the course files (``content/courses/*.yaml``).

Every problem is reported with the file, course, lesson and item it concerns, and all problems of
all files are collected before failing, so an editor fixes them in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from content.contacts import fill
from content.model import (
    LANGUAGES,
    POST_TEST,
    PRE_TEST,
    REVIEW_STATES,
    Chunk,
    Course,
    Item,
    Lesson,
    Localized,
    Option,
    Question,
)

CONTENT_DIR = Path(__file__).resolve().parent
COURSES_DIR = CONTENT_DIR / "courses"
AUDIO_DIR = CONTENT_DIR / "audio"
AUDIO_EXTENSIONS = (".wav", ".mp3")

NATIVE_REVIEW = "native_review"  # on a lesson or an item: what a native reader must check in the Bambara
COURSE_KEYS = {"id", "topic", "title", "lessons", "test"}
LESSON_KEYS = {"id", "title", "review", "items", NATIVE_REVIEW}
CHUNK_KEYS = {"id", "type", "text", "audio", NATIVE_REVIEW}
QUESTION_KEYS = {"id", "type", "text", "audio", "options", "feedback", NATIVE_REVIEW}
TEST_KEYS = {"review", "pre", "post", "questions", NATIVE_REVIEW}
TEST_PART_KEYS = {"title", "intro"}
TEST_QUESTIONS = (4, 6)  # a course's pre-/post-test asks this many questions (inclusive)
TEST_AUDIO = "test"  # the shared questions' recordings: <course>/test/<question>
OPTION_KEYS = {"text", "correct"}
FEEDBACK_KEYS = {"correct", "wrong"}
ID_PATTERN = "letters, digits, '-' or '_'"
SMS_KEY = "sms"  # in a chunk's, question's or feedback's text: a shorter text for the SMS line


class ContentError(Exception):
    """The content has errors; ``errors`` lists each one."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(f"{len(errors)} content error(s):\n" + "\n".join(errors))


@dataclass
class Catalog:
    """All courses, by id, in file order."""

    courses: dict[str, Course] = field(default_factory=dict)

    def course(self, course_id: str) -> Course:
        return self.courses[course_id]

    def lesson(self, course_id: str, lesson_id: str) -> Lesson:
        return self.courses[course_id].lesson(lesson_id)

    def __iter__(self):
        return iter(self.courses.values())


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and all(c.isalnum() or c in "-_" for c in value)


class _Reader:
    """Turns one parsed YAML document into a Course, collecting errors on the way."""

    def __init__(self, source: str, errors: list[str], contacts: Mapping[str, str] | None = None):
        self.source = source
        self.errors = errors
        self.contacts = dict(contacts or {})

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{self.source}: {where}: {message}")

    def check_keys(self, where: str, data: Mapping, allowed: set[str], required: Iterable[str]) -> bool:
        ok = True
        for key in sorted(set(map(str, data)) - allowed):
            self.error(where, f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
            ok = False
        for key in required:
            if key not in data:
                self.error(where, f"missing key '{key}'")
                ok = False
        return ok

    def texts(self, where: str, value: Any, *, sms: bool = False) -> dict[str, str] | None:
        if not isinstance(value, Mapping):
            self.error(where, f"expected a text per language ({', '.join(LANGUAGES)}), got {_kind(value)}")
            return None
        out: dict[str, str] = {}
        allowed = set(LANGUAGES) | ({SMS_KEY} if sms else set())
        for key in sorted(set(map(str, value)) - allowed):
            self.error(where, f"unknown key '{key}' (languages are {', '.join(LANGUAGES)})")
        for lang in LANGUAGES:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                self.error(where, f"missing translation '{lang}'")
            else:
                filled, problems = fill(" ".join(text.split()), lang, self.contacts)
                for problem in problems:
                    self.error(where, f"'{lang}': {problem}")
                out[lang] = filled
        return out if len(out) == len(LANGUAGES) else None

    def audio(self, where: str, value: Any, default: str) -> dict[str, str]:
        if value is None:
            return {lang: default for lang in LANGUAGES}
        if isinstance(value, str) and value.strip():
            return {lang: value.strip() for lang in LANGUAGES}
        if isinstance(value, Mapping):
            for key in sorted(set(map(str, value)) - set(LANGUAGES)):
                self.error(where, f"audio: unknown key '{key}' (languages are {', '.join(LANGUAGES)})")
            return {lang: str(value.get(lang) or default).strip() for lang in LANGUAGES}
        self.error(where, f"audio: expected a recording name or one per language, got {_kind(value)}")
        return {lang: default for lang in LANGUAGES}

    def localized(self, where: str, value: Any, audio: dict[str, str], *, sms: bool = False) -> Localized | None:
        texts = self.texts(where, value, sms=sms)
        if texts is None:
            return None
        shorter = self.sms(where, value.get(SMS_KEY), texts) if sms else {}
        return Localized(texts=texts, audio=audio, sms=shorter)

    def sms(self, where: str, value: Any, texts: dict[str, str]) -> dict[str, str]:
        """The shorter SMS texts of a text (optional, per language): each must be shorter than the text."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(where, f"sms: expected a shorter text per language, got {_kind(value)}")
            return {}
        out: dict[str, str] = {}
        for key in sorted(set(map(str, value)) - set(LANGUAGES)):
            self.error(where, f"sms: unknown key '{key}' (languages are {', '.join(LANGUAGES)})")
        for lang in LANGUAGES:
            if lang not in value:
                continue
            text = value[lang]
            if not isinstance(text, str) or not text.strip():
                self.error(where, f"sms '{lang}': expected a text, got {_kind(text)}")
                continue
            filled, problems = fill(" ".join(text.split()), lang, self.contacts)
            for problem in problems:
                self.error(where, f"sms '{lang}': {problem}")
            if len(filled) >= len(texts[lang]):
                self.error(where, f"sms '{lang}': must be shorter than the text it replaces")
                continue
            out[lang] = filled
        return out

    def course(self, data: Any) -> Course | None:
        if not isinstance(data, Mapping):
            self.error("file", f"expected a course (a mapping with id, topic, title, lessons), got {_kind(data)}")
            return None
        cid = data.get("id")
        where = f"course '{cid}'"
        if not _valid_id(cid):
            self.error("course", f"bad or missing id {cid!r} (use {ID_PATTERN})")
            return None
        ok = self.check_keys(where, data, COURSE_KEYS, ("topic", "title", "lessons"))
        title = self.localized(f"{where} › title", data.get("title"), self.audio(where, None, f"{cid}/title"))
        lessons_data = data.get("lessons")
        if not isinstance(lessons_data, list) or not lessons_data:
            self.error(where, "lessons: expected a non-empty list")
            return None
        lessons: list[Lesson] = []
        seen: set[str] = set()
        for n, lesson_data in enumerate(lessons_data, start=1):
            lesson = self.lesson(cid, n, lesson_data)
            if lesson is None:
                ok = False
                continue
            if lesson.id in seen:
                self.error(f"{where} › lesson '{lesson.id}'", "duplicate lesson id")
                ok = False
            seen.add(lesson.id)
            lessons.append(lesson)
        if "test" in data:
            tests = self.test(cid, data["test"])
            if tests is None:
                ok = False
            else:
                lessons = [tests[0], *lessons, tests[1]]
        if not ok or title is None:
            return None
        return Course(id=cid, topic=str(data["topic"]), title=title, lessons=tuple(lessons), source=self.source)

    def test(self, cid: str, data: Any) -> tuple[Lesson, Lesson] | None:
        """The course's ``test:`` block as two lessons that ask the same questions: the pre-test (first in the
        course) and the post-test (last). Each opens with its own intro chunk."""
        where = f"course '{cid}' › test"
        if not isinstance(data, Mapping):
            self.error(where, f"expected a mapping with pre, post and questions, got {_kind(data)}")
            return None
        ok = self.check_keys(where, data, TEST_KEYS, ("pre", "post", "questions"))
        review = self.review(where, data.get("review"))
        notes = self.notes(where, data.get(NATIVE_REVIEW))
        ok = ok and notes is not None
        questions: list[Question] = []
        questions_data = data.get("questions")
        low, high = TEST_QUESTIONS
        if not isinstance(questions_data, list) or not low <= len(questions_data) <= high:
            count = len(questions_data) if isinstance(questions_data, list) else 0
            self.error(where, f"questions: a test asks {low} to {high} questions, found {count}")
            ok = False
            questions_data = questions_data if isinstance(questions_data, list) else []
        seen: set[str] = set()
        for m, item_data in enumerate(questions_data, start=1):
            item = self.item(cid, TEST_AUDIO, m, item_data, where=where)
            if item is None:
                ok = False
                continue
            if not isinstance(item, Question):
                self.error(f"{where} › item '{item.id}'", "a test holds questions only (its intros are pre and post)")
                ok = False
                continue
            if item.id in seen or item.id == "intro":
                self.error(
                    f"{where} › item '{item.id}'", "duplicate item id" if item.id in seen else "'intro' is taken"
                )
                ok = False
            seen.add(item.id)
            questions.append(item)
        built: list[Lesson] = []
        for part, lid, kind in (("pre", PRE_TEST, "pretest"), ("post", POST_TEST, "posttest")):
            pwhere = f"{where} › {part}"
            part_data = data.get(part)
            if not isinstance(part_data, Mapping):
                if part in data:
                    self.error(pwhere, f"expected a mapping with title and intro, got {_kind(part_data)}")
                ok = False
                continue
            ok = self.check_keys(pwhere, part_data, TEST_PART_KEYS, ("title", "intro")) and ok
            title = self.localized(
                f"{pwhere} › title", part_data.get("title"), self.audio(pwhere, None, f"{cid}/{lid}/title")
            )
            intro_audio = self.audio(pwhere, None, f"{cid}/{lid}/intro")
            intro = self.localized(f"{pwhere} › intro", part_data.get("intro"), intro_audio, sms=True)
            if title is None or intro is None:
                ok = False
                continue
            items = (Chunk(id="intro", body=intro), *questions)
            built.append(Lesson(id=lid, title=title, items=items, review=review, kind=kind, native_review=notes or ()))
        if not ok or len(built) != 2:
            return None
        return built[0], built[1]

    def notes(self, where: str, value: Any) -> tuple[str, ...] | None:
        """``native_review:``: one text or a list of texts for a native reader (None: an error, reported)."""
        if value is None:
            return ()
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            self.error(where, f"{NATIVE_REVIEW}: expected a text or a list of texts, got {_kind(value)}")
            return None
        return tuple(" ".join(v.split()) for v in values)

    def lesson(self, cid: str, n: int, data: Any) -> Lesson | None:
        if not isinstance(data, Mapping):
            self.error(f"course '{cid}' › lesson #{n}", f"expected a mapping, got {_kind(data)}")
            return None
        lid = data.get("id")
        if not _valid_id(lid):
            self.error(f"course '{cid}' › lesson #{n}", f"bad or missing id {lid!r} (use {ID_PATTERN})")
            return None
        where = f"course '{cid}' › lesson '{lid}'"
        ok = self.check_keys(where, data, LESSON_KEYS, ("title", "items"))
        if lid in (PRE_TEST, POST_TEST):
            self.error(where, f"'{lid}' is the id of the course's test (write it in the course's 'test:' block)")
            ok = False
        title = self.localized(f"{where} › title", data.get("title"), self.audio(where, None, f"{cid}/{lid}/title"))
        review = self.review(where, data.get("review"))
        items_data = data.get("items")
        if not isinstance(items_data, list) or not items_data:
            self.error(where, "items: expected a non-empty list")
            return None
        items: list[Item] = []
        seen: set[str] = set()
        for m, item_data in enumerate(items_data, start=1):
            item = self.item(cid, lid, m, item_data)
            if item is None:
                ok = False
                continue
            if item.id in seen:
                self.error(f"{where} › item '{item.id}'", "duplicate item id")
                ok = False
            seen.add(item.id)
            items.append(item)
        if ok and title is not None and not any(isinstance(i, Question) for i in items):
            self.error(where, "a lesson needs at least one question")
            ok = False
        if not ok or title is None:
            return None
        notes = self.notes(where, data.get(NATIVE_REVIEW))
        if notes is None:
            return None
        return Lesson(id=lid, title=title, items=tuple(items), review=review, native_review=notes)

    def review(self, where: str, value: Any) -> dict[str, str]:
        if value is None:
            return {lang: "draft" for lang in LANGUAGES}
        if not isinstance(value, Mapping):
            self.error(where, f"review: expected a state per language, got {_kind(value)}")
            return {}
        out = {}
        for lang in LANGUAGES:
            state = value.get(lang, "draft")
            if state not in REVIEW_STATES:
                self.error(where, f"review '{lang}': {state!r} is not one of {', '.join(REVIEW_STATES)}")
            out[lang] = str(state)
        for key in sorted(set(map(str, value)) - set(LANGUAGES)):
            self.error(where, f"review: unknown key '{key}' (languages are {', '.join(LANGUAGES)})")
        return out

    def item(self, cid: str, lid: str, m: int, data: Any, *, where: str | None = None) -> Item | None:
        lesson_where = where or f"course '{cid}' › lesson '{lid}'"
        if not isinstance(data, Mapping):
            self.error(f"{lesson_where} › item #{m}", f"expected a mapping, got {_kind(data)}")
            return None
        iid = data.get("id")
        if not _valid_id(iid):
            self.error(f"{lesson_where} › item #{m}", f"bad or missing id {iid!r} (use {ID_PATTERN})")
            return None
        where = f"{lesson_where} › item '{iid}'"
        kind = data.get("type")
        audio = self.audio(where, data.get("audio"), f"{cid}/{lid}/{iid}")
        notes = self.notes(where, data.get(NATIVE_REVIEW))
        if notes is None:
            return None
        if kind == "chunk":
            ok = self.check_keys(where, data, CHUNK_KEYS, ("text",))
            body = self.localized(f"{where} › text", data.get("text"), audio, sms=True)
            return Chunk(id=iid, body=body, native_review=notes) if ok and body is not None else None
        if kind == "question":
            question = self.question(where, iid, data, audio)
            return replace(question, native_review=notes) if question is not None and notes else question
        self.error(where, f"type must be 'chunk' or 'question', got {kind!r}")
        return None

    def question(self, where: str, iid: str, data: Mapping, audio: dict[str, str]) -> Question | None:
        ok = self.check_keys(where, data, QUESTION_KEYS, ("text", "options", "feedback"))
        prompt = self.localized(f"{where} › text", data.get("text"), audio, sms=True)
        options_data = data.get("options")
        options: list[Option] = []
        if not isinstance(options_data, list) or not 2 <= len(options_data) <= 4:
            count = len(options_data) if isinstance(options_data, list) else 0
            self.error(where, f"a question needs 2 to 4 options, found {count}")
            ok = False
            options_data = options_data if isinstance(options_data, list) else []
        for k, option_data in enumerate(options_data, start=1):
            owhere = f"{where} › option {k}"
            if not isinstance(option_data, Mapping):
                self.error(owhere, f"expected a mapping with text and correct, got {_kind(option_data)}")
                ok = False
                continue
            ok = self.check_keys(owhere, option_data, OPTION_KEYS, ("text",)) and ok
            correct = option_data.get("correct", False)
            if not isinstance(correct, bool):
                self.error(owhere, f"correct must be true or false, got {correct!r}")
                ok = False
            label = self.texts(owhere, option_data.get("text"))
            if label is None:
                ok = False
                continue
            options.append(Option(key=str(k), label=label, correct=correct is True))
        n_correct = sum(o.correct for o in options)
        if options_data and n_correct != 1:
            self.error(where, f"a question needs exactly one correct option, found {n_correct}")
            ok = False
        feedback = data.get("feedback")
        fb: dict[str, Localized | None] = {"correct": None, "wrong": None}
        if not isinstance(feedback, Mapping):
            self.error(where, f"feedback: expected 'correct' and 'wrong' texts, got {_kind(feedback)}")
            ok = False
        else:
            ok = self.check_keys(f"{where} › feedback", feedback, FEEDBACK_KEYS, ("correct", "wrong")) and ok
            for key in FEEDBACK_KEYS:
                if key in feedback:
                    fb_audio = {lang: f"{stem}-{key}" for lang, stem in audio.items()}
                    fb[key] = self.localized(f"{where} › feedback {key}", feedback[key], fb_audio, sms=True)
        if not ok or prompt is None or fb["correct"] is None or fb["wrong"] is None:
            return None
        return Question(
            id=iid,
            prompt=prompt,
            options=tuple(options),
            feedback_correct=fb["correct"],
            feedback_wrong=fb["wrong"],
        )


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a text"}.get(type(value), type(value).__name__)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_courses(
    courses_dir: Path = COURSES_DIR, contacts: Mapping[str, str] | None = None
) -> tuple[Catalog, list[str]]:
    """Read every ``*.yaml`` file; return what loaded and every error found.

    ``contacts`` (contact key -> number, see ``content.contacts``) fills the ``{contacts}`` placeholders.
    """
    errors: list[str] = []
    catalog = Catalog()
    files = sorted(courses_dir.glob("*.yaml"))
    if not files:
        errors.append(f"{courses_dir}: no course files (*.yaml)")
    for path in files:
        source = _display(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
            problem = getattr(exc, "problem", None) or str(exc)
            errors.append(f"{source}: {at}: bad YAML: {problem}")
            continue
        except UnicodeDecodeError as exc:
            errors.append(f"{source}: file: not UTF-8 text ({exc.reason})")
            continue
        course = _Reader(source, errors, contacts).course(data)
        if course is None:
            continue
        if course.id in catalog.courses:
            errors.append(
                f"{source}: course '{course.id}': duplicate course id (also in {catalog.courses[course.id].source})"
            )
            continue
        catalog.courses[course.id] = course
    return catalog, errors


def load_catalog(courses_dir: Path = COURSES_DIR, contacts: Mapping[str, str] | None = None) -> Catalog:
    """The validated catalog; raises ContentError listing every problem."""
    catalog, errors = read_courses(courses_dir, contacts)
    if errors:
        raise ContentError(errors)
    return catalog
