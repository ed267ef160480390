"""Provider-neutral inbound events: what a provider module parses a webhook into.

SMS: ``IncomingSms`` (a text a listener sent) and ``DeliveryReport`` (what became of one we sent).
Voice: ``CallStarted``, ``KeysPressed``, ``NoKeys``, ``Recorded`` (the phone studio) and ``CallUpdate``, each
about one ``CallRef``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.vocabulary import CallStatus, Direction, MessageStatus

# --- SMS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingSms:
    """A text a listener sent us."""

    provider: str  # local | twilio | africastalking
    phone: str  # as the provider gave it; normalised by the service
    text: str
    provider_message_id: str | None = None  # for de-duplicating a provider's retries


@dataclass(frozen=True)
class DeliveryReport:
    """What became of a message we sent. ``status`` is ours; the provider's word and reason are kept."""

    provider: str
    provider_message_id: str
    status: MessageStatus
    provider_status: str
    error: str = ""
    reference: str = ""  # our own outbox row id, when the provider echoes it (a gateway's delivery-report URL)


# --- voice ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRef:
    provider: str  # local | twilio | africastalking
    provider_call_id: str
    phone: str  # the listener's number as the provider gave it (not yet normalised)
    direction: Direction
    reference: str = ""  # our own CallSession id, when the provider echoes it (outbound calls)
    retry_key: str = ""  # the provider's idempotency token: the same on a retried request (Twilio)
    turn: int | None = None  # the turn this request answers, echoed from the URL we rendered (None: not said)


@dataclass(frozen=True)
class CallStarted:
    """The call is answered and asks for instructions (or the provider asks again)."""

    call: CallRef


@dataclass(frozen=True)
class KeysPressed:
    call: CallRef
    digits: str


@dataclass(frozen=True)
class NoKeys:
    """The prompt timed out with no key."""

    call: CallRef


@dataclass(frozen=True)
class Recorded:
    """A ``<Record>`` ended: where the provider keeps the recording (``url`` "" when nothing was recorded)."""

    call: CallRef
    url: str
    recording_id: str = ""  # the provider's id of the recording (Twilio RecordingSid), "" when it has none
    duration_seconds: int | None = None
    hung_up: bool = False  # the caller hung up while recording


@dataclass(frozen=True)
class CallUpdate:
    """A status report: progress (ringing, answered) or the final status, with duration and cost."""

    call: CallRef
    status: CallStatus
    provider_status: str
    duration_seconds: int | None = None
    cost: float | None = None
    currency: str = ""


CallEvent = CallStarted | KeysPressed | NoKeys | Recorded | CallUpdate
