"""The API tokens page: who may open it, a token shown once and usable, revoking one's own (not another's),
CSRF, the audit log; on both databases."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from accounts import tokens
from accounts.models import ApiToken, AuditEvent
from accounts.roles import Role, ScopeKind
from core.db import db
from tests.conftest import NOW
from tests.dashboard_support import post, sign_in

# role → status of GET /dashboard/tokens/ (anonymous: sent to the sign-in page)
MATRIX = [
    (Role.ADMIN, 200),
    (Role.MANAGER, 200),
    (Role.AGENT, 200),
    (Role.VIEWER, 403),
    (None, 302),
]


@pytest.mark.parametrize("role, status", MATRIX)
def test_who_may_open_the_tokens_page(backend, client, make_user, role, status):
    if role is not None:
        sign_in(client, make_user(role, scopes=[(ScopeKind.VILLAGE, "Kaniko")]))
    answer = client.get("/dashboard/tokens/")
    assert answer.status_code == status
    if status == 302:
        assert answer.headers["Location"].startswith("/dashboard/login")
    if status == 200:  # and the menu links to it
        assert 'href="/dashboard/tokens/"' in answer.get_data(as_text=True)


def test_a_token_is_shown_once_works_on_the_api_and_is_audited(backend, client, make_user, make_listener):
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")])
    make_listener(village="Kaniko")
    make_listener(village="Sido")
    db.session.commit()
    sign_in(client, agent)
    answer = post(client, "/dashboard/tokens/", {"name": "ONG partenaire"}, page="/dashboard/tokens/")
    assert answer.status_code == 201
    page = answer.get_data(as_text=True)
    (token,) = re.findall(r'<code id="new-token"[^>]*>(kls_[\w-]+)</code>', page)
    row = db.session.scalars(select(ApiToken)).one()
    assert (row.user_id, row.name, row.prefix, row.revoked_at) == (agent.id, "ONG partenaire", token[:12], None)
    assert token not in row.token_hash and len(row.token_hash) == 64  # only its hash is kept
    assert token not in client.get("/dashboard/tokens/").get_data(as_text=True)  # never shown again
    listed = client.get("/api/v1/listeners", headers={"Authorization": f"Bearer {token}"}).get_json()["data"]
    assert [r["village"] for r in listed] == ["Kaniko"]  # with the agent's scope
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token_created")).one()
    assert (audit.user_id, audit.target) == (agent.id, f"token:{row.id}")
    assert token not in str(audit.detail)


def test_a_token_needs_a_name_said_next_to_the_field(client, make_user):
    sign_in(client, make_user(Role.MANAGER))
    answer = post(client, "/dashboard/tokens/", {"name": ""}, page="/dashboard/tokens/")
    assert answer.status_code == 422
    assert 'class="field has-error"' in answer.get_data(as_text=True)
    assert db.session.scalars(select(ApiToken)).first() is None


def test_revoking_ones_token_stops_it_and_anothers_is_not_found(backend, client, make_user):
    manager, other = make_user(Role.MANAGER), make_user(Role.MANAGER)
    mine, secret = tokens.create(manager, "mine", NOW)
    theirs, _ = tokens.create(other, "theirs", NOW)
    db.session.commit()
    mine_id, theirs_id = mine.id, theirs.id
    sign_in(client, manager)
    assert post(client, f"/dashboard/tokens/{theirs_id}/revoke", page="/dashboard/tokens/").status_code == 404
    answer = post(client, f"/dashboard/tokens/{mine_id}/revoke", page="/dashboard/tokens/")
    assert answer.status_code == 302
    db.session.expire_all()
    assert db.session.get(ApiToken, mine_id).revoked_at == NOW
    assert db.session.get(ApiToken, theirs_id).revoked_at is None
    assert "révoqué le" in client.get("/dashboard/tokens/").get_data(as_text=True)
    assert client.get("/api/v1/groups", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target == f"token:{mine_id}")).all()
    assert actions == ["token_created", "token_revoked"]


def test_revoking_without_the_csrf_token_is_refused(client, make_user):
    manager = make_user(Role.MANAGER)
    row, _ = tokens.create(manager, "mine", NOW)
    db.session.commit()
    row_id = row.id
    sign_in(client, manager)
    assert client.post(f"/dashboard/tokens/{row_id}/revoke").status_code == 400
    db.session.expire_all()
    assert db.session.get(ApiToken, row_id).revoked_at is None
