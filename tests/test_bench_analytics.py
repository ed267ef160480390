"""bench/analytics.py at a tiny scale on PostgreSQL, so that the generator and the bench cannot rot; and the
SQL-seeded call facts are exactly what ``analytics.facts`` writes from the seeded paths."""

from __future__ import annotations

import pytest

from bench import analytics as bench
from tests.conftest import _require_postgres, new_postgres_database

pytestmark = pytest.mark.postgres


def test_the_analytics_bench_generates_and_measures_at_a_tiny_scale(capsys):
    with new_postgres_database(_require_postgres(), "kalanso_bench_an") as url:
        results = bench.run(url, scale=0.0005, requests=3, check=True)
    out = capsys.readouterr().out

    counts = results["counts"]
    assert counts["listeners"] == 500 and counts["call_sessions"] == 500 and counts["call_facts"] == 500
    assert 500 * 6 <= counts["call path entries"] <= 500 * 14  # ~10 entries a call
    assert counts["deliveries"] == 500 and counts["missed_call_callbacks"] == 50
    assert counts["quiz_answers"] > 300
    # a quarter of the listeners took a pre-test (one in forty twice), an eighth the post-test too
    ids = range(1, 501)
    pre, post, twice = (sum(i % m == 1 for i in ids) for m in (4, 8, 40))
    assert counts["lesson_completions"] == pre + post + 2 * twice  # each of the twice-takers took both tests twice
    assert ("page analytics.learning", "admin") in {(f.name, f.who) for f in results["figures"]}

    measured = {(f.name, f.who) for f in results["figures"]}
    for who in ("admin", "agent village", "agent commune"):
        for name in bench.QUERY_NAMES:
            assert (f"analytics: {name}", who) in measured
    assert ("campaign funnel (every delivery)", "-") in measured and ("baseline: SELECT 1", "-") in measured
    for page in ("page campaigns.show", "page campaigns.progress (polled)", "page campaigns.index"):
        assert (page, "admin") in measured
    assert any(name.startswith("page analytics.") for name, _ in measured)
    assert all(len(f.times_ms) == 3 and min(f.times_ms) > 0 for f in results["figures"])
    assert "analytics: voice_funnel" in out and "measures above 1000 ms p95" in out

    check = results["check"]
    assert check["rebuilt"] == 500
    assert check["before"] == check["after"], "the seeded facts differ from those written from the paths"
    funnel = check["after"][0]
    assert funnel.calls == 500 and 0 < funnel.passed < funnel.completed < funnel.started_lesson < funnel.answered
