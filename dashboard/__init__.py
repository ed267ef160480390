"""The dashboard (managers, field agents, viewers, admins) and the partners' JSON API.

``init_app`` sets up:
- sign-in: Flask-Login's session cookie for pages; a bearer token for ``/api/`` (see ``dashboard.access``);
- CSRF on every form (Flask-WTF); the provider webhooks, the simulator and the token-only API are exempt;
- French-first translations and locale formats (Flask-Babel), secure cookies;
- one blueprint per area (``AREAS``).
Access: ``dashboard.access.require(permission)`` on every view, and ``accounts.scope.listener_clause`` in
every query that reads listeners.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from flask import Blueprint, Flask, jsonify, render_template, request
from flask_babel import Babel, format_date, format_datetime, format_number, get_locale, refresh
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from accounts.models import User
from accounts.roles import Role, ScopeKind
from core.db import db
from core.phones import mask_phone
from core.vocabulary import CallStatus
from dashboard import i18n

LOCALES = ("fr", "en")
# one module per area, each with a ``bp`` blueprint; the order is the navigation's
AREAS = (
    "dashboard.auth",
    "dashboard.home",
    "dashboard.listeners",
    "dashboard.completion",
    "dashboard.analytics",
    "dashboard.register",
    "dashboard.imports",
    "dashboard.groups",
    "dashboard.campaigns",
    "dashboard.exports",
    "dashboard.tokens",
    "dashboard.users",
    "dashboard.studio_items",
    "dashboard.studio",
    "api.routes",
)
CSRF_EXEMPT = ("ivr", "sms", "simulator", "api")

# vendored static files (htmx, the stylesheet): no CDN
assets = Blueprint("dashboard_assets", __name__, static_folder="static", static_url_path="/dashboard/assets")
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def init_app(app: Flask) -> None:
    settings = app.config["KALANSO"]
    secure = settings.public_base_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_DURATION=timedelta(days=14),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session (slow connections, long forms)
        BABEL_DEFAULT_LOCALE="fr",
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        BABEL_TRANSLATION_DIRECTORIES=";".join(i18n.compiled_directories(app.instance_path)),
    )
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_locale, default_timezone=settings.timezone)
    for name in AREAS:
        app.register_blueprint(import_module(name).bp)
    for name in CSRF_EXEMPT:
        if name in app.blueprints:
            csrf.exempt(app.blueprints[name])
    app.register_blueprint(assets)
    app.before_request(refresh)  # the locale is chosen per request (tests share one app context)
    app.register_error_handler(CSRFError, _csrf_error)
    for code in (403, 404, 405):
        app.register_error_handler(code, _error)
    app.jinja_env.globals.update(
        get_locale=get_locale,
        nav=_nav,
        landing=_landing,
        role_label=role_label,
        scope_words=_scope_words,
        call_status=call_status,
    )
    app.jinja_env.filters.update(number=format_number, datetime=_datetime, date=_date, masked=mask_phone)


def exempt_late(app: Flask) -> None:
    """Exempt blueprints registered after ``init_app`` (the webhooks) from CSRF."""
    for name in CSRF_EXEMPT:
        if name in app.blueprints:
            csrf.exempt(app.blueprints[name])


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit() or len(user_id) > 18:
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


def _locale() -> str:
    from flask_login import current_user

    if getattr(current_user, "is_authenticated", False) and current_user.locale in LOCALES:
        return current_user.locale
    chosen = request.cookies.get("lang")
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or "fr"


def _nav():
    from dashboard.access import navigation

    return navigation()


def _landing() -> str:
    from dashboard.access import landing

    return landing()


ROLE_WORDS = {
    Role.ADMIN: _l("administrateur"),
    Role.MANAGER: _l("responsable"),
    Role.AGENT: _l("agent de terrain"),
    Role.VIEWER: _l("lecteur"),
    Role.EDITOR: _l("éditeur de contenu"),
    Role.REVIEWER: _l("relecteur"),
}
SCOPE_WORDS = {
    ScopeKind.REGION: _l("région"),
    ScopeKind.COMMUNE: _l("commune"),
    ScopeKind.VILLAGE: _l("village"),
    ScopeKind.GROUP: _l("groupe"),
}
CALL_WORDS = {
    CallStatus.QUEUED: _l("en attente"),
    CallStatus.RINGING: _l("sonne"),
    CallStatus.IN_PROGRESS: _l("en cours"),
    CallStatus.COMPLETED: _l("terminé"),
    CallStatus.BUSY: _l("occupé"),
    CallStatus.NO_ANSWER: _l("pas de réponse"),
    CallStatus.FAILED: _l("échec"),
    CallStatus.CANCELED: _l("annulé"),
    CallStatus.REJECTED: _l("refusé (rappel gratuit)"),
}


def role_label(role: Role) -> str:
    return str(ROLE_WORDS[Role(role)])


def call_status(status: CallStatus) -> str:
    word = CALL_WORDS.get(CallStatus(status))
    return str(word) if word is not None else str(status)


def _scope_words() -> str:
    from flask_login import current_user

    from accounts.scope import describe

    if not current_user.is_authenticated:
        return ""
    return ", ".join(f"{SCOPE_WORDS[kind]} {name}" for kind, name in describe(current_user))


def _datetime(value) -> str:
    return format_datetime(value, "short") if value is not None else ""


def _date(value) -> str:
    return format_date(value, "medium") if value is not None else ""


ERROR_WORDS = {
    403: _l("Vous n'avez pas accès à cette page."),
    404: _l("Cette page n'existe pas, ou elle n'est pas dans votre zone."),
    405: _l("Cette action n'est pas possible ici."),
}


def _error(exc: HTTPException):
    """French pages for the dashboard's errors, JSON for the API; other paths keep Flask's defaults."""
    if request.path.startswith("/api/"):
        return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code
    if not request.path.startswith("/dashboard"):
        return exc
    return render_template("dashboard/error.html", message=ERROR_WORDS[exc.code]), exc.code


def _csrf_error(exc: CSRFError):
    if not request.path.startswith("/dashboard"):
        return exc
    message = _l("La page a expiré : revenez en arrière, rechargez-la, puis réessayez.")
    return render_template("dashboard/error.html", message=message), 400
