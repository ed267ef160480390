"""The outbox: every SMS and call that leaves us is a row here first, written in the same transaction as the
decision to send it (an SMS reply, a confirmation, a missed-call callback, a campaign delivery, a fallback).

Nothing in a webhook or a scheduler job talks to a provider. The sender process (``sender/``) claims due
rows — checking consent in the very statement that claims them — hands them to the provider, and records
the outcome. Its life cycle::

    pending ──claim──► sending ──provider answered──► sent | failed
       │                  └──crash, provider cannot tell──► unknown (never resent blindly)
       └──listener opted out──► cancelled

``enqueue_sms`` / ``enqueue_call`` add rows (flushed with the caller's transaction, never committed here) and
make sure the senders wake up when it commits (PostgreSQL ``NOTIFY``, delivered at commit; an in-process
event for the development server and SQLite). ``cancel_pending`` runs in a STOP's own transaction.

Every outcome — sent, refused, cancelled, unknown — is announced with ``outbox_outcomes`` (one signal per
batch), so that the SMS line updates its messages, the voice line its call sessions and campaigns their
deliveries, each in bulk, inside the transaction that records it.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blinker import Namespace
from sqlalchemy import ForeignKey, Index, SmallInteger, String, Text, event, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import utcnow
from core.db import UTCDateTime, db, str_enum
from core.vocabulary import CONSENT_CONFIRMATIONS, Channel, Purpose

NOTIFY_CHANNEL = "kalanso_outbox"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its time and a sender
    SENDING = "sending"  # claimed by a sender; the provider's answer is not recorded yet
    SENT = "sent"  # the provider accepted it
    FAILED = "failed"  # the provider refused it, or it could not be handed over
    CANCELLED = "cancelled"  # never sent: the listener opted out
    UNKNOWN = "unknown"  # a send was interrupted and the provider cannot be asked; never resent blindly

    @property
    def final(self) -> bool:
        return self not in (OutboxStatus.PENDING, OutboxStatus.SENDING)


class Priority(enum.IntEnum):
    """Lower goes first: a listener waiting for an answer before a callback before campaign bulk."""

    REPLY = 0
    CALLBACK = 5
    CAMPAIGN = 10


PRIORITY_OF_PURPOSE = {
    Purpose.REPLY: Priority.REPLY,
    Purpose.OPT_OUT_CONFIRMATION: Priority.REPLY,
    Purpose.OPT_IN_CONFIRMATION: Priority.REPLY,
    Purpose.RESUME_HINT: Priority.REPLY,
    Purpose.OTHER: Priority.REPLY,
    Purpose.CALLBACK: Priority.CALLBACK,
    Purpose.STUDIO: Priority.CALLBACK,  # someone waits by their phone, as for a callback
    Purpose.CAMPAIGN: Priority.CAMPAIGN,
}


class OutboxItem(db.Model):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "outbox_channel"))
    provider: Mapped[str] = mapped_column(String(20))
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")  # the SMS text, as it will be sent
    purpose: Mapped[str] = mapped_column(String(24))  # core.vocabulary.Purpose
    priority: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[OutboxStatus] = mapped_column(str_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    # what the row is for, so each area can record the outcome on its own rows
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    call_session_id: Mapped[int | None] = mapped_column(ForeignKey("call_sessions.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))  # fair share
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str] = mapped_column(String(32), default="")
    provider_id: Mapped[str] = mapped_column(String(64), default="")
    provider_status: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index(  # replies, confirmations, callbacks: never behind a scan of campaign bulk
            "ix_outbox_pending",
            "channel",
            "provider",
            "priority",
            "due_at",
            "id",
            postgresql_where=text("status = 'pending' AND campaign_id IS NULL"),
            sqlite_where=text("status = 'pending' AND campaign_id IS NULL"),
        ),
        Index(
            "ix_outbox_pending_campaign",
            "channel",
            "provider",
            "campaign_id",
            "due_at",
            "id",
            postgresql_where=text("status = 'pending' AND campaign_id IS NOT NULL"),
            sqlite_where=text("status = 'pending' AND campaign_id IS NOT NULL"),
        ),
        Index("ix_outbox_listener_status", "listener_id", "status"),
        Index(
            "ix_outbox_sending",
            "claimed_at",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
        Index("ix_outbox_message_id", "message_id"),
        Index("ix_outbox_call_session_id", "call_session_id"),
        Index("ix_outbox_delivery_id", "delivery_id"),
    )


@dataclass(frozen=True)
class Outcome:
    """What became of one outbox row: announced to the areas with ``outbox_outcomes``."""

    outbox_id: int
    channel: Channel
    status: OutboxStatus  # sent | failed | cancelled | unknown (or pending again: requeued by reconcile)
    purpose: str
    listener_id: int
    message_id: int | None = None
    call_session_id: int | None = None
    delivery_id: int | None = None
    provider_id: str = ""  # the provider's message sid / call id
    provider_status: str = ""  # the provider's own word, kept for audit
    detail_status: str = ""  # the channel's own word for the provider's answer (a MessageStatus or CallStatus)
    error: str = ""


_signals = Namespace()
outbox_outcomes = _signals.signal("outbox-outcomes")
"""sender=None; kwargs: outcomes (list[Outcome]), now. Receivers update their own rows (bulk, flush only)."""


# --- writing rows ---------------------------------------------------------------------------------


def enqueue_sms(
    *,
    listener_id: int,
    phone: str,
    body: str,
    provider: str,
    purpose: str,
    now: datetime,
    message_id: int | None = None,
    due_at: datetime | None = None,
    campaign_id: int | None = None,
    delivery_id: int | None = None,
) -> OutboxItem:
    """One SMS to send, in the caller's transaction (added, not flushed)."""
    return _add(Channel.SMS, locals())


