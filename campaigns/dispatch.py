"""Hand due deliveries to the providers: claim → commit → send → record. Never twice, never dropped.

1. **Claim** (one short transaction): due ``pending`` rows of running campaigns are selected (``FOR UPDATE
   SKIP LOCKED`` on PostgreSQL, so several dispatchers on several machines take disjoint rows) and
   switched to ``sending`` with a claim token by a compare-and-set ``UPDATE ... WHERE status='pending'``
   (which also protects SQLite). The channel port prepares what it sends (the Message or CallSession
   row). Commit.
2. **Send**, after the commit: batches go to the provider, paced by the provider's rate.
3. **Record** (a second short transaction): provider ids and statuses.

A crash between 1 and 3 leaves rows in ``sending``: ``reconcile`` later asks the provider, through the
port, whether the send went out. Found: recorded. Certainly not sent: back to ``pending``. Cannot tell
(a provider with no look-up): ``unknown``, shown in the report and never resent blindly — a second
lesson call costs money and trust, while an unknown one can be re-sent by a manager on purpose.
"""

from __future__ import annotations

import logging
import secrets
import time as systime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update

from campaigns.models import Campaign, CampaignState, Delivery, DeliveryStatus
from campaigns.service import window_for
from core.config import Settings
from core.db import db
from core.vocabulary import Channel
from listeners.models import Listener

log = logging.getLogger(__name__)

RECONCILE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class SendOutcome:
    delivery_id: int
    status: DeliveryStatus  # queued | sent | failed | opted_out
    provider_id: str = ""
    error: str = ""


class NotFound:
    """The provider says it never got this send."""


class CannotTell:
    """The provider cannot be asked."""


class Port(Protocol):
    """What the dispatcher needs from a channel (SMS or voice); implemented in ``campaigns.ports``."""

    channel: Channel
    batch_size: int
    rate_per_second: float

    def prepare(self, delivery: Delivery, listener: Listener, campaign: Campaign, now: datetime) -> Any | None:
        """Inside the claim transaction: create the outbound row; None if nothing may be sent (the port
        then sets the delivery's final status itself)."""
        ...

    def send(self, prepared: Sequence[Any]) -> list[SendOutcome]:
        """After commit: hand one batch to the provider."""
        ...

    def record(self, outcomes: Sequence[SendOutcome], now: datetime) -> None:
        """In the record transaction: write provider ids/statuses onto the outbound rows."""
        ...

    def lookup(self, delivery: Delivery) -> SendOutcome | NotFound | CannotTell:
        """For reconcile: did this claimed send reach the provider?"""
        ...


@dataclass
class DispatchReport:
    claimed: int = 0
    handed: int = 0
    failed: int = 0
    skipped: int = 0
    postponed: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)


class Pacer:
    """Keeps a send rate (items per second) with an injectable clock and sleep."""

    def __init__(self, rate: float, clock: Callable[[], float] = systime.monotonic, sleep=systime.sleep):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_at: float | None = None

    def wait(self, items: int) -> None:
        now = self.clock()
        if self.next_at is not None and now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval * items


def _candidates(now: datetime, channel: Channel, limit: int) -> list[int]:
    query = (
        select(Delivery.id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.due_at <= now,
            Delivery.channel == channel,
            Campaign.state == CampaignState.RUNNING,
        )
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Delivery)
    return list(db.session.scalars(query))


