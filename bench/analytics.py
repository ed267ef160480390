"""Benchmark: the learning analytics and a campaign's funnel on PostgreSQL at a million listeners.

A throw-away database (``kalanso_bench_an_*``) is migrated to head, then filled **with SQL**
(``INSERT ... SELECT generate_series``): at ``--scale 1`` 1,000,000 listeners in 5 regions, 20 communes and
2,000 villages of skewed sizes (the biggest, "Kaniko", ~22,000 people), 200 groups; 1,000,000 calls whose paths
(``ivr/models.py``'s vocabulary: menus, invalid keys and silences, languages chosen, lessons, chunks, scores)
total about 10,000,000 entries, each with its call fact written from the same drawn values (``--check-facts``
rewrites them with ``analytics.facts.rebuild`` and compares); about 1,300,000 counted quiz answers with their
language; 100,000 missed-call callbacks; one voice campaign with 1,000,000 deliveries in every state.

Server time is measured in-process: each analytics query function of ``analytics.queries`` (the pages of
``dashboard/analytics.py``, when that blueprint is registered on this branch, through the Flask test client
too), ≥ 30 runs with varied filters (none, the last 30 days, a course, a language, a village, a group), for an
admin, an agent scoped to the biggest village and an agent scoped to a commune. The campaign's funnel is
``campaigns.funnel.campaign_funnel`` when that module exists on this branch, else the same GROUP BY over the
campaign's deliveries (status, attempts, completed) that it runs — the report says which. Side by side in the
same run: a bare ``SELECT 1`` and a bare primary-key select.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.analytics
    ... -m bench.analytics --scale 0.01            # a quick run (10,000 listeners)

Prints figures; asserts nothing (``tests/test_bench_analytics.py`` runs it tiny so that it cannot rot).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
REQUESTS = 30
TARGET_MS = 1000
REGIONS = ("Sikasso", "Ségou", "Koulikoro", "Kayes", "Mopti")
PASSWORD = "bench-password-0123"


@dataclass(frozen=True)
class Size:
    listeners: int
    villages: int
    communes: int
    groups: int
    calls: int
    deliveries: int
    callbacks: int

    @classmethod
    def at(cls, scale: float) -> Size:
        n = max(200, int(1_000_000 * scale))
        return cls(
            listeners=n,
            villages=max(20, int(2000 * min(1.0, scale**0.5))),
            communes=20,
            groups=max(4, int(200 * min(1.0, scale**0.5))),
            calls=n,  # ~10 path entries each: 10M at scale 1
            deliveries=n,
            callbacks=max(20, n // 10),
        )


# --- generation (SQL only) ---------------------------------------------------------------------------------

# Every call draws: answered (82%), a new caller (no language yet: 30%), where it ended (stage: 0 the language
# menu, 1 main, 2 courses, 3 lessons, 4 in a lesson, 5 the lesson completed), misses at the menus, detours (0-4
# times: the courses menu, an invalid key there, back to main), the lesson
# (one of the catalog's, in ``bench_lessons``), the chunks heard, the score. The path and the fact both come from
# these values, so the facts are what ``analytics.facts`` would write (``--check-facts`` proves it).
GENERATION = [
    "SET LOCAL statement_timeout = 0",
    "SELECT setseed(0.42)",
    """
    INSERT INTO groups (id, name, description, created_at)
    SELECT g, 'Groupe ' || g, '', :now - interval '400 days' FROM generate_series(1, :groups) g
    """,
    """
    INSERT INTO listeners (id, phone, language, language_set_by, name, village, commune, region, consent_at,
                           consent_channel, opted_out, opted_out_channel, created_at, last_contact_at)
    SELECT i, '+2237' || lpad(i::text, 7, '0'),
           CASE WHEN r_lang < 0.45 THEN 'bm' WHEN r_lang < 0.80 THEN 'fr' END,
           CASE WHEN r_lang < 0.80 THEN 'voice' ELSE '' END,
           'Auditeur ' || i,
           CASE WHEN i % 97 = 0 THEN ' ' || upper(vname) || ' ' ELSE vname END,
           'Commune ' || (v % :communes),
           (CAST(:regions AS text[]))[1 + (v % :communes) % 5],
           created, 'voice', false, '', created, created + interval '20 days'
    FROM (
        SELECT i, v, CASE WHEN v = 0 THEN 'Kaniko' ELSE 'Dougou ' || v END AS vname, random() AS r_lang,
               :now - (random() * 700 + 10) * interval '1 day' AS created
        FROM (SELECT i, floor(:villages * power(random(), 2))::int AS v FROM generate_series(1, :listeners) i) s
    ) t
    """,
    """
    INSERT INTO listener_groups (listener_id, group_id)
    SELECT id, 1 + (hashint4(id) & 2147483647) % :groups FROM listeners WHERE id % 10 < 3
    """,
    """
    CREATE TEMP TABLE bench_calls AS
    SELECT c, lid, at, answered, is_new, provider_cost,
           CASE WHEN stage = 0 AND NOT is_new THEN 1 ELSE stage END AS stage,
           inv_lang, main_to, main_inv, lesson_to, k,
           1 + floor(random() * 3)::int AS pick_lang, floor(random() * 4)::int AS score, r_heard,
           floor(random() * 4.3)::int AS detours
    FROM (
        SELECT c, 1 + floor(:listeners * power(random(), 1.3))::int AS lid,
               :now - power(random(), 1.5) * interval '365 days' AS at,
               random() < 0.82 AS answered, random() < 0.30 AS is_new, random() < 0.3 AS provider_cost,
               (ARRAY[0, 0, 1, 1, 2, 3, 4, 4, 4, 5, 5, 5])[1 + floor(random() * 12)::int] AS stage,
               random() < 0.25 AS inv_lang, random() < 0.3 AS main_to, random() < 0.2 AS main_inv,
               random() < 0.3 AS lesson_to, floor(random() * :lessons)::int AS k, random() AS r_heard
        FROM generate_series(1, :calls) c
    ) t
    """,
    """
    CREATE TEMP TABLE bench_paths AS
    SELECT b.c, b.lid, b.at, b.answered, b.is_new, b.stage, b.inv_lang, b.main_to, b.main_inv, b.lesson_to,
           CASE WHEN b.stage >= 1 THEN b.detours ELSE 0 END AS detours,
           b.provider_cost, l.course_id, l.lesson_id, l.chunks, b.score,
           CASE WHEN b.stage = 5 THEN l.chunks ELSE 1 + floor(b.r_heard * l.chunks)::int END AS heard,
           CASE WHEN b.answered AND b.is_new AND b.stage >= 1 THEN (ARRAY['bm', 'fr', 'bm'])[b.pick_lang]
                ELSE coalesce(li.language, 'fr') END AS lang, b.k,
           CASE WHEN NOT b.answered THEN ARRAY['no_answer'] ELSE
               (CASE WHEN b.is_new THEN ARRAY['language'] ELSE '{}'::text[] END)
               || (CASE WHEN b.is_new AND b.inv_lang THEN ARRAY['!invalid'] ELSE '{}'::text[] END)
               || (CASE WHEN b.stage = 0 THEN ARRAY['!timeout', '!timeout', '!timeout', 'goodbye']
                   ELSE (CASE WHEN b.is_new THEN ARRAY['lang:' || (ARRAY['bm', 'fr', 'bm'])[b.pick_lang]]
                         ELSE '{}'::text[] END) || ARRAY['main'] END)
               || (CASE WHEN b.stage >= 1 AND b.main_inv THEN ARRAY['!invalid'] ELSE '{}'::text[] END)
               || ARRAY(SELECT x FROM generate_series(1, CASE WHEN b.stage >= 1 THEN b.detours ELSE 0 END) d,
                        unnest(ARRAY['courses', '!invalid', 'main']) WITH ORDINALITY u(x, o) ORDER BY d, o)
               || (CASE WHEN b.stage = 1 AND b.main_to THEN ARRAY['!timeout', '!timeout', '!timeout', 'goodbye']
                   ELSE '{}'::text[] END)
               || (CASE WHEN b.stage >= 2 THEN ARRAY['courses'] ELSE '{}'::text[] END)
               || (CASE WHEN b.stage >= 3 THEN ARRAY['lessons'] ELSE '{}'::text[] END)
               || (CASE WHEN b.stage >= 4 THEN ARRAY['lesson', 'lesson:' || l.course_id || '/' || l.lesson_id]
                   ELSE '{}'::text[] END)
               || (CASE WHEN b.stage >= 4 THEN ARRAY(
                       SELECT 'chunk:' || g || '/' || l.chunks
                       FROM generate_series(1, CASE WHEN b.stage = 5 THEN l.chunks
                                                    ELSE 1 + floor(b.r_heard * l.chunks)::int END) g)
                   ELSE '{}'::text[] END)
               || (CASE WHEN b.stage = 4 AND b.lesson_to THEN ARRAY['!timeout', '!timeout', '!timeout', 'goodbye']
                   ELSE '{}'::text[] END)
               || (CASE WHEN b.stage = 5 THEN ARRAY['done:' || b.score || '/3', 'lesson_end'] ELSE '{}'::text[] END)
               || ARRAY['hangup']
           END AS labels
    FROM bench_calls b
    JOIN bench_lessons l ON l.k = b.k
    JOIN listeners li ON li.id = b.lid
    """,
    """
    INSERT INTO call_sessions (id, provider, provider_call_id, listener_id, phone, direction, status,
                               provider_status, state, path, duration_seconds, cost, currency, created_at,
                               answered_at, ended_at, updated_at)
    SELECT c, 'africastalking', 'ATVId_' || c, lid, '+2237' || lpad(lid::text, 7, '0'), 'inbound',
           CASE WHEN answered THEN 'completed' ELSE 'no_answer' END, '', '{}',
           (SELECT json_agg(json_build_array(to_char((at + o * interval '15 seconds') AT TIME ZONE 'UTC',
                                                     'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'), label) ORDER BY o)
            FROM unnest(labels) WITH ORDINALITY u(label, o)),
           CASE WHEN answered THEN cardinality(labels) * 15 END,
           CASE WHEN answered AND provider_cost THEN round(cardinality(labels) * 15 * 2.45, 2) END,
           CASE WHEN answered AND provider_cost THEN 'XOF' ELSE '' END,
           at, CASE WHEN answered THEN at END, at + cardinality(labels) * interval '15 seconds',
           at + cardinality(labels) * interval '15 seconds'
    FROM bench_paths
    """,
    # the facts, from the same values (see analytics.facts.fact_values; NODE_BITS: language 1, main 2,
    # courses 4, lessons 8, lesson 16, lesson_end 32)
    """
    INSERT INTO call_facts (call_session_id, listener_id, started_at, local_day, local_hour, weekday, lang,
                            region_key, commune_key, village_key, direction, entry, status, answered,
                            chose_language, reached_main, started_lesson, completed, passed, course_id, lesson_id,
                            chunks_heard, chunks_total, score, total, first_call, duration_seconds, cost_fcfa,
                            cost_source, nodes_entered, nodes_timed_out, nodes_invalid, exit_node, updated_at)
    SELECT p.c, p.lid, p.at, (p.at AT TIME ZONE :tz)::date, extract(hour FROM p.at AT TIME ZONE :tz)::int,
           extract(isodow FROM p.at AT TIME ZONE :tz)::int - 1, p.lang,
           lower(trim(li.region)), lower(trim(li.commune)), lower(trim(li.village)), 'inbound', 'inbound',
           CASE WHEN p.answered THEN 'completed' ELSE 'no_answer' END, p.answered,
           p.answered AND p.stage >= 1, p.answered AND p.stage >= 1, p.answered AND p.stage >= 4,
           p.answered AND p.stage = 5, p.answered AND p.stage = 5 AND 2 * p.score >= 3,
           CASE WHEN p.answered AND p.stage >= 4 THEN p.course_id ELSE '' END,
           CASE WHEN p.answered AND p.stage >= 4 THEN p.lesson_id ELSE '' END,
           CASE WHEN p.answered AND p.stage >= 4 THEN p.heard ELSE 0 END,
           CASE WHEN p.answered AND p.stage >= 4 THEN p.chunks ELSE 0 END,
           CASE WHEN p.answered AND p.stage = 5 THEN p.score END, CASE WHEN p.answered AND p.stage = 5 THEN 3 END,
           p.answered AND row_number() OVER (PARTITION BY p.lid, p.answered ORDER BY p.at, p.c) = 1,
           CASE WHEN p.answered THEN cardinality(p.labels) * 15 END,
           CASE WHEN NOT p.answered THEN 0 WHEN p.provider_cost THEN round(cardinality(p.labels) * 15 * 2.45, 2)
                ELSE :voice_minute * ceil(cardinality(p.labels) * 15 / 60.0) END,
           CASE WHEN NOT p.answered THEN '' WHEN p.provider_cost THEN 'provider' ELSE 'tariff' END,
           CASE WHEN NOT p.answered THEN 0 ELSE
               (CASE WHEN p.is_new THEN 1 ELSE 0 END) + (CASE WHEN p.stage >= 1 THEN 2 ELSE 0 END)
               + (CASE WHEN p.stage >= 2 OR p.detours > 0 THEN 4 ELSE 0 END)
               + (CASE WHEN p.stage >= 3 THEN 8 ELSE 0 END)
               + (CASE WHEN p.stage >= 4 THEN 16 ELSE 0 END) + (CASE WHEN p.stage = 5 THEN 32 ELSE 0 END) END,
           CASE WHEN NOT p.answered THEN 0 ELSE
               (CASE WHEN p.stage = 0 THEN 1 ELSE 0 END) + (CASE WHEN p.stage = 1 AND p.main_to THEN 2 ELSE 0 END)
               + (CASE WHEN p.stage = 4 AND p.lesson_to THEN 16 ELSE 0 END) END,
           CASE WHEN NOT p.answered THEN 0 ELSE
               (CASE WHEN p.is_new AND p.inv_lang THEN 1 ELSE 0 END)
               + (CASE WHEN p.stage >= 1 AND p.main_inv THEN 2 ELSE 0 END)
               + (CASE WHEN p.detours > 0 THEN 4 ELSE 0 END) END,
           CASE WHEN NOT p.answered THEN ''
                ELSE (ARRAY['language', 'main', 'courses', 'lessons', 'lesson', 'lesson_end'])[p.stage + 1] END,
           :now
    FROM bench_paths p JOIN listeners li ON li.id = p.lid
    """,
    # counted answers: those of the lessons completed on the calls, then ~1 in 3 listeners by SMS (3 each)
    """
    INSERT INTO quiz_answers (listener_id, course_id, lesson_id, question_id, answer, option_key, correct, counted,
                              channel, attempt, answered_at, lang)
    SELECT p.lid, p.course_id, p.lesson_id, q.question_id, '1', '1', q.n <= p.score, true, 'voice', 1,
           p.at + q.n * interval '1 minute', p.lang
    FROM bench_paths p JOIN bench_questions q ON q.k = p.k
    WHERE p.answered AND p.stage = 5
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO quiz_answers (listener_id, course_id, lesson_id, question_id, answer, option_key, correct, counted,
                              channel, attempt, answered_at, lang)
    SELECT li.id, q.course_id, q.lesson_id, q.question_id, '2', '2', random() < 0.3 + 0.2 * q.n, true, 'sms',
           1, :now - power(random(), 1.5) * interval '365 days', coalesce(li.language, 'fr')
    FROM listeners li JOIN bench_questions q ON q.k = li.id % :lessons
    WHERE li.id % 3 = 0
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO missed_call_callbacks (listener_id, phone, provider, status, reason, missed_at, due_at, attempts,
                                       created_at, updated_at)
    SELECT lid, '+2237' || lpad(lid::text, 7, '0'), 'africastalking',
           (ARRAY['placed', 'placed', 'placed', 'skipped', 'failed', 'pending'])[1 + m % 6], '', at,
           at + interval '2 minutes', 0, at, at
    FROM (SELECT m, 1 + floor(:listeners * power(random(), 1.3))::int AS lid,
                 :now - power(random(), 1.5) * interval '365 days' AS at
          FROM generate_series(1, :callbacks) m) t
    """,
    """
    INSERT INTO campaigns (id, name, channel, course_id, lesson_id, message, audience, schedule_kind, schedule,
                           calling_window, blocked_days, max_retries, sms_fallback, state, started_at, created_at,
                           updated_at)
    VALUES (1, 'Bench: la leçon 1 pour tous', 'voice', 'child-labour', 'what-is-child-labour', '{}',
            '{"everyone": true}', 'once', '{"at": "2026-11-20T09:00"}', '', '', 3, false, 'running',
            :now - interval '4 days', :now - interval '5 days', :now)
    """,
    """
    INSERT INTO campaign_runs (id, campaign_id, key, scheduled_for, expanded_at, created_at)
    VALUES (1, 1, 'once', :now - interval '4 days', :now - interval '4 days', :now - interval '4 days')
    """,
    """
    INSERT INTO deliveries (campaign_id, run_id, listener_id, channel, status, due_at, attempts, provider_id, error,
                            fallback_sent, completed_at, created_at, updated_at)
    SELECT 1, 1, 1 + (d - 1) % :listeners, 'voice', status, :now - interval '3 days', attempts, '', '', false,
           CASE WHEN status = 'answered' AND d % 3 = 0 THEN :now - interval '3 days' END,
           :now - interval '4 days', :now - interval '3 days'
    FROM (SELECT d,
                 (ARRAY['answered', 'answered', 'answered', 'answered', 'no_answer', 'busy', 'failed', 'pending',
                        'pending', 'sending', 'opted_out', 'cancelled'])[1 + floor(random() * 12)::int] AS status,
                 floor(random() * 4)::int AS attempts
          FROM generate_series(1, :deliveries) d) t
    """,
    # the courses' pre-tests and post-tests (the learning tab): a quarter of the listeners took a course's pre-test,
    # an eighth its post-test too, one in forty took each twice (the second run must not count)
    """
    INSERT INTO lesson_completions (listener_id, course_id, lesson_id, attempt, score, total, channel, completed_at)
    SELECT li.id, t.course_id, t.lesson_id, a.attempt,
           least(t.total, floor(random() * (t.total + 1))::int + CASE WHEN t.lesson_id = 'post-test' THEN 2 ELSE 0 END),
           t.total, 'sms',
           :now - (CASE WHEN t.lesson_id = 'pre-test' THEN 60 ELSE 0 END + li.id % 300) * interval '1 day'
                + a.attempt * interval '1 hour'
    FROM listeners li
    JOIN (SELECT l.course_id, l.lesson_id, count(*) AS total, dense_rank() OVER (ORDER BY l.course_id) - 1 AS c
          FROM bench_lessons l JOIN bench_questions q ON q.k = l.k
          WHERE l.lesson_id IN ('pre-test', 'post-test')
          GROUP BY l.course_id, l.lesson_id) t
      ON t.c = li.id % (SELECT greatest(1, count(DISTINCT course_id)) FROM bench_lessons WHERE lesson_id = 'pre-test')
    CROSS JOIN (VALUES (1), (2)) a(attempt)
    WHERE li.id % 4 = 1 AND (t.lesson_id = 'pre-test' OR li.id % 8 = 1) AND (a.attempt = 1 OR li.id % 40 = 1)
    """,
    "DROP TABLE bench_paths",
    "DROP TABLE bench_calls",
    "SELECT setval(pg_get_serial_sequence('listeners', 'id'), (SELECT max(id) FROM listeners))",
    "SELECT setval(pg_get_serial_sequence('groups', 'id'), (SELECT max(id) FROM groups))",
    "SELECT setval(pg_get_serial_sequence('call_sessions', 'id'), (SELECT max(id) FROM call_sessions))",
    "SELECT setval(pg_get_serial_sequence('campaigns', 'id'), 1)",
    "SELECT setval(pg_get_serial_sequence('campaign_runs', 'id'), 1)",
]


def catalog_rows() -> tuple[list[dict], list[dict]]:
    """The shipped catalog's lessons (k, course, lesson, chunks) and questions (k, n, question)."""
    from content.loader import COURSES_DIR, load_catalog
    from content.model import Chunk

    lessons, questions = [], []
    for course in load_catalog(COURSES_DIR):
        for lesson in course.lessons:
            k = len(lessons)
            chunks = sum(isinstance(item, Chunk) for item in lesson.items)
            lessons.append({"k": k, "course_id": course.id, "lesson_id": lesson.id, "chunks": chunks})
            for n, question in enumerate(lesson.questions, start=1):
                questions.append(
                    {"k": k, "n": n, "course_id": course.id, "lesson_id": lesson.id, "question_id": question.id}
                )
    return lessons, questions


