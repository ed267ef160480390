"""Outbound SMS, the one path every text takes (replies, confirmations, campaigns).

``prepare(listener_or_phone, body, now, purpose=...)`` — inside the caller's transaction: applies the
deployment's transliteration, computes encoding and segments, refuses a text over ``SMS_MAX_SEGMENTS``
(``MessageTooLong``), creates a ``queued`` Message row and its outbox row (``core.outbox``). It returns
None, creating nothing, when the listener has opted out — except for the two consent confirmations and the
resume hint (``may_send``). The
edge commits; the sender process hands the text to the provider (never a webhook) and the outcome comes
back through ``on_outbox_outcomes``, which records provider ids and statuses on the messages in bulk.

Delivery reports come back through ``apply_report``, which never moves a message backwards (callbacks
arrive out of order) and sends ``signals.message_status_changed``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.config import Settings
from core.db import db
from core.events import DeliveryReport
from core.outbox import OutboxItem, OutboxStatus, Outcome, enqueue_rows, enqueue_sms, outbox_outcomes, outbox_row
from core.phones import mask_phone
from core.signals import message_status_changed
from core.vocabulary import Channel, Direction, MessageStatus, Purpose
from listeners.models import Listener
from listeners.service import find_or_create_listener
from sms.encoding import check_length, for_sms
from sms.models import Message

log = logging.getLogger(__name__)

_RANK = {MessageStatus.QUEUED: 0, MessageStatus.SENT: 1, MessageStatus.DELIVERED: 2, MessageStatus.FAILED: 2}
FINAL = frozenset({MessageStatus.DELIVERED, MessageStatus.FAILED})
OPTED_OUT = "opted out: not sent"
UNKNOWN = "outcome unknown: the send was interrupted"


def _settings() -> Settings:
    return current_app.config["KALANSO"]


RESUME_HINT_EVERY = timedelta(hours=24)


def resume_hint_due(listener: Listener, now: datetime) -> bool:
    """Whether an opted-out listener who texts may be told how to opt back in: not if they were told in the
    last 24 hours (a resume hint, or the opt-out confirmation, which says it too). The listener's row is
    locked for the turn, so two texts at once see each other's hint."""
    told = db.session.scalars(
        select(Message.id)
        .where(
            Message.listener_id == listener.id,
            Message.direction == Direction.OUTBOUND,
            Message.purpose.in_([Purpose.RESUME_HINT.value, Purpose.OPT_OUT_CONFIRMATION.value]),
            Message.status != MessageStatus.FAILED,
            Message.created_at > now - RESUME_HINT_EVERY,
        )
        .limit(1)
    ).first()
    return told is None


def may_send(
    listener: Listener | None, purpose: str, *, exclude: int | None = None, now: datetime | None = None
) -> bool:
    """Whether a message of this purpose may go to this listener now.

    An opted-out listener gets the opt-out confirmation (once: only while none was sent since they
    opted out), the opt-in confirmation, and the resume hint (with ``now``: at most once in 24 hours,
    see ``resume_hint_due``); nothing else, by any code path.
    """
    if listener is None or not listener.opted_out:
        return purpose != Purpose.RESUME_HINT  # the hint is for opted-out listeners only
    if purpose == Purpose.OPT_IN_CONFIRMATION:
        return True
    if purpose == Purpose.RESUME_HINT:
        return now is not None and resume_hint_due(listener, now)
    if purpose == Purpose.OPT_OUT_CONFIRMATION:
        since = listener.opted_out_at
        query = select(Message.id).where(
            Message.listener_id == listener.id,
            Message.direction == Direction.OUTBOUND,
            Message.purpose == Purpose.OPT_OUT_CONFIRMATION,
            Message.status != MessageStatus.FAILED,
        )
        if since is not None:
            query = query.where(Message.created_at >= since)
        if exclude is not None:
            query = query.where(Message.id != exclude)
        return db.session.scalars(query.limit(1)).first() is None
    return False


