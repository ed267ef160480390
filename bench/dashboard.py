"""Benchmark: the dashboard's pages and queries on PostgreSQL at a million listeners.

A throw-away database (``kalanso_bench_dash_*``) is migrated to head, then filled **with SQL**
(``INSERT ... SELECT generate_series``): at ``--scale 1`` 1,000,000 listeners in 5 regions, 20 communes and
2,000 villages of skewed sizes (the biggest ~22,000 people, the median ~350), 200 groups, languages and
consents mixed; about 5,000,000 progress rows (lesson progress, completions and quiz answers in proportion);
about 1,250,000 calls whose menu paths total 10,000,000 entries; 2,000,000 SMS; the consent history.

Server time is measured **in-process with the Flask test client** (the time of ``client.get``: routing,
sign-in from the session, queries, template; no network, no gunicorn), ≥ 30 requests per page with varied
parameters, for an admin, an agent scoped to the biggest village and an agent scoped to that village's commune.
Side by side in the same run: a bare endpoint (``/healthz``, one ``SELECT 1``), a bare ``SELECT 1`` and a bare
primary-key select. The queries the other pages run (the scoped list with each filter of
``dashboard/listing.py`` and keyset, a record's queries, the completion matrix) are measured as plain
SQLAlchemy, with the same users. Pages whose endpoint does not exist yet are skipped with a note.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.dashboard
    ... -m bench.dashboard --scale 0.01            # a quick run (10,000 listeners)
    ... -m bench.dashboard --plans                 # and EXPLAIN (ANALYZE, BUFFERS) of every measured query
    ... -m bench.dashboard --compare               # first without this issue's indexes, then with them

Prints figures; asserts nothing (``tests/test_bench_dashboard.py`` runs it tiny so that it cannot rot).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Select, func, select, text

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
BASE_REVISION = "6eb8bdf88d84"  # the schema before this indexes (``--compare``)
REQUESTS = 30
PASSWORD = "bench-password-0123"
PAGE = 50
REGIONS = ("Sikasso", "Ségou", "Koulikoro", "Kayes", "Mopti")
FIRST_NAMES = ("Awa", "Moussa", "Fatoumata", "Seydou", "Mariam", "Bakary", "Aminata", "Oumar", "Kadiatou",
               "Adama", "Rokia", "Souleymane", "Hawa", "Drissa", "Salimata", "Modibo", "Assitan", "Lassina",
               "Djeneba", "Yaya")  # fmt: skip
LAST_NAMES = ("Traoré", "Diarra", "Coulibaly", "Keïta", "Konaté", "Sangaré", "Dembélé", "Cissé", "Touré",
              "Sidibé", "Doumbia", "Samaké", "Koné", "Bagayoko", "Maïga")  # fmt: skip
NODES = ("welcome", "language", "menu", "course", "lesson", "chunk", "question", "answer", "progress", "goodbye")


@dataclass(frozen=True)
class Size:
    listeners: int
    villages: int
    communes: int
    groups: int
    calls: int
    messages: int

    @classmethod
    def at(cls, scale: float) -> Size:
        n = max(200, int(1_000_000 * scale))
        return cls(
            listeners=n,
            villages=max(20, int(2000 * min(1.0, scale**0.5))),
            communes=20,
            groups=max(4, int(200 * min(1.0, scale**0.5))),
            calls=int(n * 1.25),  # 8 path entries each on average: 10M at scale 1
            messages=n * 2,
        )


# --- generation (SQL only) -------------------------------------------------------------------------------

# Village v (0 = the biggest) gets a share ~ 1/sqrt(v): floor(V * r^2) of a uniform r. Village 0 is "Kaniko".
# Its commune is v % C, the commune's region is c % 5. A few rows carry the spaces and capitals of hand typing.
GENERATION = [
    "SET LOCAL statement_timeout = 0",
    "SELECT setseed(0.42)",
    """
    INSERT INTO groups (id, name, description, created_at)
    SELECT g, 'Groupe ' || g, '', :now - interval '400 days' FROM generate_series(1, :groups) g
    """,
    """
    INSERT INTO listeners (id, phone, language, language_set_by, name, village, commune, region, consent_at,
                           consent_channel, opted_out, opted_out_at, opted_out_channel, created_at, last_contact_at)
    SELECT i,
           '+2237' || lpad(i::text, 7, '0'),
           CASE WHEN r_lang < 0.45 THEN 'bm' WHEN r_lang < 0.80 THEN 'fr' END,
           CASE WHEN r_lang < 0.60 THEN 'voice' WHEN r_lang < 0.80 THEN 'import' ELSE 'default' END,
           (CAST(:first_names AS text[]))[1 + i % 20] || ' ' || (CAST(:last_names AS text[]))[1 + (i / 20) % 15],
           CASE WHEN i % 97 = 0 THEN ' ' || upper(vname) || ' ' ELSE vname END,
           'Commune ' || (v % :communes),
           (CAST(:regions AS text[]))[1 + (v % :communes) % 5],
           CASE WHEN r_consent < 0.90 THEN created END,
           CASE WHEN r_consent < 0.90 THEN (ARRAY['voice', 'sms', 'agent', 'import'])[1 + i % 4] ELSE '' END,
           r_consent >= 0.85 AND r_consent < 0.90,
           CASE WHEN r_consent >= 0.85 AND r_consent < 0.90 THEN created + interval '30 days' END,
           CASE WHEN r_consent >= 0.85 AND r_consent < 0.90 THEN 'sms' ELSE '' END,
           created,
           created + interval '20 days'
    FROM (
        SELECT i, v, CASE WHEN v = 0 THEN 'Kaniko' ELSE 'Dougou ' || v END AS vname, random() AS r_lang,
               random() AS r_consent, :now - (random() * 700 + 10) * interval '1 day' AS created
        FROM (SELECT i, floor(:villages * power(random(), 2))::int AS v FROM generate_series(1, :listeners) i) s
    ) t
    """,
    """
    INSERT INTO listener_groups (listener_id, group_id)
    SELECT id, 1 + (hashint4(id) & 2147483647) % :groups FROM listeners WHERE id % 10 < 3
    UNION
    SELECT id, 1 + (hashint4(id + 7) & 2147483647) % :groups FROM listeners WHERE id % 20 = 1
    """,
    """
    INSERT INTO consent_events (listener_id, action, channel, at)
    SELECT id, 'consent', consent_channel, consent_at FROM listeners WHERE consent_at IS NOT NULL
    UNION ALL
    SELECT id, 'opt_out', opted_out_channel, opted_out_at FROM listeners WHERE opted_out
    """,
    # lessons touched per listener: floor(12 r^9.6) (mean 1.13, most none); all finished but the last one (60%)
    """
    CREATE TEMP TABLE bench_touch AS
    SELECT l.id AS listener_id, k, k = n - 1 AND random() < 0.4 AS open,
           CASE WHEN k < 6 THEN 'child-labour' ELSE 'money' END AS course_id,
           (ARRAY['what-is-child-labour', 'ages-that-matter', 'dangers-in-gold-mining', 'dangers-in-cotton',
                  'why-school-pays', 'who-to-tell', 'saving-a-little', 'harvest-year-budget', 'savings-group',
                  'borrowing-safely', 'mobile-money-safely', 'school-costs-and-income'])[k + 1] AS lesson_id,
           CASE WHEN random() < 0.12 THEN 2 ELSE 1 END AS attempts,
           floor(random() * 4)::int AS score,
           :now - power(random(), 1.5) * interval '365 days' AS at
    FROM (SELECT id, floor(12 * power(random(), 9.6))::int AS n FROM listeners) l, generate_series(0, l.n - 1) k
    """,
    """
    INSERT INTO lesson_progress (listener_id, course_id, lesson_id, status, bookmark, channel, completed_channel,
                                 score, best_score, total, attempts, started_at, completed_at, updated_at)
    SELECT listener_id, course_id, lesson_id, CASE WHEN open THEN 'in_progress' ELSE 'completed' END,
           CAST(CASE WHEN open THEN '{"chunk": 2}' ELSE '{}' END AS json),
           CASE WHEN k % 3 = 0 THEN 'sms' ELSE 'voice' END,
           CASE WHEN open THEN NULL WHEN k % 3 = 0 THEN 'sms' ELSE 'voice' END,
           CASE WHEN open THEN NULL ELSE score END, CASE WHEN open THEN NULL ELSE score END, 3, attempts,
           at - interval '2 days', CASE WHEN open THEN NULL ELSE at END, at
    FROM bench_touch
    """,
    """
    INSERT INTO lesson_completions (listener_id, course_id, lesson_id, attempt, score, total, channel, completed_at)
    SELECT listener_id, course_id, lesson_id, a, score, 3, CASE WHEN k % 3 = 0 THEN 'sms' ELSE 'voice' END,
           at - (attempts - a) * interval '1 day'
    FROM bench_touch, generate_series(1, attempts) a WHERE NOT open
    """,
    """
    INSERT INTO quiz_answers (listener_id, course_id, lesson_id, question_id, answer, option_key, correct, counted,
                              channel, attempt, answered_at)
    SELECT listener_id, course_id, lesson_id, 'q' || q, (ARRAY['1', '2', '3'])[1 + (q + k) % 3],
           (ARRAY['1', '2', '3'])[1 + (q + k) % 3], q <= score, true, CASE WHEN k % 3 = 0 THEN 'sms' ELSE 'voice' END,
           a, at - (attempts - a) * interval '1 day' + q * interval '1 minute'
    FROM bench_touch, generate_series(1, attempts) a, generate_series(1, 3) q WHERE NOT open OR q < 3
    """,
    "DROP TABLE bench_touch",
    # calls: 1 to 15 path entries (mean 8), listener skewed towards the first ids (older listeners call more)
    """
    INSERT INTO call_sessions (provider, provider_call_id, listener_id, phone, direction, status, provider_status,
                               state, path, duration_seconds, currency, created_at, answered_at, ended_at, updated_at)
    SELECT 'twilio', 'CA' || c, lid, '+2237' || lpad(lid::text, 7, '0'),
           CASE WHEN c % 3 = 0 THEN 'outbound' ELSE 'inbound' END,
           (ARRAY['completed', 'completed', 'completed', 'no_answer', 'busy', 'failed'])[1 + c % 6], '', '{}',
           (SELECT json_agg(json_build_array(to_char(at + s * interval '20 seconds', 'YYYY-MM-DD"T"HH24:MI:SS'),
                                             (CAST(:nodes AS text[]))[1 + (s + c) % 10]))
            FROM generate_series(1, len) s),
           len * 20, '', at, at, at + len * interval '20 seconds', at + len * interval '20 seconds'
    FROM (SELECT c, 1 + floor(:listeners * power(random(), 1.3))::int AS lid, 1 + floor(random() * 15)::int AS len,
                 :now - power(random(), 1.5) * interval '365 days' AS at
          FROM generate_series(1, :calls) c) t
    """,
    """
    INSERT INTO messages (provider, provider_message_id, listener_id, phone, direction, body, status,
                          provider_status, error, encoding, segments, purpose, created_at, updated_at)
    SELECT 'africastalking', 'ATX' || m, lid, '+2237' || lpad(lid::text, 7, '0'),
           CASE WHEN m % 2 = 0 THEN 'outbound' ELSE 'inbound' END,
           CASE WHEN m % 2 = 0 THEN 'Leçon terminée. Bravo ! Pour la suivante, répondez SUIVANT.' ELSE '1' END,
           CASE WHEN m % 2 = 0 THEN 'delivered' ELSE 'received' END, '', '', 'GSM-7', 1,
           CASE WHEN m % 2 = 0 THEN 'reply' ELSE '' END, at, at
    FROM (SELECT m, 1 + floor(:listeners * power(random(), 1.3))::int AS lid,
                 :now - power(random(), 1.5) * interval '365 days' AS at
          FROM generate_series(1, :messages) m) t
    """,
    "SELECT setval(pg_get_serial_sequence('listeners', 'id'), (SELECT max(id) FROM listeners))",
    "SELECT setval(pg_get_serial_sequence('groups', 'id'), (SELECT max(id) FROM groups))",
]


def generate(engine, size: Size) -> dict[str, int]:
    """Fill the (migrated, empty) database; returns the row count of each table."""
    params = {
        "now": NOW,
        "listeners": size.listeners,
        "villages": size.villages,
        "communes": size.communes,
        "groups": size.groups,
        "calls": size.calls,
        "messages": size.messages,
        "regions": list(REGIONS),
        "first_names": list(FIRST_NAMES),
        "last_names": list(LAST_NAMES),
        "nodes": list(NODES),
    }
    with engine.begin() as conn:
        for statement in GENERATION:
            used = {k: v for k, v in params.items() if f":{k}" in statement}
            conn.execute(text(statement), used)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text("RESET statement_timeout"))
        tables = ("listeners", "listener_groups", "consent_events", "lesson_progress", "lesson_completions",
                  "quiz_answers", "call_sessions", "messages")  # fmt: skip
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
        counts["call path entries"] = conn.execute(
            text("SELECT sum(json_array_length(path)) FROM call_sessions")
        ).scalar_one()
    return counts


# --- measuring ---------------------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    who: str
    times_ms: list[float]

    def line(self) -> str:
        t = sorted(self.times_ms)
        p95 = t[max(0, round(0.95 * len(t)) - 1)]
        flag = "  > 300 ms" if p95 > 300 else ""
        return (
            f"  {self.name:<44} {self.who:<14} n={len(t):<3} p50 {statistics.median(t):8.1f}  p95 {p95:8.1f}  "
            f"max {t[-1]:8.1f}{flag}"
        )


def timed(fn: Callable[[int], object]) -> list[float]:
    fn(0)  # warm: the first call pays for compiling the query and the template
    out = []
    for i in range(REQUESTS):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


@dataclass(frozen=True)
class Who:
    label: str
    user_id: int
    email: str


def users(app, size: Size) -> list[Who]:
    from accounts.roles import Role, ScopeKind
    from accounts.service import create_user
    from core.db import db

    with app.app_context():
        admin, _ = create_user("admin@bench.example", Role.ADMIN, NOW, password=PASSWORD)
        village, _ = create_user(
            "village@bench.example", Role.AGENT, NOW, password=PASSWORD,
            scopes=[(ScopeKind.VILLAGE, "Kaniko")],
        )  # fmt: skip
        commune, _ = create_user(
            "commune@bench.example", Role.AGENT, NOW, password=PASSWORD,
            scopes=[(ScopeKind.COMMUNE, "Commune 0")],
        )  # fmt: skip
        db.session.commit()
        return [Who(label, u.id, u.email) for label, u in
                (("admin", admin), ("agent village", village), ("agent commune", commune))]  # fmt: skip


@contextmanager
def signed_in(app, who: Who) -> Iterator:
    from tests.dashboard_support import sign_in

    client = app.test_client()
    response = sign_in(client, who.email, PASSWORD)
    if response.status_code != 302:
        raise SystemExit(f"{who.label} could not sign in: {response.status_code}")
    yield client


def sample_ids(app, who: Who, k: int) -> list[int]:
    """``k`` listener ids in ``who``'s scope, spread over the table."""
    from accounts.models import User
    from accounts.scope import listener_clause
    from core.db import db
    from listeners.models import Listener

    with app.app_context():
        user = db.session.get(User, who.user_id)
        ids = db.session.scalars(
            select(Listener.id).where(listener_clause(user)).order_by(func.random()).limit(k)
        ).all()
        db.session.remove()
        return list(ids)


