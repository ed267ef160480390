"""The "Apprentissage" analytics tab: what the courses taught, from each listener's first completed pre-test and first
completed post-test (``analytics.queries.learning``), on both databases: exact figures from seeded completions and
answers (a second pre-test and an abandoned attempt do not count; the first completion is chosen before the date
range applies), every filter, an agent's scope, the role × page matrix, the htmx partial, bad filters, the CSV.

The test app's courses (tests/fixtures/courses) have no test block: each test here serves a copy of them plus the
course "demo" of ``tests/test_course_tests`` (four test questions t1-t4) from a temporary folder."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from analytics import queries
from analytics.queries import CourseLearning, Filters, QuestionBeforeAfter
from content.model import POST_TEST, PRE_TEST
from core.db import db
from core.vocabulary import Channel
from dashboard import analytics
from listeners.models import Group, LessonCompletion, QuizAnswer
from tests.conftest import FIXTURE_COURSES, NOW, migrate_to_head, new_postgres_database
from tests.dashboard_support import sign_in
from tests.test_course_tests import course, load
from tests.test_dashboard_analytics import _rows, _text

URL = "/dashboard/analytics/learning"
EARLIER = NOW - timedelta(days=40)  # outside the default range (the last 30 days)


@pytest.fixture(scope="module")
def postgres_migrated():
    """This module's own PostgreSQL database (named ``kalanso_learn_*``), migrated once, dropped at its end."""
    from tests.conftest import _require_postgres

    with new_postgres_database(_require_postgres(), prefix="kalanso_learn") as url:
        migrate_to_head(url)
        yield url


@pytest.fixture
def courses(app, tmp_path):
    """The fixture courses and "demo", whose test asks t1 (right: 2), t2 (1), t3 (2), t4 (1)."""
    load(tmp_path, course())
    for path in FIXTURE_COURSES.glob("*.yaml"):
        shutil.copy(path, tmp_path / "courses" / path.name)
    app.config["KALANSO_COURSES_DIR"] = tmp_path / "courses"
    app.extensions.pop("kalanso.catalog", None)
    return app


def run(listener, lesson_id: str, attempt: int, marks: str, at: datetime, *, completed: bool = True) -> None:
    """One run of a test: an answer per letter of ``marks`` (R right, W wrong) to t1, t2... in the listener's
    language, and, when ``completed``, its completion (score: the R's, out of 4)."""
    for n, mark in enumerate(marks, 1):
        db.session.add(QuizAnswer(listener_id=listener.id, course_id="demo", lesson_id=lesson_id, question_id=f"t{n}",
                                  answer="1", option_key="1", correct=mark == "R", channel=Channel.VOICE,
                                  attempt=attempt, answered_at=at, lang=listener.language or ""))  # fmt: skip
    if completed:
        score = marks.count("R")
        db.session.add(LessonCompletion(listener_id=listener.id, course_id="demo", lesson_id=lesson_id,
                                        attempt=attempt, score=score, total=4, channel=Channel.VOICE,
                                        completed_at=at))  # fmt: skip


@pytest.fixture
def seeded(courses, make_listener):
    """- Awa (Kaniko, bm): pre-test 1/4, then a second pre-test 4/4 (does not count), post-test 3/4: +50 points;
    - Seydou (Molobala, fr, group "Molobala"): a first pre-test abandoned after three right answers, his first
      completed one is attempt 2 (1/4); post-test 4/4: +75 points;
    - Moussa (Kaniko, fr): pre-test only, 2/4;
    - Fanta (Molobala, bm, group "Molobala"): pre-test 40 days ago 0/4, again today 4/4 (does not count: her first
      is 40 days old), post-test today 4/4."""
    awa = make_listener(name="Awa", village="Kaniko", language="bm")
    seydou = make_listener(name="Seydou", village="Molobala", language="fr")
    moussa = make_listener(name="Moussa", village=" kaniko", language="fr")
    fanta = make_listener(name="Fanta", village="Molobala", language="bm")
    group = Group(name="Molobala", listeners=[seydou, fanta])
    db.session.add(group)
    run(awa, PRE_TEST, 1, "RWWW", NOW - timedelta(days=3))
    run(awa, PRE_TEST, 2, "RRRR", NOW - timedelta(days=2))
    run(awa, POST_TEST, 1, "RRRW", NOW)
    run(seydou, PRE_TEST, 1, "RRR", NOW - timedelta(days=5), completed=False)
    run(seydou, PRE_TEST, 2, "WWWR", NOW - timedelta(days=4))
    run(seydou, POST_TEST, 1, "RRRR", NOW - timedelta(days=1))
    run(moussa, PRE_TEST, 1, "RRWW", NOW)
    run(fanta, PRE_TEST, 1, "WWWW", EARLIER)
    run(fanta, PRE_TEST, 2, "RRRR", NOW)
    run(fanta, POST_TEST, 1, "RRRR", NOW)
    db.session.commit()
    return group


