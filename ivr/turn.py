"""Provider-neutral voice vocabulary: the events a provider module parses a webhook into, and the
"voice turn" the service answers with, which each provider module renders (TwiML, AT XML, JSON).
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.models import CallStatus, Direction

# --- events (parsed from a provider's webhook) ---------------------------------------------------


@dataclass(frozen=True)
class CallRef:
    provider: str  # local | twilio | africastalking
    provider_call_id: str
    phone: str  # the listener's number as the provider gave it (not yet normalised)
    direction: Direction
    reference: str = ""  # our own CallSession id, when the provider echoes it (outbound calls)
    retry_key: str = ""  # the provider's idempotency token: the same on a retried request (Twilio)


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
class CallUpdate:
    """A status report: progress (ringing, answered) or the final status, with duration and cost."""

    call: CallRef
    status: CallStatus
    provider_status: str
    duration_seconds: int | None = None
    cost: float | None = None
    currency: str = ""


CallEvent = CallStarted | KeysPressed | NoKeys | CallUpdate


# --- the answer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    """One thing to say: play ``audio_url`` when there is a recording, else fall back (see ivr/audio.py)."""

    text: str  # the text as written (shown by the simulator)
    lang: str  # bm | fr
    stem: str  # recording stem under content/audio/<lang>/
    audio_url: str | None = None  # the recording in ``lang``
    tts_text: str = ""  # text for a French TTS voice (Bambara transliterated: ɛ→è, ɔ→ò, ɲ→gn, ŋ→ng)
    alt_audio_url: str | None = None  # for a Bambara text without recording: the French recording, if any


@dataclass(frozen=True)
class Gather:
    num_digits: int = 1
    timeout_seconds: int = 6


@dataclass(frozen=True)
class VoiceTurn:
    say: tuple[Utterance, ...]
    gather: Gather | None  # None: hang up after saying
    reject: bool = False  # decline the call unanswered (missed-call callback): nothing is said
    session_id: int | None = None
    node: str = ""  # the menu node the caller is at (for the simulator)

    @property
    def hangup(self) -> bool:
        return self.gather is None
