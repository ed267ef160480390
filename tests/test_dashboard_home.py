"""The home page: its figures per scope (exact, on both databases) and who may open it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import db
from core.vocabulary import CallStatus, Channel, Direction, MessageStatus
from dashboard import home
from ivr.models import CallSession
from listeners.models import Group, LessonCompletion, LessonProgress, ProgressStatus
from sms.models import Message
from tests.conftest import NOW
from tests.dashboard_support import Role, ScopeKind, sign_in


@pytest.fixture
def people(backend, make_listener):
    """Kaniko: Awa (typed " KANIKO ") and Moussa; Sido: Fatou; Bla: Seydou, in the group "Femmes"."""
    women = Group(name="Femmes")
    db.session.add(women)
    awa = make_listener(name="Awa", village=" KANIKO ", commune="Dioïla", region="Koulikoro")
    moussa = make_listener(name="Moussa", village="Kaniko", commune="Dioïla", region="Koulikoro")
    fatou = make_listener(name="Fatou", village="Sido", commune="Sido", region="Sikasso")
    seydou = make_listener(name="Seydou", village="Bla", commune="Bla", region="Ségou", groups=[women])

    def progress(who, course, lesson, status, days_ago):
        db.session.add(
            LessonProgress(
                listener_id=who.id,
                course_id=course,
                lesson_id=lesson,
                status=status,
                updated_at=NOW - timedelta(days=days_ago),
            )
        )

    def completion(who, course, lesson, attempt=1):
        db.session.add(
            LessonCompletion(
                listener_id=who.id,
                course_id=course,
                lesson_id=lesson,
                attempt=attempt,
                score=2,
                total=3,
                channel=Channel.VOICE,
                completed_at=NOW - timedelta(days=20),
            )
        )

    progress(awa, "child-labour", "what-is-child-labour", ProgressStatus.COMPLETED, 2)
    progress(awa, "money", "saving-a-little", ProgressStatus.IN_PROGRESS, 6.9)
    progress(moussa, "child-labour", "what-is-child-labour", ProgressStatus.COMPLETED, 7.1)  # not this week
    progress(fatou, "money", "saving-a-little", ProgressStatus.COMPLETED, 1)
    progress(seydou, "child-labour", "what-is-child-labour", ProgressStatus.IN_PROGRESS, 0)
    completion(awa, "child-labour", "what-is-child-labour")
    completion(awa, "child-labour", "what-is-child-labour", attempt=2)
    completion(moussa, "child-labour", "what-is-child-labour")
    completion(fatou, "money", "saving-a-little")
    for minutes, who in enumerate((awa, fatou, seydou, moussa)):
        at = NOW - timedelta(minutes=minutes)
        db.session.add(
            CallSession(
                provider="local",
                provider_call_id=f"c{minutes}",
                listener_id=who.id,
                phone=who.phone,
                direction=Direction.INBOUND,
                status=CallStatus.COMPLETED,
                created_at=at,
            )
        )
        db.session.add(
            Message(
                provider="local",
                listener_id=who.id,
                phone=who.phone,
                direction=Direction.INBOUND,
                body="1",
                status=MessageStatus.RECEIVED,
                created_at=at,
            )
        )
    db.session.commit()
    return {"awa": awa, "moussa": moussa, "fatou": fatou, "seydou": seydou, "women": women}


def _scopes(people, spec):
    return [(ScopeKind.GROUP, people["women"].id) if kind is ScopeKind.GROUP else (kind, value)
            for kind, value in spec]  # fmt: skip


# role, scopes -> listeners, active this week, lessons completed, people per course, names in the latest calls
FIGURES = [
    (Role.ADMIN, [], 4, 3, 4, {"child-labour": 2, "money": 1}, ["Awa", "Fatou", "Seydou", "Moussa"]),
    (Role.VIEWER, [], 4, 3, 4, {"child-labour": 2, "money": 1}, ["Awa", "Fatou", "Seydou", "Moussa"]),
    (Role.AGENT, [(ScopeKind.VILLAGE, "kaniko")], 2, 1, 3, {"child-labour": 2}, ["Awa", "Moussa"]),
    (Role.AGENT, [(ScopeKind.COMMUNE, "Dioïla")], 2, 1, 3, {"child-labour": 2}, ["Awa", "Moussa"]),
    (Role.AGENT, [(ScopeKind.REGION, "SIKASSO")], 1, 1, 1, {"money": 1}, ["Fatou"]),
    (Role.AGENT, [(ScopeKind.GROUP, None)], 1, 1, 0, {}, ["Seydou"]),
    (Role.AGENT, [(ScopeKind.VILLAGE, "Sido"), (ScopeKind.GROUP, None)], 2, 2, 1, {"money": 1},
     ["Fatou", "Seydou"]),
    (Role.AGENT, [(ScopeKind.VILLAGE, "Nowhere")], 0, 0, 0, {}, []),
    (Role.AGENT, [], 0, 0, 0, {}, []),
]  # fmt: skip


@pytest.mark.parametrize("role, scopes, listeners, active, completed, by_course, calls", FIGURES)
def test_the_figures_count_only_the_users_scope(
    people, make_user, role, scopes, listeners, active, completed, by_course, calls
):
    user = make_user(role, scopes=_scopes(people, scopes))
    got = home.figures(user, NOW)
    assert (got.listeners, got.active, got.completed) == (listeners, active, completed)
    assert got.people_by_course == by_course
    assert [person.name for _call, person in got.calls] == calls
    assert [person.name for _message, person in got.messages] == calls


# role, scopes -> status, a name shown, a name never shown
PAGE = [
    (Role.ADMIN, [], 200, "Seydou", None),
    (Role.MANAGER, [], 200, "Seydou", None),
    (Role.VIEWER, [], 200, "Seydou", None),
    (Role.AGENT, [(ScopeKind.VILLAGE, "Kaniko")], 200, "Moussa", "Seydou"),  # in scope: their own people only
    (Role.AGENT, [(ScopeKind.VILLAGE, "Nowhere")], 200, None, "Moussa"),  # nobody in scope: empty figures
    (None, [], 302, None, "Moussa"),  # anonymous: to the sign-in page
]


@pytest.mark.parametrize("role, scopes, status, shown, hidden", PAGE)
def test_who_may_open_the_home_page_and_what_they_see(people, client, make_user, role, scopes, status, shown, hidden):
    if role is not None:
        sign_in(client, make_user(role, scopes=scopes))
    answer = client.get("/dashboard/")
    assert answer.status_code == status
    page = answer.get_data(as_text=True)
    if shown:
        assert shown in page
    if hidden:
        assert hidden not in page
    if status == 200:
        assert "Accueil" in page and "Le travail des enfants" in page
