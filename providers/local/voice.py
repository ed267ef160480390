"""The built-in simulator's voice provider: JSON in, JSON out, nothing leaves the machine.

The browser simulator (``/simulator``) and ``flask simulate call`` send actions
(``dial``, ``key``, ``timeout``, ``hangup``, and ``answer`` for a call we placed) and get each
voice turn back as JSON: the texts to show, the recordings to play, and whether to listen for a key.
Outbound calls (missed-call callbacks, campaigns) are "placed" by queueing them for the simulator.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app

from core.config import Settings
from core.events import CallEvent, CallRef, CallStarted, CallUpdate, KeysPressed, NoKeys
from core.vocabulary import CallStatus, Direction
from core.voice import VoiceTurn
from providers import fields
from providers.base import CallPlaceResult, OutboundCall, parse_turn

NAME = "local"
HANGUP_WORD = "hangup"


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
        return CallStarted(CallRef(NAME, f"SIM{uuid.uuid4().hex}", phone, Direction.INBOUND))
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
    raise ValueError(f"unknown action {fields.shown(action)}")


def render(turn: VoiceTurn, event: CallEvent | None) -> dict[str, Any]:
    return {
        "call": event.call.provider_call_id if event is not None else None,
        "node": turn.node,
        "lines": [{"text": u.text, "lang": u.lang, "stem": u.stem, "audio_url": u.audio_url} for u in turn.say],
        "listen": turn.gather is not None,
        "timeout_seconds": turn.gather.timeout_seconds if turn.gather else None,
        "rejected": turn.reject,
        "ended": turn.gather is None,
        "turn": turn.turn,
    }


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
