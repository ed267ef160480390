"""The sender: what it claims first, how it shares, how fast it goes, and what it does after a crash.

Rows are written with the outbox API, claimed with the sender's own statements, and sent through the
simulator or the real SDKs against a fake provider server on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core.db import db
from core.outbox import OutboxItem, OutboxStatus, enqueue_sms
from core.vocabulary import Channel, MessageStatus, Purpose
from listeners.models import Listener
from sender import claim as claims
from sender.buckets import DatabaseBucket, RedisBucket
from sender.lanes import MAX_ATTEMPTS
from sender.loop import Sender
from sms import outbound
from sms.models import Message
from tests.conftest import NOW, send_outbox
from tests.fake_provider import FakeProviderServer


def _row(listener, body="Bonjour", purpose=Purpose.REPLY, campaign_id=None, provider="local"):
    return enqueue_sms(
        listener_id=listener.id, phone=listener.phone, body=body, provider=provider, purpose=purpose, now=NOW,
        campaign_id=campaign_id,
    )  # fmt: skip


def _claim(limit, provider="local", token="t"):
    rows = claims.claim(db.session, Channel.SMS, provider, limit, token, NOW)
    db.session.commit()
    return rows


def _campaign(name: str) -> int:
    from campaigns.models import Campaign, ScheduleKind

    campaign = Campaign(name=name, channel=Channel.SMS, schedule_kind=ScheduleKind.ONCE, created_at=NOW, updated_at=NOW)
    db.session.add(campaign)
    db.session.flush()
    return campaign.id


# --- order ----------------------------------------------------------------------------------------


def test_replies_go_before_callbacks_before_campaign_bulk(backend, app, make_listener):
    bulk = _campaign("bulk")
    people = [make_listener() for _ in range(30)]
    for person in people[:20]:
        _row(person, purpose=Purpose.CAMPAIGN, campaign_id=bulk)
    callback = _row(people[20], purpose=Purpose.CALLBACK)
    reply = _row(people[21], purpose=Purpose.REPLY)
    db.session.commit()
    assert [r.id for r in _claim(1)] == [reply.id]
    assert [r.id for r in _claim(1)] == [callback.id]
    assert all(r.purpose == Purpose.CAMPAIGN for r in _claim(5))


def test_each_campaign_gets_a_fair_share(backend, app, make_listener):
    big, small = _campaign("big"), _campaign("small")
    for _ in range(50):
        _row(make_listener(), purpose=Purpose.CAMPAIGN, campaign_id=big)
    for _ in range(4):
        _row(make_listener(), purpose=Purpose.CAMPAIGN, campaign_id=small)
    db.session.commit()
    first = _claim(10)
    by_campaign = {c: sum(r.campaign_id == c for r in first) for c in (big, small)}
    assert by_campaign == {big: 6, small: 4}  # the small one is not starved; what it cannot use goes to the big one
    assert len(_claim(100)) == 44


def test_one_listener_gets_their_texts_one_at_a_time_and_in_order(backend, app, make_listener):
    person, other = make_listener(), make_listener()
    first, second, third = (_row(person, body=f"part {n}") for n in (1, 2, 3))
    _row(other)
    db.session.commit()
    claimed = _claim(10)
    assert sorted(r.body for r in claimed) == ["Bonjour", "part 1"]  # not part 2 while part 1 is in flight
    assert _claim(10) == []
    first_row = db.session.get(OutboxItem, first.id)
    first_row.status = OutboxStatus.SENT
    db.session.commit()
    assert [r.id for r in _claim(10)] == [second.id]
    db.session.execute(update(OutboxItem).where(OutboxItem.id == second.id).values(status=OutboxStatus.FAILED))
    db.session.commit()
    assert [r.id for r in _claim(10)] == [third.id]


def test_a_later_reply_does_not_wait_for_campaign_texts_to_the_same_listener(backend, app, make_listener):
    person = make_listener()
    _row(person, purpose=Purpose.CAMPAIGN, campaign_id=_campaign("c"))
    reply = _row(person, purpose=Purpose.REPLY)
    db.session.commit()
    assert [r.id for r in _claim(1)] == [reply.id]


# --- consent --------------------------------------------------------------------------------------


def test_consent_is_checked_in_the_claim_and_orphans_are_cancelled(backend, app, make_listener):
    person = make_listener()
    early = outbound.prepare(person, "Leçon du jour", NOW, purpose=Purpose.CAMPAIGN)
    confirmation = outbound.prepare(person, "Arrêt confirmé", NOW, purpose=Purpose.OPT_OUT_CONFIRMATION)
    db.session.commit()
    # opted out behind the outbox's back (as a transaction racing the STOP would leave it): no cancel ran
    db.session.execute(update(Listener).where(Listener.id == person.id).values(opted_out=True))
    db.session.commit()
    assert [r.message_id for r in _claim(10)] == [confirmation.id]  # only the confirmation may go
    counts = Sender(app, inline=True, clock=lambda: NOW).reconcile(NOW)
    assert counts["cancelled"] == 1
    db.session.expire_all()
    assert (db.session.get(Message, early.id).status, db.session.get(Message, early.id).error) == (
        MessageStatus.FAILED,
        outbound.OPTED_OUT,
    )


# --- rate -----------------------------------------------------------------------------------------


@pytest.fixture(params=["database", "redis"])
def bucket(request, app):
    if request.param == "database":
        yield DatabaseBucket(db.engine)
        return
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("TEST_REDIS_URL is not set, and CI requires the Redis tests")
        pytest.skip("TEST_REDIS_URL is not set: Redis bucket tests skipped (e.g. redis://127.0.0.1:6379/15)")
    store = RedisBucket(url, prefix=f"kalanso-test:{os.getpid()}:{time.monotonic_ns()}:")
    yield store
    store.reset()


def test_a_bucket_grants_at_its_rate_and_gives_back_what_was_unused(bucket):
    assert bucket.take("sms:twilio", 25, rate=10, burst=10, now=100.0).granted == 10  # a full bucket: the burst
    empty = bucket.take("sms:twilio", 5, rate=10, burst=10, now=100.0)
    assert (empty.granted, round(empty.wait_seconds, 3)) == (0, 0.1)
    assert bucket.take("sms:twilio", 25, rate=10, burst=10, now=100.5).granted == 5
    bucket.refund("sms:twilio", 3, burst=10)
    assert bucket.take("sms:twilio", 25, rate=10, burst=10, now=100.5).granted == 3
    assert bucket.take("sms:twilio", 25, rate=10, burst=10, now=99.0).granted == 0  # a clock behind: no gift
    assert bucket.take("voice:twilio", 5, rate=1, burst=1, now=100.5).granted == 1  # another lane, its own bucket
    # a batching provider waits for a request's worth (100) rather than send a few at a time
    assert bucket.take("sms:africastalking", 300, rate=1000, burst=1000, now=100.0).granted == 300
    assert bucket.take("sms:africastalking", 1000, rate=1000, burst=1000, now=100.0).granted == 700
    few = bucket.take("sms:africastalking", 1000, rate=1000, burst=1000, now=100.03, least=100)
    assert (few.granted, round(few.wait_seconds, 3)) == (0, 0.07)  # 30 tokens: wait for 100
    assert bucket.take("sms:africastalking", 1000, rate=1000, burst=1000, now=100.1, least=100).granted == 100


def test_two_senders_share_one_rate(backend, app):
    """Two processes' buckets on one store: together they keep the rate."""
    one, two = DatabaseBucket(db.engine), DatabaseBucket(db.engine)
    granted = 0
    for tick in range(20):  # two seconds, every tenth of a second, each asking for more than it may have
        moment = 50.0 + tick / 10
        granted += one.take("sms:local", 50, rate=20, burst=20, now=moment).granted
        granted += two.take("sms:local", 50, rate=20, burst=20, now=moment).granted
    assert granted == 20 + 19 * 2  # the first burst, then 20 a second, however many ask


