"""The completion matrix (villages or groups × lessons) and the follow-up lists of a lesson: exact counts, the
scope of each role, the drill-down links, keyset pages, and a role × page × scope matrix on both databases."""

from __future__ import annotations

import html
import re

import pytest

from accounts.roles import Role, ScopeKind
from core.db import db
from dashboard import completion
from listeners.models import Group, LessonProgress, ProgressStatus
from tests.dashboard_support import post, sign_in

LESSON = "child-labour/what-is-child-labour"
OTHER = "money/saving-a-little"


def _progress(listener, lesson=LESSON, status=ProgressStatus.COMPLETED, best=None, total=6):
    course_id, lesson_id = lesson.split("/")
    done = status == ProgressStatus.COMPLETED
    db.session.add(
        LessonProgress(
            listener_id=listener.id,
            course_id=course_id,
            lesson_id=lesson_id,
            status=status,
            best_score=best if done else None,
            total=total if done else None,
            attempts=1,
        )
    )


@pytest.fixture
def people(make_listener):
    """Kaniko: Awa (5/6), Bintou (2/6: under half), Coumba (started), Djeneba (nothing), Fanta (3/6, exactly half).
    Kolondiéba (typed two ways): Ems (6/6), Fily (nothing), Gaoussou (started). Nobody's village: Hawa (done).
    Group Femmes: Awa and Ems. Group Vide: nobody. A completion of another course (Djeneba) counts nowhere here."""
    by_name = {}
    for name, village in [("Awa", "Kaniko"), ("Bintou", "Kaniko"), ("Coumba", " kaniko"), ("Djeneba", "Kaniko"),
                          ("Fanta", "KANIKO "), ("Ems", "Kolondiéba"), ("Fily", "Kolondiéba"),
                          ("Gaoussou", "Kolondiéba "), ("Hawa", "")]:  # fmt: skip
        by_name[name] = make_listener(name=name, village=village)
    _progress(by_name["Awa"], best=5)
    _progress(by_name["Bintou"], best=2)
    _progress(by_name["Coumba"], status=ProgressStatus.IN_PROGRESS)
    _progress(by_name["Fanta"], best=3)
    _progress(by_name["Ems"], best=6)
    _progress(by_name["Gaoussou"], status=ProgressStatus.IN_PROGRESS)
    _progress(by_name["Hawa"], best=4)
    _progress(by_name["Djeneba"], lesson=OTHER, best=1)
    femmes, vide = Group(name="Femmes"), Group(name="Vide")
    femmes.listeners = [by_name["Awa"], by_name["Ems"]]
    db.session.add_all([femmes, vide])
    db.session.commit()
    by_name["femmes"], by_name["vide"] = femmes, vide
    return by_name


def _rows(page: str) -> list[str]:
    """Each table row as its words (tags removed, spaces collapsed)."""
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        out.append(" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()))
    return out


def _matrix(user, by="village", **kw):
    catalog = completion.get_catalog()
    return completion.completion_matrix(user, catalog.course("child-labour"), by, **kw)


def _cells(matrix):
    return [(r.label, r.listeners, r.count("what-is-child-labour")) for r in matrix.rows]


# --- the matrix -------------------------------------------------------------------------------------------


def test_the_matrix_counts_completions_per_village_with_one_query_per_part(backend, app, people, make_user):
    manager = make_user(Role.MANAGER)
    matrix = _matrix(manager)
    assert _cells(matrix) == [("", 1, 1), ("Kaniko", 5, 3), ("Kolondiéba", 3, 1)]
    assert (matrix.total.listeners, matrix.total.count("what-is-child-labour")) == (9, 5)
    assert matrix.rows[1].share("what-is-child-labour") == pytest.approx(0.6)
    assert matrix.next_after is None
    from sqlalchemy import event

    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        _matrix(manager)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert len(statements) == 2  # rows and their cells, never one per cell; one page of villages: the total adds up
    matrix = _matrix(manager, limit=2)  # two pages: the total is counted apart
    assert (matrix.total.listeners, matrix.total.count("what-is-child-labour")) == (9, 5)


@pytest.mark.parametrize(
    "scopes, expected, total",
    [
        ([(ScopeKind.VILLAGE, "kaniko")], [("Kaniko", 5, 3)], (5, 3)),
        ([(ScopeKind.VILLAGE, "Kolondiéba")], [("Kolondiéba", 3, 1)], (3, 1)),
        ([(ScopeKind.VILLAGE, "Sikasso")], [], (0, 0)),
        ([], [], (0, 0)),
    ],
)
def test_an_agent_sees_only_the_villages_of_their_scope(app, people, make_user, scopes, expected, total):
    matrix = _matrix(make_user(Role.AGENT, scopes=scopes))
    assert _cells(matrix) == expected
    assert (matrix.total.listeners, matrix.total.count("what-is-child-labour")) == total


def test_an_agent_of_a_group_sees_its_members_by_village_and_by_group(backend, app, people, make_user):
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.GROUP, people["femmes"].id)])
    assert _cells(_matrix(agent)) == [("Kaniko", 1, 1), ("Kolondiéba", 1, 1)]
    assert _cells(_matrix(agent, by="group")) == [("Femmes", 2, 2)]  # only their own group, "Vide" is not theirs
    manager = make_user(Role.MANAGER)
    assert _cells(_matrix(manager, by="group")) == [("Femmes", 2, 2), ("Vide", 0, 0)]
    village_agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")])
    assert _cells(_matrix(village_agent, by="group")) == []