def _learning(user, **filters) -> queries.Learning:
    with_dates = {"start": NOW.date() - timedelta(days=29), "end": NOW.date(), **filters}
    return queries.learning(Filters(**with_dates), user)


def _figures(result: queries.Learning) -> tuple:
    (c,) = result.courses
    return (c.pre_takers, c.post_takers, c.both, c.pre_score, c.pre_total, c.post_score, c.post_total,
            c.both_pre_score, c.both_pre_total, c.both_post_score, c.both_post_total, c.mean_gain)  # fmt: skip


# --- the figures ---------------------------------------------------------------------------------------------


def test_the_first_completed_tests_are_measured(backend, seeded, make_user):
    result = _learning(make_user(Role.ADMIN))
    assert result.courses == [
        CourseLearning("demo", pre_takers=3, post_takers=3, both=2, pre_score=4, pre_total=12, post_score=11,
                       post_total=12, both_pre_score=2, both_pre_total=8, both_post_score=7, both_post_total=8,
                       mean_gain=Decimal("62.5")),
    ]  # fmt: skip
    assert (result.courses[0].pre_share, result.courses[0].post_share) == (Decimal("33.3"), Decimal("91.7"))
    # per question and language: Awa (bm) and Seydou's attempt 2 and Moussa (fr) before; Awa, Fanta (bm) and
    # Seydou (fr) after; Awa's second pre-test, Seydou's abandoned one and Fanta's second pre-test are left out
    assert result.questions == [
        QuestionBeforeAfter("demo", "t1", "bm", 1, 1, 2, 2), QuestionBeforeAfter("demo", "t1", "fr", 2, 1, 1, 1),
        QuestionBeforeAfter("demo", "t2", "bm", 1, 0, 2, 2), QuestionBeforeAfter("demo", "t2", "fr", 2, 1, 1, 1),
        QuestionBeforeAfter("demo", "t3", "bm", 1, 0, 2, 2), QuestionBeforeAfter("demo", "t3", "fr", 2, 0, 1, 1),
        QuestionBeforeAfter("demo", "t4", "bm", 1, 0, 2, 1), QuestionBeforeAfter("demo", "t4", "fr", 2, 1, 1, 1),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "filters, figures",
    [
        # French listeners: Seydou and Moussa
        ({"language": "fr"}, (2, 1, 1, 3, 8, 4, 4, 1, 4, 4, 4, Decimal("75.0"))),
        ({"language": "bm"}, (1, 2, 1, 1, 4, 7, 8, 1, 4, 3, 4, Decimal("50.0"))),
        # Kaniko, whatever its spelling in the listener's record: Awa and Moussa
        ({"village": "KANIKO"}, (2, 1, 1, 3, 8, 3, 4, 1, 4, 3, 4, Decimal("50.0"))),
        ({"group_id": "group"}, (1, 2, 1, 1, 4, 8, 8, 1, 4, 4, 4, Decimal("75.0"))),
        ({"course_id": "demo"}, (3, 3, 2, 4, 12, 11, 12, 2, 8, 7, 8, Decimal("62.5"))),
        # no limit: Fanta's first pre-test (0/4, 40 days ago) counts, and she did both
        ({"start": None, "end": None}, (4, 3, 3, 4, 16, 11, 12, 2, 12, 11, 12, Decimal("75.0"))),
        # the day of Fanta's first pre-test only
        ({"start": EARLIER.date(), "end": EARLIER.date()}, (1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, None)),
        # yesterday to today: Seydou's post-test, Awa's, Moussa's pre-test, Fanta's post-test
        ({"start": NOW.date() - timedelta(days=1)}, (1, 3, 0, 2, 4, 11, 12, 0, 0, 0, 0, None)),
    ],
)
def test_each_filter_narrows_the_figures(backend, seeded, make_user, filters, figures):
    if filters.get("group_id") == "group":
        filters = {**filters, "group_id": seeded.id}
    assert _figures(_learning(make_user(Role.ADMIN), **filters)) == figures


def test_nothing_to_measure(backend, seeded, make_user):
    admin = make_user(Role.ADMIN)
    assert _learning(admin, course_id="child-labour") == queries.Learning([], [])  # a course without a test
    assert _learning(admin, start=NOW.date() + timedelta(days=1)) == queries.Learning([], [])


