"""The listeners pages: the role × page × scope matrix, the list (search, filters kept, keyset pages, htmx rows,
the export link), a listener's record, editing a profile and its groups, and an opt-out on the person's request."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from core.db import db
from core.vocabulary import CallStatus, Channel, Direction, MessageStatus
from ivr.models import CallSession
from listeners.models import (
    ConsentEvent,
    Group,
    LessonCompletion,
    LessonProgress,
    Listener,
    ProgressStatus,
    QuizAnswer,
)
from sms.models import Message
from tests.conftest import NOW
from tests.dashboard_support import csrf_token, post, sign_in

LESSON = ("child-labour", "what-is-child-labour")


@pytest.fixture
def world(app, make_user, make_listener):
    """Two villages (Kaniko, Sanando), two groups, a listener with a full history, and one user per role."""
    coop = Group(name="Coopérative de Kaniko", created_at=NOW)
    women = Group(name="Femmes de Sanando", created_at=NOW)
    db.session.add_all([coop, women])
    db.session.flush()
    awa = make_listener(
        phone="+22376000001", name="Awa Traoré", village="Kaniko", commune="Kaniko", region="Sikasso",
        language="bm", language_set_by="voice", consent_at=NOW - timedelta(days=30), consent_channel="voice",
    )  # fmt: skip
    awa.groups = [coop, women]
    moussa = make_listener(phone="+22376000002", name="Moussa Diarra", village="Sanando", language="fr")
    moussa.groups = [women]
    db.session.add_all(
        [
            ConsentEvent(listener_id=awa.id, action="consent", channel="voice", at=NOW - timedelta(days=30)),
            LessonProgress(
                listener_id=awa.id, course_id=LESSON[0], lesson_id=LESSON[1], status=ProgressStatus.COMPLETED,
                score=1, best_score=2, total=2, attempts=2, started_at=NOW - timedelta(days=9),
                completed_at=NOW - timedelta(days=2),
            ),
            LessonCompletion(
                listener_id=awa.id, course_id=LESSON[0], lesson_id=LESSON[1], attempt=1, score=2, total=2,
                channel=Channel.VOICE, completed_at=NOW - timedelta(days=8),
            ),
            QuizAnswer(
                listener_id=awa.id, course_id=LESSON[0], lesson_id=LESSON[1], question_id="awa-at-the-mine",
                answer="2", option_key="2", correct=False, channel=Channel.SMS, attempt=2,
                answered_at=NOW - timedelta(days=2),
            ),
            CallSession(
                provider="local", listener_id=awa.id, phone=awa.phone, direction=Direction.INBOUND,
                status=CallStatus.COMPLETED, duration_seconds=95, created_at=NOW - timedelta(days=3),
                path=[["2026-11-21T10:00:05+00:00", "main"], ["2026-11-21T10:00:20+00:00", "lesson"], ["bad"]],
            ),
            Message(
                provider="local", listener_id=awa.id, phone=awa.phone, direction=Direction.INBOUND,
                body="LECON", status=MessageStatus.RECEIVED, created_at=NOW - timedelta(days=1),
            ),
        ]
    )  # fmt: skip
    db.session.commit()
    users = {
        "admin": make_user(Role.ADMIN),
        "manager": make_user(Role.MANAGER, name="Mariam Keita"),
        "agent_in": make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko"), (ScopeKind.GROUP, coop.id)]),
        "agent_out": make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Sanando")]),
        "viewer": make_user(Role.VIEWER),
    }
    return {"awa": awa, "moussa": moussa, "coop": coop, "women": women, **users}


def each_role(app, world, expected):
    """(who, expected status, a client signed in as who) for each role, each in its own app context (requests
    share the test's ``g``: the signed-in user and the CSRF token would leak from one role to the next)."""
    emails = {who: world[who].email for who in WHO if who != "anonymous"}
    db.session.commit()  # SQLite: the test's own session holds no write lock meanwhile
    for who, status in zip(WHO, expected, strict=True):
        with app.app_context():
            client = app.test_client()
            if who != "anonymous":
                assert sign_in(client, emails[who]).status_code == 302
            yield who, status, client


WHO = ("admin", "manager", "agent_in", "agent_out", "viewer", "anonymous")
MATRIX = [
    # page, expected for admin, manager, agent in scope, agent out of scope, viewer, anonymous
    ("/dashboard/listeners/", (200, 200, 200, 200, 200, 302)),
    ("/dashboard/listeners/{awa}", (200, 200, 200, 404, 200, 302)),
    ("/dashboard/listeners/{awa}/edit", (200, 200, 200, 404, 403, 302)),
    ("/dashboard/listeners/{awa}/opt-out", (200, 200, 200, 404, 403, 302)),
    ("/dashboard/listeners/999999", (404, 404, 404, 404, 404, 302)),
]


@pytest.mark.parametrize("page, expected", MATRIX)
def test_role_page_scope_matrix(backend, app, world, page, expected):
    url = page.format(awa=world["awa"].id)
    for who, status, client in each_role(app, world, expected):
        answer = client.get(url)
        assert (who, answer.status_code) == (who, status)
        if status == 302:
            assert answer.headers["Location"].startswith("/dashboard/login")


POSTS = [
    # form posted, expected for admin, manager, agent in scope, agent out of scope, viewer, anonymous
    ("/dashboard/listeners/{awa}/edit", (302, 302, 302, 404, 403, 302)),
    ("/dashboard/listeners/{awa}/opt-out", (302, 302, 302, 404, 403, 302)),
]


@pytest.mark.parametrize("page, expected", POSTS)
def test_role_post_scope_matrix(backend, app, world, page, expected):
    url = page.format(awa=world["awa"].id)
    form = {"name": "Awa T.", "phone": "76 00 00 01", "village": "Kaniko", "language": "bm", "groups": []}
    for who, status, client in each_role(app, world, expected):
        answer = post(client, url, form, page="/dashboard/login" if who == "anonymous" else "/dashboard/")
        assert (who, answer.status_code) == (who, status)
    db.session.expire_all()
    listener = db.session.get(Listener, world["awa"].id)
    changed_by = {e.user_id for e in db.session.scalars(select(AuditEvent).where(AuditEvent.target.like("listener:%")))}
    assert changed_by <= {world[w].id for w in ("admin", "manager", "agent_in")}
    if "edit" in page:
        assert listener.name == "Awa T."
    else:
        assert listener.opted_out


def test_an_agent_never_sees_another_agents_listener_in_the_list(app, client, world):
    sign_in(client, world["agent_out"])
    page = client.get("/dashboard/listeners/").get_data(as_text=True)
    assert "Moussa Diarra" in page and "Awa Traoré" not in page
    searched = client.get("/dashboard/listeners/?q=76000001").get_data(as_text=True)
    assert "Awa Traoré" not in searched and "Personne ne correspond." in searched


# --- the list -----------------------------------------------------------------------------------------------


def test_the_filter_form_keeps_its_values_and_names_bad_filters(backend, client, world):
    sign_in(client, world["manager"])
    group = world["coop"].id
    answer = client.get(
        f"/dashboard/listeners/?q=awa&village=Kaniko&group={group}&language=bm&consent=active"
        "&lesson=child-labour/what-is-child-labour&progress=completed"
    )
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 200
    for kept in (
        'name="q" value="awa"',
        'name="village" value="Kaniko"',
        f'<option value="{group}" selected>',
        '<option value="bm" selected>',
        '<option value="active" selected>',
        '<option value="child-labour/what-is-child-labour" selected>',
        '<option value="completed" selected>',
    ):
        assert kept in page
    assert "Awa Traoré" in page and "1 auditeur." in page
    bad = html.unescape(client.get("/dashboard/listeners/?language=xx&progress=completed").get_data(as_text=True))
    assert "Certains filtres n'étaient pas valables" in bad
    assert "Choisissez d'abord une leçon." in bad
    assert "2 auditeurs." in bad  # the bad filters were ignored, not applied


def test_the_list_pages_by_keyset_fifty_at_a_time_without_offset(backend, app, client, world, make_listener):
    for n in range(53):
        make_listener(phone=f"+2236600{n:04d}", name=f"Personne {n:02d}", village="Kaniko")
    db.session.commit()
    sign_in(client, world["manager"])
    statements: list[tuple[str, object]] = []
    catch = lambda *args: statements.append((args[2], args[3]))  # noqa: E731 (before_cursor_execute)
    event.listen(db.engine, "before_cursor_execute", catch)
    try:
        first = client.get("/dashboard/listeners/?village=Kaniko").get_data(as_text=True)
        ids = sorted(db.session.scalars(select(Listener.id).where(Listener.village == "Kaniko")))
        next_link = f"after={ids[49]}"
        second = client.get(f"/dashboard/listeners/?village=Kaniko&{next_link}")
    finally:
        event.remove(db.engine, "before_cursor_execute", catch)
    # no OFFSET (SQLite's dialect always writes "OFFSET ?": it must be 0); the second page starts after an id
    assert {params[-1] for sql, params in statements if "OFFSET" in sql} <= {0}
    assert any("listeners.id >" in sql and "LIMIT" in sql for sql, _ in statements)
    assert first.count("/dashboard/listeners/") >= 50 and "54 auditeurs." in first
    assert next_link in first
    rows = [i for i in ids if f'/dashboard/listeners/{i}"' in second.get_data(as_text=True)]
    assert rows == ids[50:]
    assert "Voir les suivants" not in second.get_data(as_text=True)
    rows_only = client.get(f"/dashboard/listeners/?village=Kaniko&{next_link}", headers={"HX-Request": "true"})
    body = rows_only.get_data(as_text=True)
    assert "<html" not in body and body.count("<tr>") == 4


def test_the_list_links_to_the_export_of_the_same_filter(app, world):
    client = app.test_client()
    sign_in(client, world["manager"])
    page = html.unescape(client.get("/dashboard/listeners/?village=Kaniko&language=bm").get_data(as_text=True))
    for fmt in ("csv", "xlsx"):
        assert f"/dashboard/exports/listeners.{fmt}?" in page
    assert "village=Kaniko" in page and "language=bm" in page


# --- a listener's record ------------------------------------------------------------------------------------


def test_the_record_shows_profile_consent_language_groups_progress_answers_and_timeline(backend, client, world):
    sign_in(client, world["agent_in"])
    answer = client.get(f"/dashboard/listeners/{world['awa'].id}")
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 200
    expected = [
        "Awa Traoré",
        'href="tel:+22376000001"',
        "bambara",
        "choisie par l'auditeur, pendant un appel",
        'Coopérative de Kaniko <small class="hint">(et 1 autre groupe)</small>',  # not theirs: no name
        "accord donné · par appel",
        "Le travail des enfants · Qu'est-ce que le travail des enfants ?",
        "1/2 <small>(meilleur 2)</small>",
        "2 — Non",  # the option chosen, in words
        "faux",
        "Appel reçu · terminé · 95 s",
        'menu principal <span class="hint">10:00:05</span> → leçon <span class="hint">10:00:20</span>',
        "SMS reçu : LECON",
        "Désinscrire à sa demande",
    ]
    for text in expected:
        assert text in page, text
    assert page.index("SMS reçu") < page.index("Appel reçu")  # newest first


def test_a_viewer_reads_the_record_without_the_buttons(client, world):
    sign_in(client, world["viewer"])
    page = html.unescape(client.get(f"/dashboard/listeners/{world['awa'].id}").get_data(as_text=True))
    assert "Awa Traoré" in page and "Modifier" not in page and "Désinscrire" not in page
    assert "Coopérative de Kaniko, Femmes de Sanando" in page


# --- editing -----------------------------------------------------------------------------------------------


def _edit(client, listener, **changes):
    form = {"name": listener.name, "phone": listener.phone, "village": listener.village,
            "commune": listener.commune, "region": listener.region, "language": listener.language or ""}  # fmt: skip
    form["groups"] = [g.id for g in listener.groups]
    form.update(changes)
    return post(client, f"/dashboard/listeners/{listener.id}/edit", form)


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_a_manager_edits_a_profile_and_the_change_is_audited_without_the_phone(backend, client, world):
    sign_in(client, world["manager"])
    awa, coop = world["awa"], world["coop"]
    answer = _edit(client, awa, name="  Awa   Coulibaly ", phone="0022376000009", language="fr", groups=[coop.id])
    assert answer.status_code == 302
    db.session.expire_all()
    awa = db.session.get(Listener, awa.id)
    assert (awa.name, awa.phone, awa.language, awa.language_set_by) == (
        "Awa Coulibaly", "+22376000009", "fr", f"user:{world['manager'].id}",
    )  # fmt: skip
    assert [g.name for g in awa.groups] == ["Coopérative de Kaniko"]
    [audited] = _audit("listener_updated")
    assert audited.user_id == world["manager"].id and audited.target == f"listener:{awa.id}"
    assert audited.detail == {"fields": ["name", "phone", "language", "groups"]}
    assert "76000009" not in str(audited.detail)
    page = html.unescape(client.get(f"/dashboard/listeners/{awa.id}").get_data(as_text=True))
    assert "Profil enregistré." in page and "Mariam Keita, sur le tableau de bord" in page


def test_saving_an_unchanged_profile_records_nothing(client, world):
    sign_in(client, world["manager"])
    assert _edit(client, world["awa"]).status_code == 302
    assert _audit("listener_updated") == []


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"phone": "+22376000002"}, "phone", "Ce numéro est déjà celui d'un autre auditeur."),
        ({"phone": "76 00 00 02"}, "phone", "Ce numéro est déjà celui d'un autre auditeur."),
        ({"phone": "12"}, "phone", "Ce n'est pas un numéro du Mali"),
        ({"phone": ""}, "phone", "Le numéro est obligatoire."),
        ({"name": "x" * 201}, "name", "200"),
        ({"language": "en"}, "language", "N'est pas un choix valide."),
    ],
)
def test_a_bad_edit_shows_the_error_next_to_its_field_and_changes_nothing(
    backend, client, world, changes, field, message
):
    sign_in(client, world["manager"])
    answer = _edit(client, world["awa"], **changes)
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 400
    block = page[page.index(f'id="{field}"') :]
    block = block[: block.index("</div>")]
    assert message in block
    db.session.expire_all()
    assert db.session.get(Listener, world["awa"].id).phone == "+22376000001"
    assert _audit("listener_updated") == []


