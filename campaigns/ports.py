"""The two channel ports the dispatcher drives, on top of the SMS and voice lines' own outbound services.

- SMS: ``sms.outbound.prepare`` (consent, transliteration, encoding and segment count: one Message row per
  SMS), then one batched INSERT of their outbox rows. A lesson delivery sends the lesson's first chunks and
  question (``sms.service.lesson_texts``); the listener answers by SMS like any quiz.
- Voice: ``ivr.outbound.start_call`` (a queued CallSession whose entry plays the lesson, and its outbox row).
  The call's end comes back through ``signals.call_finished`` (``campaigns.outcomes``: answered, or a retry).

The sender process hands the outbox rows to the provider; nothing here calls a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from campaigns.models import Campaign, CampaignRun, Delivery, DeliveryStatus
from campaigns.service import content_for_step
from content.catalog import get_catalog
from core.clock import utcnow
from core.config import Settings
from core.db import db
from core.outbox import enqueue_rows
from core.vocabulary import Channel, Purpose
from listeners.models import Listener
from sms import outbound
from sms.encoding import MessageTooLong
from sms.models import Message


class _RunSteps(dict):
    """Drip step of each campaign run, looked up once per run (not once per delivery)."""

    def of(self, delivery: Delivery) -> int | None:
        if delivery.run_id not in self:
            self[delivery.run_id] = db.session.scalar(select(CampaignRun.step).where(CampaignRun.id == delivery.run_id))
        return self[delivery.run_id]


@dataclass
class PreparedSms:
    delivery: Delivery
    listener_id: int
    messages: list[Message]


class SmsPort:
    channel = Channel.SMS
    batch_size = 500  # deliveries per transaction

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow):
        self.settings, self.clock = settings, clock
        self.steps = _RunSteps()
        self.rate_per_second = settings.sms_rate_per_second

    def texts(self, delivery: Delivery, listener: Listener, campaign: Campaign, now: datetime) -> list[str]:
        from sms.service import lesson_texts, pack

        course_id, lesson_id, message = content_for_step(campaign, self.steps.of(delivery))
        if lesson_id:
            course = get_catalog().course(course_id)
            return lesson_texts(listener, course, lesson_id, now, settings=self.settings)
        lang = listener.language or self.settings.default_language
        return pack([message[lang]], self.settings)

    def prepare(self, delivery: Delivery, listener: Listener, campaign: Campaign, now: datetime):
        try:
            texts = self.texts(delivery, listener, campaign, now)
            messages = [
                outbound.prepare(listener, body, now, purpose=Purpose.CAMPAIGN, settings=self.settings, flush=False)
                for body in texts
            ]
        except (MessageTooLong, KeyError, ValueError) as exc:
            delivery.status, delivery.error, delivery.updated_at = DeliveryStatus.FAILED, str(exc)[:500], now
            return None
        if not messages or any(m is None for m in messages):
            delivery.status, delivery.updated_at = DeliveryStatus.OPTED_OUT, now
            return None
        return PreparedSms(delivery, listener.id, messages)

    def enqueue(self, prepared: Sequence[PreparedSms], now: datetime) -> None:
        """The batch was flushed (one batched INSERT of the messages): their outbox rows, in one more."""
        rows = []
        for item in prepared:
            item.delivery.message_id = item.messages[0].id
            rows += [
                outbound.outbox_row_for(m, now, campaign_id=item.delivery.campaign_id, delivery_id=item.delivery.id)
                for m in item.messages
            ]
        enqueue_rows(rows)


class VoicePort:
    channel = Channel.VOICE
    batch_size = 50

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow):
        self.settings, self.clock = settings, clock
        self.rate_per_second = settings.call_rate_per_second
        self.steps = _RunSteps()

    def prepare(self, delivery: Delivery, listener: Listener, campaign: Campaign, now: datetime):
        from ivr.outbound import start_call

        course_id, lesson_id, _ = content_for_step(campaign, self.steps.of(delivery))
        entry = {"entry": "lesson", "course_id": course_id, "lesson_id": lesson_id, "campaign_delivery_id": delivery.id}
        session = start_call(
            listener, entry, now, purpose=Purpose.CAMPAIGN, campaign_id=delivery.campaign_id, delivery_id=delivery.id
        )
        if session is None:
            delivery.status, delivery.updated_at = DeliveryStatus.OPTED_OUT, now
            return None
        delivery.call_session_id = session.id
        return session.id

    def enqueue(self, prepared: Sequence[int], now: datetime) -> None:
        """``start_call`` wrote each outbox row with its call session."""


def build_ports(settings: Settings, clock: Callable[[], datetime] = utcnow) -> list:
    return [SmsPort(settings, clock), VoicePort(settings, clock)]
