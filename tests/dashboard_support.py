"""Helpers for the dashboard and API tests: users of each role, signing in, CSRF tokens, scopes.

from tests.dashboard_support import PASSWORD, csrf_token, sign_in
user = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")])   # the ``make_user`` fixture
sign_in(client, user)
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from accounts import service
from accounts.roles import Role, ScopeKind
from core.db import db
from tests.conftest import NOW

PASSWORD = "un-long-mot-de-passe"
_TOKEN = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"|<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client: FlaskClient, url: str = "/dashboard/login") -> str:
    """The CSRF token of the session, read from a page's form (as a browser would)."""
    page = client.get(url)
    found = _TOKEN.search(page.data)
    assert found, f"no CSRF token on {url} ({page.status_code})"
    return (found.group(1) or found.group(2)).decode()


def sign_in(client: FlaskClient, user_or_email, password: str = PASSWORD, *, follow: bool = False):
    email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
    token = csrf_token(client)
    return client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=follow,
    )


def post(client: FlaskClient, url: str, data: dict | None = None, *, page: str | None = None, **kwargs):
    """POST a form with the session's CSRF token (read from ``page``, by default the home page)."""
    token = csrf_token(client, page or "/dashboard/")
    return client.post(url, data={**(data or {}), "csrf_token": token}, **kwargs)


@pytest.fixture
def make_user(app):
    """``make_user(role, email=None, scopes=[(ScopeKind.VILLAGE, "Kaniko")], phone=None)``: an active user
    with ``PASSWORD`` (committed)."""
    counter = iter(range(1_000_000))

    def make(role: Role, *, email: str | None = None, scopes=(), phone: str | None = None, name: str = ""):
        email = email or f"{role.value}{next(counter)}@example.org"
        user, _ = service.create_user(email, role, NOW, name=name, password=PASSWORD, phone=phone, scopes=list(scopes))
        db.session.commit()
        return user

    return make


__all__ = ["PASSWORD", "Role", "ScopeKind", "csrf_token", "make_user", "post", "sign_in"]
