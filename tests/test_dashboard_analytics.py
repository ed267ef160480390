"""The learning-analytics pages: who may open them (role × page matrix), an agent's scope, the filters (defaults
from the dashboard's clock, errors next to their field), the figures shown for calls played through the real voice
line (the simulator: the call ends, ``call_finished`` writes its facts), htmx partial answers, the CSV exports
and their audit, and the pure helpers that turn the queries' rows into what the pages show."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from core.db import db
from dashboard import analytics
from listeners.models import Group
from tests.conftest import NOW
from tests.dashboard_support import sign_in

PAGES = {
    "overview": "/dashboard/analytics/",
    "menus": "/dashboard/analytics/menus",
    "questions": "/dashboard/analytics/questions",
    "listening": "/dashboard/analytics/listening",
    "hours": "/dashboard/analytics/hours",
}
EXPORTS = {
    "questions_csv": "/dashboard/analytics/questions.csv",
    "menus_csv": "/dashboard/analytics/menus.csv",
}
KANIKO, MOLOBALA = "+22376000001", "+22376000002"
MOUSSA = "+22376000003"


def _text(page: str) -> str:
    """The page's words (tags removed, spaces collapsed), from the main part."""
    page = page[page.find("<main>") :]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _rows(page: str) -> list[str]:
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        out.append(" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()))
    return out


def _nodes(page: str) -> list[str]:
    """The drop-off table: each node's block (its name, then its numbers) as words."""
    return [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", b)).split())
        for b in re.findall(r"<tbody>(.*?)</tbody>", page, re.S)
    ]


def _voice(client, **data) -> dict:
    answer = client.post("/simulator/voice", json=data)
    assert answer.status_code == 200, answer.data
    return answer.get_json()


def play_call(client, phone: str, keys: list[str]) -> None:
    """A call on the simulator: dial, press ``keys`` one by one, hang up (the real voice line end to end)."""
    call = _voice(client, action="dial", phone=phone)["call"]
    for key in keys:
        _voice(client, action="key", digits=key, call=call, phone=phone)
    _voice(client, action="hangup", call=call, phone=phone)


# Bambara, courses, the first course, its first lesson, go on after the chunk, two right answers
WHOLE_LESSON = ["9", "1", "2", "1", "1", "1", "1", "2"]


@pytest.fixture
def calls(app, client, clock, make_listener):
    """Three calls today (Tuesday 24 November, 10:00 in Bamako) and one 40 days ago:
    - Awa (Kaniko): an invalid key at the language menu, Bambara, the first lesson heard whole, 2/2 right;
    - Seydou (Molobala): hangs up at the language menu;
    - Moussa (Kaniko): French, hangs up at the main menu;
    - Seydou again, 40 days ago: hangs up at the language menu (outside the default 30 days)."""
    make_listener(phone=KANIKO, name="Awa", village="Kaniko")
    make_listener(phone=MOLOBALA, name="Seydou", village="Molobala")
    make_listener(phone=MOUSSA, name="Moussa", village=" kaniko")
    db.session.commit()
    clock.set(NOW - timedelta(days=40))
    play_call(client, MOLOBALA, [])
    clock.set(NOW)
    play_call(client, KANIKO, WHOLE_LESSON)
    play_call(client, MOLOBALA, [])
    play_call(client, MOUSSA, ["2"])
    return clock


# --- who may open what -----------------------------------------------------------------------------------

EXPECTED = {
    "admin": 200,
    "manager": 200,
    "viewer": 200,
    "agent": 200,
    "anonymous": 302,
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_role_page_matrix(app, make_user, make_listener, who):
    make_listener(village="Kaniko")
    db.session.commit()
    client = app.test_client()
    if who != "anonymous":
        scopes = [(ScopeKind.VILLAGE, "Kaniko")] if who == "agent" else []
        sign_in(client, make_user(Role(who), scopes=scopes))
    for name, url in {**PAGES, **EXPORTS}.items():
        answer = client.get(url, buffered=True)
        assert answer.status_code == EXPECTED[who], (who, name)
        if who == "anonymous":
            assert "/dashboard/login" in answer.headers["Location"]
    exported = db.session.scalars(select(AuditEvent.target).where(AuditEvent.action == "export")).all()
    expected = [] if who == "anonymous" else ["export:analytics-menus", "export:analytics-questions"]
    assert sorted(exported) == expected


def test_every_analytics_view_names_its_permission(app):
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith("analytics."):
            expected = "export" if endpoint == "analytics.export" else "view"
            assert view.permission == expected, endpoint


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.VIEWER, Role.AGENT])
def test_the_menu_links_to_the_analytics_for_every_role(client, make_user, role):
    sign_in(client, make_user(role))
    page = client.get("/dashboard/").get_data(as_text=True)
    assert 'href="/dashboard/analytics/">Analyses</a>' in page


