"""bench/dashboard.py at a tiny scale on PostgreSQL, so that the generator and the bench cannot rot."""

from __future__ import annotations

import pytest

from bench import dashboard as bench
from tests.conftest import _require_postgres, new_postgres_database

pytestmark = pytest.mark.postgres


def test_the_dashboard_bench_generates_and_measures_at_a_tiny_scale(capsys):
    with new_postgres_database(_require_postgres(), "kalanso_bench_dash") as url:
        results = bench.run(url, scale=0.0002, plans=True, compare=True, requests=3)
    out = capsys.readouterr().out

    counts = results["counts"]
    assert counts["listeners"] == 200
    assert counts["call_sessions"] == 250 and 250 <= counts["call path entries"] <= 250 * 15
    assert counts["messages"] == 400
    assert counts["consent_events"] > 150  # ~90% gave consent, ~5% opted out since
    assert counts["lesson_completions"] >= counts["lesson_progress"] * 0.5  # most touched lessons were finished
    assert counts["quiz_answers"] >= counts["lesson_completions"] * 2  # 3 answers per finished attempt

    for phase in ("before", "after"):
        measured = {(f.name, f.who) for f in results[phase]}
        for who in ("admin", "agent village", "agent commune"):
            for name in ("page home", "list: first page", "list: search name", "record: calls",
                         "matrix: completed by village x lesson"):  # fmt: skip
                assert (name, who) in measured
        assert ("baseline: SELECT 1", "-") in measured
        assert all(len(f.times_ms) == 3 and min(f.times_ms) > 0 for f in results[phase])

    assert "BEFORE this issue's indexes" in out and "with this issue's indexes (head)" in out
    assert "--- home: active this week — agent commune" in out
    queries = len(bench.query_cases([1], 1)) + 5  # the list, record and matrix queries; the home page's five
    assert out.count("Execution Time") == 2 * 3 * queries  # each plan, with --plans: per phase and per user
