"""The JSON API v1: tokens, the role × endpoint × scope matrix (both databases), cursor pagination, JSON
errors, creating and changing listeners (422 naming the field, 409, scope, audit, consent history)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import tokens
from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from api.pagination import decode_cursor, encode_cursor
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


def _token(user) -> dict:
    _row, token = tokens.create(user, "test", NOW)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _activity(listener: Listener) -> None:
    """One row of every kind for this listener."""
    db.session.add_all(
        [
            LessonProgress(listener_id=listener.id, course_id="c", lesson_id="l1", status=ProgressStatus.COMPLETED,
                           score=2, best_score=2, total=3, attempts=1, updated_at=NOW),
            LessonCompletion(listener_id=listener.id, course_id="c", lesson_id="l1", attempt=1, score=2, total=3,
                             channel=Channel.VOICE, completed_at=NOW),
            QuizAnswer(listener_id=listener.id, course_id="c", lesson_id="l1", question_id="q1", answer="2",
                       option_key="2", correct=True, channel=Channel.VOICE, answered_at=NOW),
            CallSession(provider="local", listener_id=listener.id, phone=listener.phone, direction=Direction.INBOUND,
                        status=CallStatus.COMPLETED, path=[[NOW.isoformat(), "menu"], [NOW.isoformat(), "lesson"]]),
            Message(provider="local", listener_id=listener.id, phone=listener.phone, direction=Direction.INBOUND,
                    body="QUIZ", status=MessageStatus.RECEIVED),
        ]
    )  # fmt: skip


@pytest.fixture
def world(make_user, make_listener):
    """Two villages, one listener each (with activity), a group in each, and a token per role (the agent
    covers Kaniko and its group)."""
    group = Group(name="Femmes de Kaniko", created_at=NOW)
    other_group = Group(name="Sido jeunes", created_at=NOW)
    db.session.add_all([group, other_group])
    inside = make_listener(phone="+22376000001", name="Awa", village="Kaniko", region="Sikasso", language="bm")
    outside = make_listener(phone="+22376000002", name="Fanta", village="Sido", region="Sikasso")
    inside.groups = [group]
    outside.groups = [other_group]
    db.session.flush()
    _activity(inside)
    _activity(outside)
    db.session.commit()
    kaniko = [(ScopeKind.VILLAGE, "kaniko "), (ScopeKind.GROUP, group.id)]
    users = {
        "admin": make_user(Role.ADMIN),
        "manager": make_user(Role.MANAGER),
        "agent": make_user(Role.AGENT, scopes=kaniko),
        "agent_elsewhere": make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Bougouni")]),
        "viewer": make_user(Role.VIEWER),
    }
    headers = {name: _token(user) for name, user in users.items()}
    headers["anonymous"] = {}
    return {"inside": inside.id, "outside": outside.id, "group": group.id, "headers": headers, "users": users}


# who sees which listener: (listener ids visible in lists), per role
SEES = {
    "admin": {"inside", "outside"},
    "manager": {"inside", "outside"},
    "agent": {"inside"},
    "agent_elsewhere": set(),
    "viewer": {"inside", "outside"},
}
LISTS = ["/listeners", "/progress", "/completions", "/answers", "/calls", "/messages"]


def test_role_by_endpoint_by_scope_matrix(backend, client, world):
    ids = {"inside": world["inside"], "outside": world["outside"]}
    for who, headers in world["headers"].items():
        for path in [*LISTS, "/groups"]:
            answer = client.get(f"/api/v1{path}", headers=headers)
            if who == "anonymous":
                assert answer.status_code == 401 and answer.get_json()["error"] == "unauthorized", path
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
                continue
            assert answer.status_code == 200, (who, path)
            rows = answer.get_json()["data"]
            key = "id" if path == "/listeners" else "listener_id"
            if path != "/groups":
                assert {r[key] for r in rows} == {ids[n] for n in SEES[who]}, (who, path)
        expected_groups = {"admin": 2, "manager": 2, "viewer": 2, "agent": 1, "agent_elsewhere": 0}
        if who != "anonymous":
            assert len(client.get("/api/v1/groups", headers=headers).get_json()["data"]) == expected_groups[who]
        for name, listener_id in ids.items():
            one = client.get(f"/api/v1/listeners/{listener_id}", headers=headers)
            rows = client.get(f"/api/v1/calls?listener={listener_id}", headers=headers)
            if who == "anonymous":
                assert (one.status_code, rows.status_code) == (401, 401)
            elif name in SEES[who]:
                assert one.status_code == 200 and one.get_json()["id"] == listener_id
                assert [r["listener_id"] for r in rows.get_json()["data"]] == [listener_id]
            else:  # out of scope looks absent
                assert (one.status_code, rows.status_code) == (404, 404), (who, name)
                assert one.get_json()["error"] == "not_found"


# writing: (role, listener, expected status of PATCH, expected status of POST in that listener's village)
WRITES = [
    ("admin", "outside", 200, 201),
    ("manager", "outside", 200, 201),
    ("agent", "inside", 200, 201),
    ("agent", "outside", 404, 403),
    ("agent_elsewhere", "inside", 404, 403),
    ("viewer", "inside", 403, 403),
    ("anonymous", "inside", 401, 401),
]


@pytest.mark.parametrize("who, target, patch_status, post_status", WRITES)
def test_who_may_write(backend, client, world, who, target, patch_status, post_status):
    headers = world["headers"][who]
    village = "Kaniko" if target == "inside" else "Sido"
    answer = client.patch(f"/api/v1/listeners/{world[target]}", json={"name": "Nouveau nom"}, headers=headers)
    assert answer.status_code == patch_status, answer.get_json()
    created = client.post("/api/v1/listeners", json={"phone": "76 99 00 11", "village": village}, headers=headers)
    assert created.status_code == post_status, created.get_json()
    assert created.is_json
    db.session.expire_all()
    assert (db.session.get(Listener, world[target]).name == "Nouveau nom") == (patch_status == 200)
    new = db.session.scalars(select(Listener).where(Listener.phone == "+22376990011")).first()
    assert (new is not None) == (post_status == 201)


def test_a_listener_created_by_the_api_is_audited_with_consent_and_language(backend, client, world):
    agent = world["users"]["agent"]
    body = {"phone": "0022376990012", "name": " Mariam  Traoré ", "village": "Kaniko", "language": "fr",
            "groups": [world["group"]], "consent": True}  # fmt: skip
    answer = client.post("/api/v1/listeners", json=body, headers=world["headers"]["agent"])
    assert answer.status_code == 201
    data = answer.get_json()
    assert answer.headers["Location"] == f"/api/v1/listeners/{data['id']}"
    assert {
        k: data[k] for k in ("phone", "name", "village", "language", "language_set_by", "groups", "consent_at")
    } == {
        "phone": "+22376990012",
        "name": "Mariam Traoré",
        "village": "Kaniko",
        "language": "fr",
        "language_set_by": f"user:{agent.id}",
        "groups": [world["group"]],
        "consent_at": "2026-11-24T10:00:00Z",
    }
    events = db.session.scalars(select(ConsentEvent).where(ConsentEvent.listener_id == data["id"])).all()
    assert [(e.action, e.channel, e.user_id) for e in events] == [("consent", "api", agent.id)]
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "listener_created")).one()
    assert (audit.user_id, audit.target, audit.detail) == (
        agent.id, f"listener:{data['id']}", {"via": "api", "phone": "+2237699****"},
    )  # fmt: skip


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"phone": 76990013}, "phone"),
        ({"phone": "76990013", "language": "en"}, "language"),
        ({"phone": "76990013", "name": "x" * 201}, "name"),
        ({"phone": "76990013", "village": 3}, "village"),
        ({"phone": "76990013", "groups": [999]}, "groups"),
        ({"phone": "76990013", "groups": "1"}, "groups"),
        ({"phone": "76990013", "consent": "yes"}, "consent"),
        ({"phone": "76990013", "opted_out": True}, "opted_out"),
        ({"phone": "76990013", "is_admin": True}, "is_admin"),
        ([], "body"),
    ],
)
def test_a_bad_body_is_a_422_naming_the_field(client, world, body, field):
    answer = client.post("/api/v1/listeners", json=body, headers=world["headers"]["manager"])
    assert answer.status_code == 422
    assert answer.get_json()["field"] == field and answer.get_json()["error"] == "invalid"
    assert db.session.scalars(select(Listener).where(Listener.phone == "+22376990013")).first() is None


def test_a_body_that_is_not_json_is_a_422(client, world):
    answer = client.post("/api/v1/listeners", data="phone=76990013", headers=world["headers"]["manager"])
    assert (answer.status_code, answer.get_json()["field"]) == (422, "body")


def test_a_known_phone_is_a_409_that_names_the_listener_only_when_in_scope(backend, client, world):
    mine = client.post("/api/v1/listeners", json={"phone": "76 00 00 01", "village": "Kaniko"},
                       headers=world["headers"]["agent"])  # fmt: skip
    assert mine.status_code == 409 and mine.get_json() == {
        "error": "duplicate", "message": "A listener with this phone number exists already.", "field": "phone",
        "id": world["inside"],
    }  # fmt: skip
    theirs = client.post("/api/v1/listeners", json={"phone": "+22376000002", "village": "Kaniko"},
                         headers=world["headers"]["agent"])  # fmt: skip
    assert theirs.status_code == 409 and "id" not in theirs.get_json()


def test_an_agent_cannot_move_a_listener_out_of_their_scope(backend, client, world):
    answer = client.patch(f"/api/v1/listeners/{world['inside']}", json={"village": "Sido", "groups": []},
                          headers=world["headers"]["agent"])  # fmt: skip
    assert (answer.status_code, answer.get_json()["error"]) == (403, "out_of_scope")
    db.session.expire_all()
    assert db.session.get(Listener, world["inside"]).village == "Kaniko"


def test_an_update_changes_language_and_groups_and_records_an_opt_out(backend, client, world):
    manager = world["users"]["manager"]
    answer = client.patch(
        f"/api/v1/listeners/{world['outside']}",
        json={"language": "fr", "groups": [world["group"]], "opted_out": True},
        headers=world["headers"]["manager"],
    )
    assert answer.status_code == 200
    data = answer.get_json()
    assert (data["language"], data["language_set_by"], data["groups"], data["opted_out"]) == (
        "fr", f"user:{manager.id}", [world["group"]], True,
    )  # fmt: skip
    events = db.session.scalars(select(ConsentEvent).where(ConsentEvent.listener_id == world["outside"])).all()
    assert [(e.action, e.channel, e.user_id) for e in events] == [("opt_out", "api", manager.id)]
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "listener_updated")).one()
    assert audit.detail == {"via": "api", "fields": ["language", "groups", "opted_out"]}
    back = client.patch(f"/api/v1/listeners/{world['outside']}", json={"opted_out": False},
                        headers=world["headers"]["manager"])  # fmt: skip
    assert (back.status_code, back.get_json()["field"]) == (422, "opted_out")


def test_cursor_pagination_walks_every_row_once_in_id_order(backend, client, world, make_listener):
    for n in range(7):
        make_listener(phone=f"+2237650000{n}", village="Kaniko")
    db.session.commit()
    headers = world["headers"]["agent"]
    seen, url, pages = [], "/api/v1/listeners?village=kaniko&limit=3", 0
    while url:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200
        body = answer.get_json()
        seen += [row["id"] for row in body["data"]]
        url, pages = body["next"], pages + 1
        if url:
            assert "village=kaniko" in url and "limit=3" in url
    assert pages == 3 and len(seen) == 8 and seen == sorted(seen)
    assert seen[0] == world["inside"]


@pytest.mark.parametrize(
    "query, field",
    [("limit=0", "limit"), ("limit=501", "limit"), ("limit=abc", "limit"), ("cursor=%%%", "cursor"),
     ("cursor=" + encode_cursor(-1), "cursor"), ("language=en", "language"), ("listener=x", "listener")],
)  # fmt: skip
def test_bad_parameters_are_a_422_naming_them(client, world, query, field):
    path = "/api/v1/calls" if field == "listener" else "/api/v1/listeners"
    answer = client.get(f"{path}?{query}", headers=world["headers"]["admin"])
    assert (answer.status_code, answer.get_json()["field"]) == (422, field)


def test_the_cursor_round_trips():
    assert decode_cursor(encode_cursor(12345)) == 12345


def test_errors_under_the_api_are_json_never_html(client, world):
    headers = world["headers"]["admin"]
    cases = [
        (client.get("/api/v1/nothing-here", headers=headers), 404),
        (client.delete(f"/api/v1/listeners/{world['inside']}", headers=headers), 405),
        (client.get("/api/v1/listeners/999999", headers=headers), 404),
        (client.get("/api/v1/listeners", headers={"Authorization": "Bearer kls_wrong"}), 401),
        (client.get("/api/v1/listeners", headers={"Authorization": "Basic abc"}), 401),
        (client.post("/api/v1/listeners", json={}, headers=world["headers"]["viewer"]), 403),
    ]
    for answer, status in cases:
        assert answer.status_code == status and answer.is_json and "error" in answer.get_json()


def test_a_session_cookie_does_not_open_the_api(client, world):
    from tests.dashboard_support import sign_in

    sign_in(client, world["users"]["admin"])
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/api/v1/listeners").status_code == 401


def test_a_revoked_token_or_a_disabled_user_is_refused(backend, client, world, app):
    from accounts import service
    from accounts.models import ApiToken

    headers = world["headers"]["manager"]
    assert client.get("/api/v1/groups", headers=headers).status_code == 200
    row = db.session.scalars(select(ApiToken).where(ApiToken.user_id == world["users"]["manager"].id)).one()
    assert row.last_used_at == NOW
    tokens.revoke(row, world["users"]["manager"], NOW + timedelta(minutes=1))
    db.session.commit()
    assert client.get("/api/v1/groups", headers=headers).status_code == 401
    service.disable(world["users"]["viewer"], NOW)
    db.session.commit()
    assert client.get("/api/v1/groups", headers=world["headers"]["viewer"]).status_code == 401


def test_a_call_shows_its_path_of_menu_nodes(client, world):
    answer = client.get(f"/api/v1/calls?listener={world['inside']}", headers=world["headers"]["viewer"])
    (call,) = answer.get_json()["data"]
    assert [step["node"] for step in call["path"]] == ["menu", "lesson"]
    assert (call["direction"], call["status"]) == ("inbound", "completed")


def test_an_agent_may_only_name_groups_of_their_own(client, world):
    other = db.session.scalars(select(Group.id).where(Group.name == "Sido jeunes")).one()
    answer = client.post("/api/v1/listeners", json={"phone": "76990014", "village": "Kaniko", "groups": [other]},
                         headers=world["headers"]["agent"])  # fmt: skip
    assert (answer.status_code, answer.get_json()["field"]) == (422, "groups")