def generate(engine, size: Size, tz: str, voice_minute=75) -> dict[str, int]:
    """Fill the (migrated, empty) database; returns the row count of each table. ``voice_minute``: the
    africastalking tariff (FCFA a started minute) the facts of calls without a provider cost are priced at."""
    lessons, questions = catalog_rows()
    params = {
        "now": NOW,
        "tz": tz,
        "voice_minute": voice_minute,
        "listeners": size.listeners,
        "villages": size.villages,
        "communes": size.communes,
        "groups": size.groups,
        "calls": size.calls,
        "deliveries": size.deliveries,
        "callbacks": size.callbacks,
        "regions": list(REGIONS),
        "lessons": len(lessons),
    }
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE bench_lessons (k int, course_id text, lesson_id text, chunks int)"))
        conn.execute(
            text("CREATE TEMP TABLE bench_questions (k int, n int, course_id text, lesson_id text, question_id text)")
        )
        conn.execute(text("INSERT INTO bench_lessons VALUES (:k, :course_id, :lesson_id, :chunks)"), lessons)
        conn.execute(
            text("INSERT INTO bench_questions VALUES (:k, :n, :course_id, :lesson_id, :question_id)"), questions
        )
        for statement in GENERATION:
            used = {k: v for k, v in params.items() if f":{k}" in statement}
            conn.execute(text(statement), used)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET statement_timeout = 0"))
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text("RESET statement_timeout"))
        tables = ("listeners", "listener_groups", "call_sessions", "call_facts", "quiz_answers",
                  "missed_call_callbacks", "deliveries", "lesson_completions")  # fmt: skip
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

    @property
    def p95(self) -> float:
        t = sorted(self.times_ms)
        return t[max(0, round(0.95 * len(t)) - 1)]

    def line(self) -> str:
        t = sorted(self.times_ms)
        flag = f"  > {TARGET_MS} ms" if self.p95 > TARGET_MS else ""
        return (
            f"  {self.name:<46} {self.who:<14} n={len(t):<3} p50 {statistics.median(t):8.1f}  p95 {self.p95:8.1f}  "
            f"max {t[-1]:8.1f}{flag}"
        )


