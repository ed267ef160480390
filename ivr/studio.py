"""The phone studio: an editor (or reviewer) records the Bambara texts the line still speaks without a recording.

A call from the number of a user who may record and has a studio PIN (``studio.service.studio_user``) first hears
the studio's welcome: the PIN then ``#`` opens the studio (three tries; a wrong PIN is said; the PIN is never
logged; ``PIN_LOCK_AFTER`` wrong PINs in a row, across calls, lock the phone studio until a new PIN is chosen),
``#`` alone (or silence) goes on to the normal listener line. In the studio, item after item:

1. the next of ``most_needed(studio_texts(catalog, recordable prompts), "bm")`` not passed over on this call, said
   as where it is ("Leçon : <title>, morceau 2"), then its French text as a guide (its French recording, else TTS);
2. "Après le bip, dites ce texte en bambara. Tapez dièse pour finir." and ``<Record>`` (120 s at most, ``#`` ends);
3. the take played back (the provider's recording URL), then 1 keep, 2 again, 3 pass over, 0 finish.

A kept take becomes a ``StudioTake`` row (unique per provider recording: a retried webhook keeps it once); the
scheduler's job (``ivr.studio_fetch``) fetches it from the provider after the call and stores it as the text's
recording, which callers hear from their next call.

**Call me to record.** A user who may record, signed in on the dashboard, asks the line to call the phone on their
account (``call_me``): an outbound call (``Purpose.STUDIO``) whose state is ``{"entry": "studio", "studio_user":
<id>}``. Answered, it opens the studio without the PIN (they asked while signed in with their password): a short
greeting (``studio-called``), then the first text, as after a right PIN. If that number is no longer theirs, or
they may no longer record, the call says goodbye. One such call at a time: none while another for them was asked
for less than ``CALL_AGAIN_AFTER`` ago and is still queued, ringing or in progress.

``step`` is the pure flow (state in ``CallSession.state``, our events in); ``answer`` is its service for
``ivr.service.handle``. On the local simulator the page records with the browser's microphone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from accounts.roles import Permission, allowed
from content.catalog import get_catalog
from content.model import Localized
from core.db import db
from core.events import CallEvent, CallStarted, KeysPressed, Recorded
from core.phones import mask_phone
from core.vocabulary import CallStatus, Direction, Purpose
from core.voice import Gather, Record, Utterance, VoiceTurn
from ivr.audio import utterance
from ivr.menu import Prompt, Said
from ivr.models import CallSession, StudioTake, TakeStatus
from ivr.outbound import start_call
from ivr.prompts import is_template, load_prompts
from listeners.service import find_or_create_listener, may_contact
from studio.service import StudioText, enter_pin, most_needed, pin_locked, recorder, studio_texts, studio_user

log = logging.getLogger(__name__)

KEY = "studio"  # in CallSession.state: the studio's own state
ENTRY = "studio"  # CallSession.state["entry"] of a studio call a user asked for; state["studio_user"] says who
CALL_AGAIN_AFTER = timedelta(minutes=15)  # a studio call asked for and not over blocks another one this long
LANG = "bm"  # the language recorded
SPOKEN = "fr"  # the language of the studio's instructions and guides
PIN_TRIES = 3
SILENCES = 3  # silences (or empty takes) in a row before the studio says goodbye
PIN = Gather(num_digits=9, timeout_seconds=10, finish_on_key="#")
CHOICE = Gather(num_digits=1, timeout_seconds=8)
RECORD = Record(max_seconds=120, finish_on_key="#", silence_seconds=10)
NO_STUDIO_PROVIDERS: tuple[str, ...] = ()  # every provider records (the simulator with the page's microphone)


@dataclass(frozen=True)
class Take:
    """The caller's take, played back from the provider's storage."""

    url: str


StudioLine = Prompt | Said | Take


@dataclass(frozen=True)
class Keep:
    url: str
    recording_id: str
    duration_seconds: int | None
    stem: str


@dataclass(frozen=True)
class Out:
    state: dict[str, Any]
    lines: tuple[StudioLine, ...] = ()
    gather: Gather | None = None
    record: bool = False
    keep: Keep | None = None
    to_line: bool = False  # leave the studio: the normal listener line begins
    nodes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Item:
    """The next text to record and what is said before it (where it is)."""

    stem: str
    where: tuple[StudioLine, ...]
    guide: Localized


def in_studio(state: dict[str, Any]) -> bool:
    return str(state.get("node", "")).startswith("studio-")


def begin(state: dict[str, Any], user_id: int) -> Out:
    own = {"user": user_id, "tries": 0, "silences": 0, "skipped": []}
    return Out({**state, "node": "studio-pin", KEY: own}, (Prompt("studio-welcome"),), gather=PIN, nodes=("studio",))


def begin_called(state: dict[str, Any], user_id: int, next_item: Callable[..., Item | None]) -> Out:
    """A studio call the user asked for, answered: no PIN, the greeting, then the first text."""
    own = {"user": user_id, "tries": 0, "silences": 0, "skipped": [], "called": True}
    out = _next({**state, KEY: own}, own, (Prompt("studio-called"),), next_item)
    return Out(out.state, out.lines, out.gather, out.record, nodes=("studio", *out.nodes))


def step(
    state: dict[str, Any],
    event: CallEvent,
    *,
    pin_ok: Callable[[str], bool],
    next_item: Callable[..., Item | None],  # (skipped stems, stem=None) -> the next text, or ``stem`` again
) -> Out:
    """The studio's answer to one event (pure: the PIN check and the next text are passed in)."""
    node = state.get("node")
    own = dict(state.get(KEY) or {})
    if node == "studio-pin":
        if not isinstance(event, KeysPressed):  # "#" alone (an empty entry) or silence: the listener line
            rest = {k: v for k, v in state.items() if k not in (KEY, "node")}
            return Out(rest, to_line=True)
        if pin_ok(event.digits):
            own["tries"] = 0
            return _next({**state, KEY: own}, own, (), next_item)
        own["tries"] = int(own.get("tries", 0)) + 1
        if own["tries"] >= PIN_TRIES:
            return _bye(state, own, Prompt("studio-pin-wrong"), Prompt("goodbye"))
        return Out({**state, KEY: own}, (Prompt("studio-pin-wrong"), Prompt("studio-welcome")), gather=PIN)
    if node == "studio-record":
        if isinstance(event, Recorded) and event.hung_up:
            return _bye(state, own)
        if isinstance(event, Recorded) and event.url:
            own["silences"] = 0
            own["take"] = {
                "url": event.url, "id": event.recording_id, "duration": event.duration_seconds,
                "stem": own.get("stem", ""),
            }  # fmt: skip
            return Out(
                {**state, "node": "studio-take", KEY: own},
                (Prompt("studio-take-intro"), Take(event.url), Prompt("studio-take-menu")),
                gather=CHOICE,
            )
        return _silence(state, own, next_item, again=True)
    if node == "studio-take":
        take = own.get("take") or {}
        digits = event.digits if isinstance(event, KeysPressed) else ""
        if not digits:
            return _silence(state, own, next_item, again=False)
        own["silences"] = 0
        if digits == "1" and take.get("url"):
            keep = Keep(take["url"], take.get("id") or "", take.get("duration"), take.get("stem") or "")
            own.pop("take", None)
            own["skipped"] = [*own.get("skipped", []), keep.stem]  # kept: not offered again on this call
            out = _next({**state, KEY: own}, own, (Prompt("studio-kept"),), next_item)
            return Out(out.state, out.lines, out.gather, out.record, keep, nodes=out.nodes)
        if digits == "2":
            own.pop("take", None)
            return _record({**state, KEY: own}, own, (), next_item, own.get("stem", ""))
        if digits == "3":
            own.pop("take", None)
            own["skipped"] = [*own.get("skipped", []), own.get("stem", "")]
            return _next({**state, KEY: own}, own, (), next_item)
        if digits == "0":
            return _bye(state, own, Prompt("studio-bye"))
        return Out({**state, KEY: own}, (Prompt("invalid-key"), Prompt("studio-take-menu")), gather=CHOICE)
    if node == "studio-end":  # a late request after the goodbye: nothing more
        return Out(state)
    return _bye(state, own, Prompt("studio-bye"))  # a state we do not know: end politely