# --- the figures -----------------------------------------------------------------------------------------


def test_the_overview_shows_the_funnel_with_its_denominators(backend, client, calls, make_user):
    sign_in(client, make_user(Role.MANAGER))
    text = _text(client.get("/dashboard/analytics/").get_data(as_text=True))
    assert "Appels 3 100 % des appels" in text
    assert "Décrochés 3 100 % de l'étape d'avant · 100 % des appels" in text
    assert "Langue choisie (ou déjà connue) 2 67 % de l'étape d'avant · 67 % des appels" in text
    assert "Menu principal atteint 2 100 % de l'étape d'avant · 67 % des appels" in text
    assert "Leçon commencée 1 50 % de l'étape d'avant · 33 % des appels" in text
    assert "Leçon terminée 1 100 % de l'étape d'avant · 33 % des appels" in text
    assert "Réussie (au moins la moitié juste) 1 100 % de l'étape d'avant · 33 % des appels" in text
    # Seydou's call 40 days ago is outside the default range: he is a returning caller today
    assert "Nouveaux (premier appel) 2 (67 %) Habitués (déjà appelé avant) 1 (33 %)" in text


def test_the_date_range_defaults_to_the_last_30_days_by_the_dashboard_clock(client, calls, make_user):
    sign_in(client, make_user(Role.MANAGER))
    page = client.get("/dashboard/analytics/").get_data(as_text=True)
    assert 'name="start" type="date" value="2026-10-26"' in page
    assert 'name="end" type="date" value="2026-11-24"' in page
    wider = _text(client.get("/dashboard/analytics/?start=2026-10-01&end=2026-11-24").get_data(as_text=True))
    assert "Appels 4 100 % des appels" in wider
    open_range = _text(client.get("/dashboard/analytics/?start=&end=").get_data(as_text=True))
    assert "Appels 4 100 % des appels" in open_range
    before = _text(client.get("/dashboard/analytics/?start=2026-10-01&end=2026-10-10").get_data(as_text=True))
    assert "Aucun appel sur cette période." in before


def test_the_drop_off_per_menu_node(backend, client, calls, make_user):
    sign_in(client, make_user(Role.MANAGER))
    page = client.get("/dashboard/analytics/menus").get_data(as_text=True)
    assert _rows(page)[0] == "Entrés Raccroché ici Sans touche Touche fausse"
    rows = _nodes(page)
    assert rows[0] == "Choix de la langue 3 1 33 % 0 1"  # in menu order
    assert "Menu principal 2 1 50 % 0 0" in rows
    assert "Fin de la leçon 1 1 100 % 0 0" in rows
    assert (
        "Personne n'est passé par : Fin de la leçon (appel de campagne), Confirmation de la désinscription."
        in _text(page)
    )


def test_the_results_per_question_and_language_with_the_catalog_text(backend, client, calls, make_user):
    sign_in(client, make_user(Role.MANAGER))
    page = client.get("/dashboard/analytics/questions").get_data(as_text=True)
    text = _text(page)
    assert "Le travail des enfants › Qu'est-ce que le travail des enfants ? · question 1" in text
    assert "Awa a dix ans. Toute la journée, elle porte de lourds sacs de terre" in text
    assert "bambara 1 1 100 % 0 0 % 1" in _rows(page)
    assert "question 2" in text and "Moussa a douze ans." in text


