"""Hand due deliveries to the outbox: claim → prepare → commit, one short transaction per batch.

Due ``pending`` rows of running campaigns are selected with their listeners (PostgreSQL ``FOR NO KEY UPDATE
... SKIP LOCKED``: several schedulers never take the same rows, and a listener in the middle of a turn or a
STOP is skipped for this round), the channel port prepares what is sent — the Message rows (SMS) or the
queued CallSession (voice) with their outbox rows — and the deliveries become ``sending`` ("in the
outbox"). All in one commit: a crash leaves either nothing or everything. The sender process then hands
the outbox rows to the provider at the provider's rate, and the outcome flows back to the delivery
(``campaigns.outcomes``).

Everything is prepared in one go and flushed at once; only when that fails is the batch redone one
delivery at a time (a savepoint each), so that one bad delivery fails alone instead of blocking the others.

Backpressure: a lane's outbox is not filled beyond about ``BACKLOG_SECONDS`` of sending at its rate (and never
beyond ``MAX_BACKLOG`` rows), so that a million-listener campaign waits in its delivery rows (cheap,
cancellable by a STOP in one UPDATE) rather than as a million prepared messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select

from campaigns.models import Campaign, CampaignState, Delivery, DeliveryStatus
from campaigns.service import window_for
from core.config import Settings
from core.db import db
from core.outbox import OutboxItem, OutboxStatus
from core.vocabulary import Channel
from listeners.models import Listener
from listeners.service import mark_locked

log = logging.getLogger(__name__)

BACKLOG_SECONDS = 30
MIN_BACKLOG = 1000
MAX_BACKLOG = 20_000  # whatever the rate: the sender claims from an index, not from a heap of bulk


class Port(Protocol):
    """What the dispatcher calls on a channel (SMS or voice); implemented in ``campaigns.ports``."""

    channel: Channel
    batch_size: int  # deliveries prepared per transaction
    rate_per_second: float  # the lane's sending rate (sizes the backlog)

    def prepare(self, delivery: Delivery, listener: Listener, campaign: Campaign, now: datetime) -> Any | None:
        """Inside the claim transaction: create the Message / CallSession rows; None if nothing may be sent
        (the port then sets the delivery's final status itself)."""
        ...

    def enqueue(self, prepared: Sequence[Any], now: datetime) -> None:
        """After the batch's flush: write the outbox rows of everything prepared (one batched INSERT)."""
        ...


@dataclass
class DispatchReport:
    claimed: int = 0
    queued: int = 0  # handed to the outbox
    failed: int = 0
    skipped: int = 0
    postponed: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)


def backlog_limit(port: Port) -> int:
    return min(MAX_BACKLOG, max(MIN_BACKLOG, int(port.rate_per_second * BACKLOG_SECONDS)))


def outbox_backlog(channel: Channel, cap: int) -> int:
    """Campaign rows waiting in the outbox for this channel, counted up to ``cap`` (a bounded index scan)."""
    waiting = (
        select(OutboxItem.id)
        .where(
            OutboxItem.status == OutboxStatus.PENDING,
            OutboxItem.channel == channel,
            OutboxItem.campaign_id.is_not(None),
        )
        .limit(cap)
        .subquery()
    )
    return db.session.scalar(select(func.count()).select_from(waiting)) or 0


def _claim_rows(now: datetime, channel: Channel, limit: int):
    query = (
        select(Delivery, Listener, Campaign)
        .join(Listener, Listener.id == Delivery.listener_id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.due_at <= now,
            Delivery.channel == channel,
            Campaign.state == CampaignState.RUNNING,
        )
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=[Delivery, Listener], skip_locked=True, key_share=True)
    return db.session.execute(query).all()


def claim(port: Port, settings: Settings, now: datetime, limit: int) -> DispatchReport:
    """Prepare up to ``limit`` due deliveries of one channel into the outbox. The caller commits."""
    report = DispatchReport()
    rows = _claim_rows(now, port.channel, limit)
    windows: dict[int, Any] = {}
    ready = []
    for delivery, listener, campaign in rows:
        mark_locked(listener.id)
        report.claimed += 1
        window = windows.setdefault(campaign.id, window_for(campaign, settings))
        if not window.contains(now):  # the window closed while it waited: try again when it opens
            delivery.due_at, delivery.updated_at = window.next_open(now), now
            report.postponed += 1
            continue
        if listener.opted_out:
            delivery.status, delivery.updated_at = DeliveryStatus.OPTED_OUT, now
            report.skipped += 1
            continue
        ready.append((delivery, listener, campaign))
    try:
        with db.session.begin_nested():  # the whole batch at once
            prepared = _prepare_all(port, ready, now, report)
    except Exception:  # something in the batch is wrong: redo it one delivery at a time
        log.exception("a batch of %d campaign deliveries failed to prepare: one at a time", len(ready))
        db.session.expire_all()
        report.queued = report.skipped = report.failed = 0
        prepared = []
        for delivery, listener, campaign in ready:
            try:
                with db.session.begin_nested():
                    prepared += _prepare_all(port, [(delivery, listener, campaign)], now, report)
            except Exception as exc:  # an unexpected content or data problem: this row fails alone
                log.exception("campaign delivery %s could not be prepared", delivery.id)
                delivery.status, delivery.updated_at = DeliveryStatus.FAILED, now
                delivery.error = f"could not be prepared: {exc.__class__.__name__}: {exc}"[:500]
                report.failed += 1
    report.queued = len(prepared)
    db.session.flush()
    return report


def _prepare_all(port: Port, batch, now: datetime, report: DispatchReport) -> list[Any]:
    prepared = []
    for delivery, listener, campaign in batch:
        item = port.prepare(delivery, listener, campaign, now)
        if item is None:
            report.skipped += 1
            continue
        delivery.status, delivery.attempts, delivery.updated_at = DeliveryStatus.SENDING, delivery.attempts + 1, now
        prepared.append(item)
    db.session.flush()  # one batched write for everything the port prepared
    port.enqueue(prepared, now)
    return prepared


def dispatch_due(
    port: Port,
    settings: Settings,
    now: Callable[[], datetime],
    *,
    limit: int | None = None,
    budget_seconds: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> DispatchReport:
    """Prepare due deliveries of one channel into the outbox, batch after batch (a commit each), until none is
    due, ``limit`` is reached, the channel's outbox holds enough campaign work for now, or ``budget_seconds``
    have passed (the scheduler's job comes back two seconds later)."""
    cap = backlog_limit(port)
    remaining = cap if limit is None else limit
    total = DispatchReport()
    deadline = None if budget_seconds is None else monotonic() + budget_seconds
    while remaining > 0 and (deadline is None or monotonic() < deadline):
        room = cap - outbox_backlog(port.channel, cap)
        if room <= 0:
            break
        report = claim(port, settings, now(), min(remaining, room, port.batch_size))
        db.session.commit()
        for key in ("claimed", "queued", "failed", "skipped", "postponed"):
            setattr(total, key, getattr(total, key) + getattr(report, key))
        if report.claimed == 0:
            break
        remaining -= report.claimed
    total.by_channel[port.channel.value] = total.queued
    return total
