"""bench/studio.py at a tiny size on PostgreSQL, so that the filling and the measuring cannot rot."""

from __future__ import annotations

import pytest

from bench import studio as bench
from tests.conftest import _require_postgres, new_postgres_database

pytestmark = pytest.mark.postgres


def test_the_studio_bench_fills_and_measures(capsys):
    with new_postgres_database(_require_postgres(), "kalanso_bench_studio") as url:
        results = bench.run(url, takes=2, requests=3)
    out = capsys.readouterr().out

    counts = results["counts"]
    assert counts["texts"] > 300 and counts["fallback counts"] == counts["texts"]
    assert counts["recordings"] == 2 * counts["current recordings"]  # two takes each: one current, one history
    measured = {(f.name, f.who) for f in results["figures"]}
    for who in ("admin", "reviewer"):
        for name in ("baseline: /healthz (one SELECT 1)", "page coverage (both languages)", "page a text (varied)",
                     "page print view (Bambara, missing)"):  # fmt: skip
            assert (name, who) in measured
    assert ("line: 30 lines, studio map read", "-") in measured and ("baseline: SELECT 1", "-") in measured
    assert all(len(f.times_ms) == 3 and min(f.times_ms) > 0 for f in results["figures"])
    assert "== the content studio" in out
