"""Benchmark: the listener export (CSV and XLSX) at 10k, 100k and 1M rows — rows per second and peak memory —
through the real route (``/dashboard/exports/listeners.<fmt>``, Flask's test client, a manager signed in), side by
side with a bare baseline: the same columns read by a plain ``SELECT`` with a server-side cursor, nothing written.

The listeners are generated with SQL (``generate_series``) into a throw-away PostgreSQL database: 10,000 of them
in the village "Dix", 100,000 (those included) in the group "Cent", 1,000,000 in all; the 10k, 100k and 1M
exports are then ``?village=Dix``, ``?group=<Cent>`` and no filter. Each measured run is a fresh subprocess, so
its peak RSS (``ru_maxrss``) is its own; the response body is read chunk by chunk and thrown away, as a slow
client would read it. Prints figures; asserts nothing. Flat memory means the peak hardly moves from 10k to 1M.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.exports
    ... -m bench.exports --sizes 10000,100000 --modes csv,bare      # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SIZES = (10_000, 100_000, 1_000_000)
MODES = ("bare", "csv", "xlsx")
FILTERS = {10_000: "village=Dix", 100_000: "group={group}", 1_000_000: ""}


def generate(url: str, total: int) -> int:
    """``total`` listeners, the first 10k in "Dix", the first 100k in the group "Cent"; returns the group's id."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO listeners (phone, language, language_set_by, name, village, commune, region,
                                       consent_at, consent_channel, opted_out, opted_out_channel, created_at)
                SELECT '+2237' || lpad(g::text, 7, '0'),
                       CASE WHEN g % 3 = 0 THEN 'fr' WHEN g % 3 = 1 THEN 'bm' END,
                       'import',
                       CASE WHEN g % 97 = 0 THEN '=HYPERLINK("x")' ELSE 'Auditeur ' || g END,
                       CASE WHEN g <= 10000 THEN 'Dix' ELSE 'Village ' || (g % 2000) END,
                       'Commune ' || (g % 300), 'Sikasso',
                       timestamptz '2026-11-01 09:00+00' + (g || ' seconds')::interval, 'import',
                       g % 50 = 0, '', timestamptz '2026-10-01 09:00+00'
                FROM generate_series(1, :total) AS g
                """
            ),
            {"total": total},
        )
        group = conn.execute(text("INSERT INTO groups (name, description, created_at) "
                                  "VALUES ('Cent', '', now()) RETURNING id")).scalar_one()  # fmt: skip
        conn.execute(
            text("INSERT INTO listener_groups (listener_id, group_id) SELECT id, :g FROM listeners WHERE id <= 100000"),
            {"g": group},
        )
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return group


def peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM; ``ru_maxrss`` would count the parent's too, kept over exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(url: str, mode: str, size: int, group: int) -> dict:
    """One measured run in this process: the export (or the bare loop) of ``size`` rows."""
    from sqlalchemy import create_engine, text

    start_rss = peak_rss_kb()
    if mode == "bare":
        engine = create_engine(url)
        t0 = time.perf_counter()
        rows = 0
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=1000).execute(
                text(
                    "SELECT id, phone, name, village, commune, region, language, consent_at, opted_out, "
                    "created_at, last_contact_at FROM listeners WHERE id <= :n ORDER BY id"
                ),
                {"n": size},
            )
            for _row in result:
                rows += 1
        seconds, size_bytes = time.perf_counter() - t0, 0
    else:
        from accounts import service
        from accounts.roles import Role
        from core.db import db
        from tests.conftest import NOW, make_app
        from tests.dashboard_support import PASSWORD, sign_in

        app = make_app(url)
        app.config["KALANSO_CLOCK"] = lambda: NOW
        with app.app_context():
            service.create_user(f"bench-{mode}-{size}@example.org", Role.MANAGER, NOW, password=PASSWORD)
            db.session.commit()
            client = app.test_client()
            sign_in(client, f"bench-{mode}-{size}@example.org")
            start_rss = peak_rss_kb()
            query = FILTERS[size].format(group=group)
            t0 = time.perf_counter()
            answer = client.get(f"/dashboard/exports/listeners.{mode}?{query}", buffered=False)
            assert answer.status_code == 200, answer.status_code
            size_bytes = 0
            for chunk in answer.response:
                size_bytes += len(chunk)
            answer.close()
            seconds = time.perf_counter() - t0
            rows = size
            db.engine.dispose()
    peak = peak_rss_kb()
    return {"mode": mode, "rows": rows, "seconds": seconds, "bytes": size_bytes, "start_kb": start_rss, "peak_kb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", nargs=4, metavar=("URL", "MODE", "SIZE", "GROUP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, mode, size, group = args.child
        print(json.dumps(child(url, mode, int(size), int(group))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    if not set(sizes) <= set(FILTERS):
        parser.error(f"sizes among {sorted(FILTERS)}")
    from tests.conftest import migrate_to_head, new_postgres_database

    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        sys.exit("TEST_DATABASE_URL is not set (a PostgreSQL server whose user may create databases)")
    with new_postgres_database(server, "kalanso_bench") as url:
        migrate_to_head(url)
        t0 = time.perf_counter()
        group = generate(url, max(SIZES))
        print(f"generated {max(SIZES):,} listeners in {time.perf_counter() - t0:.1f} s")
        print(f"{'rows':>10} {'mode':>5} {'seconds':>8} {'rows/s':>9} {'MB out':>7} {'RSS before':>10} {'peak RSS':>9}")
        for size in sizes:
            for mode in modes:
                out = subprocess.run(
                    [sys.executable, "-m", "bench.exports", "--child", url, mode, str(size), str(group)],
                    capture_output=True,
                    text=True,
                )
                if out.returncode:
                    sys.exit(f"{mode} {size}: failed\n{out.stderr[-3000:]}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"{r['rows']:>10,} {mode:>5} {r['seconds']:>8.2f} {r['rows'] / r['seconds']:>9,.0f} "
                    f"{r['bytes'] / 1e6:>7.1f} {r['start_kb'] / 1024:>8.0f}MB {r['peak_kb'] / 1024:>7.0f}MB",
                    flush=True,
                )


if __name__ == "__main__":
    main()
