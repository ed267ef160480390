"""Outbound SMS, the one path every text takes (replies, confirmations, campaigns).

1. ``prepare(listener_or_phone, body, now, purpose=...)`` — inside the caller's transaction: applies
   the deployment's transliteration, computes encoding and segments, refuses a text over
   ``SMS_MAX_SEGMENTS`` (``MessageTooLong``), and creates a ``queued`` Message row. It returns None,
   creating nothing, when the listener has opted out — except for the two consent confirmations.
2. The edge commits.
3. ``send_prepared(messages, now)`` — after the commit: checks consent again (a STOP may have
   arrived in between), hands the texts to the provider in batches, then records provider ids and
   statuses in a short transaction of its own.

Delivery reports come back through ``apply_report``, which never moves a message backwards
(callbacks arrive out of order) and sends ``signals.message_status_changed``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import db
from core.events import DeliveryReport
from core.phones import mask_phone, normalize_phone
from core.signals import message_status_changed
from core.vocabulary import Direction, MessageStatus, Purpose
from listeners.models import Listener
from listeners.service import find_listener
from providers import registry
from providers.base import OutboundSms, SmsSender, SmsSendResult
from sms.encoding import check_length, for_sms
from sms.models import Message

log = logging.getLogger(__name__)

_RANK = {MessageStatus.QUEUED: 0, MessageStatus.SENT: 1, MessageStatus.DELIVERED: 2, MessageStatus.FAILED: 2}
FINAL = frozenset({MessageStatus.DELIVERED, MessageStatus.FAILED})
OPTED_OUT = "opted out: not sent"
_UNCOMMITTED = "kalanso.sms.prepared_uncommitted"


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_prepared(session: Session) -> None:
    session.info.pop(_UNCOMMITTED, None)


class SendingInsideTransaction(RuntimeError):
    """``send_prepared`` was called with uncommitted changes: commit first, then send."""


def _settings() -> Settings:
    return current_app.config["KALANSO"]


def may_send(listener: Listener | None, purpose: str, *, exclude: int | None = None) -> bool:
    """Whether a message of this purpose may go to this listener now.

    An opted-out listener gets the opt-out confirmation (once: only while none was sent since they
    opted out) and the opt-in confirmation; nothing else, by any code path.
    """
    if listener is None or not listener.opted_out:
        return True
    if purpose == Purpose.OPT_IN_CONFIRMATION:
        return True
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
    """A queued outbound message (flushed, unless ``flush=False`` for a caller that prepares many and
    flushes once), or None if the listener may not be contacted.

    Raises ``MessageTooLong`` over the segment limit, ``InvalidPhone`` for a bad number and
    ``ValueError`` for an empty text: an author's mistake gets a clear error, never a cut text.
    """
    settings = settings or _settings()
    listener = target if isinstance(target, Listener) else find_listener(target)
    phone = listener.phone if listener is not None else normalize_phone(target)
    if not may_send(listener, purpose):
        log.info("SMS to %s not prepared: the listener opted out (%s)", mask_phone(phone), purpose)
        return None
    text = for_sms(body, transliterate=settings.sms_transliterate).strip()
    if not text:
        raise ValueError("an SMS needs a text")
    found = check_length(text, settings)
    message = Message(
        provider=provider or settings.sms_provider,
        listener_id=listener.id if listener is not None else None,
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
    db.session.info[_UNCOMMITTED] = True
    return message


def send_prepared(
    messages: Iterable[Message | int], now: datetime, *, sender: SmsSender | None = None
) -> list[Message]:
    """Send queued messages through the provider, after the caller's commit; record the outcome.

    Commits its own short transactions. Returns the messages with their new status.
    """
    if db.session.new or db.session.dirty or db.session.deleted or db.session.info.get(_UNCOMMITTED):
        raise SendingInsideTransaction("commit the messages before sending them")
    ids = [m.id if isinstance(m, Message) else int(m) for m in messages]
    if not ids:
        return []
    rows = db.session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)).all()
    listener_ids = {row.listener_id for row in rows if row.listener_id}
    listeners = (
        {li.id: li for li in db.session.scalars(select(Listener).where(Listener.id.in_(listener_ids)))}
        if listener_ids
        else {}
    )  # one query for all, not one per message
    to_send: list[Message] = []
    for row in rows:
        if row.direction != Direction.OUTBOUND or row.status != MessageStatus.QUEUED or row.provider_message_id:
            continue  # already handed over (or not ours to send)
        listener = listeners.get(row.listener_id) if row.listener_id else None
        if not may_send(listener, row.purpose, exclude=row.id):
            _apply(row, SmsSendResult(str(row.id), row.phone, MessageStatus.FAILED, error=OPTED_OUT), now)
            continue
        to_send.append(row)
    by_provider: dict[str, list[OutboundSms]] = {}
    for row in to_send:
        by_provider.setdefault(row.provider, []).append(OutboundSms(to=row.phone, body=row.body, reference=str(row.id)))
    send_ids = [row.id for row in to_send]
    db.session.commit()  # ends the transaction: the provider is called outside any

    outcomes: list[SmsSendResult] = []
    for provider, wire in by_provider.items():
        outcomes.extend(_send_batches(sender or registry.sms_sender_for(provider), wire))
    # one query reloads every row the commit expired (instead of one refresh per row)
    by_id = {str(m.id): m for m in db.session.scalars(select(Message).where(Message.id.in_(send_ids)))}
    for outcome in outcomes:
        row = by_id.get(outcome.reference)
        if row is not None:
            _apply(row, outcome, now)
    db.session.commit()
    return list(rows)


def _send_batches(sender: SmsSender, queued: list[OutboundSms]) -> list[SmsSendResult]:
    outcomes: list[SmsSendResult] = []
    size = max(sender.max_batch, 1)
    for start in range(0, len(queued), size):
        wire = queued[start : start + size]
        try:
            outcomes.extend(sender.send(wire))
        except Exception as exc:  # an adapter bug must not lose the record of what happened
            log.exception("SMS provider %s failed on a batch of %d", sender.name, len(wire))
            outcomes.extend(
                SmsSendResult(
                    w.reference, w.to, MessageStatus.FAILED, error=f"provider error: {exc.__class__.__name__}"
                )
                for w in wire
            )
    return outcomes


def _apply(row: Message, outcome: SmsSendResult, now: datetime) -> None:
    previous = row.status
    row.status = outcome.status
    row.provider_message_id = outcome.provider_message_id or row.provider_message_id
    row.provider_status = outcome.provider_status[:40]
    row.error = outcome.error[:200]
    row.updated_at = now
    if outcome.status in (MessageStatus.SENT, MessageStatus.DELIVERED):
        row.sent_at = row.sent_at or now
    if previous != row.status:  # no flush per row: the caller's commit writes them all at once
        message_status_changed.send(row, now=now, previous=previous)


def apply_report(report: DeliveryReport, now: datetime) -> Message | None:
    """Record a delivery report on its message (flushed); None when no message of ours matches."""
    row = db.session.scalars(
        select(Message).filter_by(provider=report.provider, provider_message_id=report.provider_message_id)
    ).first()
    if row is None or row.direction != Direction.OUTBOUND:
        log.info("delivery report for an unknown %s message: ignored", report.provider)
        return None
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


def record_incoming(provider: str, phone: str, text: str, provider_message_id: str | None, listener, now) -> bool:
    """Keep an incoming text; False if the provider already delivered this one (a retry)."""
    if provider_message_id:
        seen = db.session.scalars(
            select(Message.id).filter_by(provider=provider, provider_message_id=provider_message_id)
        ).first()
        if seen is not None:
            return False
    db.session.add(
        Message(
            provider=provider,
            provider_message_id=provider_message_id,
            listener_id=listener.id if listener is not None else None,
            phone=phone,
            direction=Direction.INBOUND,
            body=text[:1600],
            status=MessageStatus.RECEIVED,
            provider_status="received",
            error="",
            encoding="",
            segments=None,
            purpose="",
            created_at=now,
            updated_at=now,
        )
    )
    db.session.flush()
    return True


def conversation(phone: str, *, since_id: int = 0, limit: int = 200) -> Sequence[Message]:
    """Messages to and from a number after message id ``since_id``, oldest first (the simulator)."""
    return db.session.scalars(
        select(Message).where(Message.phone == phone, Message.id > since_id).order_by(Message.id).limit(limit)
    ).all()