def page_cases(app) -> list[tuple[str, str, Callable[[int, list[int]], dict]]]:
    """(name, endpoint, i, ids -> url_for arguments): each page with varied parameters."""
    return [
        ("page home", "home.index", lambda i, ids: {}),
        ("page listeners: first page", "listeners.index", lambda i, ids: {}),
        ("page listeners: filtered", "listeners.index",
         lambda i, ids: {"language": ("bm", "fr", "none")[i % 3], "consent": ("active", "never")[i % 2]}),
        ("page listeners: search phone", "listeners.index", lambda i, ids: {"q": f"7{ids[i]:07d}"}),
        ("page listeners: search name", "listeners.index",
         lambda i, ids: {"q": f"{FIRST_NAMES[i % 20]} {LAST_NAMES[i % 15]}"}),
        ("page listeners: later page (keyset)", "listeners.index", lambda i, ids: {"after": ids[i]}),
        ("page record", "listeners.show", lambda i, ids: {"listener_id": ids[i]}),
        ("page completion matrix", "completion.index",
         lambda i, ids: {"course": ("child-labour", "money")[i % 2]}),
    ]  # fmt: skip


def bench_pages(app, people: list[Who]) -> list[Figures]:
    from flask import url_for
    from werkzeug.routing import BuildError

    out = []
    endpoints = set(app.view_functions)
    for name, endpoint, args in page_cases(app):
        if endpoint not in endpoints:
            print(f"  (skipped {name}: no endpoint {endpoint!r} on this branch yet)")
            continue
        for who in people:
            ids = sample_ids(app, who, REQUESTS + 1)
            if not ids:
                continue
            with signed_in(app, who) as client:
                try:
                    with app.test_request_context():
                        urls = [url_for(endpoint, **args(i, ids)) for i in range(min(REQUESTS, len(ids)))]
                except BuildError as exc:
                    print(f"  (skipped {name}: {endpoint!r} takes other arguments: {exc})")
                    break

                def get(i: int, client=client, urls=urls) -> None:
                    response = client.get(urls[i % len(urls)])
                    if response.status_code != 200:
                        raise SystemExit(f"{urls[i % len(urls)]}: {response.status_code}")

                out.append(Figures(name, who.label, timed(get)))
    return out