def timed(fn: Callable[[int], object]) -> list[float]:
    fn(0)  # warm: the first call pays for compiling the query
    out = []
    for i in range(REQUESTS):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def users(app) -> list[tuple[str, int]]:
    from accounts.roles import Role, ScopeKind
    from accounts.service import create_user
    from core.db import db

    with app.app_context():
        admin, _ = create_user("admin@bench.example", Role.ADMIN, NOW, password=PASSWORD)
        village, _ = create_user("village@bench.example", Role.AGENT, NOW, password=PASSWORD,
                                 scopes=[(ScopeKind.VILLAGE, "Kaniko")])  # fmt: skip
        commune, _ = create_user("commune@bench.example", Role.AGENT, NOW, password=PASSWORD,
                                 scopes=[(ScopeKind.COMMUNE, "Commune 0")])  # fmt: skip
        db.session.commit()
        return [("admin", admin.id), ("agent village", village.id), ("agent commune", commune.id)]


def filter_cases():
    """Varied filters, one per run: none, the last 30 days, a course, a language, a village, a group, a week."""
    from analytics.queries import Filters

    today = NOW.date()
    cases = [
        Filters(),
        Filters(start=today - timedelta(days=30), end=today),
        Filters(course_id="money"),
        Filters(language="bm"),
        Filters(village="Dougou 3"),
        Filters(group_id=7),
        Filters(start=today - timedelta(days=7), end=today, course_id="child-labour", language="fr"),
        Filters(start=date(2026, 1, 1), end=date(2026, 6, 30), commune="Commune 5"),
    ]
    return lambda i: cases[i % len(cases)]


