"""Crash test: a 10,000-listener SMS campaign, dispatchers killed (SIGKILL) at random moments and
restarted, against a fake Twilio server reached through the real twilio SDK. At the end every
listener got exactly one message: 0 duplicates, 0 missed. On SQLite with one dispatcher at a time,
and on the real PostgreSQL with two dispatchers at once.

The dispatchers are real ``flask campaigns dispatch`` processes; time is fixed with ``--now``.
"""

from __future__ import annotations

import ast
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import create_engine, func, insert, select

from campaigns.models import Delivery, DeliveryStatus
from campaigns.service import change_state, upsert_from_definition
from content.loader import load_catalog
from core.config import ROOT
from core.db import db
from listeners.models import Listener
from tests.conftest import (
    BASE_CONFIG,
    FIXTURE_COURSES,
    _require_postgres,
    make_app,
    migrate_to_head,
    new_postgres_database,
)
from tests.fake_provider import FakeProviderServer

LISTENERS = 10_000
NOW = "2026-11-24T10:00:00+00:00"
LATER = "2026-11-24T10:30:00+00:00"  # reconcile: claims older than two minutes are stuck


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def crash_database(request, tmp_path):
    """(database URL, how many dispatchers run at once)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
        migrate_to_head(url)
        yield url, 1
        return
    with new_postgres_database(_require_postgres(), "kalanso_crash") as url:
        migrate_to_head(url)
        yield url, 2


def _phone(n: int) -> str:
    return f"+2237{n:07d}"


def _prepare(url: str) -> None:
    app = make_app(url)
    with app.app_context():
        now = datetime.fromisoformat(NOW)
        db.session.execute(
            insert(Listener),
            [
                {
                    "phone": _phone(n),
                    "language": "fr",
                    "name": "",
                    "village": "",
                    "commune": "",
                    "region": "",
                    "consent_channel": "import",
                    "opted_out": False,
                    "opted_out_channel": "",
                    "created_at": now,
                }
                for n in range(LISTENERS)
            ],
        )
        campaign = upsert_from_definition(
            {
                "name": "crash",
                "channel": "sms",
                "message": {"fr": "Le quiz de la semaine : répondez QUIZ.", "bm": "Dɔgɔkun ɲininkaliw: QUIZ ci."},
                "schedule": {"kind": "once", "at": "2026-11-24T10:00"},
            },
            load_catalog(FIXTURE_COURSES),
            app.config["KALANSO"],
            now,
        )
        change_state(campaign, "schedule", now)
        db.session.commit()
        db.engine.dispose()


def _env(url: str, server: FakeProviderServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "AT_", "SMS_", "VOICE_"))}
    env.update(BASE_CONFIG)
    env.update(
        DATABASE_URL=url,
        FLASK_APP="app",
        SMS_PROVIDER="twilio",
        TWILIO_API_BASE_URL=server.base_url,
        SMS_RATE_PER_SECOND="10000",
    )
    return env


def _flask(env, *args, **kwargs):
    return [sys.executable, "-m", "flask", *args], dict(cwd=ROOT, env=env, **kwargs)


def _counts(url: str) -> Counter:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    engine.dispose()
    return Counter({DeliveryStatus(s).value: n for s, n in rows})


def test_killed_dispatchers_never_send_twice_and_never_drop_anyone(crash_database):
    url, dispatchers = crash_database
    _prepare(url)
    rng = random.Random(20261124)
    kills = 0
    reconciled: Counter = Counter()
    with FakeProviderServer() as server:
        env = _env(url, server)
        cmd, kw = _flask(env, "campaigns", "expand", "--now", NOW, capture_output=True, text=True, timeout=120)
        assert subprocess.run(cmd, **kw).returncode == 0
        assert sum(_counts(url).values()) == LISTENERS
        for _round in range(60):
            counts = _counts(url)
            if counts["pending"] == 0 and counts["sending"] == 0:
                break
            procs = []
            for _ in range(dispatchers):
                cmd, kw = _flask(env, "campaigns", "dispatch", "--now", NOW, "--channel", "sms", "--limit", "400",
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                procs.append(subprocess.Popen(cmd, **kw))
            time.sleep(rng.uniform(1.0, 3.0))  # let them work, then pull the plug at a random moment
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                proc.wait(timeout=30)
            cmd, kw = _flask(env, "campaigns", "reconcile", "--now", LATER, "--channel", "sms",
                             capture_output=True, text=True, timeout=300)  # fmt: skip
            done = subprocess.run(cmd, **kw)
            assert done.returncode == 0, done.stderr[-2000:]
            reconciled.update(ast.literal_eval(done.stdout.strip().split("sms: ", 1)[1]))
        received = server.store.message_counts()
    counts = _counts(url)
    duplicates = {phone: n for phone, n in received.items() if n > 1}
    missed = [n for n in range(LISTENERS) if _phone(n) not in received]
    print(f"\n{dispatchers} dispatcher(s), {kills} kills: {sum(received.values())} messages received, "
          f"{len(duplicates)} duplicates, {len(missed)} missed, deliveries {dict(counts)}, "
          f"reconciled {dict(reconciled)}")  # fmt: skip
    assert kills >= 2, "the dispatchers finished before any was killed: nothing was tested"
    assert duplicates == {}
    assert missed == []
    assert counts == Counter({"queued": LISTENERS})
