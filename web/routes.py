"""The front page (the service, its courses and audio, links to the dashboard and the simulator; no
figures about people: those are behind the dashboard's sign-in) and the health check."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, render_template, url_for
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from content.audio import coverage
from content.catalog import content_status, get_catalog
from content.loader import ContentError
from core.db import db

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    """200 when the database answers; 503 (with the reason) when it does not. ``content`` says whether the course
    files are what is served (``ok``), have errors while the last good courses keep serving (``stale``, still 200:
    the line works), or have errors with nothing to serve (``error``, 503)."""
    content = content_status()
    content_word = "ok" if not content.errors else ("stale" if content.serving else "error")
    extra = {"content": content_word}
    if content.errors:
        extra["content_errors"] = len(content.errors)
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable: %s", exc.__class__.__name__)
        return jsonify(status="error", database="unreachable", **extra), 503
    if not content.serving:
        return jsonify(status="error", database="ok", **extra), 503
    return jsonify(status="ok", database="ok", **extra)


@bp.get("/")
def index():
    settings = current_app.config["KALANSO"]
    try:
        catalog = get_catalog()
        content_error = None
    except ContentError as exc:
        catalog, content_error = None, exc.errors
    courses = list(catalog) if catalog else []
    audio = coverage(catalog, current_app.config["KALANSO_AUDIO_DIR"]) if catalog else []
    from providers.local import sms as local_sms
    from providers.local import voice as local_voice

    simulator_url = url_for("simulator.page") if local_voice.enabled(settings) else None
    sms_on = local_sms.simulator_enabled(settings, debug=current_app.debug) and "sms" in current_app.blueprints
    sms_simulator_url = url_for("sms.simulator_page") if sms_on else None
    return render_template(
        "web/index.html",
        simulator_url=simulator_url,
        sms_simulator_url=sms_simulator_url,
        settings=settings,
        courses=courses,
        audio=audio,
        content_error=content_error,
    )
