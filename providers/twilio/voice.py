"""Twilio voice: parse webhooks into our events, render TwiML, place calls (signatures: ``signature.py``).

Webhooks: ``POST /ivr/twilio/voice`` (the first request of every call, inbound or outbound, and
every ``<Gather>`` action: ``?ev=gather``; the ``<Redirect>`` after a Gather: ``?ev=timeout``; both carry
``&t=<turn>``, the number of the request they answer, so that a retried request is recognised) and
``POST /ivr/twilio/status`` (status callbacks). ``<Gather actionOnEmptyResult="true">`` makes a
timeout reach us; the ``<Redirect>`` after it is a second net should it ever fall through.
"""

from __future__ import annotations

import requests
from flask import Request
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.twiml.voice_response import VoiceResponse

from core.config import Settings
from core.events import CallEvent, CallRef, CallStarted, CallUpdate, KeysPressed, NoKeys
from core.vocabulary import CallStatus, Direction
from core.voice import Utterance, VoiceTurn
from providers import fields
from providers.base import CallPlaceResult, OutboundCall, never_reached, parse_turn, turn_param
from providers.twilio.client import twilio_client

NAME = "twilio"
VOICE_PATH = "/ivr/twilio/voice"
STATUS_PATH = "/ivr/twilio/status"
TTS_LANGUAGE = "fr-FR"
TTS_VOICE = "Polly.Lea"

STATUS = {
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


def parse_voice(request: Request) -> CallEvent:
    call = _ref(request)
    ev = request.args.get("ev", "")
    if ev == "gather":
        digits = fields.digits(request.form.get("Digits"), "Digits")
        return KeysPressed(call, digits) if digits else NoKeys(call)
    if ev == "timeout":
        return NoKeys(call)
    if not call.phone:
        raise ValueError("no caller number")
    return CallStarted(call)


def parse_status(request: Request) -> CallUpdate:
    call = _ref(request)
    word = fields.word(request.form.get("CallStatus"), "CallStatus")
    status = STATUS.get(word.lower())
    if status is None:
        raise ValueError(f"unknown CallStatus {fields.shown(word)}")
    return CallUpdate(call, status, word, duration_seconds=fields.duration(request.form.get("CallDuration")))


# --- render ---------------------------------------------------------------------------------------


def _speak(parent, utterance: Utterance) -> None:
    if utterance.audio_url:
        parent.play(utterance.audio_url)
    else:  # French TTS; a Bambara text without recording is read transliterated (ivr/audio.py)
        parent.say(utterance.tts_text or utterance.text, language=TTS_LANGUAGE, voice=TTS_VOICE)


def render(turn: VoiceTurn, settings: Settings) -> str:
    response = VoiceResponse()
    if turn.reject:
        response.reject(reason="rejected")
        return str(response)
    if not turn.say and turn.gather is None:
        return str(response)  # status callbacks: nothing to do
    if turn.gather is None:
        for utterance in turn.say:
            _speak(response, utterance)
        response.hangup()
        return str(response)
    base = settings.public_base_url + VOICE_PATH
    turn_query = turn_param(turn.turn)
    gather = response.gather(
        action=f"{base}?ev=gather{turn_query}",
        method="POST",
        input="dtmf",
        num_digits=turn.gather.num_digits,
        timeout=turn.gather.timeout_seconds,
        finish_on_key="",
        action_on_empty_result=True,
    )
    for utterance in turn.say:
        _speak(gather, utterance)
    response.redirect(f"{base}?ev=timeout{turn_query}", method="POST")
    return str(response)


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
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                timeout=45,
            )
        except TwilioRestException as exc:
            return CallPlaceResult(call.reference, call.to, CallStatus.FAILED, error=f"{exc.code}: {exc.msg}"[:200])
        except (TwilioException, requests.RequestException) as exc:
            error = f"unreachable: {exc.__class__.__name__}"
            return CallPlaceResult(
                call.reference, call.to, CallStatus.FAILED, error=error, retryable=never_reached(exc)
            )
        word = str(created.status or "queued")
        status = STATUS.get(word, CallStatus.QUEUED)
        return CallPlaceResult(call.reference, call.to, status, provider_call_id=created.sid, provider_status=word)


def build(settings: Settings) -> TwilioDialer:
    return TwilioDialer(settings)
