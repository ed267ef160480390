"""The sender: drains the outbox, concurrently, at each provider's allowed rate. Run it as its own process
(``flask sender run``, the Procfile's ``sender:``; several on several machines is fine) — ``make run`` runs
one in a thread of the development server.

Each round, for each lane (channel × provider) that may have due work:

1. take tokens from the lane's shared bucket (``SMS_RATE_PER_SECOND`` / ``CALL_RATE_PER_SECOND``), at most
   what the free worker slots can carry;
2. claim that many due rows in one short transaction (consent checked in the claiming statement, see
   ``sender.claim``) and give back the tokens of rows that were not there;
3. hand them to the provider in the worker pool (``SENDER_CONCURRENCY`` requests in flight at most);
4. as requests finish, record their outcomes — the outbox rows and, through ``outbox_outcomes``, the
   messages, call sessions and campaign deliveries — in one transaction per batch of finished requests.

It sleeps only when there is nothing to do: until ``NOTIFY`` (PostgreSQL), a commit in this process, a
finished request, or a short poll (rows that become due later: retries, callbacks). Every minute it
reconciles rows a dead sender left in ``sending``: asked of the provider where it can be asked (Twilio,
the simulator), resent only when the provider certainly never got them, else ``unknown`` (never resent
blindly); and it cancels pending rows of listeners who opted out meanwhile.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from core import outbox
from core.clock import utcnow
from core.config import PROVIDERS, VOICE_PROVIDERS
from core.db import db
from core.outbox import OutboxStatus, Outcome
from core.vocabulary import Channel
from sender import claim as claims
from sender.buckets import TokenBucket, make_bucket
from sender.lanes import Lane, build_lane

log = logging.getLogger(__name__)

RECONCILE_AFTER = timedelta(minutes=2)  # far above the SDKs' request timeouts (about 10 s)
RECONCILE_EVERY = 60.0  # seconds
MAX_CLAIM = 1000  # rows per claim, whatever the lane could carry


@dataclass
class SenderReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    unknown: int = 0
    requeued: int = 0
    by_lane: dict[str, int] = field(default_factory=dict)

    def add(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if o.status == OutboxStatus.SENT:
                self.sent += 1
            elif o.status == OutboxStatus.FAILED:
                self.failed += 1
            elif o.status == OutboxStatus.CANCELLED:
                self.cancelled += 1
            elif o.status == OutboxStatus.UNKNOWN:
                self.unknown += 1


@dataclass
class _LaneState:
    lane: Lane
    idle_generation: int | None = None  # found nothing due at this work generation
    idle_since: float = 0.0
    wait_until: float = 0.0  # rate-limited: no token before this (monotonic seconds)


class Sender:
    """``Sender(app).run(stop)`` forever; ``drain()`` until nothing is due (tests, ``--once``)."""

    def __init__(
        self,
        app: Flask,
        *,
        concurrency: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        bucket_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        inline: bool = False,
        bucket: TokenBucket | None = None,
        poll_seconds: float | None = None,
        only: list[tuple[Channel, str]] | None = None,
    ):
        self.app = app
        self.settings = app.config["KALANSO"]
        self.concurrency = max(1, concurrency or self.settings.sender_concurrency)
        self.clock, self.bucket_clock, self.monotonic = clock, bucket_clock, monotonic
        self.inline = inline
        self.pool = None if inline else ThreadPoolExecutor(self.concurrency, thread_name_prefix="kalanso-sender")
        with app.app_context():
            self.bucket = bucket or make_bucket(self.settings.redis_url, db.engine)
            self.dialect = db.engine.dialect.name
        self.poll_seconds = poll_seconds or (2.0 if self.dialect == "postgresql" else 0.25)
        self.name = f"{os.uname().nodename}:{os.getpid()}"
        self.lanes: dict[tuple[Channel, str], _LaneState] = {}
        self.in_flight: dict[Future, tuple[list[Any], str]] = {}
        self.finished: list[tuple[list[Outcome], list[Any], str]] = []  # inline mode
        self.report = SenderReport()
        self.rotation = 0
        self.last_reconcile = monotonic()
        self._listener: threading.Thread | None = None
        self.only = only  # serve only these lanes (e.g. the simulator's, from a CLI command)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        with self.app.app_context():
            log.info("sender %s running: %d request(s) in flight at most", self.name, self.concurrency)
            self._listen_for_notifications(stop)
            while not stop.is_set():
                try:
                    busy = self.step()
                except Exception:
                    db.session.rollback()
                    log.exception("sender round failed; trying again")
                    busy = False
                    stop.wait(1.0)
                finally:
                    db.session.remove()
                if not busy:  # sleep until woken, and look at ``stop`` at least every second
                    outbox.wakeup.wait(min(self._sleep_seconds(), 1.0))
                    outbox.wakeup.clear()
            self.finish()

    def drain(self, max_rounds: int = 100_000) -> SenderReport:
        """Send everything due now, at the lanes' rates, and record it (in this thread when ``inline``)."""
        with self.app.app_context():
            for _ in range(max_rounds):
                for state in self.lanes.values():
                    state.idle_generation = None
                busy = self.step()
                if busy:
                    continue
                waiting = [s.wait_until for s in self.lanes.values() if s.wait_until > self.monotonic()]
                if not self.in_flight and not waiting:
                    break
                outbox.wakeup.wait(min([0.05, *(w - self.monotonic() for w in waiting)]) if waiting else 0.05)
                outbox.wakeup.clear()
            self.finish()
        return self.report

    def finish(self) -> None:
        """Wait for the requests in flight and record them."""
        while self.in_flight:
            outbox.wakeup.wait(0.1)
            outbox.wakeup.clear()
            self._record_finished()
        self._record_finished()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="kalanso-sender")

    def step(self) -> bool:
        """One round: record finished requests, start new ones. True when it did something."""
        did = self._record_finished()
        if self.monotonic() - self.last_reconcile >= RECONCILE_EVERY:
            self.last_reconcile = self.monotonic()
            self.reconcile(self.clock())
        for key in self._lane_keys():
            free = self.concurrency - len(self.in_flight)
            if free <= 0:
                break
            did |= self._serve(self._state(*key), free)
        return did

    # --- one lane ---------------------------------------------------------------------------------

    def _serve(self, state: _LaneState, free: int) -> bool:
        lane = state.lane
        now_mono = self.monotonic()
        generation = outbox.work_generation()
        if state.idle_generation is not None:
            if generation == state.idle_generation and now_mono - state.idle_since < self.poll_seconds:
                return False
            state.idle_generation = None
        if now_mono < state.wait_until:
            return False
        want = min(free * lane.max_batch, MAX_CLAIM)
        grant = self.bucket.take(lane.key, want, lane.rate, lane.burst, self.bucket_clock(), lane.least)
        if grant.granted == 0:
            state.wait_until = now_mono + grant.wait_seconds
            return False
        token = secrets.token_hex(8)
        now = self.clock()
        try:
            rows = claims.claim(db.session, lane.channel, lane.provider, grant.granted, token, now, self.rotation)
            db.session.commit()
        except Exception:
            db.session.rollback()
            self.bucket.refund(lane.key, grant.granted, lane.burst)
            raise
        self.rotation += 1
        if len(rows) < grant.granted:
            self.bucket.refund(lane.key, grant.granted - len(rows), lane.burst)
            state.idle_generation, state.idle_since = generation, now_mono
        if not rows:
            return False
        self.report.claimed += len(rows)
        self.report.by_lane[lane.key] = self.report.by_lane.get(lane.key, 0) + len(rows)
        for request in lane.requests(rows):
            self._submit(lane, request, token)
        return True

    def _submit(self, lane: Lane, rows: list[Any], token: str) -> None:
        if self.inline:
            self.finished.append((lane.send(rows), rows, token))
            return
        future = self.pool.submit(lane.send, rows)
        self.in_flight[future] = (rows, token)
        future.add_done_callback(lambda _f: outbox.wakeup.set())

    def _record_finished(self) -> bool:
        batches = self.finished
        self.finished = []
        for future in [f for f in self.in_flight if f.done()]:
            rows, token = self.in_flight.pop(future)
            batches.append((future.result(), rows, token))
        if not batches:
            return False
        outcomes = [o for found, _, _ in batches for o in found]
        tokens = {r.id: token for _, rows, token in batches for r in rows}
        attempts = {r.id: r.attempts for _, rows, _ in batches for r in rows}
        now = self.clock()
        try:
            final = claims.record(db.session, outcomes, tokens, now, attempts)
            outbox.announce(final, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("could not record %d outcome(s); reconcile will resolve them", len(outcomes))
            return True
        self.report.add(final)
        self.report.requeued += len(outcomes) - len(final)
        return True

    # --- after a crash ----------------------------------------------------------------------------

    def reconcile(self, now: datetime, older_than: timedelta = RECONCILE_AFTER) -> dict[str, int]:
        """Resolve rows left in ``sending`` by a dead sender; cancel pending rows of opted-out listeners."""
        counts = {"recorded": 0, "requeued": 0, "unknown": 0, "cancelled": 0}
        while True:
            token = f"{claims.RECONCILING}{secrets.token_hex(6)}"
            rows = claims.take_stuck(db.session, now - older_than, now, token)
            db.session.commit()  # marked as ours: now ask the providers, outside any transaction
            if not rows:
                break
            decisions = []
            for row in rows:
                found = self._state(Channel(row.channel), row.provider).lane.lookup(row)
                if isinstance(found, Outcome):
                    decisions.append((row, OutboxStatus.SENT, _fields(found), "recorded"))
                elif found is False:
                    decisions.append((row, OutboxStatus.PENDING, {}, "requeued"))
                else:
                    error = "outcome unknown after an interrupted send; not resent automatically"
                    decisions.append((row, OutboxStatus.UNKNOWN, {"error": error}, "unknown"))
            outcomes = []
            for row, status, fields, key in decisions:
                outcome = claims.resolve(db.session, row, status, now, **fields)
                if outcome is not None:
                    outcomes.append(outcome)
                counts[key] += 1
            outbox.announce(outcomes, now)
            if counts["requeued"]:
                outbox.mark_new_work(db.session)
            db.session.commit()
            self.report.add(outcomes)
        cancelled = claims.orphans(db.session, now)
        outbox.announce(cancelled, now)
        db.session.commit()
        counts["cancelled"] = len(cancelled)
        self.report.requeued += counts["requeued"]
        if any(counts.values()):
            log.warning("reconciled the outbox: %s", counts)
        return counts

    # --- helpers ----------------------------------------------------------------------------------

    def _lane_keys(self) -> list[tuple[Channel, str]]:
        if self.only is not None:
            return list(self.only)
        return [(Channel.SMS, p) for p in PROVIDERS] + [(Channel.VOICE, p) for p in VOICE_PROVIDERS]

    def _state(self, channel: Channel, provider: str) -> _LaneState:
        state = self.lanes.get((channel, provider))
        if state is None:
            state = self.lanes[(channel, provider)] = _LaneState(build_lane(channel, provider, self.settings))
        return state

    def _sleep_seconds(self) -> float:
        waits = [s.wait_until - self.monotonic() for s in self.lanes.values() if s.wait_until > self.monotonic()]
        return max(0.005, min([self.poll_seconds, *waits]))

    def _listen_for_notifications(self, stop: threading.Event) -> None:
        """PostgreSQL: a thread LISTENs and wakes the loop at every commit that added rows, on any machine."""
        if self.dialect != "postgresql" or self._listener is not None:
            return
        url = make_url(self.settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        timeout = self.settings.database_connect_timeout

        def listen() -> None:
            import psycopg

            while not stop.is_set():
                try:
                    with psycopg.connect(url, autocommit=True, connect_timeout=timeout) as conn:
                        conn.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
                        while not stop.is_set():
                            for _ in conn.notifies(timeout=1.0, stop_after=1):
                                outbox.new_work()
                except Exception as exc:
                    log.warning("sender: LISTEN connection lost (%s); polling until it is back", exc.__class__.__name__)
                    stop.wait(2.0)

        self._listener = threading.Thread(target=listen, name="kalanso-sender-listen", daemon=True)
        self._listener.start()


def _fields(outcome: Outcome) -> dict[str, str]:
    return {
        "provider_id": outcome.provider_id,
        "provider_status": outcome.provider_status,
        "detail_status": outcome.detail_status,
    }
