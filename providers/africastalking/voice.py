"""Africa's Talking voice: the secret path segment, callbacks parsed into our events, AT voice XML, calls.

One callback URL per number, ``POST /ivr/at/<AT_CALLBACK_SECRET>/voice``, receives the first
request of every call (inbound, and outbound with ``direction=Outbound``), the ``<GetDigits>``
callbacks (``?ev=digits``), the phone studio's partial ``<Record>`` callback (``?ev=record``, with
``recordingUrl``), the ``<Redirect>`` that follows a GetDigits with no key
(``?ev=timeout``: AT sends nothing on a timeout, it moves to the next action), both with ``&t=<turn>``
(the number of the request they answer: a retried request is recognised), and the final
``isActive=0`` notification with duration and cost (answered with an empty ``<Response/>``).
AT has no signature: the unguessable secret segment (and HTTPS) is the check; without a secret
configured, every request is refused.

AT's ``<Say>`` reads English only: recordings are played with ``<Play>``; a text without recording
plays the French recording of the same item if there is one, else is read by ``<Say>`` (ivr/audio.py).
"""

from __future__ import annotations

import hmac
import json
from xml.etree import ElementTree as ET

import requests
from africastalking.Service import AfricasTalkingException
from flask import Request

from core.config import Settings
from core.events import CallEvent, CallRef, CallStarted, CallUpdate, KeysPressed, NoKeys, Recorded
from core.vocabulary import CallStatus, Direction
from core.voice import VoiceTurn
from providers import fields
from providers.africastalking.client import at_voice
from providers.base import CallPlaceResult, OutboundCall, ProviderError, never_reached, parse_turn, turn_param

NAME = "africastalking"
SAY_VOICE = "woman"

# callSessionState of the final notification -> our words
SESSION_STATE = {
    "completed": CallStatus.COMPLETED,
    "notanswered": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "aborted": CallStatus.FAILED,
    "rejected": CallStatus.NO_ANSWER,
    "ringing": CallStatus.RINGING,
    "active": CallStatus.IN_PROGRESS,
}
# hangupCause of a call that was not answered -> our words (more precise than the state)
UNANSWERED_CAUSE = {
    "USER_BUSY": CallStatus.BUSY,
    "ORIGINATOR_CANCEL": CallStatus.CANCELED,
    "NO_ANSWER": CallStatus.NO_ANSWER,
    "NO_USER_RESPONSE": CallStatus.NO_ANSWER,
    "CALL_REJECTED": CallStatus.NO_ANSWER,
    "SUBSCRIBER_ABSENT": CallStatus.NO_ANSWER,
    "UNALLOCATED_NUMBER": CallStatus.FAILED,
    "USER_NOT_REGISTERED": CallStatus.FAILED,
    "SERVICE_UNAVAILABLE": CallStatus.FAILED,
    "NORMAL_TEMPORARY_FAILURE": CallStatus.FAILED,
}
# entry status of the outbound call API -> our words
CALL_API_STATUS = {"queued": CallStatus.QUEUED}
DIRECTION = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND}


def callback_path(settings: Settings) -> str:
    return f"/ivr/at/{settings.at_callback_secret}/voice"


# --- verify ---------------------------------------------------------------------------------------


def verify(secret: str, settings: Settings) -> bool:
    expected = settings.at_callback_secret
    return bool(expected) and hmac.compare_digest(secret.encode(), expected.encode())


# --- parse ----------------------------------------------------------------------------------------


def parse(request: Request) -> CallEvent:
    """A callback as our event; every field bounded (``providers.fields``): junk raises ``ValueError``."""
    form = request.form
    session_id = fields.ident(form.get("sessionId"), "sessionId")
    if not session_id:
        raise ValueError("no sessionId")
    direction_word = fields.word(form.get("direction"), "direction")
    direction = DIRECTION.get(direction_word.lower())
    if direction is None:
        raise ValueError(f"unknown direction {fields.shown(direction_word)}")
    phone = fields.phone(form.get("callerNumber"), "callerNumber")
    call = CallRef(NAME, session_id, phone, direction, turn=parse_turn(request.args.get("t")))
    active = fields.word(form.get("isActive"), "isActive")
    if active == "0":
        return _final(call, form)
    if active != "1":
        raise ValueError(f"isActive must be 0 or 1, got {fields.shown(active)}")
    digits = fields.digits(form.get("dtmfDigits"), "dtmfDigits")
    ev = request.args.get("ev", "")
    if ev == "record":  # after a partial <Record>: ``recordingUrl``, "" when nothing was recorded
        url = fields.text(form.get("recordingUrl")).strip()
        if url and (not url.startswith("https://") or len(url) > 300 or any(c.isspace() for c in url)):
            raise ValueError(f"recordingUrl {fields.shown(url)}")
        return Recorded(call, url)
    if digits:
        return KeysPressed(call, digits)
    if ev in ("digits", "timeout"):
        return NoKeys(call)
    if not call.phone:
        raise ValueError("no callerNumber")
    return CallStarted(call)


