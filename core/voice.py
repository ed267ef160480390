"""The provider-neutral voice turn the voice service answers with; each provider module renders it
(TwiML, Africa's Talking XML, the simulator's JSON)."""

from __future__ import annotations

from dataclasses import dataclass


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
    finish_on_key: str = ""  # "#": the caller ends a longer entry (a PIN) with the hash key


@dataclass(frozen=True)
class Record:
    """Record the caller after a beep (the phone studio): until ``finish_on_key`` or ``max_seconds``."""

    max_seconds: int = 120
    finish_on_key: str = "#"
    silence_seconds: int = 10  # Twilio: stop after this much silence


@dataclass(frozen=True)
class VoiceTurn:
    say: tuple[Utterance, ...]
    gather: Gather | None  # None: hang up after saying
    reject: bool = False  # decline the call unanswered (missed-call callback): nothing is said
    session_id: int | None = None
    node: str = ""  # the menu node the caller is at (for the simulator)
    turn: int | None = None  # the number of the next request, echoed back by the provider (idempotency)
    record: Record | None = None  # after saying, record the caller (then the provider posts the recording's URL)

    @property
    def hangup(self) -> bool:
        return self.gather is None and self.record is None