def test_an_agent_may_not_move_a_listener_out_of_their_scope(backend, client, world):
    agent_out_village = {"village": "Sanando", "groups": []}
    sign_in(client, world["agent_in"])
    answer = _edit(client, world["awa"], **agent_out_village)
    assert answer.status_code == 400
    assert "sortent de votre zone" in html.unescape(answer.get_data(as_text=True))
    db.session.expire_all()
    awa = db.session.get(Listener, world["awa"].id)
    assert awa.village == "Kaniko" and {g.name for g in awa.groups} == {"Coopérative de Kaniko", "Femmes de Sanando"}


def test_an_agent_keeps_the_groups_they_cannot_see_and_may_move_within_their_groups(backend, client, world):
    sign_in(client, world["agent_in"])
    page = client.get(f"/dashboard/listeners/{world['awa'].id}/edit").get_data(as_text=True)
    assert "Coopérative de Kaniko" in page and "Femmes de Sanando" not in page  # only the agent's own groups
    answer = _edit(client, world["awa"], village="Sanando", groups=[world["coop"].id])
    assert answer.status_code == 302  # still in scope through their group
    db.session.expire_all()
    awa = db.session.get(Listener, world["awa"].id)
    assert awa.village == "Sanando" and {g.name for g in awa.groups} == {"Coopérative de Kaniko", "Femmes de Sanando"}