def test_the_sender_claims_no_more_than_its_tokens(backend, app, make_listener):
    app.config["KALANSO"] = replace(app.config["KALANSO"], sms_rate_per_second=5)
    for _ in range(12):
        _row(make_listener())
    db.session.commit()
    fake = {"now": 1000.0}
    sender = Sender(
        app, inline=True, clock=lambda: NOW, bucket_clock=lambda: fake["now"], monotonic=lambda: fake["now"]
    )
    sender.step()
    sender.step()
    assert sender.report.claimed == 5  # the burst: one second's worth
    fake["now"] += 1.0
    sender.step()
    assert sender.report.claimed == 10
    assert db.session.scalar(select(func.count()).select_from(OutboxItem).filter_by(status="pending")) == 2


# --- a provider that cannot be reached --------------------------------------------------------------


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"  # nobody listens there once closed


def test_a_provider_that_cannot_be_reached_is_tried_again_later_then_given_up(backend, app, make_listener):
    app.config["KALANSO"] = replace(app.config["KALANSO"], twilio_api_base_url=_closed_port())
    person = make_listener()
    message = outbound.prepare(person, "Bonjour", NOW, purpose=Purpose.REPLY, provider="twilio")
    db.session.commit()
    report = send_outbox(app)
    assert (report.sent, report.failed, report.requeued) == (0, 0, 1)
    row = db.session.scalars(select(OutboxItem)).one()
    assert (row.status, row.attempts, row.due_at) == (OutboxStatus.PENDING, 1, NOW + timedelta(seconds=10))
    assert row.error.startswith("unreachable: ")
    for attempt in range(2, MAX_ATTEMPTS + 1):
        send_outbox(app, NOW + timedelta(hours=attempt))
    db.session.expire_all()
    row = db.session.scalars(select(OutboxItem)).one()
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert db.session.get(Message, message.id).status == MessageStatus.FAILED


