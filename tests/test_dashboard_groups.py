"""The groups pages: the role × page × scope matrix, member counts in scope, creating and renaming (names unique
whatever the case), members in keyset pages, adding a listener by phone and removing one, all audited."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from core.db import db
from listeners.models import Group, Listener
from tests.conftest import NOW
from tests.dashboard_support import post, sign_in

WHO = ("admin", "manager", "agent_in", "agent_out", "viewer", "anonymous")


@pytest.fixture
def world(app, make_user, make_listener):
    coop = Group(name="Coopérative de Kaniko", created_at=NOW)
    women = Group(name="Femmes de Sanando", description="Tontine du jeudi", created_at=NOW)
    db.session.add_all([coop, women])
    db.session.flush()
    awa = make_listener(phone="+22376000001", name="Awa Traoré", village="Kaniko")
    moussa = make_listener(phone="+22376000002", name="Moussa Diarra", village="Sanando")
    fanta = make_listener(phone="+22376000003", name="Fanta Keita", village="Sanando")
    awa.groups, moussa.groups, fanta.groups = [coop], [coop, women], [women]
    db.session.commit()
    users = {
        "admin": make_user(Role.ADMIN),
        "manager": make_user(Role.MANAGER),
        "agent_in": make_user(Role.AGENT, scopes=[(ScopeKind.GROUP, coop.id)]),
        "agent_out": make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Sanando")]),
        "viewer": make_user(Role.VIEWER),
    }
    return {"coop": coop, "women": women, "awa": awa, "moussa": moussa, "fanta": fanta, **users}


def each_role(app, world, expected):
    """(who, expected status, a client signed in as who), each role in its own app context (the test's ``g``
    would otherwise carry the signed-in user and the CSRF token from one role to the next)."""
    emails = {who: world[who].email for who in WHO if who != "anonymous"}
    db.session.commit()
    for who, status in zip(WHO, expected, strict=True):
        with app.app_context():
            client = app.test_client()
            if who != "anonymous":
                assert sign_in(client, emails[who]).status_code == 302
            yield who, status, client


MATRIX = [
    # method, page, expected for admin, manager, agent in scope (group), agent out of scope, viewer, anonymous
    ("get", "/dashboard/groups/", (200, 200, 200, 200, 200, 302)),
    ("get", "/dashboard/groups/{coop}", (200, 200, 200, 404, 200, 302)),
    ("get", "/dashboard/groups/999999", (404, 404, 404, 404, 404, 302)),
    ("get", "/dashboard/groups/new", (200, 200, 403, 403, 403, 302)),
    ("get", "/dashboard/groups/{coop}/rename", (200, 200, 403, 403, 403, 302)),
    ("post", "/dashboard/groups/{coop}/members", (400, 400, 403, 403, 403, 302)),  # an empty form
    ("post", "/dashboard/groups/{coop}/members/{awa}/remove", (302, 302, 403, 403, 403, 302)),
]


@pytest.mark.parametrize("method, page, expected", MATRIX)
def test_role_page_scope_matrix(backend, app, world, method, page, expected):
    url = page.format(coop=world["coop"].id, awa=world["awa"].id)
    for who, status, client in each_role(app, world, expected):
        if method == "get":
            answer = client.get(url)
        else:
            answer = post(client, url, {}, page="/dashboard/login" if who == "anonymous" else "/dashboard/")
        assert (who, answer.status_code) == (who, status)
        if status == 302 and who == "anonymous":
            assert answer.headers["Location"].startswith("/dashboard/login")


@pytest.mark.parametrize(
    "who, expected",
    [
        ("manager", [("Coopérative de Kaniko", 2), ("Femmes de Sanando", 2)]),
        ("viewer", [("Coopérative de Kaniko", 2), ("Femmes de Sanando", 2)]),
        ("agent_in", [("Coopérative de Kaniko", 2)]),  # their own group only
        ("agent_out", []),  # a village scope: no group of their own
    ],
)
def test_the_list_shows_the_groups_in_scope_with_their_member_counts(backend, client, world, who, expected):
    from dashboard.groups import groups_with_counts

    assert [(g.name, n) for g, n in groups_with_counts(world[who])] == expected
    sign_in(client, world[who])
    page = html.unescape(client.get("/dashboard/groups/").get_data(as_text=True))
    for name, _ in expected:
        assert name in page
    assert ("Femmes de Sanando" in page) == (who in ("manager", "viewer"))
    assert ("Créer un groupe" in page) == (who == "manager")


def test_member_counts_count_only_the_listeners_in_scope(backend, world, make_user):
    from dashboard.groups import groups_with_counts

    # an agent holding the group and a village sees the group; all its members are in scope through the group
    both = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Sanando"), (ScopeKind.GROUP, world["women"].id)])
    assert [(g.name, n) for g, n in groups_with_counts(both)] == [("Femmes de Sanando", 2)]


def _audit() -> list[tuple[str, str, dict]]:
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("group%")).order_by(AuditEvent.id))
    return [(e.action, e.target, e.detail) for e in rows]


def test_a_manager_creates_and_renames_a_group(backend, client, world):
    sign_in(client, world["manager"])
    created = post(client, "/dashboard/groups/new", {"name": "  Jeunes   de Kaniko ", "description": "Le samedi"})
    assert created.status_code == 302
    group = db.session.scalars(select(Group).where(Group.name == "Jeunes de Kaniko")).one()
    assert created.headers["Location"] == f"/dashboard/groups/{group.id}"
    assert (group.description, group.created_at) == ("Le samedi", NOW)
    renamed = post(client, f"/dashboard/groups/{group.id}/rename", {"name": "Jeunes du village", "description": ""})
    assert renamed.status_code == 302
    db.session.expire_all()
    assert (db.session.get(Group, group.id).name, db.session.get(Group, group.id).description) == (
        "Jeunes du village", "",
    )  # fmt: skip
    assert _audit() == [
        ("group_created", f"group:{group.id}", {"name": "Jeunes de Kaniko"}),
        ("group_renamed", f"group:{group.id}", {"old": "Jeunes de Kaniko", "new": "Jeunes du village"}),
    ]


@pytest.mark.parametrize(
    "url, name, message",
    [
        ("/dashboard/groups/new", "coopérative de kaniko", "Un groupe porte déjà ce nom."),
        ("/dashboard/groups/new", "COOPÉRATIVE DE KANIKO", "Un groupe porte déjà ce nom."),
        ("/dashboard/groups/new", "   ", "Le nom est obligatoire."),
        ("/dashboard/groups/new", "x" * 121, "120"),
        ("/dashboard/groups/{women}/rename", "Coopérative de Kaniko", "Un groupe porte déjà ce nom."),
    ],
)
def test_a_bad_group_name_is_refused_next_to_its_field(backend, client, world, url, name, message):
    sign_in(client, world["manager"])
    answer = post(client, url.format(women=world["women"].id), {"name": name})
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 400
    block = page[page.index('id="name"') :]
    assert message in block[: block.index("</div>")]
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Group.name))) == ["Coopérative de Kaniko", "Femmes de Sanando"]
    assert _audit() == []


def test_renaming_a_group_to_its_own_name_in_other_letters_is_allowed(client, world):
    sign_in(client, world["manager"])
    answer = post(client, f"/dashboard/groups/{world['coop'].id}/rename", {"name": "COOPÉRATIVE de Kaniko"})
    assert answer.status_code == 302


@pytest.mark.parametrize("typed", ["76 00 00 03", "+22376000003", "0022376000003", "76000003"])
def test_a_manager_adds_a_listener_by_phone_in_any_format(backend, client, world, typed):
    sign_in(client, world["manager"])
    coop, fanta = world["coop"], world["fanta"]
    answer = post(client, f"/dashboard/groups/{coop.id}/members", {"phone": typed})
    assert answer.status_code == 302
    db.session.expire_all()
    assert {g.name for g in db.session.get(Listener, fanta.id).groups} == {"Coopérative de Kaniko", "Femmes de Sanando"}
    assert _audit() == [("group_member_added", f"listener:{fanta.id}", {"group": coop.id})]


@pytest.mark.parametrize(
    "typed, message",
    [
        ("", "Le numéro est obligatoire."),
        ("12", "Ce n'est pas un numéro du Mali"),
        ("76 99 99 99", "Aucun auditeur n'a ce numéro."),
        ("76 00 00 01", "Cette personne est déjà dans le groupe."),
    ],
)
def test_a_bad_member_phone_is_refused_next_to_its_field(backend, client, world, typed, message):
    sign_in(client, world["manager"])
    answer = post(client, f"/dashboard/groups/{world['coop'].id}/members", {"phone": typed})
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 400
    block = page[page.index('id="phone"') :]
    assert message in block[: block.index("</div>")]
    assert "Awa Traoré" in page  # the members are still listed
    assert _audit() == []


def test_a_manager_removes_a_member(backend, client, world):
    sign_in(client, world["manager"])
    coop, moussa = world["coop"], world["moussa"]
    answer = post(client, f"/dashboard/groups/{coop.id}/members/{moussa.id}/remove")
    assert answer.status_code == 302
    db.session.expire_all()
    assert [g.name for g in db.session.get(Listener, moussa.id).groups] == ["Femmes de Sanando"]
    assert _audit() == [("group_member_removed", f"listener:{moussa.id}", {"group": coop.id})]
    page = html.unescape(client.get(f"/dashboard/groups/{coop.id}").get_data(as_text=True))
    assert "Moussa Diarra n'est plus dans le groupe." in page
    assert "Moussa Diarra</a>" not in page


def test_an_agent_sees_the_members_of_their_group_without_the_buttons(client, world):
    sign_in(client, world["agent_in"])
    page = html.unescape(client.get(f"/dashboard/groups/{world['coop'].id}").get_data(as_text=True))
    assert "Awa Traoré" in page and "Moussa Diarra" in page and "Fanta Keita" not in page
    assert "Retirer" not in page and "Ajouter au groupe" not in page and "Renommer" not in page


def test_members_come_in_keyset_pages_of_fifty(backend, client, world, make_listener):
    coop = world["coop"]
    for n in range(50):
        member = make_listener(phone=f"+2236600{n:04d}", name=f"Membre {n:02d}", village="Kaniko")
        member.groups.append(coop)
    db.session.commit()
    sign_in(client, world["manager"])
    ids = sorted(db.session.scalars(select(Listener.id).join(Listener.groups).where(Group.id == coop.id)))
    assert len(ids) == 52
    first = client.get(f"/dashboard/groups/{coop.id}").get_data(as_text=True)
    assert f"after={ids[49]}" in first and first.count('/remove"') == 50
    second = client.get(f"/dashboard/groups/{coop.id}?after={ids[49]}").get_data(as_text=True)
    assert [i for i in ids if f'/dashboard/listeners/{i}"' in second] == ids[50:]
    assert "Voir les suivants" not in second