def test_the_matrix_rows_come_in_pages(app, people, make_user):
    manager = make_user(Role.MANAGER)
    first = _matrix(manager, limit=2)
    assert [r.label for r in first.rows] == ["", "Kaniko"] and first.next_after == "kaniko"
    second = _matrix(manager, limit=2, after=first.next_after)
    assert _cells(second) == [("Kolondiéba", 3, 1)] and second.next_after is None


def test_the_matrix_page_shows_counts_percentages_and_drill_down_links(backend, client, people, make_user):
    sign_in(client, make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")]))
    answer = client.get("/dashboard/completion/?course=child-labour")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert _rows(page)[1:] == ["Kaniko 5 3 60 %", "Toute ma zone 5 3 60 %"]
    drill = f"/dashboard/listeners/?lesson={LESSON}&amp;progress=completed&amp;village=Kaniko"  # the listeners list
    assert f'href="{drill}"' in page
    assert '<div class="scroll">' in page
    assert "Kolondiéba" not in page
    assert "/dashboard/exports/completion.xlsx?course=child-labour&amp;by=village" in page


def test_a_cell_drills_down_to_the_listeners_list(app, people, make_user):
    row = completion.Row(label="Kaniko", village="Kaniko")
    course = completion.get_catalog().course("child-labour")
    with app.test_request_context():
        url = completion.drill_url(course, "what-is-child-labour", row)
    assert url == "/dashboard/listeners/?lesson=child-labour/what-is-child-labour&progress=completed&village=Kaniko"


def test_the_matrix_page_by_group_and_in_english(client, people, make_user):
    sign_in(client, make_user(Role.MANAGER))
    page = client.get("/dashboard/completion/?by=group").get_data(as_text=True)
    assert _rows(page)[1:] == ["Femmes 2 2 100 %", "Vide 0 0 0 %"]
    post(client, "/dashboard/language/en", {"next": "/dashboard/"})
    page = client.get("/dashboard/completion/").get_data(as_text=True)
    assert "Lesson follow-up" in page and "Suivi des leçons" not in page
    assert _rows(page)[-1] == "My whole area 9 5 56%"


# --- follow-up lists --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chosen, names",
    [
        ("not_started", ["Djeneba"]),
        ("started", ["Coumba"]),
        ("under_half", ["Bintou"]),  # Fanta's 3/6 is half, not under
        ("completed", ["Awa", "Bintou", "Fanta"]),
    ],
)
def test_the_follow_up_lists_of_a_lesson_in_a_village(backend, client, people, make_user, chosen, names):
    sign_in(client, make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")]))
    answer = client.get(f"/dashboard/completion/lesson?lesson={LESSON}&village=kaniko&list={chosen}")
    assert answer.status_code == 200
    rows = _rows(answer.get_data(as_text=True))[1:]
    assert [r.split()[0] for r in rows] == names
    page = html.unescape(answer.get_data(as_text=True))
    for tab in ["Pas commencé · 1", "Commencé, pas fini · 1", "Fini, moins de la moitié juste · 1", "Fini · 3"]:
        assert tab in page
    assert f'href="tel:{people[names[0]].phone}"' in page
    assert "/dashboard/exports/listeners.csv?" in page


def test_the_follow_up_counts_cover_the_scope_without_a_village(app, people, make_user):
    from dashboard.listing import ListenerFilter

    counts = completion.followup_counts(make_user(Role.VIEWER), ListenerFilter(lesson=LESSON))
    assert counts == {"not_started": 2, "started": 2, "under_half": 1, "completed": 5}
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.GROUP, people["femmes"].id)])
    assert completion.followup_counts(agent, ListenerFilter(lesson=LESSON)) == {
        "not_started": 0, "started": 0, "under_half": 0, "completed": 2}  # fmt: skip


