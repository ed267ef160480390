"""The SMS line: one incoming text in, the replies to send out (prepared, not yet sent).

``handle_incoming(event, now)`` finds the listener (locking their row: one listener's turns, by any
channel, run one at a time), records the text, reads the conversation's state and context from the
listener's rows, asks the pure machine (``sms.machine.receive``) what to do, carries out its effects
(opt out, opt in, set the language), runs the lesson turn it asks for on the shared engine
(``listeners.progress.take_turn``, the same progress rows as the voice line, so a lesson started by
voice is finished by SMS and counts once) and prepares the replies. Replies go through
``sms.outbound.prepare`` into the outbox, which refuses anything but the consent confirmations and the
daily resume hint to an opted-out listener. The caller commits; the sender sends.

``SUIVI <phone>`` / ``SUIVI <village>`` from the phone of an active dashboard user (a field agent) answers
that listener's or that village's figures, inside the user's scope (``accounts.scope.listener_clause``); out
of scope reads "nothing found", like an unknown number. From anyone else (no active user with that phone: a
stranger, a listener, a disabled account) it is handled as any other text, as if SUIVI were no keyword, so
nobody learns anything. The agent's exchange is kept without a listener (``Message.listener_id`` empty: no
listener's page shows it; a number asked about is stored masked); the reply still needs the sender's
listener row for the agent's phone (the outbox sends to listeners), created like any texter's, and obeys
its opt-out. Audited (``suivi_sms``, the number masked).

Which lesson a listener is in: the lesson of their most recently updated progress row, when that
run is started and not finished; when it is finished, the listener is "done" with it and ``QUIZ``
starts the next one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from accounts import audit
from accounts.models import User
from accounts.scope import listener_clause, sql_place_keys
from content.catalog import get_catalog
from content.loader import Catalog
from content.model import Chunk, Course
from core.config import Settings
from core.db import db
from core.events import IncomingSms
from core.outbox import enqueue_rows
from core.phones import InvalidPhone, mask_phone, normalize_phone
from core.vocabulary import Channel, Direction, Purpose
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
    table = table or keywords()
    command = table.route(event.text or "")
    if command is not None and command.action == "suivi":
        agent = _agent(event.phone)
        if agent is not None:
            return _suivi(event, agent, now, settings, catalog or get_catalog())
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
    ctx = _context(listener, rows, catalog, settings, table, now, first_contact=first_contact)
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
            tuple(machine.LessonEntry(lsn.id, lsn.title, (c.id, lsn.id) in completed, lsn.kind) for lsn in c.lessons),
        )
        for c in catalog
        if c.lessons
    )
    known = {(c.id, lsn.id) for c in catalog for lsn in c.teaching}  # the progress counts lessons, tests aside
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


# --- SUIVI: a field agent's follow-up figures by SMS -----------------------------------------------------


def _agent(phone: str) -> User | None:
    """The active dashboard user whose phone sent this text, or None."""
    try:
        e164 = normalize_phone(phone)
    except InvalidPhone:
        return None
    return db.session.scalars(select(User).where(User.phone == e164, User.active.is_(True))).first()


def _suivi(event: IncomingSms, agent: User, now: datetime, settings: Settings, catalog: Catalog) -> list[Message]:
    """Answer ``SUIVI ...`` from an agent's phone with one SMS, inside the agent's scope; audited."""
    kind, query = machine.suivi_query(event.text)
    shown = mask_phone(query) if kind == "phone" else query
    sender = find_or_create_listener(event.phone, now)  # the outbox sends to a listener row
    stored = f"{(event.text or '').split()[0]} {shown}".strip()
    if not outbound.record_incoming(event.provider, sender.phone, stored, event.provider_message_id, None, now):
        log.info("SMS %s already handled (provider retry)", event.provider_message_id)
        return []
    figures, target = _suivi_figures(agent, kind, query, catalog, settings)
    lang = sender.language or "fr"
    body = machine.suivi_reply(figures, shown, lang, transliterate=settings.sms_transliterate)
    audit.record("suivi_sms", now, user=agent, target=target, query=shown, found=figures is not None)
    message = outbound.prepare(
        sender, body, now, purpose=Purpose.REPLY, provider=event.provider, settings=settings, flush=False
    )
    if message is None:  # the agent's phone opted out of the line
        return []
    message.listener_id = None  # no listener's timeline shows an agent's follow-up
    db.session.flush()
    enqueue_rows([{**outbound.outbox_row_for(message, now), "listener_id": sender.id}])
    log.info("SUIVI from user %s: %s", agent.id, "answered" if figures else "nothing found")
    return [message]


def _suivi_figures(
    agent: User, kind: str, query: str, catalog: Catalog, settings: Settings
) -> tuple[machine.ListenerFigures | machine.VillageFigures | None, str]:
    """The figures asked for, if the agent may see them (else None), and the audit's target."""
    courses = [c for c in catalog if c.lessons]
    in_scope = listener_clause(agent)
    if kind == "phone":
        try:
            phone = normalize_phone(query)
        except InvalidPhone:
            return None, ""
        listener = db.session.scalars(select(Listener).where(Listener.phone == phone, in_scope)).first()
        if listener is None:
            return None, ""
        rows = db.session.execute(
            select(
                LessonProgress.course_id, LessonProgress.lesson_id, LessonProgress.status, LessonProgress.updated_at
            ).where(LessonProgress.listener_id == listener.id)
        ).all()
        done = {(r.course_id, r.lesson_id) for r in rows if r.status == ProgressStatus.COMPLETED}
        counts = tuple(
            machine.CourseCount(c.title, sum((c.id, lsn.id) in done for lsn in c.teaching), len(c.teaching))
            for c in courses
        )
        moments = [m for m in [listener.last_contact_at, *(r.updated_at for r in rows)] if m is not None]
        last = max(moments).astimezone(settings.tz).date() if moments else None
        figures = machine.ListenerFigures(listener.name, mask_phone(listener.phone), counts, last)
        return figures, f"listener:{listener.id}"
    if kind == "village":
        place = func.lower(func.trim(Listener.village)).in_(sql_place_keys({query}))
        people = db.session.scalar(select(func.count()).select_from(Listener).where(place, in_scope))
        if not people:
            return None, ""
        name = db.session.scalars(select(Listener.village).where(place, in_scope).limit(1)).first() or query
        rows = db.session.execute(
            select(LessonProgress.listener_id, LessonProgress.course_id, LessonProgress.lesson_id)
            .join(Listener, Listener.id == LessonProgress.listener_id)
            .where(place, in_scope, LessonProgress.status == ProgressStatus.COMPLETED)
        ).all()
        lessons_done: dict[tuple[int, str], set[str]] = {}
        for row in rows:
            lessons_done.setdefault((row.listener_id, row.course_id), set()).add(row.lesson_id)
        counts = []
        for course in courses:
            wanted = {lsn.id for lsn in course.teaching}  # a course is finished when its lessons are (tests aside)
            finished = sum(1 for (_, cid), got in lessons_done.items() if cid == course.id and wanted <= got)
            counts.append(machine.CourseCount(course.title, finished, len(course.teaching)))
        return machine.VillageFigures(" ".join(name.split()), people, tuple(counts)), f"village:{name.strip()}"
    return None, ""
