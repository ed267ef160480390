"""Claiming due outbox rows, recording what the provider said, and resolving interrupted sends.

**Claim** (one short transaction): ``UPDATE outbox SET status='sending' WHERE id IN (SELECT ... LIMIT n)``.
The inner SELECT joins the listener and keeps only rows whose listener has not opted out (the two consent
confirmations excepted): consent is checked *in the statement that claims the row*. On PostgreSQL it locks
``FOR NO KEY UPDATE OF outbox, listeners SKIP LOCKED``: several senders on several machines take disjoint
rows without waiting, and a row whose listener is being opted out right now (a STOP holds the listener's
row) is skipped, so it is cancelled by the STOP instead of being sent. If the STOP commits first, this
statement sees ``opted_out`` (or re-checks it on the row it locks) and leaves the row alone. On SQLite every
transaction holds the database's write lock from BEGIN (``core.db``), so a claim and a STOP never overlap.

**Order**: replies and confirmations first, then callbacks (``priority``), and among campaign rows a fair
share per campaign: the remaining capacity of a claim is split between the campaigns that have due rows, so a
large campaign cannot starve a small one. One listener's messages go one at a time and in order: a row is
claimed only when no earlier row of that listener (same channel) is in flight, or due ahead of it with the same
priority — a lesson split into two SMS arrives text first, question second.

The one window left is a row already claimed when a STOP commits: it is handed to the provider within
moments (or is already in the provider's hands); nothing claimed after the STOP's commit ever goes out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, text, update
from sqlalchemy.orm import Session

from core.outbox import _OUTCOME_COLUMNS, OutboxItem, OutboxStatus, Outcome, outcome_of
from core.vocabulary import REACHES_OPTED_OUT, Channel

OUTBOX = OutboxItem.__table__
_CONFIRMATIONS = [p.value for p in REACHES_OPTED_OUT]  # the consent rule: these reach an opted-out listener

CLAIMED_COLUMNS = (
    *_OUTCOME_COLUMNS,
    OUTBOX.c.provider,
    OUTBOX.c.phone,
    OUTBOX.c.body,
    OUTBOX.c.campaign_id,
    OUTBOX.c.claimed_at,
    OUTBOX.c.attempts,
)


def _listeners():
    """The ``listeners`` table, by name: the sender layer never imports the listeners package."""
    from sqlalchemy import Boolean, Column, Integer, MetaData, Table

    return Table("listeners", MetaData(), Column("id", Integer, primary_key=True), Column("opted_out", Boolean))


LISTENERS = _listeners()


def _due(inner, channel: Channel, provider: str, now: datetime):
    earlier = OUTBOX.alias("earlier")
    ahead = (
        select(earlier.c.id)
        .where(
            earlier.c.listener_id == inner.c.listener_id,
            earlier.c.channel == inner.c.channel,
            earlier.c.id < inner.c.id,
            or_(
                earlier.c.status == OutboxStatus.SENDING.value,
                and_(
                    earlier.c.status == OutboxStatus.PENDING.value,
                    earlier.c.priority == inner.c.priority,
                    earlier.c.due_at <= now,
                ),
            ),
        )
        .correlate(inner)
    )
    return and_(
        inner.c.status == OutboxStatus.PENDING.value,
        inner.c.channel == channel.value,
        inner.c.provider == provider,
        inner.c.due_at <= now,
        or_(LISTENERS.c.opted_out.is_(False), inner.c.purpose.in_(_CONFIRMATIONS)),
        ~ahead.exists(),  # one listener's texts go in order, one at a time (a lesson, then its question)
    )


def _claim_where(session: Session, where, order, limit: int, token: str, now: datetime) -> list[Any]:
    inner = OUTBOX.alias("candidate")
    query = (
        select(inner.c.id)
        .join(LISTENERS, LISTENERS.c.id == inner.c.listener_id)
        .where(where(inner))
        .order_by(*order(inner))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=[inner, LISTENERS], skip_locked=True, key_share=True)
    statement = (
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(query.scalar_subquery()))
        .values(
            status=OutboxStatus.SENDING.value,
            claim_token=token,
            claimed_at=now,
            attempts=OUTBOX.c.attempts + 1,
            updated_at=now,
        )
        .returning(*CLAIMED_COLUMNS)
    )
    return list(session.execute(statement).all())


def claim(
    session: Session, channel: Channel, provider: str, limit: int, token: str, now: datetime, rotate: int = 0
) -> list[Any]:
    """Claim up to ``limit`` due rows of one lane (the caller commits). Returns the claimed rows."""
    if limit <= 0:
        return []
    claimed = _claim_where(
        session,
        lambda o: and_(_due(o, channel, provider, now), o.c.campaign_id.is_(None)),
        lambda o: (o.c.priority, o.c.due_at, o.c.id),
        limit,
        token,
        now,
    )
    left = limit - len(claimed)
    if left <= 0:
        return claimed
    campaigns = active_campaigns(session, channel, provider)
    if not campaigns:
        return claimed
    start = rotate % len(campaigns)
    order = campaigns[start:] + campaigns[:start]
    hungry: list[int] = []  # campaigns that took their whole share and may have more
    share = math.ceil(left / len(order))
    for campaign_id in order:  # a fair share each; what one campaign cannot use goes to the others below
        if left <= 0:
            break
        asked = min(share, left)
        got = _claim_campaign(session, channel, provider, campaign_id, asked, token, now)
        claimed += got
        left -= len(got)
        if len(got) == asked:
            hungry.append(campaign_id)
    for campaign_id in hungry:
        if left <= 0:
            break
        got = _claim_campaign(session, channel, provider, campaign_id, left, token, now)
        claimed += got
        left -= len(got)
    return claimed


def _claim_campaign(session, channel, provider, campaign_id: int, limit: int, token: str, now: datetime):
    return _claim_where(
        session,
        lambda o: and_(_due(o, channel, provider, now), o.c.campaign_id == campaign_id),
        lambda o: (o.c.due_at, o.c.id),
        limit,
        token,
        now,
    )


def active_campaigns(session: Session, channel: Channel, provider: str) -> list[int]:
    """The campaigns with pending rows in this lane: a skip-scan of the partial index (one probe per
    campaign), cheap however many rows are pending."""
    statement = """
        WITH RECURSIVE c(campaign_id) AS (
            SELECT (SELECT campaign_id FROM outbox
                     WHERE status = 'pending' AND campaign_id IS NOT NULL AND channel = :channel
                       AND provider = :provider
                     ORDER BY campaign_id LIMIT 1)
            UNION ALL
            SELECT (SELECT o.campaign_id FROM outbox o
                     WHERE o.status = 'pending' AND o.campaign_id IS NOT NULL AND o.channel = :channel
                       AND o.provider = :provider AND o.campaign_id > c.campaign_id
                     ORDER BY o.campaign_id LIMIT 1)
              FROM c WHERE c.campaign_id IS NOT NULL
        )
        SELECT campaign_id FROM c WHERE campaign_id IS NOT NULL
    """
    rows = session.execute(text(statement), {"channel": channel.value, "provider": provider})
    return [r[0] for r in rows]


# --- recording ------------------------------------------------------------------------------------

_STILL_OURS = and_(  # the row we claimed, unless reconcile has resolved it meanwhile
    OUTBOX.c.id == bindparam("b_id"),
    OUTBOX.c.status == OutboxStatus.SENDING.value,
    OUTBOX.c.claim_token == bindparam("b_token"),
)
_RECORD = (
    update(OUTBOX)
    .where(_STILL_OURS)
    .values(
        status=bindparam("b_status"),
        provider_id=bindparam("b_provider_id"),
        provider_status=bindparam("b_provider_status"),
        error=bindparam("b_error"),
        sent_at=bindparam("b_sent_at"),
        updated_at=bindparam("b_now"),
    )
)


_REQUEUE = (
    update(OUTBOX)
    .where(_STILL_OURS)
    .values(
        status=OutboxStatus.PENDING.value,
        claim_token="",
        due_at=bindparam("b_due_at"),
        error=bindparam("b_error"),
        updated_at=bindparam("b_now"),
    )
)
RETRY_DELAYS = (10, 30, 60, 120, 300)  # seconds, by attempt: a provider that could not be reached


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1])


def record(
    session: Session, outcomes: Sequence[Outcome], token_of: dict[int, str], now: datetime, attempts_of=None
) -> list[Outcome]:
    """Write what the provider said on each claimed row (batched UPDATEs); a row the provider could not be
    reached for goes back to ``pending`` after a delay. Returns the final outcomes, for the caller to announce
    (it commits)."""
    attempts_of = attempts_of or {}
    again = [o for o in outcomes if o.status == OutboxStatus.PENDING]
    final = [o for o in outcomes if o.status != OutboxStatus.PENDING]
    if again:
        session.execute(
            _REQUEUE,
            [
                {
                    "b_id": o.outbox_id,
                    "b_token": token_of[o.outbox_id],
                    "b_due_at": now + retry_delay(attempts_of.get(o.outbox_id, 1)),
                    "b_error": o.error[:200],
                    "b_now": now,
                }
                for o in again
            ],
        )
    if not final:
        return final
    session.execute(
        _RECORD,
        [
            {
                "b_id": o.outbox_id,
                "b_token": token_of[o.outbox_id],
                "b_status": o.status.value,
                "b_provider_id": o.provider_id[:64],
                "b_provider_status": o.provider_status[:40],
                "b_error": o.error[:200],
                "b_sent_at": now if o.status == OutboxStatus.SENT else None,
                "b_now": now,
            }
            for o in final
        ],
    )
    return final


# --- after a crash --------------------------------------------------------------------------------


RECONCILING = "reconcile-"  # the claim token of rows a reconcile is asking the provider about
RECONCILE_GIVE_UP = timedelta(minutes=10)  # a reconcile that died: its rows are taken up again after this


def take_stuck(session: Session, older_than: datetime, now: datetime, token: str, limit: int = 100) -> list[Any]:
    """Rows a sender claimed before ``older_than`` and never recorded (it died), marked as this reconcile's.

    The caller commits at once, then asks the provider about each row **outside any transaction** (a provider
    call never holds a lock), then ``resolve``s them. Rows another reconcile is asking about are left alone,
    unless it has not finished within ``RECONCILE_GIVE_UP``."""
    candidate = OUTBOX.alias("stuck")
    query = (
        select(candidate.c.id)
        .where(
            candidate.c.status == OutboxStatus.SENDING.value,
            candidate.c.claimed_at < older_than,
            or_(
                ~candidate.c.claim_token.startswith(RECONCILING),
                candidate.c.updated_at < now - RECONCILE_GIVE_UP,
            ),
        )
        .order_by(candidate.c.claimed_at, candidate.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(query.scalar_subquery()))
            .values(claim_token=token, updated_at=now)
            .returning(*CLAIMED_COLUMNS, OUTBOX.c.claim_token)
        ).all()
    )


def resolve(session: Session, row: Any, status: OutboxStatus, now: datetime, **fields: Any) -> Outcome | None:
    """Set a stuck row's final status (or back to pending), if this reconcile still holds it; the outcome to
    announce (None when requeued, or when the row was not ours any more)."""
    values = {"status": status.value, "updated_at": now}
    if status == OutboxStatus.PENDING:
        values["claim_token"] = ""
    else:
        values.update({k: v for k, v in fields.items() if k in ("provider_id", "provider_status", "error")})
        if status == OutboxStatus.SENT:
            values["sent_at"] = row.claimed_at or now
    changed = session.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.id == row.id,
            OUTBOX.c.status == OutboxStatus.SENDING.value,
            OUTBOX.c.claim_token == row.claim_token,
        )
        .values(**values)
    ).rowcount
    if not changed or status == OutboxStatus.PENDING:
        return None
    return outcome_of(row, status, **fields)


def orphans(session: Session, now: datetime, limit: int = 1000) -> list[Outcome]:
    """Pending rows of listeners who opted out (written by a transaction that raced the STOP): cancelled."""
    reason = "opted out: not sent"
    inner = OUTBOX.alias("orphan")
    query = (
        select(inner.c.id)
        .join(LISTENERS, LISTENERS.c.id == inner.c.listener_id)
        .where(
            inner.c.status == OutboxStatus.PENDING.value,
            LISTENERS.c.opted_out.is_(True),
            inner.c.purpose.not_in(_CONFIRMATIONS),
        )
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=[inner], skip_locked=True)
    rows = session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(query.scalar_subquery()))
        .values(status=OutboxStatus.CANCELLED.value, error=reason, updated_at=now)
        .returning(*_OUTCOME_COLUMNS)
    ).all()
    return [outcome_of(row, OutboxStatus.CANCELLED, error=reason) for row in rows]
