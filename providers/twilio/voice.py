"""Twilio voice: parse webhooks into our events, render TwiML, place calls (signatures: ``signature.py``).

Webhooks: ``POST /ivr/twilio/voice`` (the first request of every call, inbound or outbound, and
every ``<Gather>`` action: ``?ev=gather``; the phone studio's ``<Record>`` action: ``?ev=record``; the
``<Redirect>`` after a Gather or a Record: ``?ev=timeout``; all carry
``&t=<turn>``, the number of the request they answer, so that a retried request is recognised) and
``POST /ivr/twilio/status`` (status callbacks). ``<Gather actionOnEmptyResult="true">`` makes a
timeout reach us; the ``<Redirect>`` after it is a second net should it ever fall through.

The same code serves Twilio and Somleng (``TWILIO_COMPATIBLE``); what differs is in ``dialect.py``: the status
words, the ``<Say>`` voice, the options of a new call and where recordings live.
"""

from __future__ import annotations

import requests
from flask import Request
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.twiml.voice_response import VoiceResponse

from core.config import Settings
from core.events import CallEvent, CallRef, CallStarted, CallUpdate, KeysPressed, NoKeys, Recorded
from core.vocabulary import CallStatus, Direction
from core.voice import Utterance, VoiceTurn
from providers import fields
from providers.base import CallPlaceResult, OutboundCall, ProviderError, never_reached, parse_turn, turn_param
from providers.twilio.client import twilio_client
from providers.twilio.dialect import dialect, recordings_prefix

NAME = "twilio"
VOICE_PATH = "/ivr/twilio/voice"
STATUS_PATH = "/ivr/twilio/status"
TTS_LANGUAGE = "fr-FR"

DIRECTION = {"inbound": Direction.INBOUND, "outbound-api": Direction.OUTBOUND, "outbound-dial": Direction.OUTBOUND}


# --- parse ----------------------------------------------------------------------------------------
# The request has passed providers.webhooks.provider_webhook and providers.twilio.signature.verify; every
# field is still bounded here (providers.fields): a ValueError makes the route answer with the apology.


def _ref(request: Request) -> CallRef:
    form = request.form
    call_sid = fields.ident(form.get("CallSid"), "CallSid")
    if not call_sid:
        raise ValueError("no CallSid")
    direction_word = fields.word(form.get("Direction", "inbound"), "Direction")
    direction = DIRECTION.get(direction_word.lower())
    if direction is None:
        raise ValueError(f"unknown Direction {fields.shown(direction_word)}")
    party = "From" if direction == Direction.INBOUND else "To"
    phone = fields.phone(form.get(party), party)
    retry_key = fields.token(request.headers.get("I-Twilio-Idempotency-Token"))
    reference = fields.reference(request.args.get("ref"))
    return CallRef(NAME, call_sid, phone, direction, reference, retry_key, parse_turn(request.args.get("t")))


def parse_voice(request: Request, settings: Settings) -> CallEvent:
    call = _ref(request)
    ev = request.args.get("ev", "")
    if ev == "gather":
        digits = fields.digits(request.form.get("Digits"), "Digits")
        return KeysPressed(call, digits) if digits else NoKeys(call)
    if ev == "timeout":
        return NoKeys(call)
    if ev == "record":
        return parse_recorded(call, request.form, settings)
    if not call.phone:
        raise ValueError("no caller number")
    return CallStarted(call)


def parse_recorded(call: CallRef, form, settings: Settings) -> Recorded:
    """A ``<Record>`` action: ``RecordingUrl``, ``RecordingSid``, ``RecordingDuration``, ``Digits`` (the key that
    ended it, or ``hangup``). Somleng sends the URL and the duration only."""
    url = fields.text(form.get("RecordingUrl")).strip()
    if url and (not url.startswith(recordings_prefix(settings)) or len(url) > 300 or any(c.isspace() for c in url)):
        raise ValueError(f"RecordingUrl outside the platform: {fields.shown(url)}")
    sid = fields.ident(form.get("RecordingSid"), "RecordingSid")
    ended = fields.word(form.get("Digits"), "Digits")
    return Recorded(call, url, sid, fields.duration(form.get("RecordingDuration")), hung_up=ended == "hangup")


def parse_status(request: Request, settings: Settings) -> CallUpdate:
    call = _ref(request)
    word = fields.word(request.form.get("CallStatus"), "CallStatus")
    status = dialect(settings).call_status.get(word.lower())
    if status is None:
        raise ValueError(f"unknown CallStatus {fields.shown(word)}")
    return CallUpdate(call, status, word, duration_seconds=fields.duration(request.form.get("CallDuration")))


# --- render ---------------------------------------------------------------------------------------


def _speak(parent, utterance: Utterance, voice: str | None) -> None:
    if utterance.audio_url:
        parent.play(utterance.audio_url)
    else:  # French TTS; a Bambara text without recording is read transliterated (ivr/audio.py)
        parent.say(utterance.tts_text or utterance.text, language=TTS_LANGUAGE, voice=voice)


