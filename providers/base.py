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
    retryable: bool = False  # failed before the provider could receive it (no connection): try again later


class SmsSender(Protocol):
    """What the sender process calls to send SMS (one instance per worker thread)."""

    name: str
    max_batch: int  # recipients per provider request (Twilio 1; Africa's Talking many)

    def send(self, messages: Sequence[OutboundSms]) -> list[SmsSendResult]:
        """Hand messages to the provider; one result per message, in order. Never raises for a provider's
        refusal or an unreachable provider: those are results (``failed``, ``retryable`` when the request
        certainly never arrived)."""
        ...


class SentLookup(Protocol):
    """Optional, for SMS senders whose provider can be asked what it received (reconciling a crashed send)."""

    def find_sent(self, message: OutboundSms, since: datetime) -> SmsSendResult | None:
        """The provider's record of this message if it received it since ``since``, else None. Raises
        ``ProviderError`` when the provider cannot be asked right now."""
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
    retryable: bool = False  # failed before the provider could receive it (no connection): try again later


class VoiceDialer(Protocol):
    """What the sender process calls to place calls (one instance per worker thread)."""

    name: str

    def place_call(self, call: OutboundCall) -> CallPlaceResult:
        """Ask the provider to ring ``call.to``; the call then reaches our voice webhook with ``call.reference``.
        A refusal or an unreachable provider is a result (``failed``, ``retryable`` when the request certainly
        never arrived); ``ProviderError`` only for an answer that cannot be understood."""
        ...


def never_reached(exc: BaseException) -> bool:
    """Whether a failed HTTP request certainly never reached the provider (it could not even connect): such a
    send is safe to try again. A timeout or a reset after connecting is not: the provider may have it."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout | ConnectionRefusedError):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
        return isinstance(reason, NewConnectionError | ConnectTimeoutError | ConnectionRefusedError)
    return False


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