QUERY_NAMES = ("voice_funnel", "node_dropoff", "question_results", "listening", "calls_by_hour", "new_vs_returning",
               "callbacks", "costs", "learning")  # fmt: skip


def bench_queries(app, people) -> list[Figures]:
    from accounts.models import User
    from analytics import queries
    from core.db import db

    pick = filter_cases()
    out = []
    with app.app_context():
        for who, user_id in people:
            user = db.session.get(User, user_id)
            for name in QUERY_NAMES:
                fn = getattr(queries, name)
                out.append(Figures(f"analytics: {name}", who, timed(lambda i, fn=fn, user=user: fn(pick(i), user))))
        db.session.remove()
    return out


def bench_pages(app, people) -> list[Figures]:
    """The analytics pages through the test client, when ``dashboard/analytics.py`` is registered on this branch."""
    from tests.dashboard_support import sign_in

    endpoints = sorted(e for e in app.view_functions if e.startswith("analytics.") and "export" not in e)
    if not endpoints:
        print("  (no analytics pages on this branch: the query functions are measured directly)")
        return []
    from flask import url_for

    out = []
    emails = {"admin": "admin@bench.example", "agent village": "village@bench.example",
              "agent commune": "commune@bench.example"}  # fmt: skip
    for who, _ in people:
        client = app.test_client()
        if sign_in(client, emails[who], PASSWORD).status_code != 302:
            raise SystemExit(f"{who} could not sign in")
        for endpoint in endpoints:
            try:
                with app.test_request_context():
                    url = url_for(endpoint)
            except Exception as exc:  # an endpoint that needs arguments: not a page of its own
                print(f"  (skipped {endpoint}: {exc})")
                continue
            starts = ["", "?start=2026-10-25&end=2026-11-24", "?course_id=money", "?language=bm"]

            def get(i: int, client=client, url=url, starts=starts) -> None:
                response = client.get(url + starts[i % len(starts)])
                if response.status_code != 200:
                    raise SystemExit(f"{url}: {response.status_code}")

            out.append(Figures(f"page {endpoint}", who, timed(get)))
    return out