def test_a_follow_up_list_comes_in_pages(app, client, people, make_user, monkeypatch):
    monkeypatch.setattr(completion, "PAGE", 2)
    sign_in(client, make_user(Role.MANAGER))
    first = client.get(f"/dashboard/completion/lesson?lesson={LESSON}&list=completed").get_data(as_text=True)
    assert [r.split()[0] for r in _rows(first)[1:]] == ["Awa", "Bintou"]
    after = re.search(r"after=(\d+)", first).group(1)
    assert after == str(people["Bintou"].id)
    second = client.get(f"/dashboard/completion/lesson?lesson={LESSON}&list=completed&after={after}")
    assert [r.split()[0] for r in _rows(second.get_data(as_text=True))[1:]] == ["Fanta", "Ems"]


def test_without_a_lesson_the_page_asks_for_one(client, people, make_user):
    sign_in(client, make_user(Role.VIEWER))
    answer = client.get("/dashboard/completion/lesson?lesson=nope/nope")
    assert answer.status_code == 200
    assert "Choisissez une leçon" in html.unescape(answer.get_data(as_text=True))


# --- who may open what ------------------------------------------------------------------------------------

PAGES = {
    "matrix": "/dashboard/completion/",
    "matrix_groups": "/dashboard/completion/?by=group",
    "followup_village": f"/dashboard/completion/lesson?lesson={LESSON}&village=Kaniko&list=completed",
    "followup_group": f"/dashboard/completion/lesson?lesson={LESSON}&group={{femmes}}&list=completed",
}
# anonymous → sign-in page; an agent asking for a village or group outside their scope → 404
EXPECTED = {
    "admin": {"matrix": 200, "matrix_groups": 200, "followup_village": 200, "followup_group": 200},
    "manager": {"matrix": 200, "matrix_groups": 200, "followup_village": 200, "followup_group": 200},
    "viewer": {"matrix": 200, "matrix_groups": 200, "followup_village": 200, "followup_group": 200},
    "agent_in": {"matrix": 200, "matrix_groups": 200, "followup_village": 200, "followup_group": 404},
    "agent_group": {"matrix": 200, "matrix_groups": 200, "followup_village": 200, "followup_group": 200},
    "agent_out": {"matrix": 200, "matrix_groups": 200, "followup_village": 404, "followup_group": 404},
    "anonymous": {"matrix": 302, "matrix_groups": 302, "followup_village": 302, "followup_group": 302},
}
# whose names each page shows (never another agent's listeners)
KANIKO_DONE, FEMMES = {"Awa", "Bintou", "Fanta"}, {"Awa", "Ems"}
SHOWN = {
    "admin": {"followup_village": KANIKO_DONE, "followup_group": FEMMES},
    "manager": {"followup_village": KANIKO_DONE, "followup_group": FEMMES},
    "viewer": {"followup_village": KANIKO_DONE, "followup_group": FEMMES},
    "agent_in": {"followup_village": KANIKO_DONE, "followup_group": set()},
    "agent_group": {"followup_village": {"Awa"}, "followup_group": FEMMES},
    "agent_out": {"followup_village": set(), "followup_group": set()},
    "anonymous": {"followup_village": set(), "followup_group": set()},
}
NAMES = ("Awa", "Bintou", "Coumba", "Djeneba", "Fanta", "Ems", "Fily", "Gaoussou", "Hawa")


def _user(who, make_user, people):
    scopes = {
        "agent_in": [(ScopeKind.VILLAGE, "Kaniko")],
        "agent_group": [(ScopeKind.GROUP, people["femmes"].id)],
        "agent_out": [(ScopeKind.VILLAGE, "Sikasso")],
    }
    if who == "anonymous":
        return None
    role = Role.AGENT if who.startswith("agent") else Role(who)
    return make_user(role, scopes=scopes.get(who, []))


@pytest.mark.parametrize("who", list(EXPECTED))
def test_role_page_scope_matrix(backend, app, people, make_user, who):
    user = _user(who, make_user, people)
    client = app.test_client()  # one per test: the signed-in user is kept on the test's app context
    if user is not None:
        sign_in(client, user)
    for page, url in PAGES.items():
        answer = client.get(url.format(femmes=people["femmes"].id))
        assert answer.status_code == EXPECTED[who][page], (who, page)
        if answer.status_code == 302:
            assert answer.headers["Location"].startswith("/dashboard/login")
        text = answer.get_data(as_text=True)
        if page in SHOWN[who]:
            assert {n for n in NAMES if f">{n}<" in text} == SHOWN[who][page], (who, page)
        if who == "agent_out":
            main = text.split("<main>", 1)[1]  # (the header's language switch repeats the asked address)
            assert "Kaniko" not in main and "Kolondiéba" not in main
