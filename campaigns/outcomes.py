"""Outcomes flow back into deliveries: delivery reports, call endings, opt-outs and lesson completions.

Receivers of the domain signals (``signals.py``); they run inside the sender's transaction and only
flush. Voice retries (busy / no answer / failed) and the SMS fallback are decided here.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select, update

from campaigns import schedule
from campaigns.models import Campaign, CampaignRun, Delivery, DeliveryStatus
from campaigns.service import content_for_step, window_for
from core.db import db
from core.signals import call_finished, lesson_completed, listener_opted_out, message_status_changed
from core.vocabulary import Channel
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
    if status not in RETRYABLE:
        delivery.status = status
        db.session.flush()
        return
    campaign = db.session.get(Campaign, delivery.campaign_id)
    settings = current_app.config["KALANSO"]
    retry_at = schedule.retry_due(delivery.attempts, now, window_for(campaign, settings), campaign.max_retries)
    if retry_at is not None:
        delivery.status, delivery.due_at, delivery.claim_token = DeliveryStatus.PENDING, retry_at, ""
        delivery.error = f"attempt {delivery.attempts}: {status.value}"
    elif campaign.sms_fallback and not delivery.fallback_sent:
        delivery.channel, delivery.status, delivery.fallback_sent = Channel.SMS, DeliveryStatus.PENDING, True
        delivery.due_at, delivery.claim_token = window_for(campaign, settings).next_open(now), ""
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


def on_lesson_completed(listener, course_id: str, lesson_id: str, now: datetime, **_) -> None:
    """Attribute a completion to the latest delivery that sent this lesson to this listener."""
    candidates = db.session.execute(
        select(Delivery, Campaign)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.listener_id == listener.id,
            Delivery.completed_at.is_(None),
            Delivery.status.in_(
                [DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.ANSWERED]
            ),
        )
        .order_by(Delivery.updated_at.desc())
    ).all()
    for delivery, campaign in candidates:
        run = db.session.get(CampaignRun, delivery.run_id)
        sent_course, sent_lesson, _ = content_for_step(campaign, run.step if run else None)
        if (sent_course, sent_lesson) == (course_id, lesson_id):
            delivery.completed_at = now
            db.session.flush()
            return


def connect() -> None:
    """Subscribe the receivers (idempotent)."""
    message_status_changed.connect(on_message_status, weak=False)
    call_finished.connect(on_call_finished, weak=False)
    listener_opted_out.connect(on_opted_out, weak=False)
    lesson_completed.connect(on_lesson_completed, weak=False)