def _next(state, own, before: tuple[StudioLine, ...], next_item) -> Out:
    item = next_item(list(own.get("skipped", [])))
    if item is None:
        return _bye(state, own, *before, Prompt("studio-all-done"))
    own["stem"] = item.stem
    return _say_item({**state, "node": "studio-record", KEY: own}, before, item)


def _record(state, own, before, next_item, stem: str) -> Out:
    """The same text again (a new take)."""
    item = next_item(list(own.get("skipped", [])), stem)
    if item is None:
        return _next(state, own, before, next_item)
    return _say_item({**state, "node": "studio-record", KEY: own}, before, item)


def _say_item(state, before, item: Item) -> Out:
    lines = (*before, *item.where, Said(item.guide), Prompt("studio-after-beep"))
    return Out(state, lines, record=True)


def _silence(state, own, next_item, *, again: bool) -> Out:
    own["silences"] = int(own.get("silences", 0)) + 1
    if own["silences"] >= SILENCES:
        return _bye(state, own, Prompt("studio-nothing"), Prompt("studio-bye"))
    if again:  # nothing was recorded: the same text again
        return _record({**state, KEY: own}, own, (Prompt("studio-nothing"),), next_item, own.get("stem", ""))
    take = own.get("take") or {}
    lines = (Prompt("studio-take-intro"), Take(take["url"])) if take.get("url") else ()
    return Out({**state, KEY: own}, (*lines, Prompt("studio-take-menu")), gather=CHOICE)