def test_questions_most_people_miss_are_flagged_and_listed_to_review(client, make_listener, make_user):
    """25 answers in Bambara to the second question, 5 right (20 %): flagged; 25 French answers to the first, all
    right: flagged the other way; 3 answers in Bambara to the first: too few to flag."""
    from core.vocabulary import Channel
    from listeners.models import QuizAnswer

    rows = [("moussa-saturday", "bm", n < 5) for n in range(25)] + [("awa-at-the-mine", "fr", True)] * 25
    rows += [("awa-at-the-mine", "bm", False)] * 3
    for question, lang, right in rows:
        person = make_listener(village="Kaniko")
        db.session.add(QuizAnswer(listener_id=person.id, course_id="child-labour", lesson_id="what-is-child-labour",
                                  question_id=question, answer="1", option_key="1", correct=right,
                                  channel=Channel.VOICE, attempt=1, answered_at=NOW, lang=lang))  # fmt: skip
    db.session.commit()
    sign_in(client, make_user(Role.MANAGER))
    page = client.get("/dashboard/analytics/questions").get_data(as_text=True)
    text = _text(page)
    assert (
        "À relire personne ne se trompe Qu'est-ce que le travail des enfants ? · question 1 (français, 100 % justes)"
        " la plupart se trompent Qu'est-ce que le travail des enfants ? · question 2 (bambara, 20 % justes)"
        " Signalée à partir de 20 réponses : moins de 40 % justes, ou au moins 95 % justes."
    ) in text
    assert 'href="#q-child-labour-what-is-child-labour-moussa-saturday"' in page
    assert 'id="q-child-labour-what-is-child-labour-moussa-saturday"' in page
    assert "bambara 25 5 20 % 20 80 % 5" in _rows(page)
    assert "bambara 3 0 0 % 3 100 % 0" in _rows(page)  # three answers: no flag
    assert text.count("la plupart se trompent") == 2  # in the list to review, and on the question's card


def test_listening_bands_and_hours(backend, client, calls, make_user):
    sign_in(client, make_user(Role.MANAGER))
    text = _text(client.get("/dashboard/analytics/listening").get_data(as_text=True))
    assert "Qu'est-ce que le travail des enfants ? Le travail des enfants bambara · 1 appel" in text
    assert "au moins la moitié 1 100 %" in text and "toute la leçon 1 100 %" in text
    page = client.get("/dashboard/analytics/hours").get_data(as_text=True)
    assert "le mardi entre 10 h et 11 h (3 appels)" in _text(page)
    assert "10 h · 3 · · · · · 3" in _rows(page)  # Tuesday's column; the other days have no call