def bench_campaign(app) -> tuple[str, list[Figures]]:
    """The campaign page's funnel: ``campaigns.funnel.campaign_funnel`` if present, else its GROUP BY."""
    from campaigns.models import Campaign, Delivery
    from core.db import db

    try:
        from campaigns.funnel import campaign_funnel  # type: ignore[import-not-found]
    except ImportError:
        campaign_funnel = None
    with app.app_context():
        campaign = db.session.get(Campaign, 1)
        if campaign_funnel is not None:
            how = "campaigns.funnel.campaign_funnel"

            def run(i: int) -> None:
                campaign_funnel(campaign)
        else:
            how = "GROUP BY (status, attempts, completed) over the campaign's deliveries (no campaigns.funnel yet)"
            query = (
                select(Delivery.status, Delivery.attempts, Delivery.completed_at.is_(None), func.count())
                .where(Delivery.campaign_id == 1)
                .group_by(Delivery.status, Delivery.attempts, Delivery.completed_at.is_(None))
            )

            def run(i: int) -> None:
                db.session.execute(query).all()

        figures = [Figures("campaign funnel (every delivery)", "-", timed(run))]
        db.session.remove()
    figures += bench_campaign_pages(app)
    return how, figures


def bench_campaign_pages(app) -> list[Figures]:
    """The campaign pages (``dashboard/campaigns.py``) of the million-delivery campaign, through the test client,
    signed in as the admin: the page (funnel, first page of deliveries, optionally filtered), the funnel fragment
    it polls every 3 s, and the campaigns list."""
    if "campaigns.show" not in app.view_functions:
        print("  (no campaign pages on this branch)")
        return []
    from tests.dashboard_support import sign_in

    client = app.test_client()
    if sign_in(client, "admin@bench.example", PASSWORD).status_code != 302:
        raise SystemExit("admin could not sign in")
    pages = {
        "page campaigns.show": ["/dashboard/campaigns/1", "/dashboard/campaigns/1?status=no_answer",
                                "/dashboard/campaigns/1?attempts=2", "/dashboard/campaigns/1?place=kaniko"],
        "page campaigns.progress (polled)": ["/dashboard/campaigns/1/progress"],
        "page campaigns.index": ["/dashboard/campaigns/"],
    }  # fmt: skip
    out = []
    for label, urls in pages.items():

        def get(i: int, urls=urls) -> None:
            response = client.get(urls[i % len(urls)])
            if response.status_code != 200:
                raise SystemExit(f"{urls[i % len(urls)]}: {response.status_code}")

        out.append(Figures(label, "admin", timed(get)))
    return out