def test_an_agent_sees_only_their_village(backend, seeded, make_user, client):
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")])
    assert _figures(_learning(agent)) == (2, 1, 1, 3, 8, 3, 4, 1, 4, 3, 4, Decimal("50.0"))  # Awa and Moussa
    assert {(r.question_id, r.lang) for r in _learning(agent).questions} >= {("t1", "bm"), ("t1", "fr")}
    sign_in(client, agent)
    text = _text(client.get(URL).get_data(as_text=True))
    assert "Avant les leçons 2 personnes 38 % justes" in text
    assert "Après les leçons 1 personne 75 % justes" in text
    assert "+50 pt progression moyenne de la personne qui a fait les deux quiz (25 % → 75 % justes)" in text
    assert client.get(f"{URL}?village=Molobala").status_code == 400  # outside their area: refused, not zeros


# --- the page ------------------------------------------------------------------------------------------------


def test_the_page_shows_before_after_the_gain_and_each_question(backend, seeded, make_user, client):
    sign_in(client, make_user(Role.MANAGER))
    page = client.get(URL).get_data(as_text=True)
    text = _text(page)
    assert '<a href="/dashboard/analytics/learning?' in page and 'aria-current="page">Apprentissage</a>' in page
    assert "Démo Avant les leçons 3 personnes 33 % justes Après les leçons 3 personnes 92 % justes" in text
    assert "+62,5 pt progression moyenne des 2 personnes qui ont fait les deux quiz (25 % → 88 % justes)" in text
    assert "La langue est celle de l'auditeur." in text
    rows = _rows(page.split('class="list nodes compact learn-q"', 1)[1])
    assert rows[:4] == [
        "Langue Avant : justes Après : justes Écart",
        "1. Question t1 ?",
        "bambara 100 % 1 sur 1 100 % 2 sur 2 0 pt",
        "français 50 % 1 sur 2 100 % 1 sur 1 +50 pt",
    ]
    assert "bambara 0 % 0 sur 1 50 % 1 sur 2 +50 pt" in rows  # t4
    assert "4. Question t4 ?" in rows
    assert page.index("1. Question t1") < page.index("2. Question t2") < page.index("4. Question t4")
    assert 'class="fill soft" style="width:33.3%"' in page and 'class="fill good" style="width:91.7%"' in page


def test_the_empty_states(backend, courses, make_user, client):
    sign_in(client, make_user(Role.MANAGER))
    text = _text(client.get(URL).get_data(as_text=True))
    assert "Personne n'a terminé de quiz de départ ni de quiz final sur cette période." in text
    courses.config["KALANSO_COURSES_DIR"] = FIXTURE_COURSES  # no course with a test
    courses.extensions.pop("kalanso.catalog", None)
    text = _text(client.get(URL).get_data(as_text=True))
    assert "Aucun cours n'a encore de quiz de départ et de quiz final." in text


def test_nobody_with_both_tests_has_no_gain(seeded, make_user, client):
    sign_in(client, make_user(Role.MANAGER))
    text = _text(client.get(f"{URL}?start={(NOW.date() - timedelta(days=1)).isoformat()}").get_data(as_text=True))
    assert "Personne n'a encore fait les deux quiz : pas de progression à mesurer." in text
    assert "Avant les leçons 1 personne 50 % justes Après les leçons 3 personnes 92 % justes" in text
    text = _text(client.get(f"{URL}?start={EARLIER.date().isoformat()}&end={EARLIER.date().isoformat()}").get_data(
        as_text=True))  # fmt: skip
    assert "Avant les leçons 1 personne 0 % justes Après les leçons 0 personnes –" in text


def test_the_page_speaks_english_when_asked(seeded, make_user, client):
    user = make_user(Role.MANAGER)
    user.locale = "en"
    db.session.commit()
    sign_in(client, user)
    page = client.get(URL).get_data(as_text=True)
    text = _text(page)
    assert 'aria-current="page">Learning</a>' in page
    assert "What the listeners learnt" in text and "The language is the listener's." in text
    assert "Before the lessons 3 people 33% right After the lessons 3 people 92% right" in text
    assert "+62.5 pts mean gain of the 2 people who took both quizzes (25% → 88% right)" in text
    assert "French 50% 1 of 2 100% 1 of 1 +50 pts" in text


