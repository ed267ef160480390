"""Crash test: SMS replies and a 10,000-listener SMS campaign in the outbox, sender processes killed (SIGKILL)
at random moments and restarted, against a fake Twilio server reached through the real twilio SDK. At the
end every listener got exactly their messages: 0 duplicates, 0 missed, 0 rows left in flight after
reconcile. On SQLite with one sender at a time, and on the real PostgreSQL with two senders at once.

The senders are real ``flask sender run`` processes; time is fixed with ``--now``. Each round lets the
senders start sending (under load they take a moment to start) before pulling the plug at a random moment.
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

from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.models import Delivery, DeliveryStatus
from campaigns.ports import SmsPort
from campaigns.service import change_state, upsert_from_definition
from content.loader import load_catalog
from core.config import ROOT
from core.db import db
from core.events import IncomingSms
from core.outbox import OutboxItem
from listeners.models import Listener
from sms.service import handle_incoming
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
REPLIES = 500  # listeners who also text the line (each gets one reply)
NOW = "2026-11-24T10:00:00+00:00"
LATER = "2026-11-24T10:30:00+00:00"  # reconcile: claims older than two minutes are stuck
CAMPAIGN_TEXT = "Le quiz de la semaine : repondez QUIZ."


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def crash_database(request, tmp_path):
    """(database URL, how many senders run at once)."""
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


def _prepare(url: str, server: FakeProviderServer) -> dict[str, int]:
    """Listeners, texts waiting for their replies, and the campaign handed to the outbox. The replies' texts."""
    app = make_app(url, SMS_PROVIDER="twilio", TWILIO_API_BASE_URL=server.base_url)
    now = datetime.fromisoformat(NOW)
    with app.app_context():
        db.session.execute(
            insert(Listener),
            [
                {"phone": _phone(n), "language": "fr", "name": "", "village": "", "commune": "", "region": "",
                 "consent_channel": "import", "consent_at": now, "opted_out": False, "opted_out_channel": "",
                 "created_at": now}
                for n in range(LISTENERS)
            ],
        )  # fmt: skip
        replies: dict[str, int] = Counter()
        for n in range(REPLIES):  # the webhook's work: each text recorded with its reply in the outbox
            for message in handle_incoming(IncomingSms("twilio", _phone(n), "AIDE", f"SMin{n:030d}"), now):
                replies[message.body] += 1
        db.session.commit()
        settings = app.config["KALANSO"]
        campaign = upsert_from_definition(
            {"name": "crash", "channel": "sms", "message": {"fr": CAMPAIGN_TEXT, "bm": "QUIZ ci."},
             "audience": "everyone", "schedule": {"kind": "once", "at": "2026-11-24T10:00"}},
            load_catalog(FIXTURE_COURSES), settings, now,
        )  # fmt: skip
        change_state(campaign, "schedule", now)
        expand_due(settings, now)
        db.session.commit()
        assert dispatch_due(SmsPort(settings, lambda: now), settings, lambda: now).queued == LISTENERS
        db.session.remove()
        db.engine.dispose()
    return dict(replies)


def _env(url: str, server: FakeProviderServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "AT_", "SMS_", "VOICE_"))}
    env.update(BASE_CONFIG)
    env.update(DATABASE_URL=url, FLASK_APP="app", SMS_PROVIDER="twilio", TWILIO_API_BASE_URL=server.base_url)
    return env


def _flask(env, *args, **kwargs):
    return [sys.executable, "-m", "flask", *args], dict(cwd=ROOT, env=env, **kwargs)


def _outbox(url: str) -> Counter:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).all()
    engine.dispose()
    return Counter({str(s): n for s, n in rows})


def _deliveries(url: str) -> Counter:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    engine.dispose()
    return Counter({DeliveryStatus(s).value: n for s, n in rows})


def _wait_for_a_send(server: FakeProviderServer, before: int, procs, timeout: float = 60.0) -> None:
    """Under load a sender takes a moment to start: kill it only once it is really sending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        if len(server.store.messages) > before:
            return
        time.sleep(0.02)


def test_killed_senders_never_send_twice_and_never_drop_anyone(crash_database):
    url, senders = crash_database
    rng = random.Random(20261124)
    kills = 0
    reconciled: Counter = Counter()
    with FakeProviderServer() as server:
        reply_texts = _prepare(url, server)
        env = _env(url, server)
        for _round in range(80):
            counts = _outbox(url)
            if counts["pending"] == 0 and counts["sending"] == 0:
                break
            before = len(server.store.messages)
            procs = []
            for _ in range(senders):
                cmd, kw = _flask(
                    env, "sender", "run", "--now", NOW, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                procs.append(subprocess.Popen(cmd, **kw))
            _wait_for_a_send(server, before, procs)
            time.sleep(rng.uniform(0.0, 1.5))  # let them work, then pull the plug at a random moment
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                proc.wait(timeout=30)
            cmd, kw = _flask(env, "sender", "reconcile", "--now", LATER, capture_output=True, text=True, timeout=300)
            done = subprocess.run(cmd, **kw)
            assert done.returncode == 0, done.stderr[-2000:]
            reconciled.update(ast.literal_eval(done.stdout.strip().split("reconciled: ", 1)[1]))
        received = Counter((m["to"], m["body"]) for m in server.store.messages)
    counts = _outbox(url)
    duplicates = {key: n for key, n in received.items() if n > 1}
    campaign_missed = [n for n in range(LISTENERS) if (_phone(n), CAMPAIGN_TEXT) not in received]
    replies_received = Counter(body for (to, body) in received if body != CAMPAIGN_TEXT)
    print(f"\n{senders} sender(s), {kills} kills: {sum(received.values())} messages received, "
          f"{len(duplicates)} duplicates, {len(campaign_missed)} campaign messages missed, outbox {dict(counts)}, "
          f"reconciled {dict(reconciled)}")  # fmt: skip
    assert kills >= 3, "the senders finished before any was killed: nothing was tested"
    assert duplicates == {}
    assert campaign_missed == []
    assert dict(replies_received) == reply_texts  # every reply, once
    assert counts == Counter({"sent": LISTENERS + REPLIES})  # nothing stranded, nothing unknown
    assert _deliveries(url) == Counter({"queued": LISTENERS})
