"""The SMS line's webhooks and the simulator's SMS panel.

Every route: verify → parse into our event → call the service → commit → send after commit → answer.
Webhooks always answer well-formed: Twilio gets TwiML (an empty ``<Response/>``: replies go out
through the REST API after the commit, the same path as every other SMS), Africa's Talking an
empty 200. What no provider sends gets 400/413 (``providers.webhooks``); forged requests get 403 and
change nothing; junk gets the same empty answer.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from core.clock import utcnow
from core.db import db
from core.events import DeliveryReport, IncomingSms
from core.phones import InvalidPhone, normalize_phone
from providers.africastalking import sms as at_sms
from providers.local import sms as local_sms
from providers.twilio import signature
from providers.twilio import sms as twilio_sms
from providers.webhooks import provider_webhook
from sms import outbound, service

bp = Blueprint("sms", __name__, template_folder="templates")
log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@bp.post("/sms/twilio")
@provider_webhook
def twilio_incoming():
    _verify_twilio()
    _receive(twilio_sms.parse_incoming(request.form))
    return _twiml()


@bp.post("/sms/twilio/status")
@provider_webhook
def twilio_status():
    _verify_twilio()
    _report(twilio_sms.parse_report(request.form))
    return "", 204


@bp.post("/sms/at/<secret>/incoming")
@provider_webhook
def at_incoming(secret: str):
    _verify_at(secret)
    _receive(at_sms.parse_incoming(request.form))
    return Response("", 200, mimetype="text/plain")


@bp.post("/sms/at/<secret>/delivery")
@provider_webhook
def at_delivery(secret: str):
    _verify_at(secret)
    _report(at_sms.parse_report(request.form))
    return Response("", 200, mimetype="text/plain")


# --- simulator ----------------------------------------------------------------------------------


@bp.get("/simulator/sms")
def simulator_page():
    _simulator_only()
    return render_template("sms/simulator.html")


@bp.post("/simulator/sms/send")
def simulator_send():
    """JSON ``{phone, text}`` → ``{phone, replies: [{id, body, encoding, segments, status}]}``."""
    _simulator_only()
    data = request.get_json(silent=True) or {}
    event = local_sms.parse_incoming(data)
    phone = _phone_or_none(event.phone if event else "")
    if event is None or phone is None:
        return jsonify(error="Give a phone number (e.g. +223 76 12 34 56) and a text."), 400
    sent = _receive(event)
    return jsonify(phone=phone, replies=[_as_json(m) for m in sent])


@bp.get("/simulator/sms/messages")
def simulator_messages():
    """The conversation with one number, oldest first (``?phone=...&after=<message id>``)."""
    _simulator_only()
    phone = _phone_or_none(request.args.get("phone", ""))
    if phone is None:
        return jsonify(error="Give a phone number (e.g. +223 76 12 34 56)."), 400
    after = request.args.get("after", "0")
    since_id = int(after) if after.isascii() and after.isdigit() and len(after) <= 9 else 0  # a row id, bounded
    rows = outbound.conversation(phone, since_id=since_id)
    return jsonify(phone=phone, messages=[_as_json(m) for m in rows])


@bp.post("/simulator/sms/delivery")
def simulator_delivery():
    """JSON ``{id, status}`` with status sent, delivered or failed: a delivery report from the simulator."""
    _simulator_only()
    report = local_sms.parse_report(request.get_json(silent=True) or {})
    message = _report(report)
    if message is None:
        return jsonify(error="No simulator message with this id, or an unknown status."), 404
    return jsonify(_as_json(message))


# --- helpers ------------------------------------------------------------------------------------


def _receive(event: IncomingSms | None) -> list:
    """Handle one incoming text and send the replies after the commit. Never raises."""
    if event is None:
        return []
    now = utcnow()
    try:
        replies = service.handle_incoming(event, now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("incoming %s SMS could not be handled", event.provider)
        return []
    try:
        return outbound.send_prepared(replies, now)
    except Exception:
        db.session.rollback()
        log.exception("replies to an incoming %s SMS could not be sent", event.provider)
        return []


def _report(report: DeliveryReport | None):
    if report is None:
        return None
    try:
        message = outbound.apply_report(report, utcnow())
        db.session.commit()
        return message
    except Exception:
        db.session.rollback()
        log.exception("a %s delivery report could not be recorded", report.provider)
        return None


def _verify_twilio() -> None:
    if not signature.verify(request, current_app.config["KALANSO"]):
        log.warning("forged or unsigned Twilio SMS request refused")
        abort(403)


def _verify_at(secret: str) -> None:
    settings = current_app.config["KALANSO"]
    if not settings.at_callback_secret:
        abort(404)
    if not at_sms.verify_secret(secret, settings):
        log.warning("Africa's Talking SMS callback with a wrong secret refused")
        abort(403)


def _simulator_only() -> None:
    if not local_sms.simulator_enabled(current_app.config["KALANSO"], debug=current_app.debug):
        abort(404)


def _phone_or_none(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


def _twiml() -> Response:
    return Response(EMPTY_TWIML, 200, mimetype="text/xml")


def _as_json(message) -> dict:
    return {
        "id": message.id,
        "direction": str(message.direction),
        "body": message.body,
        "status": str(message.status),
        "encoding": message.encoding,
        "segments": message.segments,
        "purpose": message.purpose,
        "provider_id": message.provider_message_id,
        "error": message.error,
    }