def claim(port: Port, settings: Settings, now: datetime, limit: int) -> tuple[list[Any], DispatchReport]:
    """Step 1. Returns what to send; the caller commits before sending."""
    report = DispatchReport()
    ids = _candidates(now, port.channel, limit)
    if not ids:
        return [], report
    token = secrets.token_hex(8)
    db.session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.PENDING)
        .values(
            status=DeliveryStatus.SENDING,
            claim_token=token,
            claimed_at=now,
            updated_at=now,
            attempts=Delivery.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(
        select(Delivery, Listener, Campaign)
        .join(Listener, Listener.id == Delivery.listener_id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.claim_token == token, Delivery.status == DeliveryStatus.SENDING)
        .order_by(Delivery.id)
        .execution_options(populate_existing=True)
    ).all()
    prepared = []
    windows: dict[int, Any] = {}
    for delivery, listener, campaign in rows:
        report.claimed += 1
        window = windows.setdefault(campaign.id, window_for(campaign, settings))
        if not window.contains(now):  # the window closed while it waited: try again when it opens
            delivery.status, delivery.claim_token, delivery.due_at = DeliveryStatus.PENDING, "", window.next_open(now)
            delivery.attempts -= 1  # not an attempt
            report.postponed += 1
            continue
        if listener.opted_out:
            delivery.status, delivery.updated_at = DeliveryStatus.OPTED_OUT, now
            report.skipped += 1
            continue
        try:
            with db.session.begin_nested():  # one bad delivery must not block the others forever
                item = port.prepare(delivery, listener, campaign, now)
        except Exception as exc:  # an unexpected content or data problem: this row fails, the batch goes on
            log.exception("campaign delivery %s could not be prepared", delivery.id)
            delivery.status, delivery.updated_at = DeliveryStatus.FAILED, now
            delivery.error = f"could not be prepared: {exc.__class__.__name__}: {exc}"[:500]
            report.skipped += 1
            continue
        if item is None:
            report.skipped += 1
            continue
        prepared.append(item)
    db.session.flush()  # one batched write for everything the port prepared
    after_flush = getattr(port, "after_flush", None)
    if after_flush is not None:
        after_flush(prepared)
        db.session.flush()
    return prepared, report


def record(port: Port, outcomes: Sequence[SendOutcome], now: datetime) -> None:
    """Step 3, in its own transaction (the caller commits)."""
    by_id = {o.delivery_id: o for o in outcomes}
    deliveries = db.session.scalars(select(Delivery).where(Delivery.id.in_(list(by_id)))).all()
    for delivery in deliveries:
        outcome = by_id[delivery.id]
        if delivery.status != DeliveryStatus.SENDING:
            continue  # a status callback already moved it on
        delivery.status = outcome.status
        delivery.provider_id = outcome.provider_id or delivery.provider_id
        delivery.error = outcome.error
        delivery.updated_at = now
    port.record(outcomes, now)
    db.session.flush()


def dispatch_due(
    port: Port, settings: Settings, now: Callable[[], datetime], *, limit: int = 1000, pacer: Pacer | None = None
) -> DispatchReport:
    """Claim, commit, send and record up to ``limit`` due deliveries of one channel, in batches."""
    pacer = pacer or Pacer(port.rate_per_second)
    total = DispatchReport()
    remaining = limit
    while remaining > 0:
        batch_limit = min(remaining, max(port.batch_size, 1) * 10)
        prepared, report = claim(port, settings, now(), batch_limit)
        db.session.commit()
        for key in ("claimed", "skipped", "postponed"):
            setattr(total, key, getattr(total, key) + getattr(report, key))
        if report.claimed == 0:
            break
        remaining -= report.claimed
        for start in range(0, len(prepared), max(port.batch_size, 1)):
            batch = prepared[start : start + max(port.batch_size, 1)]
            pacer.wait(len(batch))
            outcomes = port.send(batch)
            record(port, outcomes, now())
            db.session.commit()
            total.handed += sum(o.status != DeliveryStatus.FAILED for o in outcomes)
            total.failed += sum(o.status == DeliveryStatus.FAILED for o in outcomes)
    total.by_channel[port.channel.value] = total.handed
    return total


def reconcile(port: Port, now: datetime, older_than: timedelta = RECONCILE_AFTER) -> dict[str, int]:
    """Resolve rows left in ``sending`` by a crash. The caller commits."""
    counts = {"recorded": 0, "requeued": 0, "unknown": 0}
    stuck = db.session.scalars(
        select(Delivery).where(
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.channel == port.channel,
            Delivery.claimed_at < now - older_than,
        )
    ).all()
    for delivery in stuck:
        found = port.lookup(delivery)
        if isinstance(found, SendOutcome):
            record(port, [found], now)
            counts["recorded"] += 1
        elif isinstance(found, NotFound):
            delivery.status, delivery.claim_token, delivery.updated_at = DeliveryStatus.PENDING, "", now
            delivery.attempts = max(delivery.attempts - 1, 0)
            counts["requeued"] += 1
        else:
            delivery.status, delivery.updated_at = DeliveryStatus.UNKNOWN, now
            delivery.error = "outcome unknown after an interrupted send; not resent automatically"
            counts["unknown"] += 1
    db.session.flush()
    if any(counts.values()):
        log.warning("reconciled interrupted sends: %s", counts)
    return counts
