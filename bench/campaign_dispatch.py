"""Benchmark: campaign deliveries handed to the provider per second, and peak memory.

A one-off SMS campaign to N listeners is expanded and dispatched in this process against the fake
provider server (tests/fake_provider.py), run in a separate process on 127.0.0.1 so that its record
of every message does not count in our memory, through the real SDKs: Africa's Talking (many
recipients per request) and Twilio (one request per message). Prints figures; asserts nothing.

    .venv/bin/python -m bench.campaign_dispatch                      # 10k and 100k, both providers
    .venv/bin/python -m bench.campaign_dispatch --sizes 10000 --providers africastalking
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
        .venv/bin/python -m bench.campaign_dispatch --db postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from campaigns.dispatch import Pacer, dispatch_due
from campaigns.expand import expand_due
from campaigns.models import Delivery, DeliveryStatus
from campaigns.ports import SmsPort
from campaigns.service import change_state, upsert_from_definition
from content.loader import load_catalog
from core.db import db
from listeners.models import Listener
from tests.conftest import FIXTURE_COURSES, make_app, migrate_to_head, new_postgres_database

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.sqlite3'}"
    else:
        with new_postgres_database(os.environ["TEST_DATABASE_URL"], "kalanso_bench") as url:
            yield url


@contextmanager
def fake_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_provider", "--port", str(port)], stdout=subprocess.PIPE)
    try:
        proc.stdout.readline()  # "fake provider on ..." once it listens
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_one(kind: str, provider: str, size: int, workdir: Path) -> dict:
    with database(kind, workdir) as url:
        migrate_to_head(url)
        with fake_server() as base_url:
            app = make_app(url)
            field = "twilio_api_base_url" if provider == "twilio" else "at_api_base_url"
            settings = replace(
                app.config["KALANSO"], sms_provider=provider, sms_rate_per_second=1e9, **{field: base_url}
            )
            app.config["KALANSO"] = settings
            with app.app_context():
                rows = [
                    {"phone": f"+2237{n:07d}", "language": "fr", "name": "", "village": "", "commune": "",
                     "region": "", "consent_channel": "import", "opted_out": False, "opted_out_channel": "",
                     "created_at": NOW}
                    for n in range(size)
                ]  # fmt: skip
                for start in range(0, size, 10_000):
                    db.session.execute(insert(Listener), rows[start : start + 10_000])
                del rows
                campaign = upsert_from_definition(
                    {"name": "bench", "channel": "sms", "message": {"fr": "Quiz : répondez QUIZ.", "bm": "QUIZ ci."},
                     "schedule": {"kind": "once", "at": "2026-11-24T10:00"}},
                    load_catalog(FIXTURE_COURSES), settings, NOW,
                )  # fmt: skip
                change_state(campaign, "schedule", NOW)
                db.session.commit()

                started = time.perf_counter()
                expand_due(settings, NOW)
                db.session.commit()
                expand_seconds = time.perf_counter() - started

                port = SmsPort(settings, lambda: NOW)
                pacer = Pacer(1e9, clock=lambda: 0.0, sleep=lambda s: None)
                tracemalloc.start()
                started = time.perf_counter()
                handed = 0
                while True:
                    report = dispatch_due(port, settings, lambda: NOW, limit=2000, pacer=pacer)
                    handed += report.handed
                    db.session.expunge_all()
                    if report.claimed == 0:
                        break
                seconds = time.perf_counter() - started
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                queued = db.session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENT]))
                )
                db.session.remove()
                db.engine.dispose()
            with urllib.request.urlopen(f"{base_url}/_stats", timeout=30) as response:
                stats = json.load(response)
            received, requests = stats["distinct"], sum(stats["requests"].values())
        return {
            "db": kind,
            "provider": provider,
            "listeners": size,
            "expand_s": expand_seconds,
            "dispatch_s": seconds,
            "per_second": handed / seconds if seconds else 0.0,
            "handed": handed,
            "queued": queued,
            "received": received,
            "requests": requests,
            "peak_mib": peak / 2**20,
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--providers", default="africastalking,twilio")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"{'db':<11}{'provider':<15}{'listeners':>10}{'expand s':>10}{'dispatch s':>12}{'deliv/s':>10}"
          f"{'requests':>10}{'peak MiB':>10}{'maxrss MiB':>12}  check")  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:
        for size in (int(s) for s in args.sizes.split(",")):
            for provider in args.providers.split(","):
                r = run_one(args.db, provider, size, Path(workdir))
                ok = "ok" if r["received"] == r["handed"] == r["queued"] == size else "MISMATCH"
                print(f"{r['db']:<11}{r['provider']:<15}{r['listeners']:>10}{r['expand_s']:>10.2f}"
                      f"{r['dispatch_s']:>12.1f}{r['per_second']:>10.0f}{r['requests']:>10}{r['peak_mib']:>10.1f}"
                      f"{r['maxrss_mib']:>12.0f}  {ok}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
