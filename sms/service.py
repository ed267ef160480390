"""The SMS line: one incoming text in, the replies to send out (prepared, not yet sent).

``handle_incoming(event, now)`` finds or creates the listener, records the text, and either obeys a
keyword (first word; STOP wins over everything, even mid-quiz) or treats the text as the answer to
the lesson in progress. Lessons run on the same engine and the same progress rows as the voice
line (``listeners.progress.take_turn``), so a lesson started by voice is finished by SMS and
counts once. The listener's row is locked first (``lock_listener``): one listener's turns, by any
channel, run one at a time. Replies go through ``sms.outbound.prepare`` into the outbox, which refuses
anything but the consent confirmations to an opted-out listener. The caller commits; the sender sends.

Which lesson a listener is in: the lesson of their most recently updated progress row, when that
run is started and not finished. Outside a lesson, a bare number picks a course from the list.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from content.catalog import get_catalog
from content.loader import Catalog
from content.model import Chunk, Course, Question
from core.config import Settings
from core.db import db
from core.events import IncomingSms
from core.phones import InvalidPhone, mask_phone
from core.vocabulary import Channel, Direction, Purpose
from engine import (
    AskQuestion,
    Bookmark,
    Continue,
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
from listeners.models import LessonProgress, Listener, ProgressStatus
from listeners.progress import current_bookmark, remember, take_turn
from listeners.service import find_or_create_listener, opt_in, opt_out
from sms import outbound
from sms.encoding import cost, for_sms, split_to_fit
from sms.keywords import Command, Keywords
from sms.models import Message
from sms.texts import text as t

log = logging.getLogger(__name__)
KEYWORDS_KEY = "kalanso.sms.keywords"
LANGUAGE_WORDS = {
    "fr": "fr",
    "francais": "fr",
    "french": "fr",
    "tubabukan": "fr",
    "bm": "bm",
    "bambara": "bm",
    "bamanan": "bm",
    "bamanankan": "bm",
}
_MAX_CONTINUES = 200


def keywords() -> Keywords:
    """The app's keyword table (loaded at start, see ``sms.init_app``)."""
    return current_app.extensions[KEYWORDS_KEY]


def handle_incoming(
    event: IncomingSms,
    now: datetime,
    *,
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    table: Keywords | None = None,
) -> list[Message]:
    """Obey one incoming text; return the prepared (queued, flushed) replies. Never commits."""
    settings = settings or current_app.config["KALANSO"]
    try:
        listener = find_or_create_listener(event.phone, now, lock=True)
    except InvalidPhone:
        log.info("SMS from an invalid number %s: ignored", mask_phone(event.phone))
        return []
    first_contact = _first_contact(listener)
    if not outbound.record_incoming(
        event.provider, listener.phone, event.text, event.provider_message_id, listener, now
    ):
        log.info("SMS %s already handled (provider retry)", event.provider_message_id)
        return []
    command = (table or keywords()).route(event.text)
    had_language = listener.language is not None
    if listener.language is None:
        listener.language = (command.language if command else None) or settings.default_language
    listener.last_contact_at = now
    line = _Line(listener, catalog or get_catalog(), now, settings, had_language=had_language)
    purpose, texts = line.obey(command, event.text, first_contact=first_contact)
    replies = []
    for body in _pack(texts, settings):
        message = outbound.prepare(
            listener, body, now, purpose=purpose, provider=event.provider, settings=settings, flush=False
        )
        if message is not None:
            replies.append(message)
    outbound.enqueue(replies, now)  # one flush for the whole turn, the outbox rows in one INSERT
    return replies


def lesson_texts(
    listener: Listener,
    course: Course,
    lesson_id: str,
    now: datetime,
    *,
    settings: Settings | None = None,
    catalog: Catalog | None = None,
) -> list[str]:
    """Start (or resume) a lesson for a listener by SMS — its chunks and first question — as the texts
    to send (campaigns). Records the turn like a listener's own QUIZ would; never commits."""
    settings = settings or current_app.config["KALANSO"]
    line = _Line(listener, catalog or get_catalog(), now, settings)
    line.run(course, lesson_id, Start())
    return _pack(line.texts, settings)


def pack(texts: list[str], settings: Settings) -> list[str]:
    """Texts joined or split into SMS that fit ``SMS_MAX_SEGMENTS`` (see ``_pack``)."""
    return _pack(texts, settings)


def _first_contact(listener: Listener) -> bool:
    seen = db.session.scalars(
        select(Message.id).where(Message.listener_id == listener.id, Message.direction == Direction.INBOUND).limit(1)
    ).first()
    return seen is None