# --- after a crash ----------------------------------------------------------------------------------


def test_a_provider_that_cannot_be_asked_leaves_an_interrupted_send_unknown(backend, app, make_listener):
    """Africa's Talking has no look-up of sent messages, and no provider one of calls: never resent blindly."""
    from ivr.outbound import start_call

    person = make_listener()
    message = outbound.prepare(person, "Bonjour", NOW, purpose=Purpose.REPLY, provider="africastalking")
    db.session.commit()
    assert len(_claim(10, provider="africastalking", token="dead")) == 1
    call = start_call(person, {"entry": "menu"}, NOW, provider="twilio")
    db.session.commit()
    assert len(claims.claim(db.session, Channel.VOICE, "twilio", 10, "dead", NOW)) == 1
    db.session.commit()  # ... and the sender dies
    sender = Sender(app, inline=True, clock=lambda: NOW)
    assert sender.reconcile(NOW + timedelta(minutes=1))["unknown"] == 0  # too early: it may still be sending
    assert sender.reconcile(NOW + timedelta(minutes=5))["unknown"] == 2
    db.session.expire_all()
    assert {r.status for r in db.session.scalars(select(OutboxItem))} == {OutboxStatus.UNKNOWN}
    assert db.session.get(Message, message.id).error == outbound.UNKNOWN
    assert db.session.get(type(call), call.id).provider_status == "unknown"
    assert send_outbox(app, NOW + timedelta(minutes=6)).claimed == 0


def test_reconcile_asks_the_simulator_what_it_received(backend, app, make_listener):
    from providers.local import sms as local_sms

    person = make_listener()
    outbound.prepare(person, "Bonjour", NOW, purpose=Purpose.REPLY)
    db.session.commit()
    sender = Sender(app, inline=True, clock=lambda: NOW)
    [row] = _claim(10, token="dead")
    state = sender._state(Channel.SMS, "local")
    local_sms.OUTBOX.clear()
    state.lane.send([row])  # the request went through, the sender died before recording it
    counts = sender.reconcile(NOW + timedelta(minutes=5))
    assert (counts["recorded"], counts["requeued"]) == (1, 0)
    assert len(local_sms.OUTBOX) == 1 and send_outbox(app, NOW + timedelta(minutes=6)).claimed == 0


# --- several senders, and waking up -----------------------------------------------------------------


@pytest.fixture
def pg_app(postgres_migrated):
    """The app on the real PostgreSQL only (what these tests are about does not exist on SQLite)."""
    from tests.conftest import _truncate_all, make_app

    app = make_app(postgres_migrated)
    with app.app_context():
        yield app
        db.session.remove()
        _truncate_all(app)
        db.engine.dispose()


def _listeners(count: int) -> list[Listener]:
    people = [Listener(phone=f"+2237500{n:04d}", created_at=NOW) for n in range(count)]
    db.session.add_all(people)
    db.session.flush()
    return people


