"""Signing in and out, CSRF, throttling, the audit log, roles and scopes on the home page, every view guarded,
the users commands and the first admin."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import service
from accounts.models import AuditEvent, User
from accounts.roles import Permission, Role, ScopeKind
from core.db import db
from tests.conftest import NOW
from tests.dashboard_support import PASSWORD, csrf_token, post, sign_in


def _actions() -> list[tuple[str, str]]:
    return [(e.action, e.login) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_the_dashboard_asks_to_sign_in_first(client):
    answer = client.get("/dashboard/")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/dashboard/login?next=")


def test_signing_in_opens_the_home_page_and_is_audited(backend, client, make_user):
    user = make_user(Role.MANAGER, email="Awa@Example.org")
    answer = sign_in(client, "  awa@example.ORG ")
    assert answer.status_code == 302 and answer.headers["Location"] == "/dashboard/"
    home = client.get("/dashboard/")
    assert home.status_code == 200
    assert "Accueil" in home.get_data(as_text=True)
    assert ("sign_in", "awa@example.org") in _actions()
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at == NOW


@pytest.mark.parametrize(
    "email, password",
    [("nobody@example.org", PASSWORD), ("manager0@example.org", "wrong-password"), ("manager0@example.org", "")],
)
def test_a_wrong_sign_in_says_so_without_telling_which_part_was_wrong(client, make_user, email, password):
    make_user(Role.MANAGER)
    answer = sign_in(client, email, password)
    page = answer.get_data(as_text=True)
    assert answer.status_code in (400, 401)
    if password:
        assert "Adresse ou mot de passe incorrect." in page
        assert ("sign_in_failed", email) in _actions()
    else:
        assert 'class="field has-error"' in page  # the empty password is marked next to its field
    assert client.get("/dashboard/").status_code == 302


def test_a_disabled_account_cannot_sign_in(client, make_user):
    user = make_user(Role.AGENT)
    service.disable(user, NOW)
    db.session.commit()
    assert sign_in(client, user).status_code == 401


def test_five_failures_lock_the_account_for_a_quarter_of_an_hour(backend, app, client, make_user):
    user = make_user(Role.VIEWER)
    for _ in range(5):
        assert sign_in(client, user, "wrong-password").status_code == 401
    throttled = sign_in(client, user)  # the right password, too late
    assert throttled.status_code == 429
    assert "Trop d'essais" in html.unescape(throttled.get_data(as_text=True))
    assert client.get("/dashboard/").status_code == 302
    app.config["KALANSO_CLOCK"] = lambda: NOW + timedelta(minutes=16)
    assert sign_in(client, user).status_code == 302
    assert [a for a, _ in _actions()].count("sign_in_failed") == 5
    assert ("sign_in_throttled", user.email) in _actions()


def test_twenty_failures_from_one_address_lock_it_whatever_the_account(client, make_user):
    user = make_user(Role.VIEWER)
    for n in range(20):
        sign_in(client, f"someone{n}@example.org", "wrong-password")
    assert sign_in(client, user).status_code == 429


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(client, make_user):
    user = make_user(Role.MANAGER)
    refused = client.post("/dashboard/login", data={"email": user.email, "password": PASSWORD})
    assert refused.status_code == 400
    assert "La page a expiré" in html.unescape(refused.get_data(as_text=True))
    assert [a for a in _actions() if a[0].startswith("sign_in")] == []
    sign_in(client, user)
    assert client.post("/dashboard/logout").status_code == 400  # still signed in
    assert client.get("/dashboard/").status_code == 200
    assert post(client, "/dashboard/logout").status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_the_webhooks_are_not_asked_for_a_csrf_token(client):
    answer = client.post("/simulator/voice", json={"action": "dial", "phone": "76 12 34 56"})
    assert answer.status_code == 200


def test_after_sign_in_only_a_path_on_this_site_is_followed(client, make_user):
    user = make_user(Role.MANAGER)
    token = csrf_token(client)
    for target, expected in [("/dashboard/?x=1", "/dashboard/?x=1"), ("//evil.example/", "/dashboard/"),
                             ("https://evil.example/", "/dashboard/")]:  # fmt: skip
        client.post("/dashboard/logout", data={"csrf_token": token})
        answer = client.post(
            f"/dashboard/login?next={target}", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert answer.headers["Location"] == expected


def test_a_one_time_password_must_be_changed_first(client, app):
    user, password = service.create_user("new@example.org", Role.AGENT, NOW)
    db.session.commit()
    answer = sign_in(client, user, password)
    assert answer.headers["Location"] == "/dashboard/password"
    form = {"current": password, "new": "court", "again": "court"}
    short = post(client, "/dashboard/password", form, page="/dashboard/password")
    assert short.status_code == 400 and "has-error" in short.get_data(as_text=True)
    form = {"current": password, "new": "mon-nouveau-secret", "again": "mon-nouveau-secret"}
    assert post(client, "/dashboard/password", form, page="/dashboard/password").status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, user.id).must_change_password
    assert ("password_changed", "") in _actions()


def test_pages_are_in_french_first_and_in_english_on_request(client, make_user):
    sign_in(client, make_user(Role.MANAGER))
    assert "Accueil" in client.get("/dashboard/").get_data(as_text=True)
    post(client, "/dashboard/language/en", {"next": "/dashboard/"})
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "Home" in page and "Accueil" not in page
    assert 'lang="en"' in page


def test_an_agent_sees_the_figures_of_their_scope_only(backend, client, make_user, make_listener):
    for n in range(3):
        make_listener(village="Kaniko", name=f"K{n}")
    for n in range(5):
        make_listener(village="Kolondiéba", name=f"O{n}")
    db.session.commit()
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, " kaniko ")])
    sign_in(client, agent)
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "<strong>3</strong><span>auditeurs</span>" in page
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, make_user(Role.VIEWER))
    assert "<strong>8</strong><span>auditeurs</span>" in client.get("/dashboard/").get_data(as_text=True)


def test_an_agent_with_no_scope_sees_nobody(client, make_user, make_listener):
    make_listener(village="Kaniko")
    db.session.commit()
    sign_in(client, make_user(Role.AGENT))
    assert "<strong>0</strong><span>auditeurs</span>" in client.get("/dashboard/").get_data(as_text=True)


OPEN_VIEWS = {"auth.login", "auth.logout", "auth.password", "auth.language", "dashboard_assets.static", "api.openapi"}


def test_every_dashboard_and_api_view_names_its_permission(app):
    """A page without ``require`` would be open to anyone signed in, whatever their role: none may exist."""
    guarded = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/dashboard", "/api")) or rule.endpoint in OPEN_VIEWS:
            continue
        view = app.view_functions[rule.endpoint]
        assert isinstance(getattr(view, "permission", None), Permission), f"{rule.endpoint} has no permission"
        guarded += 1
    assert guarded >= 1


def test_users_commands(runner, app):
    create = ["users", "create", "Agent@Example.org", "--role", "agent", "--village", "Kaniko"]
    result = runner.invoke(args=[*create, "--phone", "76 00 00 01"])
    assert result.exit_code == 0, result.output
    assert "one-time password: " in result.output
    listed = runner.invoke(args=["users", "list"]).output
    assert "agent@example.org\tagent\tactive" in listed and "village:Kaniko" in listed
    assert "76 00 00 01" not in listed and "+22376000001" not in listed  # the phone is masked
    again = runner.invoke(args=["users", "create", "agent@example.org", "--role", "viewer"])
    assert again.exit_code != 0 and "existe déjà" in again.output
    assert runner.invoke(args=["users", "disable", "agent@example.org"]).exit_code == 0
    assert "disabled" in runner.invoke(args=["users", "list"]).output


def test_the_first_admin_is_created_once_with_a_one_time_password(runner, client):
    first = runner.invoke(args=["users", "bootstrap"])
    assert first.exit_code == 0 and "admin@localhost" in first.output
    password = first.output.rsplit(": ", 1)[1].strip()
    assert len(password) >= 12
    assert "nothing to do" in runner.invoke(args=["users", "bootstrap"]).output
    assert sign_in(client, "admin@localhost", password).headers["Location"] == "/dashboard/password"
