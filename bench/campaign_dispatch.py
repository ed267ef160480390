"""Benchmark: a campaign from its delivery rows to the provider — recipients handed over per second, and peak
memory — through the real dispatcher (deliveries → outbox) and the real sender (outbox → provider).

The fake provider (tests/fake_provider.py) runs in its own process on 127.0.0.1 with a latency per request,
and is reached through the real SDKs: Twilio (one message per request) and Africa's Talking (up to 100
recipients of one text per request). Each measured run is a fresh subprocess (its own database, its own peak
memory); the dispatcher and the sender run in it as two threads, as the scheduler and sender processes would.
Side by side in the same run: the **ceiling of the fake provider alone** (the same SDK calls from the same
number of threads, no database). Prints figures; asserts nothing.

    .venv/bin/python -m bench.campaign_dispatch                       # throughput: Twilio and AT
    .venv/bin/python -m bench.campaign_dispatch --memory              # peak memory, 10k, 100k, 1M, no latency
    .venv/bin/python -m bench.campaign_dispatch --providers twilio --concurrency 64
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
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
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
# provider: (recipients, latency ms, configured rate per second, requests in flight) for the throughput runs.
# Twilio: a short code's 100 MPS; at 300 ms a request, 100/s needs 30 requests in flight, so 48.
# Africa's Talking publishes no rate: 2,000 recipients/s, 100 per request, 1 s a request.
THROUGHPUT = {"twilio": (3000, 300, 100, 48), "africastalking": (30000, 1000, 2000, 32)}


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    from tests.conftest import new_postgres_database

    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.sqlite3'}"
    else:
        with new_postgres_database(os.environ["TEST_DATABASE_URL"], "kalanso_bench") as url:
            yield url


@contextmanager
def fake_server(latency_ms: float) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.fake_provider", "--port", str(port), "--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        proc.stdout.readline()  # "fake provider on ..." once it listens
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _stats(base_url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/_stats", timeout=30) as response:
        return json.load(response)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_run(kind: str, provider: str, size: int, latency_ms: float, rate: float, concurrency: int) -> dict:
    """Everything of one measured run, in this (fresh) process."""
    from sqlalchemy import func, insert, select

    from campaigns.dispatch import dispatch_due
    from campaigns.expand import expand_due
    from campaigns.ports import SmsPort
    from campaigns.service import change_state, upsert_from_definition
    from content.loader import load_catalog
    from core.db import db
    from core.outbox import OutboxItem, OutboxStatus
    from listeners.models import Listener
    from sender.loop import Sender
    from tests.conftest import FIXTURE_COURSES, make_app, migrate_to_head

    with (
        tempfile.TemporaryDirectory() as workdir,
        database(kind, Path(workdir)) as url,
        fake_server(latency_ms) as base,
    ):
        migrate_to_head(url)
        app = make_app(url)
        field = "twilio_api_base_url" if provider == "twilio" else "at_api_base_url"
        settings = replace(
            app.config["KALANSO"],
            sms_provider=provider,
            sms_rate_per_second=rate,
            sender_concurrency=concurrency,
            **{field: base},
        )
        app.config["KALANSO"] = settings
        with app.app_context():
            for start in range(0, size, 20_000):
                db.session.execute(
                    insert(Listener),
                    [
                        {"phone": f"+2237{n:07d}", "language": "fr", "name": "", "village": "", "commune": "",
                         "region": "", "consent_channel": "import", "consent_at": NOW, "opted_out": False,
                         "opted_out_channel": "", "created_at": NOW}
                        for n in range(start, min(size, start + 20_000))
                    ],
                )  # fmt: skip
            campaign = upsert_from_definition(
                {"name": "bench", "channel": "sms", "message": {"fr": "Quiz : répondez QUIZ.", "bm": "QUIZ ci."},
                 "audience": "everyone", "schedule": {"kind": "once", "at": "2026-11-24T10:00"}},
                load_catalog(FIXTURE_COURSES), settings, NOW,
            )  # fmt: skip
            change_state(campaign, "schedule", NOW)
            db.session.commit()
            started = time.perf_counter()
            expand_due(settings, NOW)
            db.session.commit()
            expand_seconds = time.perf_counter() - started
            db.session.remove()

            rss_before = _rss_mib()
            peak = {"rss": rss_before}
            failures = {"dispatch": 0}
            stop = threading.Event()

            def dispatcher() -> None:  # the scheduler's dispatch job, back to back; like it, a failure waits
                with app.app_context():  # for the next round (SQLite: the write lock was busy for too long)
                    port = SmsPort(settings, lambda: NOW)
                    while not stop.is_set():
                        try:
                            report = dispatch_due(port, settings, lambda: NOW, budget_seconds=1.5)
                        except Exception:
                            db.session.rollback()
                            failures["dispatch"] += 1
                            continue
                        finally:
                            db.session.remove()
                        if report.claimed == 0:
                            stop.wait(0.2)

            def sample() -> None:
                while not stop.is_set():
                    peak["rss"] = max(peak["rss"], _rss_mib())
                    stop.wait(0.2)

            sender = Sender(app, clock=lambda: NOW)
            threads = [threading.Thread(target=dispatcher), threading.Thread(target=sample)]
            sending = threading.Thread(target=sender.run, args=(stop,))
            started = time.perf_counter()
            for thread in [*threads, sending]:
                thread.start()
            first_sent = None
            while True:
                time.sleep(0.5)
                with db.engine.connect() as conn:
                    sent = conn.execute(
                        select(func.count()).select_from(OutboxItem).where(OutboxItem.status == OutboxStatus.SENT)
                    ).scalar_one()
                if sent and first_sent is None:
                    first_sent = time.perf_counter()
                if sent >= size:
                    break
            seconds = time.perf_counter() - started
            stop.set()
            for thread in [*threads, sending]:
                thread.join(timeout=120)
            stats = _stats(base)
            db.session.remove()
            db.engine.dispose()
    return {
        "db": kind,
        "provider": provider,
        "recipients": size,
        "latency_ms": latency_ms,
        "rate": rate,
        "concurrency": concurrency,
        "expand_s": expand_seconds,
        "seconds": seconds,
        "per_second": size / seconds,
        "steady_per_second": size / (time.perf_counter() - first_sent) if first_sent else 0.0,
        "received": stats["distinct"],
        "messages": stats["messages"],
        "requests": sum(stats["requests"].values()),
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak["rss"],
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "dispatch_retries": failures["dispatch"],
    }


def ceiling(provider: str, latency_ms: float, concurrency: int, seconds: float = 5.0) -> float:
    """Recipients per second the fake provider takes from the same SDK calls, with no database: the most
    any sender could reach here."""
    from tests.conftest import BASE_CONFIG

    with fake_server(latency_ms) as base:
        if provider == "twilio":
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            class Rebased(TwilioHttpClient):
                def request(self, method, url, *args, **kwargs):
                    return super().request(method, url.replace("https://api.twilio.com", base, 1), *args, **kwargs)

            local = threading.local()

            def one(n: int) -> int:
                client = getattr(local, "client", None)
                if client is None:
                    client = local.client = Client(
                        BASE_CONFIG["TWILIO_ACCOUNT_SID"], BASE_CONFIG["TWILIO_AUTH_TOKEN"], http_client=Rebased()
                    )
                client.messages.create(to=f"+2237{n:07d}", from_="+15005550006", body="Quiz : répondez QUIZ.")
                return 1

        else:
            from africastalking.SMS import SMSService

            def one(n: int) -> int:
                service = SMSService("sandbox", "test-at-key")
                service._baseUrl = service._contentUrl = f"{base}/version1"
                service.send("Quiz : répondez QUIZ.", [f"+2237{n * 100 + k:07d}" for k in range(100)])
                return 100

        done = 0
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            n = 0
            while time.perf_counter() < deadline:
                done += sum(pool.map(one, range(n, n + concurrency)))
                n += concurrency
        return done / (time.perf_counter() - started)


def _subprocess_run(*args: str) -> dict:
    command = [sys.executable, "-m", "bench.campaign_dispatch", "--one", *args]
    out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--providers", default="twilio,africastalking")
    parser.add_argument("--concurrency", type=int, default=None, help="requests in flight (default: per provider)")
    parser.add_argument("--memory", action="store_true", help="peak memory at 10k, 100k and 1M, no latency")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="with --memory")
    parser.add_argument("--one", nargs=6, metavar=("DB", "PROVIDER", "SIZE", "LATENCY", "RATE", "CONCURRENCY"))
    args = parser.parse_args()
    if args.one:  # a measured run, in its own process
        kind, provider, size, latency, rate, concurrency = args.one
        print(json.dumps(one_run(kind, provider, int(size), float(latency), float(rate), int(concurrency))))
        return
    import logging

    logging.disable(logging.WARNING)
    print(f"{'db':<11}{'provider':<15}{'recipients':>11}{'latency':>9}{'rate':>8}{'conc':>6}{'expand s':>9}"
          f"{'send s':>8}{'recip/s':>9}{'steady/s':>9}{'ceiling/s':>10}{'requests':>10}{'rss0 MiB':>9}"
          f"{'peak MiB':>9}  check")  # fmt: skip
    runs = []
    for provider in args.providers.split(","):
        size, latency, rate, concurrency = THROUGHPUT[provider]
        concurrency = args.concurrency or concurrency
        if args.memory:
            for size in (int(s) for s in args.sizes.split(",")):
                runs.append((provider, size, 0.0, 100_000.0, concurrency))
        else:
            runs.append((provider, size, float(latency), float(rate), concurrency))
    for provider, size, latency, rate, concurrency in runs:
        r = _subprocess_run(args.db, provider, str(size), str(latency), str(rate), str(concurrency))
        top = ceiling(provider, latency, concurrency)
        ok = "ok" if r["received"] == r["messages"] == size else "MISMATCH"
        print(f"{r['db']:<11}{provider:<15}{size:>11}{latency:>7.0f}ms{rate:>8.0f}{concurrency:>6}"
              f"{r['expand_s']:>9.2f}{r['seconds']:>8.1f}{r['per_second']:>9.0f}{r['steady_per_second']:>9.0f}"
              f"{top:>10.0f}{r['requests']:>10}{r['rss_before_mib']:>9.0f}{r['peak_rss_mib']:>9.0f}  {ok}"
              + (f" ({r['dispatch_retries']} dispatch rounds retried)" if r["dispatch_retries"] else ""),
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