def test_an_agent_sees_only_the_figures_of_their_village(backend, client, calls, make_user):
    sign_in(client, make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")]))
    text = _text(client.get("/dashboard/analytics/").get_data(as_text=True))
    assert "Appels 2 100 % des appels" in text  # Awa and Moussa, not Seydou of Molobala
    assert "Langue choisie (ou déjà connue) 2 100 % de l'étape d'avant · 100 % des appels" in text
    assert "Chiffres de votre zone seulement." in text
    rows = _nodes(client.get("/dashboard/analytics/menus").get_data(as_text=True))
    assert "Choix de la langue 2 0 0 % 0 1" in rows
    # a place outside the agent's area is refused next to its field, not answered with zeros
    answer = client.get("/dashboard/analytics/?village=Molobala")
    assert answer.status_code == 400
    assert _field_error(answer, "village") == "Personne de votre zone dans ce village : vérifiez l'orthographe."


def test_an_agent_of_another_village_sees_its_one_call(client, calls, make_user):
    sign_in(client, make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Molobala")]))
    text = _text(client.get("/dashboard/analytics/").get_data(as_text=True))
    assert "Appels 1 100 % des appels" in text and "Langue choisie (ou déjà connue) 0" in text


def test_the_filters_narrow_the_figures(client, calls, make_user):
    sign_in(client, make_user(Role.MANAGER))
    french = _text(client.get("/dashboard/analytics/?language=fr").get_data(as_text=True))
    assert "Langue choisie (ou déjà connue) 1" in french and "Leçon commencée 0" in french
    village = _text(client.get("/dashboard/analytics/?village=KANIKO").get_data(as_text=True))
    assert "Appels 2 100 % des appels" in village


@pytest.mark.parametrize(
    "url, statements",
    [
        ("/dashboard/analytics/", 5),  # the groups offered, then funnel, new vs returning, callbacks, costs
        ("/dashboard/analytics/menus", 2),
        ("/dashboard/analytics/questions", 2),
        ("/dashboard/analytics/listening", 2),
        ("/dashboard/analytics/hours", 2),
        ("/dashboard/analytics/hours?village=kaniko", 3),  # and the typed village is checked: one lookup
    ],
)
def test_each_page_runs_only_its_own_few_queries(client, calls, make_user, url, statements):
    from sqlalchemy import event

    sign_in(client, make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")]))
    client.get("/dashboard/")  # the signed-in user is loaded
    seen = []
    listen = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        answer = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert answer.status_code == 200
    assert len(seen) == statements, seen
    assert len(answer.data) < 20_000  # a light page for a slow connection


# --- filter errors ---------------------------------------------------------------------------------------


def _field_error(answer, name: str) -> str | None:
    """The error shown inside the field of input ``name`` (None when that field has none)."""
    page = answer.get_data(as_text=True)
    for block in re.findall(r'<div class="field has-error">(.*?)</div>', page, re.S):
        if f'name="{name}"' in block:
            found = re.search(r'<p class="error" role="alert">(.*?)</p>', block, re.S)
            return html.unescape(found.group(1)) if found else None
    return None


@pytest.mark.parametrize(
    "query, name, message",
    [
        ("start=24/11/2026", "start", "Date attendue sous la forme AAAA-MM-JJ (par exemple 2026-11-24)."),
        ("start=2026-11-20&end=2026-11-01", "end", "La date de fin est avant la date de début."),
        ("course=astronomy", "course", "Ce cours n'existe pas."),
        ("language=en", "language", "Choisissez bambara ou français."),
        ("group=999", "group", "Ce groupe n'existe pas, ou il n'est pas dans votre zone."),
        ("village=Kanikoo", "village", "Aucun auditeur dans ce village : vérifiez l'orthographe."),
        ("commune=Nulle-part", "commune", "Aucun auditeur dans cette commune : vérifiez l'orthographe."),
        ("region=" + "x" * 121, "region", "Field cannot be longer than 120 characters."),
    ],
)
def test_a_bad_filter_is_named_next_to_its_field_and_no_figure_is_shown(
    client, make_user, make_listener, query, name, message
):
    make_listener(village="Kaniko")
    db.session.add(Group(name="Femmes"))
    db.session.commit()
    sign_in(client, make_user(Role.MANAGER))
    answer = client.get(f"/dashboard/analytics/menus?{query}")
    assert answer.status_code == 400
    got = _field_error(answer, name)
    if name == "region":  # WTForms' own message, in the page's language
        assert got is not None
    else:
        assert got == message
    text = _text(answer.get_data(as_text=True))
    assert "Corrigez les filtres signalés en rouge pour voir les chiffres." in text
    assert "Où les gens raccrochent" not in text


def test_an_agent_is_offered_only_their_own_groups(client, make_user):
    mine, theirs = Group(name="Femmes de Kaniko"), Group(name="Jeunes de Sikasso")
    db.session.add_all([mine, theirs])
    db.session.commit()
    sign_in(client, make_user(Role.AGENT, scopes=[(ScopeKind.GROUP, mine.id)]))
    page = client.get("/dashboard/analytics/").get_data(as_text=True)
    assert "Femmes de Kaniko" in page and "Jeunes de Sikasso" not in page
    answer = client.get(f"/dashboard/analytics/?group={theirs.id}")
    assert _field_error(answer, "group") == "Ce groupe n'existe pas, ou il n'est pas dans votre zone."


def test_a_bad_filter_on_an_export_is_refused_and_not_audited(client, make_user):
    sign_in(client, make_user(Role.MANAGER))
    assert client.get("/dashboard/analytics/menus.csv?start=yesterday").status_code == 400
    assert client.get("/dashboard/analytics/answers.csv").status_code == 404
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "export")) is None


# --- htmx, tabs, English ---------------------------------------------------------------------------------


def test_htmx_gets_only_the_body_and_the_tabs_keep_the_filters(client, calls, make_user):
    sign_in(client, make_user(Role.MANAGER))
    answer = client.get("/dashboard/analytics/?language=bm", headers={"HX-Request": "true"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Vary" in answer.headers and "HX-Request" in answer.headers["Vary"]
    assert page.lstrip().startswith('<div id="analytics-body">') and "<html" not in page
    assert 'href="/dashboard/analytics/menus?start=2026-10-26&amp;end=2026-11-24&amp;language=bm"' in page
    wrong = client.get("/dashboard/analytics/?language=xx", headers={"HX-Request": "true"})
    assert wrong.status_code == 200  # htmx swaps 2xx answers only: the error must reach the page
    assert _field_error(wrong, "language") == "Choisissez bambara ou français."
    restore = client.get("/dashboard/analytics/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_the_pages_speak_english_when_asked(client, calls, make_user):
    user = make_user(Role.MANAGER)
    user.locale = "en"
    db.session.commit()
    sign_in(client, user)
    text = _text(client.get("/dashboard/analytics/").get_data(as_text=True))
    assert "Calls 3 100% of calls" in text
    assert "Chose a language (or had one) 2 67% of the step before · 67% of calls" in text
    rows = _nodes(client.get("/dashboard/analytics/menus").get_data(as_text=True))
    assert "Language choice 3 1 33% 0 1" in rows


# --- exports ---------------------------------------------------------------------------------------------


def _csv(answer) -> list[list[str]]:
    body = answer.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode()), delimiter=";"))


def test_the_csv_exports_hold_the_tables_and_are_audited_with_their_filters(backend, client, calls, make_user):
    sign_in(client, make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")]))
    menus = _csv(client.get("/dashboard/analytics/menus.csv?language=bm"))
    assert menus[0] == ["Étape du menu", "Code", "Entrés", "Ont raccroché ici", "Part qui a raccroché ici",
                        "Sans touche (délai dépassé)", "Touche invalide"]  # fmt: skip
    assert ["Choix de la langue", "language", "1", "0", "0", "0", "1"] in menus
    questions = _csv(client.get("/dashboard/analytics/questions.csv"))
    assert questions[1][:3] == ["Le travail des enfants", "Qu'est-ce que le travail des enfants ?", "awa-at-the-mine"]
    assert questions[1][4:10] == ["bambara", "1", "1", "0", "1", "100"]
    detail = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "export")).all()
    assert {"fmt": "csv", "filter": {"start": "2026-10-26", "end": "2026-11-24", "language": "bm"}} in detail


