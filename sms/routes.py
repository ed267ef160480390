"""The SMS line's webhooks and the simulator's SMS panel.

Every route: verify → parse into our event → call the service → commit → answer. No provider is called
here: the replies are outbox rows written in the same transaction, sent by the sender process.
Webhooks always answer well-formed: Twilio gets TwiML (an empty ``<Response/>``), Africa's Talking an
empty body. What no provider sends gets 400/413 (``providers.webhooks``); forged requests get 403 and
change nothing; junk gets the same empty answer with 200.

Your own SMS gateway (``/sms/gateway/<secret>/...``, ``providers.gateway``) gets what its preset expects:
Jasmin exactly ``ACK/Jasmin``, the others an empty 200; junk gets 400 there (nothing recorded).

When a text cannot be recorded (the database is unreachable or hung), the answer is **503** (with
``Retry-After``), never a 200 that would lose it — a STOP above all. Kannel (with ``http-request-retry``),
Jasmin and the Android app send it again. Twilio retries a failed webhook
request once by default (connection overrides ``#rc``/``rp``) and then requests the number's *fallback
URL* if one is set: set it to this same URL for a second chance (see README, "The SMS line"). Africa's
Talking documents no retry behaviour (reference §16.7): a 503 is logged on their side and the text is
lost there; it is the best answer we can give.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, url_for

from core.clock import utcnow
from core.db import with_retry
from core.events import DeliveryReport, IncomingSms
from core.phones import mask_phone
from providers.africastalking import sms as at_sms
from providers.gateway import sms as gateway_sms
from providers.local import numbers as local_numbers
from providers.local import sms as local_sms
from providers.local import voice as local_voice
from providers.twilio import signature
from providers.twilio import sms as twilio_sms
from providers.webhooks import provider_webhook
from sms import outbound, service

bp = Blueprint("sms", __name__, template_folder="templates")
log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
RETRY_AFTER = "30"


@bp.post("/sms/twilio")
@provider_webhook
def twilio_incoming():
    _verify_twilio()
    if _receive(twilio_sms.parse_incoming(request.form)) is None:
        return _twiml(503)
    return _twiml()


@bp.post("/sms/twilio/status")
@provider_webhook
def twilio_status():
    _verify_twilio()
    if _report(twilio_sms.parse_report(request.form, current_app.config["KALANSO"])) is _NOT_RECORDED:
        return Response("", 503, headers={"Retry-After": RETRY_AFTER})
    return "", 204


@bp.post("/sms/at/<secret>/incoming")
@provider_webhook
def at_incoming(secret: str):
    _verify_at(secret)
    if _receive(at_sms.parse_incoming(request.form)) is None:
        return Response("", 503, mimetype="text/plain", headers={"Retry-After": RETRY_AFTER})
    return Response("", 200, mimetype="text/plain")


@bp.post("/sms/at/<secret>/delivery")
@provider_webhook
def at_delivery(secret: str):
    _verify_at(secret)
    if _report(at_sms.parse_report(request.form)) is _NOT_RECORDED:
        return Response("", 503, mimetype="text/plain", headers={"Retry-After": RETRY_AFTER})
    return Response("", 200, mimetype="text/plain")


@bp.route("/sms/gateway/<secret>/receive", methods=["GET", "POST"])
@provider_webhook(accepts=gateway_sms.accepts)
def gateway_receive(secret: str):
    return _gateway(secret, gateway_sms.parse_incoming, lambda event: _receive(event) is not None)


@bp.route("/sms/gateway/<secret>/status", methods=["GET", "POST"])
@provider_webhook(accepts=gateway_sms.accepts)
def gateway_status(secret: str):
    return _gateway(secret, gateway_sms.parse_report, lambda report: _report(report) is not _NOT_RECORDED)


def _gateway(secret: str, parse, record) -> Response:
    """One gateway callback: verified (403), parsed (400 for junk), recorded (503 when it could not be: the gateway
    sends it again); what the preset ignores is answered 200 and changes nothing."""
    callback = _verify_gateway(secret)
    found = parse(callback, current_app.config["KALANSO"])
    if found is None:
        return _gateway_answer(400)
    if found is not gateway_sms.IGNORED and not record(found):
        return _gateway_answer(503)
    return _gateway_answer(200)


# --- simulator ----------------------------------------------------------------------------------


@bp.get("/simulator/sms")
def simulator_page():
    _simulator_only()
    voice_on = local_voice.enabled(current_app.config["KALANSO"]) and "simulator" in current_app.blueprints
    return render_template("sms/simulator.html", voice_url=url_for("simulator.page") if voice_on else None)


@bp.post("/simulator/sms/send")
def simulator_send():
    """JSON ``{phone, text}`` → ``{phone, replies: [{id, body, encoding, segments, status}]}``; a number that is
    not a Mali number, or no text, gets 400 and a French message (the number as typed; logs masked)."""
    _simulator_only()
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    raw = str(data.get("phone") or "")
    phone, message = local_numbers.checked(raw)
    if phone is None:
        log.info("simulator: text refused, not a Mali number: %s", mask_phone(raw))
        return jsonify(error=message), 400
    event = local_sms.parse_incoming({**data, "phone": phone})
    if event is None:
        return jsonify(error="Écrivez le texte du SMS avant d'envoyer."), 400
    replies = _receive(event)
    if replies is None:
        return jsonify(error="Le SMS n'a pas pu être enregistré (base de données indisponible) : réessayez."), 503
    return jsonify(phone=phone, replies=[_as_json(m) for m in replies])


@bp.get("/simulator/sms/messages")
def simulator_messages():
    """The conversation with one number, oldest first (``?phone=...&after=<message id>``)."""
    _simulator_only()
    phone, message = local_numbers.checked(request.args.get("phone", ""))
    if phone is None:
        return jsonify(error=message), 400
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
    if message is _NOT_RECORDED:
        return jsonify(error="Le rapport n'a pas pu être enregistré (base de données indisponible) : réessayez."), 503
    if message is None:
        return jsonify(error="Aucun message du simulateur avec ce numéro, ou un statut inconnu."), 404
    return jsonify(_as_json(message))


# --- helpers ------------------------------------------------------------------------------------


def _receive(event: IncomingSms | None) -> list | None:
    """Record one incoming text and its replies (in the outbox), committed; the replies. ``None`` when it
    could not be recorded (the caller answers so that the provider retries). Never raises."""
    if event is None:
        return []
    now = utcnow()
    try:
        return with_retry(lambda: service.handle_incoming(event, now))
    except Exception:
        log.exception("incoming %s SMS could not be recorded: answering 503 so that it is sent again", event.provider)
        return None


_NOT_RECORDED = object()


def _report(report: DeliveryReport | None):
    """Record a delivery report: its message, None for junk or a message not ours, ``_NOT_RECORDED`` when
    the database failed (the caller answers 503 so that the provider sends it again)."""
    if report is None:
        return None
    try:
        return with_retry(lambda: outbound.apply_report(report, utcnow()))
    except Exception:
        log.exception("a %s delivery report could not be recorded: answering 503", report.provider)
        return _NOT_RECORDED


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


def _verify_gateway(secret: str) -> gateway_sms.Callback:
    settings = current_app.config["KALANSO"]
    if not gateway_sms.configured(settings):
        abort(404)
    callback = gateway_sms.Callback.from_request(request)
    if not gateway_sms.verify(secret, callback, settings, utcnow()):
        log.warning("SMS gateway callback with a wrong secret or signature refused")
        abort(403)
    return callback


def _gateway_answer(status: int) -> Response:
    """What tells the gateway "received" (200: Jasmin's ACK), "not understood" (400) or "send it again" (503)."""
    body, mimetype = gateway_sms.answer(current_app.config["KALANSO"]) if status == 200 else ("", "text/plain")
    if status == 400:
        log.info("SMS gateway callback not understood: answered 400, nothing recorded")
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else {}
    return Response(body, status, mimetype=mimetype, headers=headers)


def _simulator_only() -> None:
    if not local_sms.simulator_enabled(current_app.config["KALANSO"], debug=current_app.debug):
        abort(404)


def _twiml(status: int = 200) -> Response:
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else {}
    return Response(EMPTY_TWIML, status, mimetype="text/xml", headers=headers)


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