def enqueue_call(
    *,
    listener_id: int,
    phone: str,
    provider: str,
    purpose: str,
    now: datetime,
    call_session_id: int,
    due_at: datetime | None = None,
    campaign_id: int | None = None,
    delivery_id: int | None = None,
) -> OutboxItem:
    """One call to place, in the caller's transaction (added, not flushed)."""
    return _add(Channel.VOICE, {**locals(), "body": ""})


def _add(channel: Channel, fields: dict[str, Any]) -> OutboxItem:
    now, purpose = fields.pop("now"), Purpose(fields["purpose"])
    due_at = fields.pop("due_at") or now
    row = OutboxItem(
        channel=channel,
        priority=int(PRIORITY_OF_PURPOSE[purpose]),
        status=OutboxStatus.PENDING,
        due_at=due_at,
        attempts=0,
        claim_token="",
        provider_id="",
        provider_status="",
        error="",
        created_at=now,
        updated_at=now,
        **{**fields, "purpose": purpose.value},
    )
    db.session.add(row)
    mark_new_work(db.session)
    return row


def enqueue_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Many rows at once (one batched INSERT): each a dict of OutboxItem columns (campaign preparation)."""
    if not rows:
        return
    db.session.execute(OutboxItem.__table__.insert(), list(rows))
    mark_new_work(db.session)


def outbox_row(
    *,
    channel: Channel,
    listener_id: int,
    phone: str,
    provider: str,
    purpose: str,
    now: datetime,
    body: str = "",
    due_at: datetime | None = None,
    message_id: int | None = None,
    call_session_id: int | None = None,
    campaign_id: int | None = None,
    delivery_id: int | None = None,
) -> dict[str, Any]:
    """The column values of one pending row, for ``enqueue_rows``."""
    return {
        "channel": channel.value,
        "provider": provider,
        "listener_id": listener_id,
        "phone": phone,
        "body": body,
        "purpose": Purpose(purpose).value,
        "priority": int(PRIORITY_OF_PURPOSE[Purpose(purpose)]),
        "status": OutboxStatus.PENDING.value,
        "due_at": due_at or now,
        "attempts": 0,
        "message_id": message_id,
        "call_session_id": call_session_id,
        "campaign_id": campaign_id,
        "delivery_id": delivery_id,
        "claim_token": "",
        "provider_id": "",
        "provider_status": "",
        "error": "",
        "created_at": now,
        "updated_at": now,
    }


def cancel_pending(listener_id: int, now: datetime, reason: str = "opted out: not sent") -> list[Outcome]:
    """A STOP: every pending row of this listener is cancelled (except the consent confirmations), in the
    caller's transaction, and the areas are told. Rows already claimed by a sender are in flight."""
    table = OutboxItem.__table__
    keep = [p.value for p in CONSENT_CONFIRMATIONS]
    rows = db.session.execute(
        update(table)
        .where(
            table.c.listener_id == listener_id,
            table.c.status == OutboxStatus.PENDING.value,
            table.c.purpose.not_in(keep),
        )
        .values(status=OutboxStatus.CANCELLED.value, error=reason, updated_at=now)
        .returning(*_OUTCOME_COLUMNS)
    ).all()
    outcomes = [outcome_of(row, OutboxStatus.CANCELLED, error=reason) for row in rows]
    announce(outcomes, now)
    return outcomes