# --- the pure helpers ------------------------------------------------------------------------------------


def test_funnel_steps_say_their_denominators(app):
    funnel = SimpleNamespace(calls=10, answered=8, chose_language=6, reached_main=6, started_lesson=3, completed=2,
                             passed=1)  # fmt: skip
    with app.test_request_context():
        steps = analytics.funnel_steps(funnel)
    assert [(s.key, s.count, s.of_previous, s.of_calls) for s in steps] == [
        ("calls", 10, None, 10), ("answered", 8, 10, 10), ("chose_language", 6, 8, 10), ("reached_main", 6, 6, 10),
        ("started_lesson", 3, 6, 10), ("completed", 2, 3, 10), ("passed", 1, 2, 10),
    ]  # fmt: skip
    with app.test_request_context():
        assert analytics.percent(1, 3) == "33\u00a0%" and analytics.percent(3, 0) == "–"
        assert analytics.fcfa(Decimal("49.5")) == "50 FCFA" and analytics.fcfa(None) == "–"
        assert analytics.fcfa(Decimal("12345")) == "12\u202f345 FCFA"
    assert analytics.share(3, 4) == 75.0 and analytics.share(5, 4) == 100.0 and analytics.share(1, 0) == 0.0


@pytest.mark.parametrize(
    "count, busiest, level",
    [(0, 8, 0), (1, 8, 1), (2, 8, 1), (3, 8, 2), (4, 8, 2), (5, 8, 3), (6, 8, 3), (7, 8, 4), (8, 8, 4), (1, 1, 4)],
)
def test_heatmap_levels_are_quarters_of_the_busiest_hour(count, busiest, level):
    grid = [[0] * 24 for _ in range(7)]
    grid[2][9] = busiest
    assert analytics.heatmap(grid).level(count) == level