def prepare(
    target: Listener | str,
    body: str,
    now: datetime,
    *,
    purpose: str = Purpose.OTHER,
    provider: str | None = None,
    settings: Settings | None = None,
    flush: bool = True,
) -> Message | None:
    """A queued outbound message and its outbox row (flushed), or None if the listener may not be contacted.

    With ``flush=False`` (a caller that prepares many and flushes once) only the Message is added: the
    caller writes the outbox rows after its flush (``campaigns.ports``). Raises ``MessageTooLong`` over the
    segment limit, ``InvalidPhone`` for a bad number and ``ValueError`` for an empty text: an author's
    mistake gets a clear error, never a cut text.
    """
    settings = settings or _settings()
    listener = target if isinstance(target, Listener) else find_or_create_listener(target, now)
    phone = listener.phone
    if not may_send(listener, purpose, now=now):
        log.info("SMS to %s not prepared: the listener opted out (%s)", mask_phone(phone), purpose)
        return None
    text = for_sms(body, transliterate=settings.sms_transliterate).strip()
    if not text:
        raise ValueError("an SMS needs a text")
    found = check_length(text, settings)
    message = Message(
        provider=provider or settings.sms_provider,
        listener_id=listener.id,
        phone=phone,
        direction=Direction.OUTBOUND,
        body=text,
        status=MessageStatus.QUEUED,
        provider_status="",
        error="",
        encoding=found.encoding,
        segments=found.segments,
        purpose=str(purpose),
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    if flush:
        db.session.flush()
        enqueue_sms(
            listener_id=listener.id,
            phone=phone,
            body=text,
            provider=message.provider,
            purpose=str(purpose),
            now=now,
            message_id=message.id,
        )
    return message


def outbox_row_for(message: Message, now: datetime, **fields) -> dict:
    """The outbox row that sends ``message`` (flushed, so it has its id); ``fields`` add e.g. a campaign's ids."""
    return outbox_row(
        channel=Channel.SMS,
        listener_id=message.listener_id,
        phone=message.phone,
        body=message.body,
        provider=message.provider,
        purpose=message.purpose,
        now=now,
        message_id=message.id,
        **fields,
    )


def enqueue(messages: Sequence[Message], now: datetime, **fields) -> None:
    """The outbox rows of messages prepared with ``flush=False`` (one flush for all, one batched INSERT)."""
    if not messages:
        return
    db.session.flush()
    enqueue_rows([outbox_row_for(m, now, **fields) for m in messages])


_OUTCOME_UPDATE = (
    update(Message.__table__)
    .where(Message.__table__.c.id == bindparam("b_id"), Message.__table__.c.status == MessageStatus.QUEUED.value)
    .values(
        status=bindparam("b_status"),
        provider_message_id=bindparam("b_provider_id"),
        provider_status=bindparam("b_provider_status"),
        error=bindparam("b_error"),
        sent_at=bindparam("b_sent_at"),
        updated_at=bindparam("b_now"),
    )
)


def on_outbox_outcomes(_sender, outcomes: list[Outcome], now: datetime, **_) -> None:
    """Record what the provider said on the messages (one batched UPDATE; never moves a message backwards)."""
    params = []
    for o in outcomes:
        if o.message_id is None or o.status == OutboxStatus.PENDING:
            continue
        if o.status == OutboxStatus.SENT:
            status = MessageStatus(o.detail_status) if o.detail_status else MessageStatus.QUEUED
            status = MessageStatus.QUEUED if status == MessageStatus.RECEIVED else status
            error = o.error
        elif o.status == OutboxStatus.UNKNOWN:
            status, error = MessageStatus.QUEUED, UNKNOWN
        else:  # failed, or cancelled by an opt-out
            status, error = (
                MessageStatus.FAILED,
                ((o.error or OPTED_OUT) if o.status == OutboxStatus.CANCELLED else o.error),
            )
        params.append(
            {
                "b_id": o.message_id,
                "b_status": status.value,
                "b_provider_id": o.provider_id or None,
                "b_provider_status": o.provider_status[:40],
                "b_error": error[:200],
                "b_sent_at": now if status in (MessageStatus.SENT, MessageStatus.DELIVERED) else None,
                "b_now": now,
            }
        )
    if params:
        db.session.execute(_OUTCOME_UPDATE, params)


def connect() -> None:
    outbox_outcomes.connect(on_outbox_outcomes, weak=False)


def apply_report(report: DeliveryReport, now: datetime) -> Message | None:
    """Record a delivery report on its message (flushed); None when no message of ours matches.

    A report that names our own reference (the outbox row, echoed by a gateway's delivery-report URL) finds its
    message even before the sender has recorded the provider's answer: a gateway may report delivery within
    milliseconds of accepting a text. The provider's id is then kept from the report."""
    row = _reported_message(report)
    if row is None or row.direction != Direction.OUTBOUND:
        log.info("delivery report for an unknown %s message: ignored", report.provider)
        return None
    if row.provider_message_id is None and report.provider_message_id:
        row.provider_message_id = report.provider_message_id
    previous = row.status
    if previous in FINAL or _RANK[report.status] < _RANK[previous]:
        return row  # late or out-of-order report: the message never moves backwards
    row.status = report.status
    row.provider_status = report.provider_status[:40]
    if report.error or report.status == MessageStatus.FAILED:
        row.error = report.error[:200]
    if report.status in (MessageStatus.SENT, MessageStatus.DELIVERED):
        row.sent_at = row.sent_at or now
    if report.status == MessageStatus.DELIVERED:
        row.delivered_at = now
    row.updated_at = now
    db.session.flush()
    if previous != row.status:
        message_status_changed.send(row, now=now, previous=previous)
    return row


def _reported_message(report: DeliveryReport) -> Message | None:
    """The report's message, its row locked until the caller commits: two reports about one message (a gateway
    sends "accepted by the SMSC" and "delivered" within milliseconds) are applied one after the other, the second
    seeing the first, so that the message never moves backwards."""
    locked = {"populate_existing": True}
    reference = report.reference
    if reference.isascii() and reference.isdigit() and len(reference) <= 10 and int(reference) < 2**31:
        found = db.session.scalars(
            select(Message)
            .join(OutboxItem, OutboxItem.message_id == Message.id)
            .where(
                OutboxItem.id == int(reference),
                OutboxItem.channel == Channel.SMS,
                OutboxItem.provider == report.provider,
            )
            .with_for_update(of=Message)
            .execution_options(**locked)
        ).first()
        if found is not None:
            return found
    if not report.provider_message_id:
        return None
    return db.session.scalars(
        select(Message)
        .filter_by(provider=report.provider, provider_message_id=report.provider_message_id)
        .with_for_update()
        .execution_options(**locked)
    ).first()


def record_incoming(provider: str, phone: str, text: str, provider_message_id: str | None, listener, now) -> bool:
    """Keep an incoming text; False if the provider already delivered this one (a retry, even a concurrent one:
    the unique provider id decides, in the one INSERT)."""
    values = {
        "provider": provider,
        "provider_message_id": provider_message_id,
        "listener_id": listener.id if listener is not None else None,
        "phone": phone,
        "direction": Direction.INBOUND.value,
        "body": text[:1600],
        "status": MessageStatus.RECEIVED.value,
        "provider_status": "received",
        "error": "",
        "encoding": "",
        "segments": None,
        "purpose": "",
        "created_at": now,
        "updated_at": now,
    }
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Message.__table__).values(**values)
    if provider_message_id:
        insert = insert.on_conflict_do_nothing(index_elements=["provider", "provider_message_id"])
    return db.session.execute(insert.returning(Message.__table__.c.id)).first() is not None


def conversation(phone: str, *, since_id: int = 0, limit: int = 200) -> Sequence[Message]:
    """Messages to and from a number after message id ``since_id``, oldest first (the simulator)."""
    return db.session.scalars(
        select(Message).where(Message.phone == phone, Message.id > since_id).order_by(Message.id).limit(limit)
    ).all()