_OUTCOME_COLUMNS = tuple(
    OutboxItem.__table__.c[name]
    for name in ("id", "channel", "purpose", "listener_id", "message_id", "call_session_id", "delivery_id")
)


def outcome_of(row: Any, status: OutboxStatus, **fields: Any) -> Outcome:
    """An ``Outcome`` for a row read with (at least) ``_OUTCOME_COLUMNS``."""
    return Outcome(
        outbox_id=row.id,
        channel=Channel(row.channel),
        status=status,
        purpose=row.purpose,
        listener_id=row.listener_id,
        message_id=row.message_id,
        call_session_id=row.call_session_id,
        delivery_id=row.delivery_id,
        **fields,
    )


def announce(outcomes: Iterable[Outcome], now: datetime) -> None:
    """Tell the areas what became of these rows (receivers flush, the caller commits)."""
    outcomes = list(outcomes)
    if outcomes:
        outbox_outcomes.send(None, outcomes=outcomes, now=now)


def pending_count(channel: Channel | None = None) -> int:
    query = select(db.func.count()).select_from(OutboxItem).where(OutboxItem.status == OutboxStatus.PENDING)
    if channel is not None:
        query = query.where(OutboxItem.channel == channel)
    return db.session.scalar(query) or 0


# --- waking the senders ---------------------------------------------------------------------------

wakeup = threading.Event()
"""Set after a commit that added outbox rows: a sender in this process (``make run``) wakes at once."""

_generation = [0]
_generation_lock = threading.Lock()


def new_work() -> None:
    """Something was added to the outbox (here or, through ``NOTIFY``, on another machine): wake the sender."""
    with _generation_lock:
        _generation[0] += 1
    wakeup.set()


def work_generation() -> int:
    """Grows with every ``new_work``: a sender lane that found nothing to do looks again once it has grown."""
    return _generation[0]


_NEW_WORK = "kalanso.outbox.new_work"


def mark_new_work(session: Session) -> None:
    session.info[_NEW_WORK] = True


@event.listens_for(Session, "before_commit")
def _notify_senders(session: Session) -> None:
    """PostgreSQL delivers ``NOTIFY`` when the transaction commits: senders on every machine wake up."""
    if session.in_nested_transaction():  # a savepoint's release: the real commit comes later
        return
    if session.info.get(_NEW_WORK) and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


@event.listens_for(Session, "after_commit")
def _wake_local_sender(session: Session) -> None:
    if session.in_nested_transaction():  # after_commit fires for a savepoint's release too
        return
    if session.info.pop(_NEW_WORK, None):
        new_work()


@event.listens_for(Session, "after_rollback")
def _forget_new_work(session: Session) -> None:
    session.info.pop(_NEW_WORK, None)
