"""The two channel ports the dispatcher drives, on top of the SMS and voice lines' own outbound services.

- SMS: ``sms.outbound.prepare`` (consent, transliteration, encoding and segment count, one Message
  row per SMS) and ``sms.outbound.send_prepared`` (after commit, batched by the provider's
  ``max_batch``: one request per message on Twilio, many recipients per request on Africa's Talking).
  A lesson delivery sends the lesson's first chunks and question (``sms.service.lesson_texts``); the
  listener answers by SMS like any quiz.
- Voice: ``ivr.outbound.start_call`` (a queued CallSession whose entry plays the lesson) and
  ``ivr.outbound.place_pending`` (after commit). The call's end comes back through
  ``signals.call_finished`` (``campaigns.outcomes``: answered, or a retry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from campaigns.dispatch import CannotTell, NotFound, SendOutcome
from campaigns.models import Campaign, CampaignRun, Delivery, DeliveryStatus
from campaigns.service import content_for_step
from content.catalog import get_catalog
from core.clock import utcnow
from core.config import Settings
from core.db import db
from core.vocabulary import CallStatus, Channel, MessageStatus, Purpose
from ivr.models import CallSession
from listeners.models import Listener
from providers import registry
from providers.base import OutboundSms, ProviderError
from sms import outbound
from sms.encoding import MessageTooLong
from sms.models import Message

log = logging.getLogger(__name__)

MESSAGE_TO_DELIVERY = {
    MessageStatus.QUEUED: DeliveryStatus.QUEUED,
    MessageStatus.SENT: DeliveryStatus.SENT,
    MessageStatus.DELIVERED: DeliveryStatus.DELIVERED,
    MessageStatus.FAILED: DeliveryStatus.FAILED,
}


class _RunSteps(dict):
    """Drip step of each campaign run, looked up once per run (not once per delivery)."""

    def of(self, delivery: Delivery) -> int | None:
        if delivery.run_id not in self:
            self[delivery.run_id] = db.session.scalar(select(CampaignRun.step).where(CampaignRun.id == delivery.run_id))
        return self[delivery.run_id]


@dataclass
class PreparedSms:
    delivery: Delivery
    messages: list[Message]
    delivery_id: int = 0
    message_ids: tuple[int, ...] = ()


class SmsPort:
    channel = Channel.SMS

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow):
        self.settings, self.clock = settings, clock
        self.sender = registry.sms_sender(settings)
        self.steps = _RunSteps()
        self.batch_size = max(self.sender.max_batch, 200)  # deliveries per send (one commit each)
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
            messages = [outbound.prepare(listener, body, now, purpose=Purpose.CAMPAIGN, flush=False) for body in texts]
        except (MessageTooLong, KeyError, ValueError) as exc:
            delivery.status, delivery.error, delivery.updated_at = DeliveryStatus.FAILED, str(exc)[:500], now
            return None
        if not messages or any(m is None for m in messages):
            delivery.status, delivery.updated_at = DeliveryStatus.OPTED_OUT, now
            return None
        return PreparedSms(delivery, messages)

    def after_flush(self, prepared: Sequence[PreparedSms]) -> None:
        """The claim flushed every new Message at once (one batched INSERT): link them to their delivery."""
        for item in prepared:
            item.delivery_id, item.message_ids = item.delivery.id, tuple(m.id for m in item.messages)
            item.delivery.message_id = item.message_ids[0]

    def send(self, prepared: Sequence[PreparedSms]) -> list[SendOutcome]:
        ids = [mid for item in prepared for mid in item.message_ids]
        rows = {m.id: m for m in outbound.send_prepared(ids, self.clock(), sender=self.sender)}
        outcomes = []
        for item in prepared:
            messages = [rows[mid] for mid in item.message_ids if mid in rows]
            failed = next((m for m in messages if m.status == MessageStatus.FAILED), None)
            first = messages[0] if messages else None
            if failed is not None or first is None:
                error = failed.error if failed is not None else "not sent"
                outcomes.append(SendOutcome(item.delivery_id, DeliveryStatus.FAILED, error=error))
            else:
                status = MESSAGE_TO_DELIVERY.get(first.status, DeliveryStatus.QUEUED)
                outcomes.append(SendOutcome(item.delivery_id, status, provider_id=first.provider_message_id or ""))
        return outcomes

    def record(self, outcomes: Sequence[SendOutcome], now: datetime) -> None:
        """The messages already carry their outcome (``send_prepared`` recorded it)."""

    def lookup(self, delivery: Delivery):
        """Did the messages of a delivery interrupted mid-send reach the provider?"""
        claimed = delivery.claimed_at or delivery.created_at
        messages = db.session.scalars(
            select(Message)
            .where(
                Message.listener_id == delivery.listener_id,
                Message.purpose == Purpose.CAMPAIGN,
                Message.created_at >= claimed,
                Message.id >= (delivery.message_id or 0),
            )
            .order_by(Message.id)
        ).all()
        if not messages:
            return NotFound()
        if all(m.provider_message_id for m in messages):
            first = messages[0]
            return SendOutcome(delivery.id, MESSAGE_TO_DELIVERY[first.status], provider_id=first.provider_message_id)
        finder = getattr(self.sender, "find_sent", None)
        if finder is None:
            return CannotTell()
        found_any = False
        try:
            for message in messages:
                if message.provider_message_id:
                    found_any = True
                    continue
                wire = OutboundSms(to=message.phone, body=message.body, reference=str(message.id))
                result = finder(wire, claimed)
                if result is None:
                    continue
                found_any = True
                message.provider_message_id, message.provider_status = (
                    result.provider_message_id,
                    result.provider_status,
                )
                message.status, message.sent_at, message.updated_at = result.status, claimed, self.clock()
        except ProviderError as exc:
            log.warning("reconcile: %s", exc)
            return CannotTell()
        if not found_any:  # the provider never got them: they will be prepared again
            for message in messages:
                message.status, message.error = MessageStatus.FAILED, "never sent: the dispatcher was interrupted"
            return NotFound()
        first = messages[0]
        return SendOutcome(delivery.id, MESSAGE_TO_DELIVERY[first.status], provider_id=first.provider_message_id or "")


@dataclass(frozen=True)
class PreparedCall:
    delivery_id: int
    session_id: int


class VoicePort:
    channel = Channel.VOICE
    batch_size = 10

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow):
        self.settings, self.clock = settings, clock
        self.rate_per_second = settings.call_rate_per_second
        self.steps = _RunSteps()

    def prepare(self, delivery: Delivery, listener: Listener, campaign: Campaign, now: datetime):
        from ivr.outbound import start_call

        course_id, lesson_id, _ = content_for_step(campaign, self.steps.of(delivery))
        entry = {"entry": "lesson", "course_id": course_id, "lesson_id": lesson_id, "campaign_delivery_id": delivery.id}
        session = start_call(listener, entry, now)
        if session is None:
            delivery.status, delivery.updated_at = DeliveryStatus.OPTED_OUT, now
            return None
        delivery.call_session_id = session.id
        return PreparedCall(delivery.id, session.id)

    def send(self, prepared: Sequence[PreparedCall]) -> list[SendOutcome]:
        from ivr.outbound import place_pending

        accepted = place_pending([p.session_id for p in prepared], self.clock())
        outcomes = []
        for item in prepared:
            session = db.session.get(CallSession, item.session_id)
            if accepted.get(item.session_id):
                outcomes.append(SendOutcome(item.delivery_id, DeliveryStatus.QUEUED, session.provider_call_id or ""))
            else:
                outcomes.append(SendOutcome(item.delivery_id, DeliveryStatus.FAILED, error=session.provider_status))
        return outcomes

    def record(self, outcomes: Sequence[SendOutcome], now: datetime) -> None:
        """The call sessions already carry their outcome (``place_pending`` recorded it)."""

    def lookup(self, delivery: Delivery):
        session = db.session.get(CallSession, delivery.call_session_id) if delivery.call_session_id else None
        if session is None:
            return NotFound()
        if session.provider_call_id:
            return SendOutcome(delivery.id, DeliveryStatus.QUEUED, provider_id=session.provider_call_id)
        if session.status != CallStatus.QUEUED:  # refused by the provider before any call id
            return SendOutcome(delivery.id, DeliveryStatus.FAILED, error=session.provider_status)
        return CannotTell()  # no provider look-up for calls: never ring someone twice by guesswork


def build_ports(settings: Settings, clock: Callable[[], datetime] = utcnow) -> list:
    return [SmsPort(settings, clock), VoicePort(settings, clock)]
