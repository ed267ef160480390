"""The listener filter shared by the lists, exports and API (dashboard/listing.py): reading query arguments,
every filter and search on both databases, LIKE escaping, the scope, keyset pages and the capped count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.roles import Role, ScopeKind
from core.db import db
from dashboard.listing import (
    ListenerFilter,
    count_listeners,
    listeners_page,
    listeners_query,
    parse_cursor,
)
from listeners.models import Group, LessonProgress, Listener, ProgressStatus
from tests.conftest import NOW

L1 = ("child-labour", "what-is-child-labour")
L2 = ("money", "saving-a-little")
L1_ARG = "child-labour/what-is-child-labour"


@pytest.mark.parametrize(
    "args, expected, problems",
    [
        ({}, ListenerFilter(), ()),
        ({"q": "  Awa \x00  Traoré "}, ListenerFilter(q="Awa Traoré"), ()),
        ({"q": "x" * 500}, ListenerFilter(q="x" * 120), ()),
        ({"group": "12"}, ListenerFilter(group_id=12), ()),
        ({"group": "douze"}, ListenerFilter(), ("group",)),
        ({"group": "²"}, ListenerFilter(), ("group",)),  # a digit to str.isdigit, not to int()
        ({"group": "9" * 10}, ListenerFilter(), ("group",)),
        ({"language": "none"}, ListenerFilter(language="none"), ()),
        ({"language": "en"}, ListenerFilter(), ("language",)),
        ({"consent": "never"}, ListenerFilter(consent="never"), ()),
        ({"consent": "yes"}, ListenerFilter(), ("consent",)),
        ({"lesson": L1_ARG}, ListenerFilter(lesson=L1_ARG), ()),
        ({"lesson": "child-labour/nope"}, ListenerFilter(), ("lesson",)),
        ({"lesson": "child-labour"}, ListenerFilter(), ("lesson",)),
        ({"progress": "completed"}, ListenerFilter(), ("progress",)),  # needs a lesson
        ({"progress": "started_not_finished"}, ListenerFilter(progress="started_not_finished"), ()),
        ({"progress": "done", "lesson": "money/saving-a-little"}, ListenerFilter(lesson="money/saving-a-little"),
         ("progress",)),
        ({"village": "  Kaniko  ", "commune": "Kaniko", "region": "Sikasso"},
         ListenerFilter(village="Kaniko", commune="Kaniko", region="Sikasso"), ()),
    ],
)  # fmt: skip
def test_query_arguments_become_a_filter_and_bad_ones_are_named(catalog, args, expected, problems):
    flt = ListenerFilter.from_args(args, catalog)
    assert flt == expected
    assert flt.problems == problems
    assert ListenerFilter.from_args(flt.args(), catalog) == flt  # links carry the filter unchanged


def test_without_a_catalog_a_malformed_lesson_is_still_refused():
    flt = ListenerFilter.from_args({"lesson": "no-slash", "progress": "completed"})
    assert (flt.lesson, flt.progress, flt.problems) == ("", "", ("lesson", "progress"))
    assert flt.clauses() == []  # and nothing crashes building the query


@pytest.mark.parametrize(
    "value, expected", [("", None), (None, None), ("42", 42), (" 7 ", 7), ("-3", None), ("²", None), ("1" * 19, None)]
)
def test_the_cursor_of_the_next_page(value, expected):
    assert parse_cursor(value) == expected


@pytest.fixture
def people(app, make_listener):
    coop = Group(name="Coopérative", created_at=NOW)
    women = Group(name="Femmes", created_at=NOW)
    db.session.add_all([coop, women])
    db.session.flush()
    consent = NOW - timedelta(days=3)
    awa = make_listener(phone="+22376000001", name="Awa Traoré", village="Kaniko", commune="Kaniko",
                        region="Sikasso", language="bm", consent_at=consent)  # fmt: skip
    moussa = make_listener(phone="+22376000002", name="Moussa Diarra", village="  kaniko ", language="fr",
                           consent_at=consent, opted_out=True)  # fmt: skip
    fanta = make_listener(phone="+22366123456", name="Fanta 100%", village="Sanando", commune="Sanando",
                          region="Ségou")  # fmt: skip
    oumar = make_listener(phone="+22390000004", name="Oumar_Keita", village="Ségou-Koura", region="Ségou",
                          language="fr", consent_at=consent)  # fmt: skip
    make_listener(phone="+22379000005", name="Sékou Coulibaly", village="Kati", consent_at=consent)
    awa.groups, fanta.groups = [coop], [women]

    def progress(who, lesson, status):
        db.session.add(LessonProgress(listener_id=who.id, course_id=lesson[0], lesson_id=lesson[1], status=status))

    progress(awa, L1, ProgressStatus.COMPLETED)
    progress(awa, L2, ProgressStatus.IN_PROGRESS)
    progress(moussa, L1, ProgressStatus.IN_PROGRESS)
    progress(oumar, L1, ProgressStatus.NOT_STARTED)  # a row, but nothing heard yet
    db.session.commit()
    return {"coop": coop.id, "women": women.id}


EVERYONE = ["Awa Traoré", "Moussa Diarra", "Fanta 100%", "Oumar_Keita", "Sékou Coulibaly"]
LESSON_1 = "child-labour/what-is-child-labour"
CASES = [
    ({}, EVERYONE),
    # a phone number, in every format a Mali number is written
    ({"q": "76 00 00 01"}, ["Awa Traoré"]),
    ({"q": "+22376000001"}, ["Awa Traoré"]),
    ({"q": "00223 76 00 00 01"}, ["Awa Traoré"]),
    ({"q": "76-00-00-01"}, ["Awa Traoré"]),
    ({"q": "76000001"}, ["Awa Traoré"]),
    ({"q": "+223 76 00 00 09"}, []),
    # part of a number: four digits or more, anywhere in it
    ({"q": "0000"}, ["Awa Traoré", "Moussa Diarra", "Oumar_Keita", "Sékou Coulibaly"]),
    ({"q": "123 456"}, ["Fanta 100%"]),
    ({"q": "+223 66"}, ["Fanta 100%"]),
    ({"q": "123"}, []),  # three digits: a name search, and nobody is called 123
    # part of a name or a village, whatever the case
    ({"q": "awa"}, ["Awa Traoré"]),
    ({"q": "TRAOR"}, ["Awa Traoré"]),
    ({"q": "sékou"}, ["Sékou Coulibaly"]),
    ({"q": "kani"}, ["Awa Traoré", "Moussa Diarra"]),
    ({"q": "koura"}, ["Oumar_Keita"]),
    # LIKE's wildcards are letters like any other
    ({"q": "%"}, ["Fanta 100%"]),
    ({"q": "100%"}, ["Fanta 100%"]),
    ({"q": "_"}, ["Oumar_Keita"]),
    ({"q": "r_k"}, ["Oumar_Keita"]),
    ({"q": "a%"}, []),
    ({"q": "\\"}, []),
    # places, compared without case or surrounding spaces
    ({"village": "Kaniko"}, ["Awa Traoré", "Moussa Diarra"]),
    ({"village": "KANIKO"}, ["Awa Traoré", "Moussa Diarra"]),
    ({"commune": "sanando"}, ["Fanta 100%"]),
    ({"region": "Ségou"}, ["Fanta 100%", "Oumar_Keita"]),
    ({"region": "Kayes"}, []),
    # groups, language, consent
    ({"group": "coop"}, ["Awa Traoré"]),
    ({"group": "women"}, ["Fanta 100%"]),
    ({"language": "bm"}, ["Awa Traoré"]),
    ({"language": "fr"}, ["Moussa Diarra", "Oumar_Keita"]),
    ({"language": "none"}, ["Fanta 100%", "Sékou Coulibaly"]),
    ({"consent": "active"}, ["Awa Traoré", "Fanta 100%", "Oumar_Keita", "Sékou Coulibaly"]),
    ({"consent": "opted_out"}, ["Moussa Diarra"]),
    ({"consent": "never"}, ["Fanta 100%"]),
    # progress in a lesson
    ({"lesson": LESSON_1, "progress": "completed"}, ["Awa Traoré"]),
    ({"lesson": LESSON_1, "progress": "not_completed"}, EVERYONE[1:]),
    ({"lesson": LESSON_1, "progress": "started_not_finished"}, ["Moussa Diarra"]),
    ({"lesson": LESSON_1, "progress": "not_started"}, ["Fanta 100%", "Oumar_Keita", "Sékou Coulibaly"]),
    ({"lesson": "money/saving-a-little", "progress": "started_not_finished"}, ["Awa Traoré"]),
    ({"progress": "started_not_finished"}, ["Awa Traoré", "Moussa Diarra"]),  # any lesson
    ({"lesson": LESSON_1}, EVERYONE),  # a lesson alone filters nothing
    # together
    ({"village": "kaniko", "consent": "active"}, ["Awa Traoré"]),
    ({"q": "0000", "language": "fr", "lesson": LESSON_1, "progress": "not_started"}, ["Oumar_Keita"]),
]  # fmt: skip


def _names(user, args, catalog, groups) -> list[str]:
    args = {k: str(groups.get(v, v)) if k == "group" else v for k, v in args.items()}
    flt = ListenerFilter.from_args(args, catalog)
    assert flt.problems == ()
    return [p.name for p in db.session.scalars(listeners_query(user, flt))]


def test_every_filter_and_search_on_both_databases(backend, people, catalog, make_user):
    manager = make_user(Role.MANAGER)
    got = {str(args): _names(manager, args, catalog, people) for args, _ in CASES}
    assert got == {str(args): expected for args, expected in CASES}


def test_every_filter_stays_inside_an_agents_scope(backend, people, catalog, make_user):
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko"), (ScopeKind.GROUP, people["women"])])
    in_scope = {"Awa Traoré", "Moussa Diarra", "Fanta 100%"}
    got = {str(args): _names(agent, args, catalog, people) for args, _ in CASES}
    assert got == {str(args): [n for n in expected if n in in_scope] for args, expected in CASES}
    nobody = make_user(Role.AGENT)  # an agent with no scope sees nobody
    assert _names(nobody, {}, catalog, people) == []


def test_pages_follow_the_id_after_the_cursor_and_the_count_is_capped(backend, app, make_listener, make_user):
    for n in range(7):
        make_listener(phone=f"+2236600{n:04d}", name=f"P{n}", village="Kati")
    db.session.commit()
    manager = make_user(Role.MANAGER)
    flt = ListenerFilter(village="Kati")
    ids = list(db.session.scalars(select(Listener.id).order_by(Listener.id)))
    pages, after = [], None
    while True:
        page = listeners_page(manager, flt, after=after, size=3)
        pages.append([p.id for p in page.rows])
        if page.next_after is None:
            break
        after = page.next_after
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    exactly = listeners_page(manager, flt, after=ids[3], size=3)
    assert ([p.id for p in exactly.rows], exactly.next_after) == (ids[4:7], None)  # no empty last page
    assert count_listeners(manager, flt, cap=10) == (7, False)
    assert count_listeners(manager, flt, cap=7) == (7, False)
    assert count_listeners(manager, flt, cap=5) == (5, True)  # "more than 5"