def render(turn: VoiceTurn, settings: Settings) -> str:
    voice = dialect(settings).tts_voice
    response = VoiceResponse()
    if turn.reject:
        response.reject(reason="rejected")
        return str(response)
    base = settings.public_base_url + VOICE_PATH
    turn_query = turn_param(turn.turn)
    if turn.record is not None:  # the phone studio: say, beep, record; the action receives the recording's URL
        for utterance in turn.say:
            _speak(response, utterance, voice)
        response.record(
            action=f"{base}?ev=record{turn_query}",
            method="POST",
            max_length=turn.record.max_seconds,
            finish_on_key=turn.record.finish_on_key,
            timeout=turn.record.silence_seconds,
            play_beep=True,
            trim="trim-silence",
        )
        response.redirect(f"{base}?ev=timeout{turn_query}", method="POST")  # nothing recorded: Twilio goes on
        return str(response)
    if not turn.say and turn.gather is None:
        return str(response)  # status callbacks: nothing to do
    if turn.gather is None:
        for utterance in turn.say:
            _speak(response, utterance, voice)
        response.hangup()
        return str(response)
    gather = response.gather(
        action=f"{base}?ev=gather{turn_query}",
        method="POST",
        input="dtmf",
        num_digits=turn.gather.num_digits,
        timeout=turn.gather.timeout_seconds,
        finish_on_key=turn.gather.finish_on_key,
        action_on_empty_result=True,
    )
    for utterance in turn.say:
        _speak(gather, utterance, voice)
    response.redirect(f"{base}?ev=timeout{turn_query}", method="POST")
    return str(response)


def fetch_recording(url: str, settings: Settings) -> bytes:
    """A recording's WAV with the account's credentials, through the session of the SDK's HTTP client
    (``TwilioHttpClient.request`` would hand the audio back decoded as text, and Twilio and Somleng answer a
    recording with a redirect to their storage). ``ProviderError`` if it cannot be had yet: a recording may take
    a moment to become fetchable."""
    if not url.startswith(recordings_prefix(settings)):
        raise ProviderError("not a recording address of the platform")
    http = twilio_client(settings).http_client
    session = getattr(http, "session", None) or requests.Session()
    try:
        answer = session.get(url + ".wav", auth=(settings.twilio_account_sid, settings.twilio_auth_token), timeout=30)
    except requests.RequestException as exc:
        raise ProviderError(f"unreachable: {exc.__class__.__name__}") from exc
    if answer.status_code != 200:
        raise ProviderError(f"HTTP {answer.status_code}")
    return answer.content


def delete_recording(url: str, settings: Settings) -> None:
    """Delete a recording at Twilio once we keep our own copy (a voice is personal data, and Twilio charges for
    storage). ``ProviderError`` when Twilio does not confirm (a recording already gone counts as deleted), and
    always on Somleng, whose API cannot delete a recording."""
    if not dialect(settings).deletes_recordings:
        raise ProviderError(f"{settings.twilio_compatible} has no API to delete a recording")
    if not url.startswith(recordings_prefix(settings)):
        raise ProviderError("not a recording address of the platform")
    http = twilio_client(settings).http_client
    session = getattr(http, "session", None) or requests.Session()
    try:
        answer = session.delete(
            url + ".json", auth=(settings.twilio_account_sid, settings.twilio_auth_token), timeout=30
        )
    except requests.RequestException as exc:
        raise ProviderError(f"unreachable: {exc.__class__.__name__}") from exc
    if answer.status_code not in (204, 404):
        raise ProviderError(f"HTTP {answer.status_code}")


# --- outbound -------------------------------------------------------------------------------------


class TwilioDialer:
    name = NAME

    def __init__(self, settings: Settings):
        self.settings = settings

    def place_call(self, call: OutboundCall) -> CallPlaceResult:
        base = self.settings.public_base_url
        try:
            created = twilio_client(self.settings).calls.create(
                to=call.to,
                from_=self.settings.twilio_number,
                url=f"{base}{VOICE_PATH}?ref={call.reference}",
                method="POST",
                status_callback=f"{base}{STATUS_PATH}?ref={call.reference}",
                status_callback_method="POST",
                **dialect(self.settings).call_options,
            )
        except TwilioRestException as exc:
            return CallPlaceResult(call.reference, call.to, CallStatus.FAILED, error=f"{exc.code}: {exc.msg}"[:200])
        except (TwilioException, requests.RequestException) as exc:
            error = f"unreachable: {exc.__class__.__name__}"
            return CallPlaceResult(
                call.reference, call.to, CallStatus.FAILED, error=error, retryable=never_reached(exc)
            )
        word = str(created.status or "queued")
        status = dialect(self.settings).call_status.get(word, CallStatus.QUEUED)
        return CallPlaceResult(call.reference, call.to, status, provider_call_id=created.sid, provider_status=word)


def build(settings: Settings) -> TwilioDialer:
    return TwilioDialer(settings)
