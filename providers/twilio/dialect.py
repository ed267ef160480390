"""The Twilio-compatible platforms the Twilio provider talks to, and what differs between them, as tables.

``TWILIO_COMPATIBLE`` names the platform behind ``TWILIO_API_BASE_URL``: ``twilio`` (the default) or ``somleng``
(an open-source re-implementation of Twilio's REST API and TwiML, run with local SIMs in a GSM gateway). The facts
and their sources are in docs/somleng.md. Both sign every webhook the same way (``X-Twilio-Signature``, HMAC-SHA1
of the URL and the sorted parameters with the account's auth token: ``signature.py``) and name the parameters
Kalanso reads the same way (``CallSid``, ``From``, ``To``, ``Direction``, ``Digits``, ``CallStatus``,
``MessageSid``, ``Body``, ``MessageStatus``...). They differ in the words they send, the voices ``<Say>`` knows,
the REST parameters they accept and what they keep of a recording — the rows below. Nothing outside
``providers/twilio`` knows which platform is in use: rows say ``twilio`` either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.config import Settings
from core.vocabulary import CallStatus, MessageStatus
from providers.twilio.client import TWILIO_API

# Twilio's words (provider reference §1.3, §5.2) in ours.
CALL_STATUS: dict[str, CallStatus] = {
    "queued": CallStatus.QUEUED,
    "initiated": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "answered": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "failed": CallStatus.FAILED,
    "no-answer": CallStatus.NO_ANSWER,
    "canceled": CallStatus.CANCELED,
}
MESSAGE_STATUS: dict[str, MessageStatus] = {
    "accepted": MessageStatus.QUEUED,
    "scheduled": MessageStatus.QUEUED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
    "partially_delivered": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}
# The words Somleng sends, each meaning what it means at Twilio: its PhoneCallDecorator and MessageDecorator
# translate its own states into these (``received`` is an inbound message's, never a report's).
SOMLENG_CALL_WORDS = ("queued", "ringing", "in-progress", "busy", "failed", "no-answer", "completed", "canceled")
SOMLENG_MESSAGE_WORDS = ("accepted", "scheduled", "queued", "sending", "sent", "failed", "canceled", "delivered")


@dataclass(frozen=True)
class Dialect:
    name: str
    call_status: Mapping[str, CallStatus]  # the CallStatus words it sends, in ours
    message_status: Mapping[str, MessageStatus]  # the MessageStatus words it sends, in ours
    tts_voice: str | None  # <Say voice=...> for French; None: the platform picks its voice for the language
    call_options: Mapping[str, object] = field(default_factory=dict)  # what else calls.create may ask of it
    recordings_at_api: bool = False  # its recordings live under TWILIO_API_BASE_URL (else under TWILIO_API)
    deletes_recordings: bool = True  # its REST API can delete a recording


TWILIO = Dialect(
    name="twilio",
    call_status=CALL_STATUS,
    message_status=MESSAGE_STATUS,
    tts_voice="Polly.Lea",
    # every progress event (a ringing call is worth knowing); 45 s of ringing before no-answer
    call_options={"status_callback_event": ["initiated", "ringing", "answered", "completed"], "timeout": 45},
)
SOMLENG = Dialect(
    name="somleng",
    call_status={word: CALL_STATUS[word] for word in SOMLENG_CALL_WORDS},
    message_status={word: MESSAGE_STATUS[word] for word in SOMLENG_MESSAGE_WORDS},
    # its voices depend on the deployment (Basic.Kal/Slt in English, Polly.*, Azure.*); with a language and no
    # voice it picks the account's TTS provider's voice for that language, else the account's default voice
    tts_voice=None,
    # its Calls schema takes To, From, Url, Method, Twiml, StatusCallback, StatusCallbackMethod only, and it
    # sends one status callback, when the call ends
    call_options={},
    recordings_at_api=True,
    deletes_recordings=False,  # Recordings: index and show only
)
DIALECTS = {d.name: d for d in (TWILIO, SOMLENG)}


def dialect(settings: Settings) -> Dialect:
    """The platform ``TWILIO_COMPATIBLE`` names (validated by ``core.config``)."""
    return DIALECTS[settings.twilio_compatible]


def recordings_prefix(settings: Settings) -> str:
    """Where the platform keeps call recordings: never fetch anything else with the account's credentials."""
    if dialect(settings).recordings_at_api:
        return settings.twilio_api_base_url.rstrip("/") + "/"
    return TWILIO_API + "/"
