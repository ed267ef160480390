"""The SMS line: one incoming text in, the replies to send out (prepared, not yet sent).

``handle_incoming(event, now)`` finds the listener (locking their row: one listener's turns, by any
channel, run one at a time), records the text, reads the conversation's state and context from the
listener's rows, asks the pure machine (``sms.machine.receive``) what to do, carries out its effects
(opt out, opt in, set the language), runs the lesson turn it asks for on the shared engine
(``listeners.progress.take_turn``, the same progress rows as the voice line, so a lesson started by
voice is finished by SMS and counts once) and prepares the replies. Replies go through
``sms.outbound.prepare`` into the outbox, which refuses anything but the consent confirmations and the
daily resume hint to an opted-out listener. The caller commits; the sender sends.

Which lesson a listener is in: the lesson of their most recently updated progress row, when that
run is started and not finished; when it is finished, the listener is "done" with it and ``QUIZ``
starts the next one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from content.catalog import get_catalog
from content.loader import Catalog
from content.model import Chunk, Course
from core.config import Settings
from core.db import db
from core.events import IncomingSms
from core.phones import InvalidPhone, mask_phone
from core.vocabulary import Channel, Direction
from engine import AskQuestion, Continue, End, Input, Start, Step
from listeners.models import LessonProgress, Listener, ProgressStatus
from listeners.progress import current_bookmark, remember, take_turn
from listeners.service import find_or_create_listener, opt_in, opt_out
from sms import machine, outbound
from sms.encoding import cost, for_sms, split_to_fit
from sms.keywords import Keywords
from sms.machine import choices, render_question, sms_prompt
from sms.models import Message

log = logging.getLogger(__name__)
KEYWORDS_KEY = "kalanso.sms.keywords"
_MAX_CONTINUES = 200
__all__ = [
    "choices",
    "handle_incoming",
    "keywords",
    "lesson_texts",
    "pack",
    "render",
    "render_question",
    "sms_prompt",
]


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
    listener.last_contact_at = now
    catalog = catalog or get_catalog()
    rows = _progress_rows(listener)
    state = _state(rows, catalog)
    ctx = _context(listener, rows, catalog, settings, table or keywords(), now, first_contact=first_contact)
    outcome = machine.receive(state, ctx, event.text or "")
    for effect in outcome.effects:
        if isinstance(effect, machine.SetLanguage):
            listener.set_language(effect.lang, "sms" if effect.chosen else "default")
        elif isinstance(effect, machine.OptOut):
            opt_out(listener, now, "sms")
        elif isinstance(effect, machine.OptIn):
            opt_in(listener, now, "sms")
    texts: list[str] = []
    for reply in outcome.replies:
        if isinstance(reply, machine.Turn):
            course = catalog.course(reply.course_id)
            texts.extend(machine.lesson_replies(ctx, reply, _turns(listener, course, reply, now)))
        else:
            texts.append(reply)
    replies = []
    for body in _pack(texts, settings):
        message = outbound.prepare(
            listener, body, now, purpose=outcome.purpose, provider=event.provider, settings=settings, flush=False
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
    lang = listener.language or settings.default_language
    steps = _run(listener, course, lesson_id, Start(), now)
    return _pack(render(steps, lang, transliterate=settings.sms_transliterate), settings)


def pack(texts: list[str], settings: Settings) -> list[str]:
    """Texts joined or split into SMS that fit ``SMS_MAX_SEGMENTS`` (see ``_pack``)."""
    return _pack(texts, settings)


def render(steps: list[Step], lang: str, *, transliterate: bool = True) -> list[str]:
    """The engine's steps as SMS texts (``sms.machine.render``)."""
    return machine.render(steps, lang, transliterate=transliterate)


# --- what the machine is told -------------------------------------------------------------------------


def _first_contact(listener: Listener) -> bool:
    seen = db.session.scalars(
        select(Message.id).where(Message.listener_id == listener.id, Message.direction == Direction.INBOUND).limit(1)
    ).first()
    return seen is None