def _final(call: CallRef, form) -> CallUpdate:
    state = fields.word(form.get("callSessionState"), "callSessionState")
    status = SESSION_STATE.get(state.lower().replace(" ", ""), CallStatus.FAILED if state else CallStatus.COMPLETED)
    cause = fields.word(form.get("hangupCause"), "hangupCause").upper()
    if status != CallStatus.COMPLETED and cause in UNANSWERED_CAUSE:
        status = UNANSWERED_CAUSE[cause]
    if not status.final:
        status = CallStatus.COMPLETED  # isActive=0 means the call is over
    currency = fields.word(form.get("currencyCode"), "currencyCode")
    return CallUpdate(
        call,
        status,
        "/".join(x for x in (state, cause) if x),
        duration_seconds=fields.duration(form.get("durationInSeconds")),
        cost=fields.amount(form.get("amount")),
        currency=currency[:3] if currency.isalpha() else "",
    )


# --- render ---------------------------------------------------------------------------------------


def render(turn: VoiceTurn, settings: Settings) -> str:
    root = ET.Element("Response")
    if turn.reject:
        ET.SubElement(root, "Reject")
    elif turn.record is not None:  # a partial Record: its callbackUrl receives ``recordingUrl``
        url = settings.public_base_url + callback_path(settings)
        turn_query = turn_param(turn.turn)
        record = ET.SubElement(
            root,
            "Record",
            finishOnKey=turn.record.finish_on_key,
            maxLength=str(turn.record.max_seconds),
            trimSilence="true",
            playBeep="true",
            callbackUrl=f"{url}?ev=record{turn_query}",
        )
        _speak_all(record, turn)
    elif turn.gather is not None:
        url = settings.public_base_url + callback_path(settings)
        turn_query = turn_param(turn.turn)
        gather = ET.SubElement(
            root,
            "GetDigits",
            timeout=str(turn.gather.timeout_seconds),
            numDigits=str(turn.gather.num_digits),
            finishOnKey=turn.gather.finish_on_key or "#",
            callbackUrl=f"{url}?ev=digits{turn_query}",
        )
        _speak_all(gather, turn)
        redirect = ET.SubElement(root, "Redirect")
        redirect.text = f"{url}?ev=timeout{turn_query}"
    else:
        _speak_all(root, turn)  # the call ends after the last action
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def _speak_all(parent: ET.Element, turn: VoiceTurn) -> None:
    for utterance in turn.say:
        url = utterance.audio_url or utterance.alt_audio_url
        if url:
            ET.SubElement(parent, "Play", url=url)
        else:
            say = ET.SubElement(parent, "Say", voice=SAY_VOICE)
            say.text = utterance.tts_text or utterance.text


def fetch_recording(url: str, settings: Settings) -> bytes:
    """A recording Africa's Talking keeps at ``url`` (HTTPS; the SDK itself uses plain ``requests``).
    ``ProviderError`` when it cannot be had now."""
    if not url.startswith("https://"):
        raise ProviderError("not an HTTPS recording address")
    try:
        answer = requests.get(url, timeout=(3.05, 30))
    except requests.RequestException as exc:
        raise ProviderError(f"unreachable: {exc.__class__.__name__}") from exc
    if answer.status_code != 200:
        raise ProviderError(f"HTTP {answer.status_code}")
    return answer.content


# --- outbound -------------------------------------------------------------------------------------


class AfricasTalkingDialer:
    """``POST /call`` through the SDK; the callbacks are correlated by the returned ``sessionId``
    (the python SDK cannot send ``clientRequestId``; the service also matches a just-placed call by number)."""

    name = NAME

    def __init__(self, settings: Settings):
        self.settings = settings

    def place_call(self, call: OutboundCall) -> CallPlaceResult:
        try:
            answer = at_voice(self.settings).call(self.settings.at_voice_number, [call.to])
        except ValueError as exc:  # the SDK's phone check
            return CallPlaceResult(call.reference, call.to, CallStatus.FAILED, error=str(exc)[:200])
        except (AfricasTalkingException, requests.RequestException) as exc:
            error = f"unreachable: {exc.__class__.__name__}" if isinstance(exc, OSError) else str(exc)[:200]
            return CallPlaceResult(
                call.reference, call.to, CallStatus.FAILED, error=error, retryable=never_reached(exc)
            )
        if isinstance(answer, str):  # the SDK returns text unless the content type is exactly application/json
            try:
                answer = json.loads(answer)
            except ValueError as exc:
                raise ProviderError(f"unreadable answer from Africa's Talking: {answer[:100]!r}") from exc
        entries = (answer or {}).get("entries") or []
        if not entries:
            error = str((answer or {}).get("errorMessage") or "no entry in the answer")
            return CallPlaceResult(call.reference, call.to, CallStatus.FAILED, error=error[:200])
        entry = entries[0]
        word = str(entry.get("status", ""))
        status = CALL_API_STATUS.get(word.lower(), CallStatus.FAILED)
        return CallPlaceResult(
            call.reference,
            call.to,
            status,
            provider_call_id=entry.get("sessionId") or None,
            provider_status=word,
            error="" if status == CallStatus.QUEUED else word,
        )


def build(settings: Settings) -> AfricasTalkingDialer:
    return AfricasTalkingDialer(settings)
