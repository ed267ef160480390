"""``/api/v1``: listeners (read, create, update), groups, progress, completions, quiz answers, calls and
messages, each list scoped to the token's user and paged by cursor; campaigns and their funnels (not for agents:
campaign figures are not scoped to an area). Every view names its permission."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from accounts.roles import Permission, scoped
from accounts.scope import group_clause
from api import listeners as operations
from api import serialize
from api.errors import ApiError, invalid
from api.openapi import document
from api.pagination import page
from campaigns.models import Campaign
from content.catalog import get_catalog
from core.db import db
from dashboard.access import listener_or_404, me, now, require, scope
from dashboard.listing import ListenerFilter, listeners_query
from ivr.models import CallSession
from listeners.models import Group, LessonCompletion, LessonProgress, Listener, QuizAnswer
from sms.models import Message

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)


@bp.get("/openapi.json")
def openapi():
    """Public: the description of this API (no token needed to read it)."""
    return jsonify(document())


@bp.get("/listeners")
@require(Permission.VIEW)
def listeners():
    flt = ListenerFilter.from_args(request.args, get_catalog())
    if flt.problems:
        raise invalid(flt.problems[0], f"Unknown value for {flt.problems[0]!r}.")
    query = listeners_query(me(), flt).options(selectinload(Listener.groups))
    return jsonify(page(query, Listener.id, serialize.listener, request.args, "api.listeners"))


@bp.post("/listeners")
@require(Permission.REGISTER)
def create_listener():
    listener = operations.create_listener(_json(), me(), now())
    db.session.commit()
    return jsonify(serialize.listener(listener)), 201, {"Location": f"{bp.url_prefix}/listeners/{listener.id}"}


@bp.get("/listeners/<int:listener_id>")
@require(Permission.VIEW)
def listener(listener_id: int):
    return jsonify(serialize.listener(listener_or_404(listener_id)))


@bp.patch("/listeners/<int:listener_id>")
@require(Permission.EDIT_LISTENERS)
def update_listener(listener_id: int):
    listener = operations.update_listener(listener_or_404(listener_id), _json(), me(), now())
    db.session.commit()
    return jsonify(serialize.listener(listener))


@bp.get("/groups")
@require(Permission.VIEW)
def groups():
    return jsonify(page(select(Group).where(group_clause(me())), Group.id, serialize.group, request.args, "api.groups"))


# per-listener rows, all alike: (model, serializer); ``?listener=<id>`` narrows to one listener
ROWS = {
    "progress": (LessonProgress, serialize.progress),
    "completions": (LessonCompletion, serialize.completion),
    "answers": (QuizAnswer, serialize.answer),
    "calls": (CallSession, serialize.call),
    "messages": (Message, serialize.message),
}


def _rows(kind: str):
    model, serializer = ROWS[kind]
    query = select(model).join(Listener, Listener.id == model.listener_id).where(scope())
    wanted = request.args.get("listener", "")
    if wanted:
        if not wanted.isdigit() or len(wanted) > 18:
            raise invalid("listener", "listener must be a listener's id.")
        query = query.where(model.listener_id == listener_or_404(int(wanted)).id)
    for column in ("course_id", "lesson_id"):
        if request.args.get(column) and hasattr(model, column):
            query = query.where(getattr(model, column) == request.args[column])
    return jsonify(page(query, model.id, serializer, request.args, f"api.{kind}"))


@bp.get("/progress")
@require(Permission.VIEW)
def progress():
    return _rows("progress")


@bp.get("/completions")
@require(Permission.VIEW)
def completions():
    return _rows("completions")


@bp.get("/answers")
@require(Permission.VIEW)
def answers():
    return _rows("answers")


@bp.get("/calls")
@require(Permission.VIEW)
def calls():
    return _rows("calls")


@bp.get("/messages")
@require(Permission.VIEW)
def messages():
    return _rows("messages")


def _not_for_agents() -> None:
    if scoped(me().role):
        raise ApiError(403, "forbidden", "Campaign figures cover every listener, not an area: agents cannot read them.")


@bp.get("/campaigns")
@require(Permission.VIEW)
def campaigns():
    _not_for_agents()
    settings, moment = current_app.config["KALANSO"], now()
    return jsonify(
        page(
            select(Campaign), Campaign.id, lambda c: serialize.campaign(c, settings, moment), request.args,
            "api.campaigns",
        )
    )  # fmt: skip


@bp.get("/campaigns/<int:campaign_id>")
@require(Permission.VIEW)
def campaign(campaign_id: int):
    _not_for_agents()
    found = db.session.get(Campaign, campaign_id)
    if found is None:
        raise ApiError(404, "not_found", f"No campaign {campaign_id}.")
    return jsonify(serialize.campaign(found, current_app.config["KALANSO"], now(), detail=True))


def _json():
    body = request.get_json(silent=True)
    if body is None:
        raise invalid("body", "Send a JSON object with Content-Type: application/json.")
    return body


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    db.session.rollback()
    return exc.response()


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    db.session.rollback()
    log.exception("API %s %s failed", request.method, request.url_rule)  # phones are redacted by core.logs
    return jsonify(error="internal_error", message="Something went wrong on our side; try again later."), 500