def _pack(texts: list[str], settings: Settings) -> list[str]:
    """Join reply parts into as few SMS as fit the segment limit; over-long parts are cut at spaces."""
    limit = settings.sms_max_segments
    parts: list[str] = []
    for part in texts:
        sent = for_sms(part, transliterate=settings.sms_transliterate).strip()
        if not sent:
            continue
        if cost(sent).segments > limit:
            log.warning(
                "an SMS text needs %d segments (limit %d): run `flask content check`", cost(sent).segments, limit
            )
            parts.extend(split_to_fit(sent, limit))
        else:
            parts.append(sent)
    out: list[str] = []
    for part in parts:
        if out and cost(out[-1] + "\n" + part).segments <= limit:
            out[-1] = out[-1] + "\n" + part
        else:
            out.append(part)
    return out


@dataclass
class _Line:
    listener: Listener
    catalog: Catalog
    now: datetime
    settings: Settings
    had_language: bool = True
    texts: list[str] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.listener.language or self.settings.default_language

    def say(self, key: str, **values: object) -> None:
        self.texts.append(t(key, self.lang, **values))

    # --- keywords ---------------------------------------------------------------------------

    def obey(self, command: Command | None, raw: str, *, first_contact: bool) -> tuple[Purpose, list[str]]:
        action = command.action if command else None
        if action == "stop":
            if opt_out(self.listener, self.now, "sms"):
                self.say("stopped")
                return Purpose.OPT_OUT_CONFIRMATION, self.texts
            return Purpose.OPT_OUT_CONFIRMATION, []  # confirmed once: a second STOP gets nothing
        if self.listener.opted_out:
            if action == "start":
                opt_in(self.listener, self.now, "sms")
                self.say("restarted")
                return Purpose.OPT_IN_CONFIRMATION, self.texts
            return Purpose.REPLY, []  # nothing but the opt-in confirmation, ever
        if action in ("quiz", "start"):
            self.quiz(command.args if command else ())
        elif action == "help":
            self.say("help", stop=self.settings.sms_opt_out_word_bm.upper())
        elif action == "language":
            self.switch_language(command.args if command else ())
        elif action == "progress":
            self.progress()
        else:
            self.answer(raw, first_contact=first_contact)
        return Purpose.REPLY, self.texts

    def quiz(self, args: tuple[str, ...]) -> None:
        if args:
            course = self.course_named(args[0])
            if course is None:
                self.say("unknown_course")
            else:
                self.start_course(course)
            return
        current = self.current()
        if current is not None:
            course, lesson_id, _ = current
            self.run(course, lesson_id, Start())
        else:
            self.list_courses()

    def switch_language(self, args: tuple[str, ...]) -> None:
        wanted = LANGUAGE_WORDS.get(args[0]) if args else None
        if wanted is None and args and args[0].isdigit():
            wanted = {"1": "fr", "2": "bm"}.get(args[0])
        if wanted is None and not self.had_language:
            wanted = self.lang  # a first text "KAN" or "LANGUE" has just chosen the keyword's language
        self.listener.language = wanted or ("fr" if self.lang == "bm" else "bm")
        self.say("language_set")
        current = self.current()
        if current is not None:
            course, lesson_id, _ = current
            self.run(course, lesson_id, Start())

    def progress(self) -> None:
        rows = db.session.scalars(select(LessonProgress).filter_by(listener_id=self.listener.id)).all()
        remember(self.listener, rows)
        known = {(c.id, lesson.id): lesson for c in self.catalog for lesson in c.lessons}
        done = sum(1 for r in rows if r.status == ProgressStatus.COMPLETED and (r.course_id, r.lesson_id) in known)
        current = self.current()
        now_in = ""
        if current is not None:
            course, lesson_id, _ = current
            now_in = t("progress_current", self.lang, title=course.lesson(lesson_id).title.text(self.lang))
        self.say("progress", done=done, total=len(known), current=now_in)

    # --- lessons ------------------------------------------------------------------------------

    def courses(self) -> list[Course]:
        return [c for c in self.catalog if c.lessons]

    def course_named(self, word: str) -> Course | None:
        courses = self.courses()
        if word.isascii() and word.isdigit() and len(word) <= 4 and 1 <= int(word) <= len(courses):
            return courses[int(word) - 1]
        return next((c for c in courses if c.id.replace("-", " ") == word or c.id == word), None)

    def list_courses(self) -> None:
        courses = self.courses()
        if not courses:
            self.say("no_courses")
            return
        lines = "\n".join(f"{n}) {c.title.text(self.lang)}" for n, c in enumerate(courses, 1))
        self.say("courses", list=lines)

    def start_course(self, course: Course) -> None:
        """The first lesson not completed yet (or the first one again, as a new attempt)."""
        rows = db.session.scalars(
            select(LessonProgress).filter_by(listener_id=self.listener.id, course_id=course.id)
        ).all()
        remember(self.listener, rows)
        completed = {r.lesson_id for r in rows if r.status == ProgressStatus.COMPLETED}
        lesson = next((lesson for lesson in course.lessons if lesson.id not in completed), course.lessons[0])
        self.run(course, lesson.id, Start())

    def current(self) -> tuple[Course, str, Bookmark] | None:
        """The lesson in progress: the most recently updated run, if it is started and unfinished."""
        row = db.session.scalars(
            select(LessonProgress)
            .filter_by(listener_id=self.listener.id)
            .order_by(LessonProgress.updated_at.desc(), LessonProgress.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        remember(self.listener, [row])
        try:
            course = self.catalog.course(row.course_id)
            lesson = course.lesson(row.lesson_id)
        except KeyError:
            return None
        bookmark = current_bookmark(row, course, lesson.id)
        if not bookmark.started or bookmark.index >= len(lesson.items):
            return None
        return course, lesson.id, bookmark

    def answer(self, raw: str, *, first_contact: bool) -> None:
        current = self.current()
        if current is None:
            words = raw.split()
            course = self.course_named(words[0]) if len(words) == 1 and words[0].isdigit() else None
            if course is not None:
                self.start_course(course)
            elif first_contact:
                self.say("welcome")
                self.list_courses()
            else:
                self.say("no_lesson")
            return
        course, lesson_id, bookmark = current
        item = course.lesson(lesson_id).items[bookmark.index]
        if isinstance(item, Chunk):  # left mid-chunk (e.g. on a call): resume there, not skip it
            self.run(course, lesson_id, Start())
            return
        steps = self.turns(course, lesson_id, Text(raw))
        end = next((s for s in steps if isinstance(s, End)), None)
        if end is not None and end.reason != "completed":  # SMS never gives up: ask again
            again = self.turns(course, lesson_id, Start())
            steps += [s for s in again if not isinstance(s, LessonIntro)]
        self.texts.extend(render(steps, self.lang))

    def run(self, course: Course, lesson_id: str, event: Input) -> None:
        self.texts.extend(render(self.turns(course, lesson_id, event), self.lang))

    def turns(self, course: Course, lesson_id: str, event: Input) -> list[Step]:
        """One turn, then continue past chunks until a question or the end."""
        result = take_turn(self.listener, course, lesson_id, event, channel=Channel.SMS, now=self.now)
        steps = list(result.steps)
        guard = 0
        while result.awaiting == "continue" and guard < _MAX_CONTINUES:
            result = take_turn(self.listener, course, lesson_id, Continue(), channel=Channel.SMS, now=self.now)
            steps.extend(result.steps)
            guard += 1
        return steps


# --- rendering ---------------------------------------------------------------------------------


def choices(question: Question, lang: str) -> str:
    keys = [o.key for o in question.options]
    return keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} {t('or', lang)} {keys[-1]}"


# A question's text is written for the voice line too, so it says its keys ("Pour oui, tapez 1." /
# "Ni a ye ɔwɔ ye, i ka 1 digi.", enforced by tests/test_curriculum.py). By SMS the numbered options
# follow the question, so those sentences are left out: shorter, cheaper, not said twice.
_KEY_SENTENCE = re.compile(r"[^.?!]*\b(?:tapez \d|i ka \d digi)\b[^.?!]*[.?!]\s*", re.IGNORECASE)


def sms_prompt(text: str) -> str:
    return _KEY_SENTENCE.sub("", text).strip() or text


def render_question(step: AskQuestion, lang: str) -> str:
    options = "\n".join(f"{o.key}) {o.label[lang]}" for o in step.options)
    return t(
        "question",
        lang,
        number=step.number,
        total=step.total,
        prompt=sms_prompt(step.question.prompt.text(lang)),
        options=options,
        choices=choices(step.question, lang),
    )


def render(steps: list[Step], lang: str) -> list[str]:
    """The engine's steps as SMS texts (one part per step that says something)."""
    out: list[str] = []
    for n, step in enumerate(steps):
        if isinstance(step, LessonIntro):
            out.append(t("lesson_resumed" if step.resumed else "lesson_intro", lang, title=step.title.text(lang)))
        elif isinstance(step, SayChunk):
            out.append(step.chunk.body.text(lang))
        elif isinstance(step, AskQuestion):
            out.append(render_question(step, lang))
        elif isinstance(step, Feedback):
            out.append(step.text.text(lang))
        elif isinstance(step, Invalid):
            ask = next((s for s in steps[n:] if isinstance(s, AskQuestion)), None)
            keys = choices(ask.question, lang) if ask else "1, 2"
            out.append(t("unclear", lang, choices=keys))
        elif isinstance(step, LessonComplete):
            out.append(t("complete", lang, score=step.score, total=step.total))
    return out