# --- the queries the pages need, as plain SQLAlchemy --------------------------------------------------------


def query_cases(ids: list[int], middle_id: int) -> list[tuple[str, Callable[[int, object], Select]]]:
    """(name, (i, user) -> a SELECT): what the list, the record, the completion matrix and home run."""
    from accounts.scope import listener_clause
    from dashboard.listing import ListenerFilter, listeners_query
    from ivr.models import CallSession
    from listeners.models import (
        ConsentEvent,
        LessonCompletion,
        LessonProgress,
        Listener,
        ProgressStatus,
        QuizAnswer,
    )
    from sms.models import Message

    lessons = [("child-labour", "what-is-child-labour"), ("child-labour", "dangers-in-cotton"),
               ("money", "saving-a-little"), ("money", "savings-group")]  # fmt: skip

    def listed(**args) -> Callable[[int, object], Select]:
        def build(i: int, user) -> Select:
            values = {k: (v(i) if callable(v) else v) for k, v in args.items()}
            return listeners_query(user, ListenerFilter.from_args(values)).limit(PAGE)

        return build

    def record(model, column, order) -> Callable[[int, object], Select]:
        return lambda i, user: select(model).where(column == ids[i % len(ids)]).order_by(*order).limit(200)

    def matrix(i: int, user) -> Select:
        course = ("child-labour", "money")[i % 2]
        village = func.lower(func.trim(Listener.village))
        return (
            select(village, LessonProgress.lesson_id, func.count())
            .join(Listener, Listener.id == LessonProgress.listener_id)
            .where(
                listener_clause(user),
                LessonProgress.course_id == course,
                LessonProgress.status == ProgressStatus.COMPLETED,
            )
            .group_by(village, LessonProgress.lesson_id)
        )

    def per_village(i: int, user) -> Select:
        village = func.lower(func.trim(Listener.village))
        return select(village, func.count()).where(listener_clause(user)).group_by(village)

    return [
        ("list: first page", listed()),
        ("list: village", listed(village="Kaniko")),
        ("list: group", listed(group=lambda i: str(1 + i % 4))),
        ("list: language", listed(language=lambda i: ("bm", "fr", "none")[i % 3])),
        ("list: consent", listed(consent=lambda i: ("active", "opted_out", "never")[i % 3])),
        ("list: completed lesson X", listed(lesson=lambda i: "/".join(lessons[i % 4]), progress="completed")),
        ("list: not completed lesson X",
         listed(lesson=lambda i: "/".join(lessons[i % 4]), progress="not_completed")),
        ("list: started not finished", listed(progress="started_not_finished")),
        ("list: not started lesson X", listed(lesson=lambda i: "/".join(lessons[i % 4]), progress="not_started")),
        ("list: search phone (exact)", listed(q=lambda i: f"7{ids[i % len(ids)]:07d}")),
        ("list: search phone (last digits)", listed(q=lambda i: f"{ids[i % len(ids)]:07d}"[-5:])),
        ("list: search name", listed(q=lambda i: f"{FIRST_NAMES[i % 20]} {LAST_NAMES[i % 15]}".lower())),
        ("list: search rare text", listed(q=lambda i: f"zz{i}")),
        ("list: later page (keyset)",
         lambda i, user: listeners_query(user, ListenerFilter()).where(Listener.id > middle_id + i * 997).limit(PAGE)),
        ("record: listener", lambda i, user: select(Listener).where(Listener.id == ids[i % len(ids)],
                                                                     listener_clause(user))),
        ("record: progress", record(LessonProgress, LessonProgress.listener_id,
                                    (LessonProgress.course_id, LessonProgress.lesson_id))),
        ("record: quiz answers", record(QuizAnswer, QuizAnswer.listener_id, (QuizAnswer.answered_at,))),
        ("record: completions", record(LessonCompletion, LessonCompletion.listener_id,
                                       (LessonCompletion.completed_at,))),
        ("record: calls", record(CallSession, CallSession.listener_id, (CallSession.created_at.desc(),))),
        ("record: messages", record(Message, Message.listener_id, (Message.created_at.desc(),))),
        ("record: consent events", record(ConsentEvent, ConsentEvent.listener_id, (ConsentEvent.at,))),
        ("matrix: completed by village x lesson", matrix),
        ("matrix: listeners per village", per_village),
    ]  # fmt: skip