def bench_baselines(app) -> list[Figures]:
    from core.db import db

    with app.app_context():
        out = [
            Figures("baseline: SELECT 1", "-", timed(lambda i: db.session.execute(text("SELECT 1")).all())),
            Figures(
                "baseline: SELECT call fact by primary key",
                "-",
                timed(lambda i: db.session.execute(text("SELECT * FROM call_facts WHERE id = :i"), {"i": 1 + i}).all()),
            ),
        ]
        db.session.remove()
    return out


def check_facts(app) -> dict[str, object]:
    """Rewrite every fact with ``analytics.facts.rebuild`` (the Python summary of each path) and compare the
    funnel and drop-off with the SQL-seeded facts: they must be identical."""
    from accounts.models import User
    from analytics import facts, queries
    from core.db import db

    with app.app_context():
        admin = db.session.scalars(select(User).filter_by(email="admin@bench.example")).one()
        everyone = queries.Filters()
        before = (queries.voice_funnel(everyone, admin), queries.node_dropoff(everyone, admin),
                  queries.listening(everyone, admin), queries.costs(everyone, admin),
                  queries.new_vs_returning(everyone, admin))  # fmt: skip
        rebuilt = facts.rebuild(NOW)
        admin = db.session.get(User, admin.id)
        after = (queries.voice_funnel(everyone, admin), queries.node_dropoff(everyone, admin),
                 queries.listening(everyone, admin), queries.costs(everyone, admin),
                 queries.new_vs_returning(everyone, admin))  # fmt: skip
        db.session.remove()
    return {"rebuilt": rebuilt, "same": before == after, "before": before, "after": after}


