"""Twilio SMS: incoming-message and status-callback webhooks, sending (signatures: ``signature.py``).

Twilio's words (``MessageStatus``) are mapped to ours with ``STATUS``; the word itself and the
``ErrorCode`` are kept on the message. Twilio sends one message per REST request (``max_batch = 1``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from twilio.base.exceptions import TwilioException, TwilioRestException

from core.config import Settings
from core.events import DeliveryReport, IncomingSms
from core.vocabulary import MessageStatus
from providers.base import OutboundSms, ProviderError, SmsSendResult
from providers.twilio.client import twilio_client

log = logging.getLogger(__name__)
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # it logs every request at INFO
NAME = "twilio"
STATUS_CALLBACK_PATH = "/sms/twilio/status"

STATUS: dict[str, MessageStatus] = {
    "accepted": MessageStatus.QUEUED,
    "scheduled": MessageStatus.QUEUED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
    "partially_delivered": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}


def parse_incoming(form: Mapping[str, str]) -> IncomingSms | None:
    """An incoming-message webhook as our event; None when it is not one."""
    phone = (form.get("From") or "").strip()
    if not phone or "Body" not in form:
        return None
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip() or None
    return IncomingSms(provider=NAME, phone=phone, text=form.get("Body") or "", provider_message_id=sid)


def parse_report(form: Mapping[str, str]) -> DeliveryReport | None:
    """A status callback as our event; None when it names no message or an unknown status."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    word = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    status = STATUS.get(word)
    if not sid or status is None:
        return None
    error = (form.get("ErrorCode") or "").strip()
    return DeliveryReport(provider=NAME, provider_message_id=sid, status=status, provider_status=word, error=error)


class TwilioSmsSender:
    name = NAME
    max_batch = 1

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = twilio_client(settings)

    def send(self, messages: Sequence[OutboundSms]) -> list[SmsSendResult]:
        return [self._send_one(m) for m in messages]

    def _send_one(self, message: OutboundSms) -> SmsSendResult:
        try:
            created = self.client.messages.create(
                to=message.to,
                from_=self.settings.twilio_number,
                body=message.body,
                status_callback=self.settings.public_base_url + STATUS_CALLBACK_PATH,
            )
        except TwilioRestException as exc:  # refused: 21610 unsubscribed, 21211 invalid To, ...
            log.warning("twilio refused message %s: %s %s", message.reference, exc.code, exc.msg)
            reason = f"{exc.code or exc.status}: {exc.msg}"[:200]
            return SmsSendResult(message.reference, message.to, MessageStatus.FAILED, error=reason)
        except (TwilioException, OSError) as exc:  # unreachable (requests' errors are OSErrors)
            log.warning("twilio unreachable for message %s: %s", message.reference, exc.__class__.__name__)
            return SmsSendResult(
                message.reference, message.to, MessageStatus.FAILED, error=f"unreachable: {exc.__class__.__name__}"
            )
        word = str(created.status or "queued").lower()
        return SmsSendResult(
            reference=message.reference,
            to=message.to,
            status=STATUS.get(word, MessageStatus.QUEUED),
            provider_message_id=created.sid,
            provider_status=word,
            error=str(created.error_code or ""),
        )

    def find_sent(self, message: OutboundSms, since: datetime) -> SmsSendResult | None:
        """Ask Twilio for a message to ``message.to`` with the same body, sent since ``since``."""
        try:
            found = self.client.messages.list(to=message.to, date_sent_after=since - timedelta(minutes=5), limit=50)
        except (TwilioException, OSError) as exc:
            raise ProviderError(f"twilio look-up failed: {exc.__class__.__name__}") from exc
        for item in found:
            if (item.body or "") == message.body:
                word = str(item.status or "queued").lower()
                return SmsSendResult(
                    message.reference, message.to, STATUS.get(word, MessageStatus.QUEUED), item.sid, word
                )
        return None


def build(settings: Settings) -> TwilioSmsSender:
    return TwilioSmsSender(settings)
