"""Who may open what. Every dashboard and API view is wrapped in ``require(permission)``:

- not signed in: a page redirects to the sign-in page; an API call gets 401 (JSON);
- signed in without the permission: 403;
- the API accepts only a bearer token (never the session cookie, which CSRF does not guard there).

Rows an agent may not see answer 404 (``listener_or_404``): out of scope looks the same as absent.
The permission is kept on the view (``view.permission``), so tests can check that every route has one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps

from flask import abort, current_app, g, jsonify, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from accounts import tokens
from accounts.models import User
from accounts.roles import Permission, Role, allowed, scoped
from accounts.scope import listener_clause, visible_listener
from core.clock import utcnow
from core.db import db
from listeners.models import Listener


def now() -> datetime:
    """The time as the dashboard sees it: ``KALANSO_CLOCK`` in the app's config when set (tests), else the clock."""
    clock = current_app.config.get("KALANSO_CLOCK")
    return clock() if clock is not None else utcnow()


def me() -> User:
    """The signed-in user, or the API token's user (inside a ``require``d view)."""
    return g.get("api_token_user") or current_user._get_current_object()


def _token_user() -> User | None:
    """``Authorization: Bearer <token>``: the token's active user, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    user = tokens.authenticate(token.strip(), now())
    if user is not None:
        db.session.commit()  # the token's last use (at most once a minute)
    return user


def api_request() -> bool:
    return request.path.startswith("/api/")


def require(permission: Permission) -> Callable:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if api_request():
                g.api_token_user = _token_user()
                if g.api_token_user is None:
                    response = jsonify(error="unauthorized", message="A valid API token is required.")
                    response.status_code = 401
                    response.headers["WWW-Authenticate"] = 'Bearer realm="kalanso"'
                    return response
                if not allowed(g.api_token_user.role, permission):
                    return jsonify(error="forbidden", message="This token's user may not do this."), 403
            else:
                if not current_user.is_authenticated:
                    return current_app.login_manager.unauthorized()
                if not allowed(current_user.role, permission):
                    abort(403)
            return view(*args, **kwargs)

        wrapped.permission = permission
        return wrapped

    return decorate


def scope():
    """The signed-in user's WHERE clause on listeners."""
    return listener_clause(me())


def listener_or_404(listener_id: int) -> Listener:
    listener = visible_listener(me(), listener_id)
    if listener is None:
        abort(404)
    return listener


# The navigation: (endpoint, label, permission). An area adds its entries; a link shows when its endpoint is
# registered and the user holds the permission (or, for a rule that is not one permission, when
# ``permission(role)`` is true).
NAV: list[tuple[str, object, Permission | Callable[[Role], bool]]] = [
    ("home.index", _l("Accueil"), Permission.VIEW),
    ("listeners.index", _l("Auditeurs"), Permission.VIEW),
    ("completion.index", _l("Suivi des leçons"), Permission.VIEW),
    ("analytics.index", _l("Analyses"), Permission.VIEW),
    ("register.new", _l("Inscrire un auditeur"), Permission.REGISTER),
    ("imports.upload", _l("Importer un fichier"), Permission.REGISTER),
    ("groups.index", _l("Groupes"), Permission.VIEW),
    ("campaigns.index", _l("Campagnes"), lambda role: allowed(role, Permission.VIEW) and not scoped(role)),
    ("exports.answers_form", _l("Réponses aux questions"), Permission.EXPORT),
    ("studio.coverage", _l("Studio"), Permission.RECORD),
]


def landing() -> str:
    """Where a signed-in user starts: the home page, or the content studio for a role that may record but sees no
    listener (an editor, a reviewer)."""
    if not current_user.is_authenticated:
        return url_for("home.index")
    role = current_user.role
    studio = "studio.coverage" in current_app.view_functions
    if studio and not allowed(role, Permission.VIEW) and allowed(role, Permission.RECORD):
        return url_for("studio.coverage")
    return url_for("home.index")


def navigation() -> list[tuple[str, str, bool]]:
    """(url, label, current) for the signed-in user."""
    if not current_user.is_authenticated:
        return []
    out = []
    for endpoint, label, permission in NAV:
        may = permission(current_user.role) if callable(permission) else allowed(current_user.role, permission)
        if endpoint in current_app.view_functions and may:
            out.append((url_for(endpoint), str(label), request.endpoint == endpoint))
    return out