# --- the run -------------------------------------------------------------------------------------------------


def make_bench_app(url: str):
    from tests.conftest import make_app

    app = make_app(url)
    app.config["KALANSO_COURSES_DIR"] = Path(__file__).resolve().parent.parent / "content" / "courses"
    app.config["KALANSO_CLOCK"] = lambda: NOW
    return app


def run(url: str, scale: float, requests: int = 30, check: bool = False) -> dict:
    """Migrate, generate, measure; returns the row counts and the figures."""
    global REQUESTS
    from flask_migrate import upgrade

    REQUESTS = requests
    size = Size.at(scale)
    app = make_bench_app(url)
    with app.app_context():
        upgrade()
    start = time.perf_counter()
    with app.app_context():
        from core.db import db

        settings = app.config["KALANSO"]
        counts = generate(db.engine, size, settings.timezone, settings.tariffs["africastalking"]["voice_minute"])
    print(f"generated in {time.perf_counter() - start:.0f} s (scale {scale}): "
          + ", ".join(f"{k} {v:,}" for k, v in counts.items()))  # fmt: skip
    people = users(app)
    figures = bench_baselines(app)
    how, campaign = bench_campaign(app)
    figures += campaign
    figures += bench_queries(app, people)
    figures += bench_pages(app, people)
    print(f"\n== analytics at scale {scale} (ms, in-process; the campaign funnel is {how})")
    for f in figures:
        print(f.line())
    slow = [f for f in figures if f.p95 > TARGET_MS]
    print(f"\n{len(slow)} of {len(figures)} measures above {TARGET_MS} ms p95")
    results: dict = {"counts": counts, "figures": figures, "campaign_funnel": how}
    if check:
        results["check"] = check_facts(app)
        print(f"facts rebuilt from the paths: {results['check']['rebuilt']:,}; "
              f"identical to the seeded ones: {results['check']['same']}")  # fmt: skip
    with app.app_context():
        from core.db import db

        db.engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1M listeners (default); 0.01 for a quick run")
    parser.add_argument("--requests", type=int, default=30, help="runs per query (default 30)")
    parser.add_argument(
        "--check-facts", action="store_true", help="then rebuild every fact from its path and compare (slow at scale 1)"
    )
    args = parser.parse_args(argv)
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        print("set TEST_DATABASE_URL to a PostgreSQL server whose user may create databases", file=sys.stderr)
        return 2
    from tests.conftest import new_postgres_database

    random.seed(42)
    with new_postgres_database(server, "kalanso_bench_an") as url:
        run(url, args.scale, requests=args.requests, check=args.check_facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
