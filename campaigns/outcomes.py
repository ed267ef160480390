"""Outcomes flow back into deliveries: what the sender was told, delivery reports, call endings, opt-outs
and lesson completions.

Receivers of the domain signals (``core.signals``) and of ``core.outbox.outbox_outcomes``; they run inside
the sender's transaction and only flush. Voice retries (busy / no answer / failed) and the SMS fallback are
decided here.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import bindparam, or_, select, update

from campaigns import schedule
from campaigns.models import Campaign, CampaignRun, CampaignState, Delivery, DeliveryStatus
from campaigns.service import CANCEL_REASON, content_for_step, window_for
from core.db import db
from core.outbox import OutboxStatus, Outcome, outbox_outcomes
from core.signals import call_finished, lesson_completed, lesson_started, listener_opted_out, message_status_changed
from core.vocabulary import Channel, MessageStatus
from listeners.models import Listener

MESSAGE_TO_DELIVERY = {
    "queued": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "failed": DeliveryStatus.FAILED,
}
CALL_TO_DELIVERY = {
    "completed": DeliveryStatus.ANSWERED,
    "in_progress": DeliveryStatus.ANSWERED,
    "busy": DeliveryStatus.BUSY,
    "no_answer": DeliveryStatus.NO_ANSWER,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
    "rejected": DeliveryStatus.FAILED,
}
RETRYABLE = {DeliveryStatus.BUSY, DeliveryStatus.NO_ANSWER, DeliveryStatus.FAILED}


def on_message_status(message, now: datetime, **_) -> None:
    with db.session.no_autoflush:  # finding the delivery needs nothing unflushed; the caller commits
        delivery = db.session.scalars(select(Delivery).filter_by(message_id=message.id)).first()
    status = MESSAGE_TO_DELIVERY.get(str(message.status))
    if delivery is None or status is None or delivery.status in (DeliveryStatus.OPTED_OUT, DeliveryStatus.CANCELLED):
        return
    if delivery.status == DeliveryStatus.DELIVERED and status != DeliveryStatus.FAILED:
        return  # reports may arrive out of order: never step back from delivered
    delivery.status, delivery.updated_at = status, now
    delivery.error = message.error or delivery.error


def on_call_finished(call_session, now: datetime, **_) -> None:
    delivery = db.session.scalars(select(Delivery).filter_by(call_session_id=call_session.id)).first()
    status = CALL_TO_DELIVERY.get(str(call_session.status))
    if delivery is None or status is None or delivery.channel != Channel.VOICE:
        return
    if delivery.status in (DeliveryStatus.OPTED_OUT, DeliveryStatus.CANCELLED, DeliveryStatus.ANSWERED):
        return
    delivery.updated_at = now
    listener = db.session.get(Listener, delivery.listener_id)
    if listener is not None and listener.opted_out:  # never retried, never an SMS fallback
        delivery.status = DeliveryStatus.OPTED_OUT
        db.session.flush()
        return
    campaign = db.session.get(Campaign, delivery.campaign_id)
    if status not in RETRYABLE or campaign.state == CampaignState.CANCELLED:  # cancelled: no retry, no fallback
        delivery.status = status
        db.session.flush()
        return
    settings = current_app.config["KALANSO"]
    retry_at = schedule.retry_due(delivery.attempts, now, window_for(campaign, settings), campaign.max_retries)
    if retry_at is not None:
        delivery.status, delivery.due_at = DeliveryStatus.PENDING, retry_at
        delivery.error = f"attempt {delivery.attempts}: {status.value}"
    elif campaign.sms_fallback and not delivery.fallback_sent:
        delivery.channel, delivery.status, delivery.fallback_sent = Channel.SMS, DeliveryStatus.PENDING, True
        delivery.due_at = window_for(campaign, settings).next_open(now)
        delivery.error = f"every call attempt failed ({status.value}): SMS fallback"
    else:
        delivery.status = status
    db.session.flush()


def on_opted_out(listener, now: datetime, **_) -> None:
    db.session.execute(
        update(Delivery)
        .where(Delivery.listener_id == listener.id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.OPTED_OUT, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()


SENT_OR_BEYOND = [
    DeliveryStatus.SENDING, DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
    DeliveryStatus.ANSWERED,
]  # fmt: skip


def _delivery_that_sent(listener_id: int, course_id: str, lesson_id: str, *, unset) -> Delivery | None:
    """The latest delivery that sent this lesson to this listener and whose ``unset`` column is still empty."""
    with db.session.no_autoflush:  # the turn's own rows are flushed with it; finding the delivery needs none
        candidates = db.session.execute(
            select(Delivery, Campaign)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Delivery.listener_id == listener_id, unset.is_(None), Delivery.status.in_(SENT_OR_BEYOND))
            .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
        ).all()
        for delivery, campaign in candidates:
            run = db.session.get(CampaignRun, delivery.run_id)
            sent_course, sent_lesson, _ = content_for_step(campaign, run.step if run else None)
            if (sent_course, sent_lesson) == (course_id, lesson_id):
                return delivery
    return None


def on_lesson_started(listener, course_id: str, lesson_id: str, now: datetime, **_) -> None:
    """Attribute a lesson start to the latest delivery that sent this lesson to this listener."""
    delivery = _delivery_that_sent(listener.id, course_id, lesson_id, unset=Delivery.started_at)
    if delivery is not None:
        delivery.started_at = now


def on_lesson_completed(listener, course_id: str, lesson_id: str, now: datetime, **_) -> None:
    """Attribute a completion to the latest delivery that sent this lesson to this listener (a completion is a
    start too, should the start have gone unseen)."""
    delivery = _delivery_that_sent(listener.id, course_id, lesson_id, unset=Delivery.completed_at)
    if delivery is not None:
        delivery.completed_at = now
        delivery.started_at = delivery.started_at or now
        db.session.flush()


UNKNOWN_ERROR = "outcome unknown after an interrupted send; not resent automatically"
_FROM_SENDING = [DeliveryStatus.SENDING.value]
_FROM_HANDED = [DeliveryStatus.SENDING.value, DeliveryStatus.QUEUED.value, DeliveryStatus.SENT.value]


def _delivery_update(allowed_from: list[str]):
    table = Delivery.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"), or_(*(table.c.status == status for status in allowed_from)))
        .values(
            status=bindparam("b_status"),
            provider_id=bindparam("b_provider_id"),
            error=bindparam("b_error"),
            updated_at=bindparam("b_now"),
        )
    )


_UPDATE_FROM_SENDING = _delivery_update(_FROM_SENDING)
_UPDATE_FROM_HANDED = _delivery_update(_FROM_HANDED)


def on_outbox_outcomes(_sender, outcomes: list[Outcome], now: datetime, **_) -> None:
    """What the sender was told about each delivery's outbox rows, in two batched UPDATEs.

    SMS: accepted → queued / sent (the provider's word); refused → failed (also after an earlier message of
    the same lesson went); cancelled by a STOP → opted_out; interrupted and unknowable → unknown. Voice: a
    placed call → queued (its end comes through ``call_finished``, which also handles refusals and
    cancellations, with retries and the SMS fallback)."""
    first, handed = [], []
    for o in outcomes:
        if o.delivery_id is None or o.status == OutboxStatus.PENDING:
            continue
        error = o.error
        if o.status == OutboxStatus.SENT:
            word = MessageStatus(o.detail_status) if o.channel == Channel.SMS and o.detail_status else None
            status = MESSAGE_TO_DELIVERY.get(word.value, DeliveryStatus.QUEUED) if word else DeliveryStatus.QUEUED
        elif o.status == OutboxStatus.UNKNOWN:
            status, error = DeliveryStatus.UNKNOWN, UNKNOWN_ERROR
        elif o.channel == Channel.VOICE:
            continue  # refused or cancelled calls end their session: on_call_finished decides
        elif o.status == OutboxStatus.CANCELLED and o.error == CANCEL_REASON:
            continue  # the campaign was cancelled: its deliveries were settled with their rows
        elif o.status == OutboxStatus.CANCELLED:
            status = DeliveryStatus.OPTED_OUT
        else:
            status = DeliveryStatus.FAILED
        params = {"b_id": o.delivery_id, "b_status": status.value, "b_provider_id": o.provider_id[:64],
                  "b_error": error[:500], "b_now": now}  # fmt: skip
        (handed if status == DeliveryStatus.FAILED else first).append(params)
    if first:
        db.session.execute(_UPDATE_FROM_SENDING, first)
    if handed:
        db.session.execute(_UPDATE_FROM_HANDED, handed)


def connect() -> None:
    """Subscribe the receivers (idempotent)."""
    outbox_outcomes.connect(on_outbox_outcomes, weak=False)
    message_status_changed.connect(on_message_status, weak=False)
    call_finished.connect(on_call_finished, weak=False)
    listener_opted_out.connect(on_opted_out, weak=False)
    lesson_started.connect(on_lesson_started, weak=False)
    lesson_completed.connect(on_lesson_completed, weak=False)