def test_htmx_gets_only_the_body(seeded, make_user, client):
    sign_in(client, make_user(Role.MANAGER))
    answer = client.get(f"{URL}?language=fr", headers={"HX-Request": "true"})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "HX-Request" in answer.headers["Vary"]
    assert body.strip().startswith('<div id="analytics-body">') and "<html" not in body
    assert "Avant les leçons 2 personnes 38 % justes" in " ".join(_text("<main>" + body).split())


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("language=xx", "language", "Choisissez bambara ou français."),
        ("start=24/11/2026", "start", "Date attendue sous la forme AAAA-MM-JJ"),
        ("course=nope", "course", "Ce cours n'existe pas."),
        ("village=Kanikoo", "village", "Aucun auditeur dans ce village : vérifiez l'orthographe."),
        ("group=999", "group", "Ce groupe n'existe pas"),
        ("start=2026-11-24&end=2026-11-01", "end", "La date de fin est avant la date de début."),
    ],
)
def test_bad_filters_are_refused_with_the_error_shown(seeded, make_user, client, query, field, message):
    sign_in(client, make_user(Role.MANAGER))
    answer = client.get(f"{URL}?{query}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert message in _text(page)
    assert f'id="{field}"' in page and "has-error" in page
    assert "Corrigez les filtres signalés en rouge pour voir les chiffres." in _text(page)
    assert "Avant les leçons" not in page  # no figure until it is corrected
    partial = client.get(f"{URL}?{query}", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and message in _text("<main>" + partial.get_data(as_text=True))


# --- who may open it; the export -----------------------------------------------------------------------------

EXPECTED = {"admin": 200, "manager": 200, "agent": 200, "viewer": 200, "anonymous": 302}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_role_page_matrix(app, seeded, make_user, who):
    client = app.test_client()
    if who != "anonymous":
        scopes = [(ScopeKind.VILLAGE, "Kaniko")] if who == "agent" else []
        sign_in(client, make_user(Role(who), scopes=scopes))
    answer = client.get(URL)
    assert answer.status_code == EXPECTED[who]
    if who == "anonymous":
        assert "/dashboard/login" in answer.headers["Location"]
    else:
        assert "Avant les leçons" in answer.get_data(as_text=True)


EXPORT_EXPECTED = {"admin": 200, "manager": 200, "agent": 200, "viewer": 200, "anonymous": 302}


@pytest.mark.parametrize("who", list(EXPORT_EXPECTED))
def test_who_may_export_the_learning_table(app, seeded, make_user, who):
    client = app.test_client()
    if who != "anonymous":
        scopes = [(ScopeKind.VILLAGE, "Kaniko")] if who == "agent" else []
        sign_in(client, make_user(Role(who), scopes=scopes))
    answer = client.get(f"{URL}.csv", buffered=True)
    assert answer.status_code == EXPORT_EXPECTED[who]
    exported = db.session.scalars(select(AuditEvent.target).where(AuditEvent.action == "export")).all()
    assert exported == (["export:analytics-learning"] if answer.status_code == 200 else [])


def test_the_csv_holds_each_question_before_and_after(backend, seeded, make_user, client):
    sign_in(client, make_user(Role.MANAGER))
    body = client.get(f"{URL}.csv?language=fr").get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body[3:].decode()), delimiter=";"))
    assert rows[0] == ["Cours", "Question", "Texte de la question", "Langue", "Réponses avant (quiz de départ)",
                       "Justes avant", "Part juste avant", "Réponses après (quiz final)", "Justes après",
                       "Part juste après"]  # fmt: skip
    assert rows[1] == ["Démo", "t1", "Question t1 ?", "français", "2", "1",
                       "50", "1", "1", "100"]  # fmt: skip
    assert len(rows) == 5  # four questions, French only
    detail = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "export")).all()
    assert {"fmt": "csv", "filter": {"start": "2026-10-26", "end": "2026-11-24", "language": "fr"}} in detail


def test_the_change_per_question_is_in_points():
    assert queries.QuestionBeforeAfter("demo", "t1", "bm", 3, 1, 4, 3).change == Decimal("41.7")  # 75.0 - 33.3
    assert queries.QuestionBeforeAfter("demo", "t1", "bm", 2, 2, 1, 0).change == Decimal("-100.0")
    assert queries.QuestionBeforeAfter("demo", "t1", "bm", 0, 0, 1, 1).change is None


def test_the_gain_is_said_with_its_sign(app):
    with app.test_request_context():
        assert analytics.points(Decimal("12.5")) == "+12,5 pt"
        assert analytics.points(Decimal("-3.0")) == "−3 pt"
        assert analytics.points(Decimal("0.0")) == "0 pt"
        assert analytics.points(None) == "–"
