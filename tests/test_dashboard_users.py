"""The users page (admins only): the role × page matrix, creating a user (one-time password shown once,
usable), editing role, phone and scopes (the new scope applies at once), disabling and enabling, errors next
to their field, CSRF and the audit log; on both databases."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from accounts.models import AuditEvent, User
from accounts.roles import Role, ScopeKind
from core.db import db
from listeners.models import Group
from tests.dashboard_support import post, sign_in

PAGES = ["/dashboard/users/", "/dashboard/users/new", "/dashboard/users/{id}"]
# role → status of every users page (anonymous: sent to the sign-in page)
MATRIX = [(Role.ADMIN, 200), (Role.MANAGER, 403), (Role.AGENT, 403), (Role.VIEWER, 403), (None, 302)]


@pytest.mark.parametrize("role, status", MATRIX)
def test_only_admins_open_the_users_pages(backend, client, make_user, role, status):
    someone = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")])
    if role is not None:
        sign_in(client, make_user(role, scopes=[(ScopeKind.VILLAGE, "Kaniko")]))
    for page in PAGES:
        assert client.get(page.format(id=someone.id)).status_code == status, page
    if role is not None and status == 403:  # nor change anything
        answer = post(client, f"/dashboard/users/{someone.id}/active", {"active": "0"})
        assert answer.status_code == 403
        assert db.session.get(User, someone.id).active
    if role is Role.ADMIN:
        assert client.get("/dashboard/users/999999").status_code == 404
        assert 'href="/dashboard/users/"' in client.get("/dashboard/").get_data(as_text=True)


def _form(**overrides) -> dict:
    data = {"email": "Mariam@Example.org", "name": "Mariam Diarra", "role": "agent", "phone": "76 55 44 33",
            "regions": "", "communes": "", "villages": "Kaniko\nSido, Bla", "groups": []}  # fmt: skip
    data.update(overrides)
    return data


def test_an_admin_creates_an_agent_whose_one_time_password_works(backend, client, make_user):
    admin = make_user(Role.ADMIN)
    group = Group(name="Femmes de Kaniko")
    db.session.add(group)
    db.session.commit()
    group_id = group.id
    sign_in(client, admin)
    answer = post(client, "/dashboard/users/new", _form(groups=[str(group_id)]), page="/dashboard/users/new")
    assert answer.status_code == 201
    (password,) = re.findall(r'<code id="one-time-password"[^>]*>([^<]+)</code>', answer.get_data(as_text=True))
    user = db.session.scalars(select(User).where(User.email == "mariam@example.org")).one()
    assert (user.role, user.name, user.phone, user.must_change_password) == (
        Role.AGENT, "Mariam Diarra", "+22376554433", True,
    )  # fmt: skip
    assert [(s.kind, s.value, s.group_id) for s in user.scopes] == [
        (ScopeKind.VILLAGE, "Kaniko", None), (ScopeKind.VILLAGE, "Sido", None), (ScopeKind.VILLAGE, "Bla", None),
        (ScopeKind.GROUP, "", group_id),
    ]  # fmt: skip
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.target == f"user:{user.id}")).one()
    assert (audit.user_id, audit.target, audit.detail) == (admin.id, f"user:{user.id}", {"role": "agent"})
    post(client, "/dashboard/logout")
    assert sign_in(client, "mariam@example.org", html.unescape(password)).headers["Location"] == "/dashboard/password"


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"email": "pas-une-adresse"}, "email", "Adresse e-mail invalide."),
        ({"email": "admin0@example.org"}, "email", "Un compte existe déjà avec cette adresse."),
        ({"phone": "12"}, "phone", "Numéro de téléphone invalide."),
        ({"role": "superuser"}, "role", "N'est pas un choix valide."),
    ],
)
def test_a_wrong_user_form_says_why_next_to_the_field(client, make_user, overrides, field, message):
    sign_in(client, make_user(Role.ADMIN, email="admin0@example.org"))
    answer = post(client, "/dashboard/users/new", _form(**overrides), page="/dashboard/users/new")
    assert answer.status_code == 422
    page = html.unescape(answer.get_data(as_text=True))
    block = re.search(rf'<div class="field has-error">\s*<label for="{field}".*?</div>', page, re.S)
    assert block and message in block.group(0)
    assert db.session.scalar(select(User.id).where(User.email == "mariam@example.org")) is None


def test_editing_an_agents_scope_changes_what_their_token_sees(backend, client, make_user, make_listener):
    from accounts import tokens
    from tests.conftest import NOW

    admin = make_user(Role.ADMIN)
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")])
    make_listener(village="Kaniko")
    make_listener(village="Sido", commune="Bougouni")
    _row, token = tokens.create(agent, "t", NOW)
    db.session.commit()
    agent_id = agent.id
    headers = {"Authorization": f"Bearer {token}"}
    assert [r["village"] for r in client.get("/api/v1/listeners", headers=headers).get_json()["data"]] == ["Kaniko"]
    sign_in(client, admin)
    form = client.get(f"/dashboard/users/{agent_id}").get_data(as_text=True)
    assert re.search(r'name="villages"[^>]*>\s*Kaniko</textarea>', form)  # the current scope, ready to edit
    data = _form(role="agent", name="Agent", phone="", villages="", communes="bougouni")
    del data["email"]
    answer = post(client, f"/dashboard/users/{agent_id}", data, page=f"/dashboard/users/{agent_id}")
    assert answer.status_code == 302
    assert [r["village"] for r in client.get("/api/v1/listeners", headers=headers).get_json()["data"]] == ["Sido"]
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user_updated")).one()
    assert audit.detail == {"fields": ["name", "scopes"], "role": "agent"}


def test_a_role_other_than_agent_keeps_no_scope_and_an_admin_keeps_their_own_role(client, make_user):
    admin = make_user(Role.ADMIN)
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")])
    admin_id, agent_id = admin.id, agent.id
    sign_in(client, admin)
    data = {**_form(role="manager", phone=""), "villages": "Kaniko"}
    assert post(client, f"/dashboard/users/{agent_id}", data, page="/dashboard/users/").status_code == 302
    db.session.expire_all()
    changed = db.session.get(User, agent_id)
    assert (changed.role, changed.scopes) == (Role.MANAGER, [])
    demote = post(client, f"/dashboard/users/{admin_id}", _form(role="viewer", phone=""), page="/dashboard/users/")
    assert demote.status_code == 422
    assert "Vous ne pouvez pas retirer votre propre rôle" in html.unescape(demote.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(User, admin_id).role is Role.ADMIN


def test_disabling_and_enabling_a_user(backend, client, make_user):
    admin = make_user(Role.ADMIN)
    viewer = make_user(Role.VIEWER)
    admin_id, viewer_id = admin.id, viewer.id
    sign_in(client, admin)
    assert client.post(f"/dashboard/users/{viewer_id}/active", data={"active": "0"}).status_code == 400  # no CSRF
    assert db.session.get(User, viewer_id).active
    assert post(client, f"/dashboard/users/{viewer_id}/active", {"active": "0"}).status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, viewer_id).active
    assert "désactivé" in client.get("/dashboard/users/").get_data(as_text=True)
    assert post(client, f"/dashboard/users/{admin_id}/active", {"active": "0"}).status_code == 403  # not oneself
    assert post(client, f"/dashboard/users/{viewer_id}/active", {"active": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, viewer_id).active and db.session.get(User, admin_id).active
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target == f"user:{viewer_id}")).all()
    assert actions == ["user_created", "user_disabled", "user_enabled"]


def test_the_users_page_is_in_english_on_request(client, make_user):
    sign_in(client, make_user(Role.ADMIN))
    client.set_cookie("lang", "en")
    from accounts.models import User as U

    db.session.scalars(select(U)).first().locale = "en"
    db.session.commit()
    page = client.get("/dashboard/users/new").get_data(as_text=True)
    assert "A field agent&#39;s area" in page or "A field agent's area" in page
    assert "Zone d&#39;un agent" not in page
