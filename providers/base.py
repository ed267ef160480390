"""The provider interface for outbound traffic, in our own words.

Each provider is a package (``providers/twilio``, ``providers/africastalking``, ``providers/local``)
with a ``voice`` and an ``sms`` module. Inbound webhooks are parsed by those modules into our own
events; outbound traffic goes through the two protocols below. Provider vocabulary (CallStatus
values, AT status strings) is mapped to ours with lookup tables inside those modules and never
leaks inward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.vocabulary import CallStatus, MessageStatus


class ProviderError(Exception):
    """The provider could not be reached or refused the request as a whole."""


@dataclass(frozen=True)
class OutboundSms:
    to: str  # E.164
    body: str
    reference: str  # our own id (e.g. the message row id), for logs and correlation


@dataclass(frozen=True)
class SmsSendResult:
    reference: str
    to: str
    status: MessageStatus  # queued | sent | failed
    provider_message_id: str | None = None
    provider_status: str = ""
    error: str = ""  # the provider's reason, kept


class SmsSender(Protocol):
    name: str
    max_batch: int  # recipients per provider request (Twilio 1; Africa's Talking many)

    def send(self, messages: Sequence[OutboundSms]) -> list[SmsSendResult]:
        """Hand messages to the provider; one result per message, in order. Called after commit."""
        ...


class SentLookup(Protocol):
    """Optional, for senders whose provider can be asked what it received (reconciling a crashed send)."""

    def find_sent(self, message: OutboundSms, since: datetime) -> SmsSendResult | None:
        """The provider's record of this message if it received it since ``since``, else None."""
        ...


@dataclass(frozen=True)
class OutboundCall:
    to: str  # E.164
    reference: str  # our own id (the call session row id)


@dataclass(frozen=True)
class CallPlaceResult:
    reference: str
    to: str
    status: CallStatus  # queued | failed
    provider_call_id: str | None = None
    provider_status: str = ""
    error: str = ""


class VoiceDialer(Protocol):
    name: str

    def place_call(self, call: OutboundCall) -> CallPlaceResult:
        """Ask the provider to ring ``call.to``; the call then reaches our voice webhook. After commit."""
        ...


# --- the turn counter, echoed in the URLs we render ------------------------------------------------

MAX_TURN = 100_000  # far above any call's number of requests


def turn_param(turn: int | None) -> str:
    """``&t=<n>`` for a URL we render (the provider echoes it: a retried request names the turn it repeats)."""
    return f"&t={turn}" if turn is not None else ""


def parse_turn(raw: str | None) -> int | None:
    """The ``t`` we rendered, or None when it is absent or not one of ours (junk is never an error here)."""
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) > MAX_TURN:
        return None
    return int(text)