def _progress_rows(listener: Listener) -> list[LessonProgress]:
    """Every progress row of the listener, most recently updated first (remembered for ``take_turn``)."""
    rows = db.session.scalars(
        select(LessonProgress)
        .filter_by(listener_id=listener.id)
        .order_by(LessonProgress.updated_at.desc(), LessonProgress.id.desc())
    ).all()
    remember(listener, rows)
    return list(rows)


def _state(rows: list[LessonProgress], catalog: Catalog) -> dict[str, Any]:
    """The conversation's state, read from the most recently updated progress row."""
    if not rows:
        return {"node": "idle"}
    row = rows[0]
    try:
        course = catalog.course(row.course_id)
        lesson = course.lesson(row.lesson_id)
    except KeyError:
        return {"node": "idle"}
    bookmark = current_bookmark(row, course, lesson.id)
    where = {"course_id": course.id, "lesson_id": lesson.id}
    if bookmark.started and bookmark.index < len(lesson.items):
        at_chunk = isinstance(lesson.items[bookmark.index], Chunk)  # left mid-chunk (a call): resume there
        return {"node": "lesson", **where, "at_chunk": at_chunk}
    if row.status == ProgressStatus.COMPLETED:
        return {"node": "done", **where}
    return {"node": "idle"}


def _context(
    listener: Listener,
    rows: list[LessonProgress],
    catalog: Catalog,
    settings: Settings,
    table: Keywords,
    now: datetime,
    *,
    first_contact: bool,
) -> machine.Context:
    completed = {(r.course_id, r.lesson_id): r for r in rows if r.status == ProgressStatus.COMPLETED}
    courses = tuple(
        machine.CourseEntry(
            c.id,
            c.title,
            tuple(machine.LessonEntry(lsn.id, lsn.title, (c.id, lsn.id) in completed) for lsn in c.lessons),
        )
        for c in catalog
        if c.lessons
    )
    known = {(c.id, lsn.id) for c in catalog for lsn in c.lessons}
    done = [r for key, r in completed.items() if key in known]
    return machine.Context(
        keywords=table,
        language=listener.language,
        default_language=settings.default_language,
        courses=courses,
        opted_out=listener.opted_out,
        first_contact=first_contact,
        resume_hint_due=listener.opted_out and outbound.resume_hint_due(listener, now),
        score=sum(r.best_score or 0 for r in done),  # as the voice line says it
        total=sum(r.total or 0 for r in done),
        stop_word=settings.sms_opt_out_word_bm.upper(),
        start_word=settings.sms_opt_in_word_bm.upper(),
        transliterate=settings.sms_transliterate,
    )


# --- lesson turns ----------------------------------------------------------------------------------


def _turns(listener: Listener, course: Course, turn: machine.Turn, now: datetime) -> list[Step]:
    """A turn asked by the machine. SMS never gives up on a listener: when the engine ends the session
    after unclear answers, the lesson is opened again at the same question (only that question is kept,
    for the hint that lists its options)."""
    steps = _run(listener, course, turn.lesson_id, turn.event, now)
    end = next((s for s in steps if isinstance(s, End)), None)
    if end is not None and end.reason == "no_input":
        again = _run(listener, course, turn.lesson_id, Start(), now)
        steps += [s for s in again if isinstance(s, AskQuestion)]
    return steps


def _run(listener: Listener, course: Course, lesson_id: str, event: Input, now: datetime) -> list[Step]:
    """One turn, then continue past chunks until a question or the end."""
    result = take_turn(listener, course, lesson_id, event, channel=Channel.SMS, now=now)
    steps = list(result.steps)
    guard = 0
    while result.awaiting == "continue" and guard < _MAX_CONTINUES:
        result = take_turn(listener, course, lesson_id, Continue(), channel=Channel.SMS, now=now)
        steps.extend(result.steps)
        guard += 1
    return steps


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
