"""The simulator: ``/simulator`` in a browser, a phone driving the real voice service through the
``local`` provider (same menus, engine, progress and call records as Twilio and Africa's Talking).
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from sqlalchemy import select

from core.clock import utcnow
from core.db import db, with_retry
from core.events import CallEvent
from core.phones import InvalidPhone, normalize_phone
from core.vocabulary import CallStatus, Direction
from ivr import service
from ivr.models import CallSession
from providers.local import voice as local

bp = Blueprint("simulator", __name__, template_folder="templates")
log = logging.getLogger(__name__)


@bp.before_request
def _only_when_enabled():
    if not local.enabled(current_app.config["KALANSO"]):
        abort(404)


@bp.get("/simulator")
def page():
    return render_template("simulator/index.html", settings=current_app.config["KALANSO"])


@bp.post("/simulator/voice")
def voice():
    """One phone action (dial, answer, key, timeout, hangup) → the voice turn as JSON."""
    data = request.get_json(silent=True) or request.form.to_dict()
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
    return jsonify(local.render(turn, event))


@bp.get("/simulator/incoming")
def incoming():
    """A call we placed to this number (a missed-call callback, a campaign) that the simulator may answer."""
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
    return jsonify(call=session.provider_call_id if session else None)