def bench_queries(app, people: list[Who], plans: bool) -> list[Figures]:
    from accounts.models import User
    from core.db import db

    out = []
    for who in people:
        ids = sample_ids(app, who, REQUESTS + 1)
        if not ids:
            continue
        with app.app_context():
            user = db.session.get(User, who.user_id)
            middle = sorted(ids)[len(ids) // 2]
            for name, build in query_cases(ids, middle):

                def run(i: int, build=build, user=user) -> None:
                    db.session.execute(build(i, user)).all()

                out.append(Figures(name, who.label, timed(run)))
                if plans:
                    print_plan(f"{name} — {who.label}", build(1, user))
            db.session.remove()
    return out


def print_plan(title: str, query: Select) -> None:
    from core.db import db

    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    rows = db.session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars().all()
    print(f"\n--- {title}\n" + "\n".join(rows))


def bench_baselines(app, people: list[Who]) -> list[Figures]:
    from core.db import db

    client = app.test_client()
    ids = sample_ids(app, people[0], REQUESTS + 1)
    out = [Figures("baseline: GET /healthz (SELECT 1)", "anonymous", timed(lambda i: client.get("/healthz")))]
    with app.app_context():
        out.append(Figures("baseline: SELECT 1", "-", timed(lambda i: db.session.execute(text("SELECT 1")).all())))
        out.append(
            Figures(
                "baseline: SELECT listener by primary key",
                "-",
                timed(lambda i: db.session.execute(text("SELECT * FROM listeners WHERE id = :i"), {"i": ids[i]}).all()),
            )
        )
        db.session.remove()
    return out


def plans_of_home(app, people: list[Who]) -> None:
    """The home page's queries, as the page runs them, with their plans."""
    from accounts.models import User
    from core.db import db
    from dashboard import home

    with app.app_context():
        for who in people:
            user = db.session.get(User, who.user_id)
            for name, query in home.queries(user, NOW):
                print_plan(f"home: {name} — {who.label}", query)
        db.session.remove()


# --- the run -------------------------------------------------------------------------------------------------


def make_bench_app(url: str):
    from tests.conftest import make_app

    app = make_app(url)
    app.config["KALANSO_COURSES_DIR"] = Path(__file__).resolve().parent.parent / "content" / "courses"
    app.config["KALANSO_CLOCK"] = lambda: NOW
    return app


def measure(app, people: list[Who], plans: bool) -> list[Figures]:
    figures = bench_baselines(app, people)
    figures += bench_pages(app, people)
    figures += bench_queries(app, people, plans)
    if plans:
        plans_of_home(app, people)
    return figures


def report(title: str, figures: list[Figures]) -> None:
    print(f"\n== {title} (ms, in-process Flask test client / SQLAlchemy session)")
    for f in figures:
        print(f.line())


def run(url: str, scale: float, plans: bool = False, compare: bool = False, requests: int = 30) -> dict:
    """Migrate, generate, measure; returns the row counts and the figures ("before" with ``compare``, "after")."""
    global REQUESTS
    from flask_migrate import upgrade

    REQUESTS = requests

    size = Size.at(scale)
    app = make_bench_app(url)
    with app.app_context():
        upgrade(revision=BASE_REVISION if compare else "head")
    start = time.perf_counter()
    with app.app_context():
        from core.db import db

        counts = generate(db.engine, size)
    seconds = time.perf_counter() - start
    print(f"generated in {seconds:.0f} s (scale {scale}): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    people = users(app, size)
    results: dict = {"counts": counts}
    if compare:
        results["before"] = measure(app, people, plans)
        report(f"BEFORE this issue's indexes (schema {BASE_REVISION})", results["before"])
        start = time.perf_counter()
        with app.app_context():
            upgrade()
            from core.db import db

            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("SET statement_timeout = 0"))
                conn.execute(text("VACUUM ANALYZE"))
                conn.execute(text("RESET statement_timeout"))
        print(f"\nindexes built and tables analysed in {time.perf_counter() - start:.0f} s")
    results["after"] = measure(app, people, plans)
    report("with this issue's indexes (head)", results["after"])
    with app.app_context():
        from core.db import db

        db.engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1M listeners (default); 0.01 for a quick run")
    parser.add_argument("--plans", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of each query")
    parser.add_argument("--compare", action="store_true", help="measure before this issue's indexes, then after")
    parser.add_argument("--requests", type=int, default=30, help="requests per page and per query (default 30)")
    args = parser.parse_args(argv)
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        print("set TEST_DATABASE_URL to a PostgreSQL server whose user may create databases", file=sys.stderr)
        return 2
    from tests.conftest import new_postgres_database

    random.seed(42)
    with new_postgres_database(server, "kalanso_bench_dash") as url:
        run(url, args.scale, plans=args.plans, compare=args.compare, requests=args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
