"""The voice line's webhooks and audio: verify → parse into our event → service → render.

``POST /ivr/twilio/voice``, ``POST /ivr/twilio/status``, ``POST /ivr/at/<AT_CALLBACK_SECRET>/voice``
and ``GET /audio/<lang>/<stem>.<wav|mp3>``. What no provider sends (not a small plain form) gets 400/413
before anything reads it (``providers.webhooks``); a forged request gets 403 and changes nothing; any
other surprise gets well-formed XML that apologises and ends the call (logged, never a 500).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from flask import Blueprint, Response, abort, current_app, request, send_file

from content.model import LANGUAGES
from content.recordings import cached_recording
from core.clock import utcnow
from core.db import db, with_retry
from core.events import CallEvent
from core.voice import VoiceTurn
from ivr import service
from ivr.audio import flush_fallbacks
from providers.africastalking import voice as at
from providers.twilio import signature
from providers.twilio import voice as twilio
from providers.webhooks import provider_webhook
from studio.playback import published
from studio.storage import storage

bp = Blueprint("ivr", __name__)
log = logging.getLogger(__name__)

AUDIO_CACHE_SECONDS = 7 * 24 * 3600
_AUDIO_NAME = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\.(wav|mp3)$")
XML = "text/xml"


@bp.post(twilio.VOICE_PATH)
@provider_webhook
def twilio_voice():
    settings = current_app.config["KALANSO"]
    if not signature.verify(request, settings):
        abort(403)
    turn = answer(lambda: twilio.parse_voice(request, settings))
    return Response(twilio.render(turn, settings), mimetype=XML)


@bp.post(twilio.STATUS_PATH)
@provider_webhook
def twilio_status():
    settings = current_app.config["KALANSO"]
    if not signature.verify(request, settings):
        abort(403)
    answer(lambda: twilio.parse_status(request, settings))
    return Response(twilio.render(VoiceTurn(say=(), gather=None), settings), mimetype=XML)


@bp.post("/ivr/at/<secret>/voice")
@provider_webhook
def at_voice(secret: str):
    settings = current_app.config["KALANSO"]
    if not at.verify(secret, settings):
        abort(403)
    turn = answer(lambda: at.parse(request))
    return Response(at.render(turn, settings), mimetype=XML)


@bp.get("/audio/<lang>/<path:name>")
def audio(lang: str, name: str):
    """A recording, under a stable URL, cached by the providers (Twilio honours Cache-Control)."""
    if lang not in LANGUAGES or not _AUDIO_NAME.match(name):
        abort(404)
    stem, _, ext = name.rpartition(".")
    mine = published(lang, stem)
    if mine is not None and mine.remote and ext == "wav":  # a studio recording in object storage: a copy here
        path = storage().local_path(mine.file) if current_app.config["KALANSO"].recordings_storage else None
        if path is None:
            abort(404)
        return send_file(path, mimetype="audio/wav", max_age=AUDIO_CACHE_SECONDS, conditional=True)
    path = cached_recording(current_app.config["KALANSO_AUDIO_DIR"], lang, stem)
    if path is None or path.suffix != f".{ext}":
        abort(404)
    root = current_app.config["KALANSO_AUDIO_DIR"].resolve()
    if not path.resolve().is_relative_to(root):
        abort(404)
    mimetype = "audio/wav" if ext == "wav" else "audio/mpeg"
    return send_file(path, mimetype=mimetype, max_age=AUDIO_CACHE_SECONDS, conditional=True)


def answer(parse: Callable[[], CallEvent]) -> VoiceTurn:
    """Parse, run the service and commit once (run again once after a deadlock or a twin request's unique
    key); on any other surprise roll back and end politely."""
    now = utcnow()
    try:
        event = parse()
        turn = with_retry(lambda: service.handle(event, now))
    except (ValueError, LookupError) as exc:  # junk parameters, unknown call, invalid phone
        db.session.rollback()
        log.warning("voice webhook %s: %s: %s", request.path.split("/")[2], exc.__class__.__name__, exc)
        return service.apology()
    except Exception:
        db.session.rollback()
        log.exception("voice webhook %s failed", request.path.split("/")[2])
        return service.apology()
    flush_fallbacks()
    return turn
