"""Learning analytics end to end: call sessions with hand-built paths → call facts (the receiver of
``call_finished``, and ``flask analytics rebuild``) → the queries, scoped and filtered; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from accounts.roles import Role, ScopeKind
from analytics import facts, queries
from analytics.models import CallFact
from analytics.queries import CallbackCounts, Costs, Filters, ListeningRow, NodeRow, VoiceFunnel
from core.db import db
from core.signals import call_finished
from core.vocabulary import CallStatus, Channel, Direction
from ivr.models import CallbackStatus, CallSession, MissedCallCallback
from listeners.models import Group, QuizAnswer
from tests.conftest import NOW

LESSON = "lesson:child-labour/what-is-child-labour"
MONEY = "lesson:money/saving-a-little"
EVERYONE = Filters()


def call(
    listener,
    *labels: str,
    at: datetime = NOW,
    answered: bool = True,
    direction=Direction.INBOUND,
    state: dict | None = None,
    cost: str | None = None,
    currency: str = "",
    duration: int | None = 60,
    provider: str = "africastalking",
    status: CallStatus | None = None,
    finish: bool = True,
) -> CallSession:
    """A finished call session with this path (labels), its fact written by the ``call_finished`` receiver."""
    session = CallSession(
        provider=provider, provider_call_id=None, listener_id=listener.id if listener else None,
        phone=listener.phone if listener else "+22376000000", direction=direction,
        status=status or (CallStatus.COMPLETED if answered else CallStatus.NO_ANSWER), state=state or {},
        path=[[at.isoformat(), label] for label in labels], duration_seconds=duration if answered else None,
        cost=Decimal(cost) if cost is not None else None, currency=currency, created_at=at,
        answered_at=at if answered else None, ended_at=at + timedelta(minutes=1), updated_at=at,
    )  # fmt: skip
    db.session.add(session)
    db.session.flush()
    if finish:
        call_finished.send(session, now=at)
    return session


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN)


@pytest.fixture
def village(make_listener):
    """Listeners: two in Kaniko (one with hand-typed spaces and capitals), one in Dioila, one without a place."""
    return {
        "awa": make_listener(language="bm", village="Kaniko", commune="Fana", region="Koulikoro"),
        "moussa": make_listener(language="fr", village="  KANIKO ", commune="Fana", region="Koulikoro"),
        "seydou": make_listener(language="fr", village="Dioila", commune="Dioila", region="Koulikoro"),
        "nobody": make_listener(),
    }


def seed_calls(people) -> None:
    awa, moussa, seydou, nobody = people["awa"], people["moussa"], people["seydou"], people["nobody"]
    call(awa, "language", "lang:bm", "main", "courses", "lessons", "lesson", LESSON, "chunk:1/4", "chunk:2/4",
         "hangup", at=NOW - timedelta(days=3))  # fmt: skip
    call(awa, "main", "lesson", LESSON, "chunk:3/4", "chunk:4/4", "done:2/2", "lesson_end", "hangup")
    call(moussa, "language", "!timeout", "!invalid", "!timeout", "goodbye", "hangup")
    call(seydou, "language", "lang:fr", "main", "!invalid", "courses", "lessons", "lesson", MONEY, "chunk:1/3",
         "!invalid", "!invalid", "!timeout", "goodbye", "hangup", at=NOW + timedelta(hours=2))  # fmt: skip
    call(nobody, "no_answer", answered=False)
    call(seydou, "queued", "lesson", MONEY, "chunk:1/3", "chunk:2/3", "chunk:3/3", "done:0/2", "campaign_end",
         "hangup", direction=Direction.OUTBOUND, state={"entry": "lesson", "campaign_delivery_id": 4},
         at=NOW + timedelta(days=1), cost="147.44", currency="XOF")  # fmt: skip


def test_the_voice_funnel_dropoff_and_listening_from_hand_built_paths(backend, app, village, admin):
    seed_calls(village)
    assert db.session.scalar(select(func.count()).select_from(CallFact)) == 6

    assert queries.voice_funnel(EVERYONE, admin) == VoiceFunnel(
        calls=6, answered=5, chose_language=4, reached_main=4, started_lesson=4, completed=2, passed=1
    )
    rows = {r.node: r for r in queries.node_dropoff(EVERYONE, admin)}
    assert list(rows) == ["language", "main", "courses", "lessons", "lesson", "lesson_end", "campaign_end",
                          "opt_out_confirm"]  # fmt: skip
    assert rows["language"] == NodeRow("language", entered=3, left_here=1, timed_out=1, invalid=1)
    assert rows["main"] == NodeRow("main", entered=3, left_here=0, timed_out=0, invalid=1)
    assert rows["lesson"] == NodeRow("lesson", entered=4, left_here=2, timed_out=1, invalid=1)
    assert rows["lesson_end"] == NodeRow("lesson_end", entered=1, left_here=1, timed_out=0, invalid=0)
    assert rows["campaign_end"] == NodeRow("campaign_end", entered=1, left_here=1, timed_out=0, invalid=0)
    assert rows["opt_out_confirm"] == NodeRow("opt_out_confirm", 0, 0, 0, 0)
    assert sum(r.left_here for r in rows.values()) == 5  # every answered call ended at one node

    assert queries.listening(EVERYONE, admin) == [
        ListeningRow("child-labour", "what-is-child-labour", "bm", calls=2, heard_50=2, heard_75=1, heard_all=1),
        ListeningRow("money", "saving-a-little", "fr", calls=2, heard_50=1, heard_75=1, heard_all=1),
    ]


def test_calls_by_hour_new_vs_returning_and_costs(backend, app, village, admin):
    seed_calls(village)
    grid = queries.calls_by_hour(EVERYONE, admin)
    assert len(grid) == 7 and all(len(row) == 24 for row in grid)
    # NOW is Tuesday 10:00 in Bamako (UTC+0): four calls then, one at 12:00, one on Wednesday, one the Saturday before
    assert (grid[1][10], grid[1][12], grid[2][10], grid[5][10]) == (3, 1, 1, 1)
    assert sum(map(sum, grid)) == 6

    # answered callers: Awa (first call 3 days ago, again today), Moussa, Seydou: all three new in this range...
    assert queries.new_vs_returning(EVERYONE, admin) == (3, 0)
    # ...but from today on, Awa is a returning caller
    assert queries.new_vs_returning(Filters(start=date(2026, 11, 24)), admin) == (2, 1)

    # provider cost when given in XOF (147.44); otherwise the africastalking tariff, 75 FCFA a started minute
    # (core.config.DEFAULT_TARIFFS), for 4 answered calls of 60 s
    assert app.config["KALANSO"].tariffs["africastalking"]["voice_minute"] == Decimal("75")
    assert queries.costs(EVERYONE, admin) == Costs(
        total_fcfa=Decimal("447.44"), answered_calls=5, completions=2, per_answered_call=Decimal("89.49"),
        per_completion=Decimal("223.72"), source="mixed",
    )  # fmt: skip
    only_tariff = queries.costs(Filters(language="bm"), admin)
    assert (only_tariff.total_fcfa, only_tariff.source, only_tariff.per_completion) == (
        Decimal("150.00"), "tariff", Decimal("150.00"),
    )  # fmt: skip
    nothing = queries.costs(Filters(start=date(2030, 1, 1)), admin)
    assert (nothing.total_fcfa, nothing.per_answered_call, nothing.source) == (Decimal("0.00"), None, "none")


def test_filters_by_date_course_language_place_and_group(backend, app, village, admin):
    seed_calls(village)
    group = Group(name="Femmes de Kaniko")
    group.listeners.append(village["awa"])
    db.session.add(group)
    db.session.flush()
    funnel = queries.voice_funnel
    assert funnel(Filters(start=date(2026, 11, 24), end=date(2026, 11, 24)), admin).calls == 4
    assert funnel(Filters(end=date(2026, 11, 23)), admin).calls == 1
    assert funnel(Filters(course_id="money"), admin) == VoiceFunnel(2, 2, 2, 2, 2, 1, 0)
    assert funnel(Filters(language="bm"), admin).calls == 2
    assert funnel(Filters(village="kaniko"), admin).calls == 3  # "  KANIKO " is Kaniko
    assert funnel(Filters(commune=" Dioila"), admin).calls == 2
    assert funnel(Filters(region="KOULIKORO"), admin).calls == 5
    assert funnel(Filters(group_id=group.id), admin).calls == 2
    assert funnel(Filters(village="Nowhere"), admin).calls == 0


@pytest.mark.parametrize(
    ("scopes", "calls"),
    [
        ([(ScopeKind.VILLAGE, "Kaniko")], 3),
        ([(ScopeKind.COMMUNE, "dioila")], 2),
        ([(ScopeKind.REGION, "Koulikoro")], 5),
        ([(ScopeKind.VILLAGE, "Kaniko"), (ScopeKind.VILLAGE, "Dioila")], 5),
        ([], 0),
    ],
)
def test_an_agent_sees_only_the_calls_of_their_places(backend, app, village, make_user, scopes, calls):
    seed_calls(village)
    agent = make_user(Role.AGENT, scopes=scopes)
    assert queries.voice_funnel(EVERYONE, agent).calls == calls
    assert sum(map(sum, queries.calls_by_hour(EVERYONE, agent))) == calls
    assert sum(r.entered for r in queries.node_dropoff(EVERYONE, agent) if r.node == "language") <= calls
    viewer = make_user(Role.VIEWER)
    assert queries.voice_funnel(EVERYONE, viewer).calls == 6


def test_an_agent_with_a_group_sees_its_members_calls(backend, app, village, make_user):
    seed_calls(village)
    group = Group(name="Apprenants de Dioila")
    group.listeners.append(village["seydou"])
    db.session.add(group)
    db.session.commit()
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.GROUP, group.id)])
    assert queries.voice_funnel(EVERYONE, agent).calls == 2
    assert queries.new_vs_returning(EVERYONE, agent) == (1, 0)
    assert [r.course_id for r in queries.listening(EVERYONE, agent)] == ["money"]


def test_the_place_kept_is_the_one_at_the_time_of_the_call(backend, app, village, make_user):
    seed_calls(village)
    village["awa"].village = "Somewhere else"  # Awa moved after her calls
    db.session.flush()
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko")])
    assert queries.voice_funnel(EVERYONE, agent).calls == 3


def answer(
    listener,
    question: str,
    correct: bool,
    *,
    attempt: int = 1,
    counted: bool = True,
    lang: str = "fr",
    at: datetime = NOW,
    lesson: str = "what-is-child-labour",
) -> None:
    db.session.add(QuizAnswer(
        listener_id=listener.id, course_id="child-labour", lesson_id=lesson, question_id=question,
        answer="1", option_key="1", correct=correct, counted=counted, channel=Channel.VOICE, attempt=attempt,
        answered_at=at, lang=lang,
    ))  # fmt: skip


def test_question_results_per_language_with_flags(backend, app, village, admin, make_user):
    awa = village["awa"]
    people = [make_listener_in(village, n) for n in range(20)]  # French speakers of Kaniko
    for n, person in enumerate(people):  # "awa-at-the-mine": 7 right of 20 (35%): most people miss it
        answer(person, AWA_Q, n < 7, attempt=1 + n % 2)
    for n, person in enumerate(people):  # "moussa-saturday": 19 right of 20 (95%): nobody misses it
        answer(person, MOUSSA_Q, n > 0)
    answer(awa, AWA_Q, True, lang="bm")  # too few answers to flag
    answer(awa, AWA_Q, False, lang="bm", counted=False)  # a re-answer after going back does not count
    answer(awa, MOUSSA_Q, True, lang="", at=NOW - timedelta(days=10))  # before the language was kept: default (fr)
    db.session.flush()

    results = queries.question_results(EVERYONE, admin)
    rows = {(r.question_id, r.lang): r for r in results}
    awa_fr = rows[(AWA_Q, "fr")]
    assert (awa_fr.answers, awa_fr.right, awa_fr.wrong, awa_fr.first_try_right, awa_fr.flag) == (
        20,
        7,
        13,
        4,
        "most_miss",
    )
    moussa_fr = rows[(MOUSSA_Q, "fr")]
    assert (moussa_fr.answers, moussa_fr.right, moussa_fr.flag) == (21, 20, "nobody_misses")
    assert (rows[(AWA_Q, "bm")].answers, rows[(AWA_Q, "bm")].flag) == (1, None)
    assert [(r.question_id, r.lang) for r in results] == [(AWA_Q, "bm"), (AWA_Q, "fr"), (MOUSSA_Q, "fr")]

    since = {(r.question_id, r.lang): r.answers for r in queries.question_results(Filters(start=NOW.date()), admin)}
    assert since[(MOUSSA_Q, "fr")] == 20
    assert {r.lang for r in queries.question_results(Filters(language="bm"), admin)} == {"bm"}
    assert sum(r.answers for r in queries.question_results(Filters(language="fr"), admin)) == 41
    assert queries.question_results(Filters(course_id="money"), admin) == []
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Dioila")])
    assert queries.question_results(EVERYONE, agent) == []
    kaniko = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "kaniko")])
    assert sum(r.answers for r in queries.question_results(EVERYONE, kaniko)) == 42
    assert sum(r.answers for r in queries.question_results(Filters(village="Dioila"), admin)) == 0
    assert queries.question_flag(19, 0) is None and queries.question_flag(20, 8) is None  # 40% is not "most miss"


AWA_Q, MOUSSA_Q = "awa-at-the-mine", "moussa-saturday"


def make_listener_in(village, n: int):
    from listeners.models import Listener

    person = Listener(phone=f"+2236600{n:04d}", language="fr", village="Kaniko", created_at=NOW)
    db.session.add(person)
    db.session.flush()
    return person


def test_callbacks_requested_and_placed(backend, app, village, admin, make_user):
    awa, seydou = village["awa"], village["seydou"]
    for listener, status, at in [(awa, CallbackStatus.PLACED, NOW), (awa, CallbackStatus.SKIPPED, NOW),
                                 (seydou, CallbackStatus.PENDING, NOW), (seydou, CallbackStatus.FAILED, NOW),
                                 (seydou, CallbackStatus.PLACED, NOW - timedelta(days=5))]:  # fmt: skip
        db.session.add(MissedCallCallback(listener_id=listener.id, phone=listener.phone, provider="africastalking",
                                          status=status, missed_at=at, due_at=at))  # fmt: skip
    db.session.flush()
    assert queries.callbacks(EVERYONE, admin) == CallbackCounts(requested=5, placed=2, skipped=1, failed=1)
    assert queries.callbacks(Filters(start=NOW.date()), admin) == CallbackCounts(4, 1, 1, 1)
    assert queries.callbacks(Filters(language="bm"), admin) == CallbackCounts(2, 1, 1, 0)
    agent = make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Dioila")])
    assert queries.callbacks(EVERYONE, agent) == CallbackCounts(3, 1, 0, 1)


def test_a_fact_is_written_once_per_call_whatever_the_notifications(backend, app, village):
    session = call(village["awa"], "language", "lang:bm", "main", "hangup")
    call_finished.send(session, now=NOW)  # again: replaced, not added
    facts_ = db.session.scalars(select(CallFact)).all()
    assert len(facts_) == 1
    fact = facts_[0]
    assert (fact.call_session_id, fact.lang, fact.village_key, fact.commune_key, fact.region_key) == (
        session.id, "bm", "kaniko", "fana", "koulikoro",
    )  # fmt: skip
    assert (fact.local_day, fact.local_hour, fact.weekday, fact.entry, fact.first_call) == (
        date(2026, 11, 24), 10, 1, "inbound", True,
    )  # fmt: skip
    assert (fact.cost_fcfa, fact.cost_source, fact.exit_node) == (
        Decimal("75.00"),
        "tariff",
        "main",
    )  # one started minute at 75


def test_entries_of_calls(backend, app, village):
    awa = village["awa"]
    assert facts.entry_of(call(awa, "hangup", finish=False)) == "inbound"
    campaign = call(awa, "queued", "hangup", direction=Direction.OUTBOUND, finish=False,
                    state={"entry": "lesson", "campaign_delivery_id": 3})  # fmt: skip
    assert facts.entry_of(campaign) == "campaign"
    callback = call(awa, "queued", "hangup", direction=Direction.OUTBOUND, finish=False,
                    state={"entry": "menu", "callback_id": 9})  # fmt: skip
    assert facts.entry_of(callback) == "callback"


def test_rebuild_is_idempotent_and_matches_what_the_receiver_wrote(backend, app, village, admin, runner):
    seed_calls(village)
    db.session.commit()

    def snapshot():
        db.session.expire_all()
        rows = db.session.scalars(select(CallFact).order_by(CallFact.call_session_id)).all()
        return [{c.name: getattr(r, c.name) for c in CallFact.__table__.columns if c.name not in ("id", "updated_at")}
                for r in rows]  # fmt: skip

    written = snapshot()
    db.session.execute(CallFact.__table__.delete())
    db.session.commit()
    result = runner.invoke(args=["analytics", "rebuild", "--batch", "4"])
    assert result.exit_code == 0, result.output
    assert "call facts rebuilt: 6 call(s)" in result.output
    assert snapshot() == written
    result = runner.invoke(args=["analytics", "rebuild", "--since", "2026-11-24"])
    assert "call facts rebuilt: 5 call(s) since 2026-11-24" in result.output
    assert snapshot() == written
    assert queries.voice_funnel(EVERYONE, admin).calls == 6
    bad = runner.invoke(args=["analytics", "rebuild", "--since", "24/11/2026"])
    assert bad.exit_code != 0 and "not a date" in bad.output


@pytest.mark.parametrize(
    ("args", "filters", "errors"),
    [
        ({}, Filters(), {}),
        ({"start": "2026-11-01", "end": "2026-11-30", "language": "bm", "group_id": "3", "village": "  Kaniko "},
         Filters(start=date(2026, 11, 1), end=date(2026, 11, 30), language="bm", group_id=3, village="Kaniko"), {}),
        ({"start": "", "course_id": "money", "region": " "}, Filters(course_id="money"), {}),
        ({"start": "2026-13-01"}, Filters(), {"start": "not a date: '2026-13-01' (YYYY-MM-DD)"}),
        ({"start": "2026-11-30", "end": "2026-11-01"}, Filters(start=date(2026, 11, 30)),
         {"end": "the end is before the start"}),
        ({"course_id": "cooking", "language": "en", "group_id": "x1"}, Filters(),
         {"course_id": "unknown course: 'cooking'", "language": "unknown language: 'en' (one of bm, fr)",
          "group_id": "not a group number: 'x1'"}),
    ],
)  # fmt: skip
def test_filters_from_a_query_string(app, args, filters, errors):
    assert Filters.from_args(args) == (filters, errors)


def test_a_call_through_the_voice_webhook_leaves_its_fact(client, clock, catalog, make_user):
    """The real line: Twilio's requests, the menus and the engine write the path; its end writes the fact."""
    from tests import voice_support as w

    course = catalog.course("child-labour")
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    for turn, key in enumerate(["2", "2", str(list(catalog).index(course) + 1), "1", "7"], start=1):
        response = w.post_twilio(client, f"/ivr/twilio/voice?ev=gather&t={turn}", w.twilio_gather(key))
        assert response.status_code == 200
    w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("completed", duration="75"))
    db.session.expire_all()
    session = db.session.scalars(select(CallSession)).one()
    assert [label for _, label in session.path] == [
        "language", "lang:fr", "main", "courses", "lessons", "lesson", "lesson:child-labour/what-is-child-labour",
        "chunk:1/1", "!invalid", "hangup",
    ]  # fmt: skip
    fact = db.session.scalars(select(CallFact)).one()
    assert (fact.call_session_id, fact.answered, fact.chose_language, fact.reached_main, fact.started_lesson) == (
        session.id, True, True, True, True,
    )  # fmt: skip
    assert (fact.course_id, fact.lesson_id, fact.chunks_heard, fact.chunks_total, fact.completed) == (
        "child-labour", "what-is-child-labour", 1, 1, False,
    )  # fmt: skip
    assert (fact.lang, fact.exit_node, fact.entry, fact.first_call) == ("fr", "lesson", "inbound", True)
    assert (fact.cost_fcfa, fact.cost_source) == (
        Decimal("600.00"),
        "tariff",
    )  # 75 s: 2 started minutes at 300 (twilio)
    rows = {r.node: r for r in queries.node_dropoff(EVERYONE, make_user(Role.MANAGER))}
    assert rows["lesson"] == NodeRow("lesson", entered=1, left_here=1, timed_out=0, invalid=1)


@pytest.mark.parametrize(("language", "kept"), [("bm", "bm"), ("fr", "fr"), (None, "fr")])
def test_an_answer_keeps_the_language_it_was_asked_in(app, catalog, make_listener, language, kept):
    from engine import Digits, Start
    from listeners.progress import take_turn

    listener = make_listener(language=language)
    course = catalog.course("child-labour")
    lesson = course.lessons[0]
    take_turn(listener, course, lesson.id, Start(), channel=Channel.SMS, now=NOW)
    take_turn(listener, course, lesson.id, Digits("1"), channel=Channel.SMS, now=NOW)  # past the chunk
    take_turn(listener, course, lesson.id, Digits("1"), channel=Channel.SMS, now=NOW)  # the first question
    db.session.flush()
    assert [a.lang for a in db.session.scalars(select(QuizAnswer))] == [kept]  # None: the default language (fr)
