"""The voice line's service: one provider-neutral event in, one provider-neutral voice turn out.

It finds (or creates) the call session and the listener, runs the menu state machine
(``ivr.menu``) and, inside lessons, the learning engine through ``listeners.progress.take_turn``
(which saves the bookmark after every chunk and every answer), records the path of menu nodes
and the call's status in our own words, and schedules the missed-call callback. It flushes; the
edge (route, CLI) commits once. It never calls a provider.

**Turns are serialised and answered once.** The call session's row and its listener's row are locked
first (PostgreSQL ``FOR NO KEY UPDATE``; on SQLite the transaction holds the write lock) and reloaded, so
concurrent requests of one call — a provider's retry, a duplicate — run one after the other. Each answer
is numbered: the URLs it renders carry ``t=<n>``, the number of the next request, and the session keeps
the last answer. A request that carries an older number (or the provider's idempotency token of the last
request, or a repeated first request) is a retry: it gets the same answer again and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from content.catalog import get_catalog
from core.db import db
from core.events import CallEvent, CallRef, CallStarted, CallUpdate, KeysPressed, NoKeys, Recorded
from core.phones import InvalidPhone, mask_phone, normalize_phone
from core.signals import call_finished
from core.vocabulary import CallStatus, Channel, Direction
from core.voice import Gather, Record, Utterance, VoiceTurn
from engine import HangUp
from ivr import menu, studio
from ivr.audio import utterance, utterances
from ivr.callbacks import callback_pending, schedule_callback
from ivr.models import CallSession, bounded_path
from listeners.models import LessonProgress, Listener, ProgressStatus
from listeners.progress import remember, take_turn
from listeners.service import find_or_create_listener, give_consent, lock_listener, mark_locked, opt_out

log = logging.getLogger(__name__)

GATHER = Gather(num_digits=1, timeout_seconds=6)
MISSED = (CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.CANCELED, CallStatus.REJECTED)
TURN_KEY = "turn"  # in CallSession.state: how many requests of this call were answered
REPLAY_KEY = "_replay"  # in CallSession.state: the last answer {"turn": n, "key": token, "answer": ...}


class UnknownCall(LookupError):
    """Keys or a timeout for a call we have no record of."""


def handle(event: CallEvent, now: datetime) -> VoiceTurn:
    """Answer one webhook event. Raises ``UnknownCall`` or ``InvalidPhone`` for requests we cannot place."""
    session, listener = load_session(event.call)
    if isinstance(event, CallUpdate):
        return _update(session, event, now)
    if session is None:
        if not isinstance(event, CallStarted):
            raise UnknownCall(f"{event.call.provider} call {event.call.provider_call_id!r} is unknown")
        session, listener = _new_inbound(event.call, now)
    elif not session.provider_call_id:
        session.provider_call_id = event.call.provider_call_id
    if listener is None:
        listener = find_or_create_listener(session.phone, now)
        lock_listener(listener)
        session.listener_id = listener.id
    state = dict(session.state or {})
    replay = _replay(state, event)
    if replay is not None:  # the provider asked again for a request we answered: same answer, nothing moves
        return turn_from_json(replay)
    answered = int(state.get(TURN_KEY) or 0)
    settings = current_app.config["KALANSO"]

    if (
        isinstance(event, CallStarted)
        and session.direction == Direction.INBOUND
        and not state.get("node")
        and settings.missed_call_reject
        and settings.missed_call_callback
        and not studio.offered(session)  # an editor calling the studio is answered, not called back
        and (schedule_callback(listener, session, now, settings) is not None or callback_pending(listener.phone))
    ):
        _set_status(session, CallStatus.REJECTED, "", now)
        _visit(session, now, "rejected")
        turn = VoiceTurn(say=(), gather=None, reject=True, session_id=session.id, node="rejected")
        _remember(session, {**state, "node": "rejected"}, answered, event.call, turn)
        db.session.flush()
        call_finished.send(session, now=now)
        return turn

    studio_out = studio.answer(session, state, event, now)  # an editor's call: the phone studio (ivr/studio.py)
    if studio_out is not None and not studio_out.to_line:
        return _studio_turn(session, studio_out, answered, event.call, now)
    if studio_out is not None:  # the editor chose the listener line: it begins
        state, event = studio_out.state, CallStarted(event.call)

    ctx = context(listener)
    if isinstance(event, CallStarted):
        step = menu.begin(state, ctx)
    elif isinstance(event, KeysPressed):
        step = menu.press(state, ctx, event.digits)
    else:
        assert isinstance(event, NoKeys | Recorded)
        step = menu.silence(state, ctx)
    step = _apply(step, listener, ctx, now)

    if session.status in (CallStatus.QUEUED, CallStatus.RINGING):
        _set_status(session, CallStatus.IN_PROGRESS, session.provider_status, now)
    _visit(session, now, *step.nodes)
    session.updated_at = now
    lang = listener.language or settings.default_language
    turn = VoiceTurn(
        say=utterances(step.lines, lang, now),
        gather=GATHER if step.listen else None,
        session_id=session.id,
        node=step.state.get("node", ""),
        turn=answered + 1 if step.listen else None,
    )
    _remember(session, step.state, answered, event.call, turn)
    db.session.flush()
    return turn


def _studio_turn(session: CallSession, out: studio.Out, answered: int, call: CallRef, now: datetime) -> VoiceTurn:
    if session.status in (CallStatus.QUEUED, CallStatus.RINGING):
        _set_status(session, CallStatus.IN_PROGRESS, session.provider_status, now)
    _visit(session, now, *out.nodes)
    session.updated_at = now
    turn = studio.turn(out, session.id, answered, now)
    _remember(session, out.state, answered, call, turn)
    db.session.flush()
    return turn


def _replay(state: dict[str, Any], event: CallEvent) -> dict | None:
    """The stored answer when this request is a retry of one already answered, else None."""
    last = state.get(REPLAY_KEY)
    if not last:
        return None
    call = event.call
    if call.retry_key and last.get("key") == call.retry_key:
        return last["answer"]
    if call.turn is not None:  # the URL we rendered says which request this is
        return last["answer"] if call.turn < int(state.get(TURN_KEY) or 0) else None
    if isinstance(event, CallStarted) and last.get("turn") == 0:  # the first request, asked again
        return last["answer"]
    return None


def _remember(session: CallSession, state: dict[str, Any], answered: int, call: CallRef, turn: VoiceTurn) -> None:
    last = {"turn": answered, "key": call.retry_key, "answer": turn_to_json(turn)}
    session.state = {**state, TURN_KEY: answered + 1, REPLAY_KEY: last}


def turn_to_json(turn: VoiceTurn) -> dict:
    """The answer as JSON (by hand: ``dataclasses.asdict`` deep-copies, and this runs every turn)."""
    return {
        "say": [
            {"text": u.text, "lang": u.lang, "stem": u.stem, "audio_url": u.audio_url, "tts_text": u.tts_text,
             "alt_audio_url": u.alt_audio_url}
            for u in turn.say
        ],
        "gather": None if turn.gather is None else {
            "num_digits": turn.gather.num_digits, "timeout_seconds": turn.gather.timeout_seconds,
            "finish_on_key": turn.gather.finish_on_key,
        },
        "record": None if turn.record is None else {
            "max_seconds": turn.record.max_seconds, "finish_on_key": turn.record.finish_on_key,
            "silence_seconds": turn.record.silence_seconds,
        },
        "reject": turn.reject,
        "session_id": turn.session_id,
        "node": turn.node,
        "turn": turn.turn,
    }  # fmt: skip


def turn_from_json(data: dict) -> VoiceTurn:
    gather = Gather(**data["gather"]) if data.get("gather") else None
    record = Record(**data["record"]) if data.get("record") else None
    say = tuple(Utterance(**u) for u in data.get("say", ()))
    return VoiceTurn(
        say=say, gather=gather, reject=data.get("reject", False), session_id=data.get("session_id"),
        node=data.get("node", ""), turn=data.get("turn"), record=record,
    )  # fmt: skip


def apology(lang: str | None = None) -> VoiceTurn:
    """A polite end for a request we cannot serve (no database needed, nothing counted)."""
    lang = lang or current_app.config["KALANSO"].default_language
    sorry = utterance(menu.Prompt("sorry"), lang, count=False, studio=False)
    return VoiceTurn(say=(sorry,), gather=None, node="sorry")


_BY_REFERENCE = (CallSession.id == bindparam("reference")) & (CallSession.provider == bindparam("provider"))
_BY_CALL_ID = (CallSession.provider == bindparam("provider")) & (
    CallSession.provider_call_id == bindparam("provider_call_id")
)
_JUST_PLACED = (
    (CallSession.provider == bindparam("provider"))
    & CallSession.provider_call_id.is_(None)
    & (CallSession.direction == Direction.OUTBOUND)
    & (CallSession.phone == bindparam("phone"))
)


def _session_queries(condition, newest_first: bool = False) -> dict[bool, tuple]:
    """(session with its listener, session alone) for SQLite and for PostgreSQL (locked), built once."""
    out = {}
    for postgres in (False, True):
        alone = select(CallSession).where(condition)
        if newest_first:
            alone = alone.order_by(CallSession.id.desc()).limit(1)
        joined = alone.add_columns(Listener).join(Listener, Listener.id == CallSession.listener_id)
        if postgres:
            joined = joined.with_for_update(of=[CallSession, Listener], key_share=True)
            alone = alone.with_for_update(key_share=True)
        out[postgres] = (
            joined.execution_options(populate_existing=True),
            alone.execution_options(populate_existing=True),
        )
    return out


_QUERIES = {
    "reference": _session_queries(_BY_REFERENCE),
    "call_id": _session_queries(_BY_CALL_ID),
    "just_placed": _session_queries(_JUST_PLACED, newest_first=True),
}


def load_session(call: CallRef) -> tuple[CallSession | None, Listener | None]:
    """The call's session and its listener, locked and reloaded (see the module's docstring).

    By our reference (outbound calls), else by the provider's call id; else a just-placed outbound call to
    the same number whose provider id is not stored yet (Africa's Talking)."""
    lookups = []
    if call.reference.isdigit() and len(call.reference) <= 10 and int(call.reference) < 2**31:
        lookups.append(("reference", {"reference": int(call.reference), "provider": call.provider}))
    if call.provider_call_id:
        lookups.append(("call_id", {"provider": call.provider, "provider_call_id": call.provider_call_id}))
    if call.direction == Direction.OUTBOUND and call.phone:
        lookups.append(("just_placed", {"provider": call.provider, "phone": _e164_or_raw(call.phone)}))
    postgres = db.session.get_bind().dialect.name == "postgresql"
    for name, params in lookups:
        joined, alone = _QUERIES[name][postgres]
        row = db.session.execute(joined, params).first()
        if row is not None:
            mark_locked(row[1].id)
            return row[0], row[1]
        session = db.session.scalars(alone, params).first()  # a session whose listener is gone (deleted)
        if session is not None:
            return session, None
    return None, None


def find_session(call: CallRef) -> CallSession | None:
    return load_session(call)[0]


_MENUS: dict[int, tuple] = {}  # id(catalog) -> (catalog, course entries, lessons offered)
_PROGRESS_OF = (
    select(LessonProgress)
    .where(LessonProgress.listener_id == bindparam("listener_id"))
    .order_by(LessonProgress.updated_at.desc())
)


def _menu_of(catalog) -> tuple[tuple[menu.CourseEntry, ...], frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    """The course and lesson menus of a catalog, built once (a catalog never changes once loaded): the courses,
    every lesson offered, and the lessons that teach (the pre-tests and post-tests aside)."""
    found = _MENUS.get(id(catalog))
    if found is None or found[0] is not catalog:
        courses = tuple(
            menu.CourseEntry(c.id, c.title, tuple(menu.LessonEntry(lesson.id, lesson.title) for lesson in c.lessons))
            for c in catalog
        )
        offered = frozenset((c.id, lesson.id) for c in courses for lesson in c.lessons)
        teaching = frozenset((c.id, lesson.id) for c in catalog for lesson in c.teaching)
        found = _MENUS[id(catalog)] = (catalog, courses, offered, teaching)
    return found[1], found[2], found[3]


def context(listener: Listener) -> menu.Context:
    """What the menus need to know about a listener: language, courses, lesson in progress, scores (the progress
    counts the lessons that teach, as the SMS line does; a test is marked done in the lesson list)."""
    courses, offered, teaching = _menu_of(get_catalog())
    loaded = db.session.scalars(_PROGRESS_OF, {"listener_id": listener.id}).all()
    remember(listener, loaded)
    rows = [r for r in loaded if (r.course_id, r.lesson_id) in offered]
    resume = next(
        ((r.course_id, r.lesson_id) for r in rows if r.status == ProgressStatus.IN_PROGRESS and _mid_lesson(r)), None
    )
    done = [r for r in rows if r.status == ProgressStatus.COMPLETED]
    learnt = [r for r in done if (r.course_id, r.lesson_id) in teaching]
    return menu.Context(
        language=listener.language,
        courses=courses,
        resume=resume,
        completed=len(learnt),
        done=frozenset((r.course_id, r.lesson_id) for r in done),
        lessons=len(teaching),
        score=sum(r.best_score or 0 for r in learnt),
        total=sum(r.total or 0 for r in learnt),
    )


def _mid_lesson(row: LessonProgress) -> bool:
    bookmark = row.bookmark or {}
    return bool(bookmark.get("started"))


def _apply(step: menu.Step, listener: Listener, ctx: menu.Context, now: datetime) -> menu.Step:
    """Carry out the menu's effects, in order; a lesson turn adds what the engine answered."""
    out = menu.Step(step.state, step.lines, step.listen, (), step.nodes)
    for effect in step.effects:
        if isinstance(effect, menu.SetLanguage):
            listener.set_language(effect.lang, "voice")
            give_consent(listener, now, "voice")
        elif isinstance(effect, menu.OptOut):
            opt_out(listener, now, "voice")
            log.info("listener %s opted out by key during a call", listener.id)
        elif isinstance(effect, menu.LessonTurn):
            course = get_catalog().course(effect.course_id)
            result = take_turn(listener, course, effect.lesson_id, effect.event, channel=Channel.VOICE, now=now)
            out = out.then(menu.lesson_result(step.state, ctx, result, course.lesson(effect.lesson_id)))
    return out


def _update(session: CallSession | None, event: CallUpdate, now: datetime) -> VoiceTurn:
    """A status report or final notification: record it; a drop leaves the bookmark as saved."""
    if session is None:
        if not event.status.final or not event.call.phone:
            raise UnknownCall(f"{event.call.provider} status for an unknown call")
        session, _listener = _new_inbound(event.call, now)  # a call that never reached our voice webhook
    elif not session.provider_call_id:
        session.provider_call_id = event.call.provider_call_id
    if event.duration_seconds is not None:
        session.duration_seconds = event.duration_seconds
    if event.cost is not None:
        session.cost, session.currency = event.cost, event.currency[:3]
    was_final = session.status.final
    if was_final and not event.status.final:
        session.provider_status = event.provider_status[:40]  # late, out-of-order progress report
        db.session.flush()
        return VoiceTurn(say=(), gather=None, session_id=session.id, node="status")
    if not (session.status == CallStatus.REJECTED and event.status.final):
        _set_status(session, event.status, event.provider_status, now)
    else:
        session.provider_status = event.provider_status[:40]
    if event.status.final and not was_final:
        _finish(session, now)
    db.session.flush()
    return VoiceTurn(say=(), gather=None, session_id=session.id, node="status")


def _finish(session: CallSession, now: datetime) -> None:
    session.ended_at = session.ended_at or now
    _visit(session, now, "hangup" if session.answered_at else session.status.value)
    listener = db.session.get(Listener, session.listener_id) if session.listener_id else None
    if listener is not None:
        lock_listener(listener)
    state = session.state or {}
    if listener is not None and state.get("node") == "lesson" and state.get("course_id"):
        course = get_catalog().course(state["course_id"])
        take_turn(listener, course, state["lesson_id"], HangUp(), channel=Channel.VOICE, now=now)
        session.state = {**state, "node": "end"}
    settings = current_app.config["KALANSO"]
    if (
        listener is not None
        and session.direction == Direction.INBOUND
        and session.status in MISSED
        and settings.missed_call_callback
    ):
        schedule_callback(listener, session, now, settings)
    call_finished.send(session, now=now)


def _new_inbound(call: CallRef, now: datetime) -> tuple[CallSession, Listener]:
    """The session of a call we hear of for the first time. Two first requests of one call at once (a retry
    racing the original): the unique (provider, call id) lets one insert; the other waits for it to commit,
    finds it, and is answered as a retry."""
    listener = find_or_create_listener(call.phone, now)
    session = CallSession(
        provider=call.provider,
        provider_call_id=call.provider_call_id or None,
        listener_id=listener.id,
        phone=listener.phone,
        direction=call.direction,
        status=CallStatus.RINGING,
        state={"entry": "menu"},
        path=[],
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(session)
    except IntegrityError:
        found, found_listener = load_session(call)
        if found is None:
            raise
        return found, found_listener or listener
    lock_listener(listener)
    log.info("call %s from %s (%s)", session.id, mask_phone(listener.phone), call.provider)
    return session, listener


def _set_status(session: CallSession, status: CallStatus, provider_status: str, now: datetime) -> None:
    session.status = status
    session.provider_status = (provider_status or "")[:40]
    if status == CallStatus.IN_PROGRESS and session.answered_at is None:
        session.answered_at = now
    if status.final:
        session.ended_at = session.ended_at or now
    session.updated_at = now


def _visit(session: CallSession, now: datetime, *labels: str) -> None:
    """Append ``labels`` to the call's path (one assignment per turn: the row is written once anyway)."""
    if labels:
        at = now.isoformat()
        session.path = bounded_path([*(session.path or []), *([at, label] for label in labels)])


def _e164_or_raw(phone: str) -> str:
    try:
        return normalize_phone(phone)
    except InvalidPhone:
        return phone