@pytest.mark.postgres
def test_two_senders_claiming_at_once_take_disjoint_rows(pg_app):
    app = pg_app
    for person in _listeners(200):
        _row(person, purpose=Purpose.CAMPAIGN)
    db.session.commit()
    taken: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def sender(n: int) -> None:
        with app.app_context():
            barrier.wait()
            for _ in range(20):
                rows = claims.claim(db.session, Channel.SMS, "local", 10, f"s{n}", NOW)
                db.session.commit()
                taken[n] += [r.id for r in rows]
            db.session.remove()

    threads = [threading.Thread(target=sender, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(taken[0]).isdisjoint(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(r.id for r in db.session.scalars(select(OutboxItem)))


@pytest.mark.postgres
def test_a_commit_that_adds_rows_wakes_a_sleeping_sender_at_once(pg_app):
    """NOTIFY is delivered at the commit: a sender polling every 10 minutes sends within moments."""
    from core import outbox

    app = pg_app
    person_id = _listeners(1)[0].id
    db.session.commit()
    stop = threading.Event()
    sender = Sender(app, clock=lambda: NOW, poll_seconds=600)
    running = threading.Thread(target=sender.run, args=(stop,))
    running.start()
    try:
        time.sleep(0.5)  # it has looked, found nothing, and sleeps
        generation = outbox.work_generation()
        with app.app_context():  # as another process would: a new session, its own commit
            _row(db.session.get(Listener, person_id))
            db.session.commit()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _status_of_all() != {OutboxStatus.SENT}:
            time.sleep(0.05)
        assert _status_of_all() == {OutboxStatus.SENT}
        assert outbox.work_generation() > generation
    finally:
        stop.set()
        running.join(timeout=30)


def _status_of_all() -> set:
    with db.engine.connect() as conn:
        return {row[0] for row in conn.execute(select(OutboxItem.status))}


def test_flask_sender_run_once_and_reconcile(app, runner, make_listener):
    person = make_listener()
    outbound.prepare(person, "Bonjour", NOW, purpose=Purpose.REPLY)
    db.session.commit()
    result = runner.invoke(args=["sender", "run", "--once", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert "sent 1, failed 0, cancelled 0 (claimed 1)" in result.output
    result = runner.invoke(args=["sender", "reconcile", "--now", NOW.isoformat()])
    assert "reconciled: {'recorded': 0, 'requeued': 0, 'unknown': 0, 'cancelled': 0}" in result.output
    assert runner.invoke(args=["sender", "run", "--once", "--now", "yesterday"]).exit_code == 2


def test_twilio_messages_go_out_concurrently_through_the_sdk(app, make_listener):
    with FakeProviderServer() as server:
        app.config["KALANSO"] = replace(
            app.config["KALANSO"], sms_provider="twilio", twilio_api_base_url=server.base_url
        )
        people = [make_listener() for _ in range(40)]
        for person in people:
            outbound.prepare(person, "Bonjour", NOW, purpose=Purpose.CAMPAIGN)
        db.session.commit()
        report = Sender(app, concurrency=8, clock=lambda: NOW).drain()
        assert (report.sent, report.failed) == (40, 0)
        assert server.store.message_counts() == {p.phone: 1 for p in people}


def test_reconcile_asks_the_provider_outside_any_transaction_and_survives_its_own_death(backend, app, make_listener):
    """A provider look-up never holds a lock (on SQLite it would stop every webhook); a reconcile that died
    half-way leaves its rows to the next one, after a while."""
    from sender.claim import RECONCILE_GIVE_UP

    person = make_listener()
    outbound.prepare(person, "Bonjour", NOW, purpose=Purpose.REPLY, provider="africastalking")
    db.session.commit()
    assert len(_claim(10, provider="africastalking", token="dead")) == 1
    sender = Sender(app, inline=True, clock=lambda: NOW)
    lane = sender._state(Channel.SMS, "africastalking").lane
    asked = []

    def lookup(row):
        asked.append(db.session().in_transaction())
        raise RuntimeError("the reconciler dies while asking the provider")

    lane.lookup = lookup
    with pytest.raises(RuntimeError):
        sender.reconcile(NOW + timedelta(minutes=5))
    db.session.rollback()
    assert asked == [False]  # no transaction, no lock, while the provider was asked
    del lane.lookup  # the next reconcile has a working look-up again (AT: cannot tell)
    assert sender.reconcile(NOW + timedelta(minutes=6))["unknown"] == 0  # another reconcile holds it
    later = NOW + timedelta(minutes=5) + RECONCILE_GIVE_UP + timedelta(seconds=1)
    assert sender.reconcile(later)["unknown"] == 1