def _bye(state, own, *lines: StudioLine) -> Out:
    own.pop("take", None)
    return Out({**state, "node": "studio-end", KEY: own}, tuple(lines), nodes=("goodbye",))


# --- the service ------------------------------------------------------------------------------------


def recordable_texts() -> list[StudioText]:
    """Every text to record: the courses' texts, then the prompts not spoken by text-to-speech."""
    prompts = {key: text for key, text in load_prompts().items() if not is_template(key)}
    return studio_texts(get_catalog(), prompts)


def _item(text: StudioText, texts: list[StudioText]) -> Item:
    if text.lesson_id:
        course = get_catalog().course(text.course_id)
        lesson = course.lesson(text.lesson_id)
        same = [t.stem for t in texts if t.course_id == text.course_id and t.lesson_id == text.lesson_id]
        piece = same.index(text.stem) + 1
        where = (Prompt("studio-lesson"), Said(lesson.title), Prompt("studio-piece", (("piece", piece),)))
    elif text.course_id:
        where = (Prompt("studio-course"), Said(get_catalog().course(text.course_id).title))
    else:
        where = (Prompt("studio-menu-text"),)
    return Item(text.stem, where, text.text)


def _next_item(skipped: list[str], stem: str | None = None) -> Item | None:
    texts = recordable_texts()
    if stem:  # the same text again
        found = next((t for t in texts if t.stem == stem), None)
        return _item(found, texts) if found is not None else None
    waiting = set(  # kept on an earlier call, not fetched yet
        db.session.scalars(
            select(StudioTake.stem).where(StudioTake.lang == LANG, StudioTake.status == TakeStatus.PENDING)
        )
    )
    for text in most_needed(texts, LANG):
        if text.stem not in skipped and text.stem not in waiting:
            return _item(text, texts)
    return None


def offered(session: CallSession) -> User | None:
    """Who may enter the studio on this call: an inbound call (not on the simulator) from a studio user's number."""
    if session.direction != Direction.INBOUND or session.provider in NO_STUDIO_PROVIDERS or not session.phone:
        return None
    return studio_user(session.phone)


def answer(session: CallSession, state: dict[str, Any], event: CallEvent, now: datetime) -> Out | None:
    """The studio's answer, or None when this call is not (or no longer) in the studio."""
    if isinstance(event, CallStarted) and state.get("entry") == ENTRY and not state.get("node"):
        return _called(session, state)
    if isinstance(event, CallStarted):
        user = offered(session) if not state.get("node") else None
        if user is None:
            return None
        log.info("call %s from %s: studio offered", session.id, mask_phone(session.phone))
        return begin(state, user.id)
    if not in_studio(state):
        return None
    own = state.get(KEY) or {}
    user_id = int(own.get("user") or 0)
    # a call they asked for needs no PIN (``recorder``); a call they made, the PIN (``studio_user``)
    who = recorder if own.get("called") else studio_user
    user = who(session.phone) if session.phone else None
    if user is None or user.id != user_id:  # no longer allowed to record (deactivated, role or PIN removed)
        return Out({**state, "node": "studio-end"}, (Prompt("goodbye"),))
    out = step(state, event, pin_ok=lambda pin: enter_pin(user, pin, now), next_item=_next_item)
    if out.state.get("node") == "studio-pin" and pin_locked(user):  # that wrong PIN locked the phone studio
        return _bye(out.state, dict(out.state[KEY]), Prompt("studio-pin-wrong"), Prompt("goodbye"))
    if out.keep is not None:
        keep_take(session, user.id, out.keep, now)
    return out