def test_an_agent_cannot_add_a_group_that_is_not_theirs(client, world):
    sign_in(client, world["agent_in"])
    moussa = world["moussa"]
    answer = _edit(client, world["awa"], groups=[world["coop"].id, world["women"].id, 999])
    assert answer.status_code == 400  # not a choice offered
    assert db.session.get(Listener, moussa.id).groups == [world["women"]]


def test_an_edit_without_the_csrf_token_is_refused(client, world):
    sign_in(client, world["manager"])
    answer = client.post(f"/dashboard/listeners/{world['awa'].id}/edit", data={"name": "X", "phone": "76000001"})
    assert answer.status_code == 400
    db.session.expire_all()
    assert db.session.get(Listener, world["awa"].id).name == "Awa Traoré"


# --- opt-out on request ------------------------------------------------------------------------------------


def test_an_opt_out_asks_for_confirmation_then_stops_everything_and_is_audited(backend, client, world):
    sign_in(client, world["agent_in"])
    awa = world["awa"]
    confirm = html.unescape(client.get(f"/dashboard/listeners/{awa.id}/opt-out").get_data(as_text=True))
    assert "Oui, désinscrire" in confirm and "ne recevra plus aucun appel ni SMS" in confirm
    db.session.expire_all()
    assert db.session.get(Listener, awa.id).opted_out is False  # looking at the page changes nothing
    answer = post(client, f"/dashboard/listeners/{awa.id}/opt-out", page=f"/dashboard/listeners/{awa.id}/opt-out")
    assert answer.status_code == 302
    db.session.expire_all()
    awa = db.session.get(Listener, awa.id)
    assert (awa.opted_out, awa.opted_out_at, awa.opted_out_channel) == (True, NOW, "dashboard")
    events = db.session.scalars(
        select(ConsentEvent).where(ConsentEvent.listener_id == awa.id).order_by(ConsentEvent.id)
    )
    assert [(e.action, e.channel, e.user_id) for e in events] == [
        ("consent", "voice", None),
        ("opt_out", "dashboard", world["agent_in"].id),
    ]
    [audited] = _audit("listener_opted_out")
    assert (audited.user_id, audited.target) == (world["agent_in"].id, f"listener:{awa.id}")
    page = html.unescape(client.get(f"/dashboard/listeners/{awa.id}").get_data(as_text=True))
    assert "Désinscrit" in page and "aucun appel ni SMS ne lui est envoyé" in page
    assert "désinscription · sur le tableau de bord" in page
    assert "Désinscrire à sa demande" not in page
    again = post(client, f"/dashboard/listeners/{awa.id}/opt-out", page=f"/dashboard/listeners/{awa.id}")
    assert again.status_code == 302
    assert len(_audit("listener_opted_out")) == 1  # a second click records nothing


def test_an_opt_out_without_the_csrf_token_is_refused(client, world):
    sign_in(client, world["manager"])
    csrf_token(client, "/dashboard/")  # the session has a token: the form does not send it
    assert client.post(f"/dashboard/listeners/{world['awa'].id}/opt-out").status_code == 400
    db.session.expire_all()
    assert db.session.get(Listener, world["awa"].id).opted_out is False


def test_the_pages_speak_english_to_a_user_who_chose_it(backend, client, world):
    world["manager"].locale = "en"
    db.session.commit()
    sign_in(client, world["manager"])
    listing = html.unescape(client.get("/dashboard/listeners/?village=Kaniko").get_data(as_text=True))
    assert "Listeners" in listing and "1 listener." in listing and "Nobody matches." not in listing
    record = html.unescape(client.get(f"/dashboard/listeners/{world['awa'].id}").get_data(as_text=True))
    for text in ("chosen by the listener, during a call", "consent given · by call", "Call received", "main menu"):
        assert text in record, text
