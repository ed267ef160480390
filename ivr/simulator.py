"""The simulator: ``/simulator`` in a browser, a phone driving the real voice service through the
``local`` provider (same menus, engine, progress and call records as Twilio and Africa's Talking).

The page acts like a provider: it sends each action (``providers.local.voice.parse``), the final status
of a call the line ended, and what became of a call we placed (answered, declined, no answer, busy).
Recordings are given relative to the page, so they play from whatever host and port served it.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, render_template, request, send_file
from sqlalchemy import select

from core.clock import utcnow
from core.db import db, with_retry
from core.events import CallEvent
from core.phones import InvalidPhone, mask_phone, normalize_phone
from core.vocabulary import CallStatus, Direction
from ivr import service
from ivr.models import CallbackStatus, CallSession, MissedCallCallback
from providers.local import numbers
from providers.local import voice as local

bp = Blueprint("simulator", __name__, template_folder="templates")
log = logging.getLogger(__name__)

# Where the caller is, for the status line: the menus' node names in the trainers' words.
STATUS_WORDS = {
    "language": "choix de la langue",
    "main": "menu principal",
    "courses": "liste des cours",
    "lessons": "liste des leçons",
    "lesson": "leçon",
    "lesson_end": "fin de la leçon",
    "campaign_end": "fin de la leçon",
    "opt_out_confirm": "confirmation de la désinscription",
    "end": "fin de l'appel",
    "opted_out": "désinscription",
    "goodbye": "au revoir",
    "sorry": "problème technique",
    "rejected": "appel refusé, rappel gratuit",
    "status": "appel terminé",  # the answer to a final status
    "studio-pin": "studio : code",
    "studio-record": "studio : enregistrement",
    "studio-take": "studio : écoute de la prise",
    "studio-end": "studio : fin",
}
IN_CALL = "en ligne"  # a node with no word of its own
NUMBER_ACTIONS = ("dial", "missed")  # the actions that start from the number typed in the page


def status_words(node: str) -> str:
    return STATUS_WORDS.get(node, IN_CALL)


@bp.before_request
def _only_when_enabled():
    if not local.enabled(current_app.config["KALANSO"]):
        abort(404)


@bp.get("/simulator")
def page():
    return render_template("simulator/index.html", settings=current_app.config["KALANSO"])


@bp.post(local.TAKES_PATH)
def take_upload():
    """The page's microphone recording (the phone studio's ``<Record>``): its id, for the ``recorded`` action."""
    if (request.content_length or 0) > local.MAX_TAKE_BYTES:
        return jsonify(error="Enregistrement trop long."), 413
    try:
        take = local.save_take(request.stream.read(local.MAX_TAKE_BYTES + 1))
    except ValueError:
        return jsonify(error="Enregistrement vide ou trop long."), 400
    return jsonify(take=take)


@bp.get(f"{local.TAKES_PATH}/<take>")
def take_audio(take: str):
    """A take played back, as a provider plays its recording URL."""
    path = local.take_path(take)
    if path is None:
        abort(404)
    head = path.read_bytes()[:4]
    mimetype = "audio/wav" if head == b"RIFF" else "audio/ogg" if head == b"OggS" else "audio/webm"
    return send_file(path, mimetype=mimetype)


@bp.post("/simulator/voice")
def voice():
    """One phone action (dial, key, timeout, hangup, missed; answer or a final status for a call we placed)
    → the voice turn as JSON. A number that is not a Mali number gets 400 and a French message."""
    data = request.get_json(silent=True) or request.form.to_dict()
    if isinstance(data, dict) and data.get("action") in NUMBER_ACTIONS:
        raw = str(data.get("phone") or "")
        phone, message = numbers.checked(raw)
        if phone is None:
            log.info("simulator: %s refused, not a Mali number: %s", data["action"], mask_phone(raw))
            return jsonify(error=message), 400
    event: CallEvent | None = None
    try:
        event = local.parse(data)
        now = utcnow()
        turn = with_retry(lambda: service.handle(event, now))
    except (ValueError, LookupError) as exc:
        db.session.rollback()
        log.warning("simulator: %s: %s", exc.__class__.__name__, exc)
        turn = service.apology()
    except Exception:
        db.session.rollback()
        log.exception("simulator: voice turn failed")
        turn = service.apology()
    out = local.render(turn, event, audio_base="")
    out["status_text"] = status_words(turn.node)
    if isinstance(data, dict) and data.get("action") == "missed" and turn.node == "status":
        out["callback"] = _callback_note(str(data.get("phone") or ""))
    return jsonify(out)


@bp.get("/simulator/incoming")
def incoming():
    """A call we placed to this number (a missed-call callback, a campaign) that rings in the simulator."""
    try:
        phone = normalize_phone(request.args.get("phone", ""))
    except InvalidPhone:
        return jsonify(call=None)
    session = db.session.scalars(
        select(CallSession)
        .filter_by(provider=local.NAME, direction=Direction.OUTBOUND, phone=phone, status=CallStatus.QUEUED)
        .where(CallSession.provider_call_id.is_not(None))
        .order_by(CallSession.id)
    ).first()
    if session is None:
        return jsonify(call=None)
    state = session.state or {}
    if state.get("callback_id"):
        what = "Kalanso vous rappelle (gratuit) après votre appel manqué"
    elif state.get("campaign_delivery_id"):
        what = "Kalanso vous appelle pour une leçon (campagne)"
    elif state.get("entry") == "studio":
        what = "Le studio vous appelle pour enregistrer (vous l'avez demandé)"
    else:
        what = "Kalanso vous appelle"
    return jsonify(call=session.provider_call_id, what=what)


def _callback_note(raw: str) -> str:
    """After a missed call: when the line will call back, or why it will not."""
    phone = normalize_phone(raw)
    settings = current_app.config["KALANSO"]
    callback = db.session.scalars(
        select(MissedCallCallback)
        .filter_by(phone=phone, status=CallbackStatus.PENDING)
        .order_by(MissedCallCallback.id.desc())
    ).first()
    if callback is None:
        return (
            "Appel manqué enregistré, mais aucun rappel n'est prévu "
            "(rappel désactivé, limite du jour atteinte ou numéro désinscrit)."
        )
    local_time = callback.due_at.astimezone(settings.tz)
    return f"Appel manqué : Kalanso vous rappelle gratuitement vers {local_time:%H:%M} ({settings.timezone})."