def test_heatmap_totals_rows_and_peak():
    grid = [[0] * 24 for _ in range(7)]
    grid[1][10], grid[4][22], grid[6][3] = 5, 2, 1
    heat = analytics.heatmap(grid)
    assert (heat.total, heat.busiest, heat.peak) == (8, 5, (1, 10))
    assert heat.by_day == [0, 5, 0, 0, 2, 0, 1] and heat.by_hour[10] == 5
    assert (heat.first_hour, heat.last_hour) == (3, 22)  # the night rows shown only when someone called then
    assert analytics.heatmap([[0] * 24 for _ in range(7)]).peak is None
    quiet = analytics.heatmap([[1 if h == 12 else 0 for h in range(24)] for _ in range(7)])
    assert (quiet.first_hour, quiet.last_hour) == (6, 21)


def _q(question, lang, answers=10, right=5, flag=None, lesson="what-is-child-labour", course="child-labour"):
    return SimpleNamespace(course_id=course, lesson_id=lesson, question_id=question, lang=lang, answers=answers,
                           right=right, wrong=answers - right, first_try_right=right, flag=flag)  # fmt: skip


def test_question_groups_follow_the_catalog_and_keep_unknown_questions(catalog):
    rows = [_q("moussa-saturday", "fr"), _q("gone", "bm"), _q("awa-at-the-mine", "fr"),
            _q("awa-at-the-mine", "bm", flag="most_miss")]  # fmt: skip
    groups = analytics.question_groups(rows, catalog)
    assert [(g.question_id, g.number, [r.lang for r in g.lines]) for g in groups] == [
        ("awa-at-the-mine", 1, ["bm", "fr"]), ("moussa-saturday", 2, ["fr"]), ("gone", None, ["bm"]),
    ]  # fmt: skip
    assert groups[0].text.startswith("Awa a dix ans.") and groups[0].flags == {"most_miss"}
    assert groups[2].text == "" and groups[2].lesson_title == "Qu'est-ce que le travail des enfants ?"


def test_node_labels_are_plain_words(app):
    with app.test_request_context():
        assert analytics.node_label("language") == "Choix de la langue"
        assert analytics.node_label("main") == "Menu principal"
        assert analytics.node_label("mystery") == "mystery"
    line = analytics.node_rows([SimpleNamespace(node="main", entered=4, left_here=1, timed_out=0, invalid=2)])[0]
    assert (line.left_share, line.invalid) == (25.0, 2)


def test_the_form_defaults_come_from_the_clock(app, make_user):
    with app.test_request_context("/dashboard/analytics/"):
        today = analytics.local_today()
        assert today == date(2026, 11, 24)
        form = analytics.FilterForm({}, user=make_user(Role.MANAGER), catalog=analytics.get_catalog(), today=today)
        assert form.validate()
        filters = form.filters()
        assert (filters.start, filters.end) == (date(2026, 10, 26), today)
        assert (filters.course_id, filters.language, filters.group_id, filters.village) == (None, None, None, None)