def _called(session: CallSession, state: dict[str, Any]) -> Out:
    """A studio call a user asked for, answered: the studio if that number is still theirs and they may still record,
    else a polite goodbye."""
    user_id = int(state.get("studio_user") or 0)
    user = recorder(session.phone) if session.phone and session.direction == Direction.OUTBOUND else None
    if user is None or user.id != user_id:
        log.info("studio call %s to %s: no longer for user %s, goodbye", session.id, mask_phone(session.phone), user_id)
        return Out({**state, "node": "studio-end"}, (Prompt("goodbye"),), nodes=("goodbye",))
    log.info("studio call %s to %s answered: studio for user %s", session.id, mask_phone(session.phone), user_id)
    return begin_called(state, user.id, _next_item)


# --- call me to record ------------------------------------------------------------------------------------------


class CallRefused(Exception):
    """Why no studio call is placed: ``reason`` is one of ``CALL_REFUSALS`` (the dashboard says it in words)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


CALL_REFUSALS = ("not_allowed", "no_phone", "opted_out", "already")

_ACTIVE = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


def call_me(user: User, now: datetime) -> CallSession:
    """Ask the line to call ``user``'s phone for the studio (flushes; the caller commits and audits). Raises
    ``CallRefused``: they may not record; no phone on their account; that number opted out of the line; or a studio
    call for them asked for less than ``CALL_AGAIN_AFTER`` ago is not over yet. The user's row is locked first, so
    two requests at once place one call."""
    locked = select(User).where(User.id == user.id).with_for_update(key_share=True)
    user = db.session.scalars(locked.execution_options(populate_existing=True)).one()
    if not (user.active and allowed(user.role, Permission.RECORD)):
        raise CallRefused("not_allowed")
    if not user.phone:
        raise CallRefused("no_phone")
    listener = find_or_create_listener(user.phone, now)
    if not may_contact(listener):
        raise CallRefused("opted_out")
    waiting = select(CallSession.id).where(
        CallSession.created_at >= now - CALL_AGAIN_AFTER,
        CallSession.direction == Direction.OUTBOUND,
        CallSession.status.in_(_ACTIVE),
        CallSession.state["entry"].as_string() == ENTRY,
        CallSession.state["studio_user"].as_integer() == user.id,
    )
    if db.session.scalars(waiting.limit(1)).first() is not None:
        raise CallRefused("already")
    session = start_call(listener, {"entry": ENTRY, "studio_user": user.id}, now, purpose=Purpose.STUDIO)
    if session is None:  # opted out (checked above; start_call checks again)
        raise CallRefused("opted_out")
    log.info("studio call %s to %s asked for by user %s", session.id, mask_phone(user.phone), user.id)
    return session


def keep_take(session: CallSession, user_id: int, keep: Keep, now: datetime) -> StudioTake | None:
    """Save a kept take for fetching; a second keep of the same provider recording changes nothing."""
    key = keep.recording_id or hashlib.sha256(keep.url.encode()).hexdigest()[:40]
    take = StudioTake(
        provider=session.provider,
        recording_key=key,
        url=keep.url,
        lang=LANG,
        stem=keep.stem,
        user_id=user_id,
        call_session_id=session.id,
        duration_seconds=keep.duration_seconds,
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(take)
    except IntegrityError:
        log.info("call %s: take %s already kept", session.id, key)
        return None
    log.info("call %s: take of %s kept for fetching", session.id, keep.stem)
    return take


def turn(out: Out, session_id: int, answered: int, now: datetime) -> VoiceTurn:
    """The studio's answer as a voice turn: instructions and guides in French, the take from the provider."""
    say: list[Utterance] = []
    for line in out.lines:
        if isinstance(line, Take):
            say.append(Utterance(text="(lecture de votre enregistrement)", lang=LANG, stem="", audio_url=line.url))
        else:
            say.append(utterance(line, SPOKEN, count=False, now=now))
    waits = out.gather is not None or out.record
    return VoiceTurn(
        say=tuple(say),
        gather=out.gather,
        record=RECORD if out.record else None,
        session_id=session_id,
        node=str(out.state.get("node", "")),
        turn=answered + 1 if waits else None,
    )
