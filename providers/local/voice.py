"""The built-in simulator's voice provider: JSON in, JSON out, nothing leaves the machine.

The browser simulator (``/simulator``) and ``flask simulate call`` send actions and get each voice turn
back as JSON: the texts to show, the recordings to play, and whether to listen for a key.

- ``dial``: the listener calls the line; ``key``, ``timeout`` (a silence), ``hangup`` (the listener hangs up:
  the final status ``completed``);
- ``missed``: the listener rings and hangs up before the answer (a missed call: the final status
  ``no-answer`` of a call the line never answered, which schedules the free callback);
- for a call we placed (missed-call callback, campaign), which rings in the simulator: ``answer``, or the
  final status a provider would report instead (``status`` = ``no-answer``, ``busy``, or ``declined``,
  which a provider reports as ``busy`` — Twilio: a callee who rejects the call gives ``busy``);
- ``status`` = ``completed``: the final status a provider sends once the line itself ended the call
  (goodbye after silences, opt-out, end of a campaign call);
- ``recorded`` with ``take`` (the phone studio): the page recorded the microphone when the turn asked to
  (``record``), uploaded it (``POST /simulator/takes``: the take's id) and goes on like a provider's
  ``<Record>`` action; ``take`` "" when nothing was recorded.

Outbound calls are "placed" by queueing them for the simulator (``LocalDialer``).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from flask import current_app

from core.config import Settings
from core.events import CallEvent, CallRef, CallStarted, CallUpdate, KeysPressed, NoKeys, Recorded
from core.vocabulary import CallStatus, Direction
from core.voice import VoiceTurn
from providers import fields
from providers.base import CallPlaceResult, OutboundCall, ProviderError, parse_turn

NAME = "local"
HANGUP_WORD = "hangup"
MISSED_WORD = "no-answer"
# the final statuses the simulator reports, in the simulator's (Twilio-like) words -> ours
FINAL_STATUS: dict[str, CallStatus] = {
    "completed": CallStatus.COMPLETED,
    "no-answer": CallStatus.NO_ANSWER,
    "busy": CallStatus.BUSY,
    "declined": CallStatus.BUSY,
}


def enabled(settings: Settings) -> bool:
    """The simulator is for trying the line: on with the local provider, or in debug and tests."""
    return settings.voice_provider == NAME or current_app.debug or current_app.testing


def parse(data: dict[str, Any]) -> CallEvent:
    """A simulator action as our event; fields bounded like a provider's (``providers.fields``)."""
    if not isinstance(data, dict):
        raise ValueError("a simulator action is a JSON object")
    action = fields.word(str(data.get("action", "")), "action")
    phone = fields.phone(str(data.get("phone", "")), "phone")
    call_id = fields.ident(str(data.get("call", "")), "call")
    if action == "dial":
        return CallStarted(CallRef(NAME, new_call_id(), phone, Direction.INBOUND))
    if action == "missed":  # rang and hung up before the line answered: only the final status arrives
        return CallUpdate(CallRef(NAME, new_call_id(), phone, Direction.INBOUND), CallStatus.NO_ANSWER, MISSED_WORD)
    if not call_id:
        raise ValueError("no call id")
    if action == "answer":  # the simulator picks up a call we placed
        return CallStarted(CallRef(NAME, call_id, phone, Direction.OUTBOUND))
    call = CallRef(NAME, call_id, phone, Direction.INBOUND, turn=parse_turn(str(data.get("turn", ""))))
    if action == "key":
        digits = fields.digits(str(data.get("digits", "")), "digits")
        return KeysPressed(call, digits) if digits else NoKeys(call)
    if action == "timeout":
        return NoKeys(call)
    if action == "hangup":
        return CallUpdate(call, CallStatus.COMPLETED, HANGUP_WORD)
    if action == "recorded":
        take = str(data.get("take", "") or "")
        if take and not TAKE_ID.match(take):
            raise ValueError(f"unknown take {fields.shown(take)}")
        url = f"{current_app.config['KALANSO'].public_base_url}{TAKES_PATH}/{take}" if take else ""
        return Recorded(call, url, take)
    if action == "status":
        word = fields.word(str(data.get("status", "")), "status").lower()
        if word not in FINAL_STATUS:
            raise ValueError(f"unknown call status {fields.shown(word)}")
        return CallUpdate(call, FINAL_STATUS[word], word)
    raise ValueError(f"unknown action {fields.shown(action)}")


TAKES_PATH = "/simulator/takes"
TAKE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_TAKE_BYTES = 8 * 1024 * 1024


def takes_dir() -> Path:
    """Where the simulator keeps the takes its page recorded (the provider's storage, here)."""
    return Path(current_app.instance_path) / "simulator-takes"


def take_path(take: str) -> Path | None:
    if not TAKE_ID.match(take or ""):
        return None
    path = takes_dir() / take
    return path if path.is_file() else None


def save_take(data: bytes) -> str:
    """Keep an uploaded take; its id."""
    if not data or len(data) > MAX_TAKE_BYTES:
        raise ValueError("empty or too big a take")
    take = uuid.uuid4().hex
    folder = takes_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / take).write_bytes(data)
    return take


def fetch_recording(url: str, settings: Settings) -> bytes:
    """A take the simulator's page recorded (its id ends the URL)."""
    path = take_path(url.rsplit("/", 1)[-1])
    if path is None:
        raise ProviderError("no such take")
    return path.read_bytes()


def new_call_id() -> str:
    return f"SIM{uuid.uuid4().hex}"


def render(turn: VoiceTurn, event: CallEvent | None, *, audio_base: str | None = None) -> dict[str, Any]:
    """The turn as the simulator's JSON. ``audio_base``: the address the recordings are fetched from
    (``""``: relative to the page that asks, so that they follow the host and port it was served from);
    ``None`` keeps the absolute ``PUBLIC_BASE_URL`` addresses (the terminal simulator shows those)."""
    return {
        "call": event.call.provider_call_id if event is not None else None,
        "node": turn.node,
        "lines": [
            {"text": u.text, "lang": u.lang, "stem": u.stem, "audio_url": _rebased(u.audio_url, audio_base)}
            for u in turn.say
        ],
        "listen": turn.gather is not None,
        "timeout_seconds": turn.gather.timeout_seconds if turn.gather else None,
        "num_digits": turn.gather.num_digits if turn.gather else None,  # more than 1: keys are typed, then sent
        "finish_on_key": turn.gather.finish_on_key if turn.gather else "",  # "#": ends what was typed
        "record": None
        if turn.record is None
        else {
            "max_seconds": turn.record.max_seconds,
            "finish_on_key": turn.record.finish_on_key,
        },
        "rejected": turn.reject,
        "ended": turn.gather is None and turn.record is None,
        "turn": turn.turn,
    }


def _rebased(url: str | None, base: str | None) -> str | None:
    public = current_app.config["KALANSO"].public_base_url
    if url is None or base is None or not url.startswith(public + "/"):
        return url
    return base + url[len(public) :]


class LocalDialer:
    """Queues the call for the simulator: the number's simulator phone rings (``/simulator``)."""

    name = NAME

    def __init__(self, settings: Settings):
        self.settings = settings

    def place_call(self, call: OutboundCall) -> CallPlaceResult:
        return CallPlaceResult(
            call.reference,
            call.to,
            CallStatus.QUEUED,
            provider_call_id=f"SIMOUT{call.reference}",
            provider_status="queued",
        )


def build(settings: Settings) -> LocalDialer:
    return LocalDialer(settings)
