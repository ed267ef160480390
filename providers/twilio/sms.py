"""Twilio SMS: incoming-message and status-callback webhooks, sending (signatures: ``signature.py``).

The platform's words (``MessageStatus``) are mapped to ours with its table in ``dialect.py`` (Twilio's or
Somleng's, ``TWILIO_COMPATIBLE``); the word itself and the ``ErrorCode`` (Somleng sends none) are kept on the
message. One message per REST request (``max_batch = 1``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from twilio.base.exceptions import TwilioException, TwilioRestException

from core.config import Settings
from core.events import DeliveryReport, IncomingSms
from core.vocabulary import MessageStatus
from providers import fields
from providers.base import OutboundSms, ProviderError, SmsSendResult, never_reached
from providers.twilio.client import twilio_client
from providers.twilio.dialect import dialect

log = logging.getLogger(__name__)
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # it logs every request at INFO
NAME = "twilio"
STATUS_CALLBACK_PATH = "/sms/twilio/status"


def parse_incoming(form: Mapping[str, str]) -> IncomingSms | None:
    """An incoming-message webhook as our event; None when it is not one, or a field is out of bounds
    (``providers.fields``: ids and numbers bounded, ``Body`` cleaned and cut to 1600 characters)."""
    try:
        phone = fields.phone(form.get("From"), "From")
        sid = fields.ident(form.get("MessageSid") or form.get("SmsSid"), "MessageSid") or None
    except ValueError:
        return None
    if not phone or "Body" not in form:
        return None
    return IncomingSms(provider=NAME, phone=phone, text=fields.text(form.get("Body")), provider_message_id=sid)


def parse_report(form: Mapping[str, str], settings: Settings) -> DeliveryReport | None:
    """A status callback as our event; None when it names no message, a status the platform does not send, or a
    field is out of bounds."""
    try:
        sid = fields.ident(form.get("MessageSid") or form.get("SmsSid"), "MessageSid")
        word = fields.word(form.get("MessageStatus") or form.get("SmsStatus"), "MessageStatus").lower()
        error = fields.word(form.get("ErrorCode"), "ErrorCode")
    except ValueError:
        return None
    status = dialect(settings).message_status.get(word)
    if not sid or status is None:
        return None
    return DeliveryReport(provider=NAME, provider_message_id=sid, status=status, provider_status=word, error=error)


class TwilioSmsSender:
    name = NAME
    max_batch = 1

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = twilio_client(settings)
        self.status = dialect(settings).message_status

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
                message.reference,
                message.to,
                MessageStatus.FAILED,
                error=f"unreachable: {exc.__class__.__name__}",
                retryable=never_reached(exc),
            )
        word = str(created.status or "queued").lower()
        return SmsSendResult(
            reference=message.reference,
            to=message.to,
            status=self.status.get(word, MessageStatus.QUEUED),
            provider_message_id=created.sid,
            provider_status=word,
            error=str(created.error_code or ""),
        )

    def find_sent(self, message: OutboundSms, since: datetime) -> SmsSendResult | None:
        """Ask the platform for a message to ``message.to`` with the same body, sent since ``since``. The number is
        compared here too: Somleng's message list takes no filter (its MessagesController lists them all)."""
        try:
            found = self.client.messages.list(to=message.to, date_sent_after=since - timedelta(minutes=5), limit=50)
        except (TwilioException, OSError) as exc:
            raise ProviderError(f"twilio look-up failed: {exc.__class__.__name__}") from exc
        for item in found:
            if item.to == message.to and (item.body or "") == message.body:
                word = str(item.status or "queued").lower()
                return SmsSendResult(
                    message.reference, message.to, self.status.get(word, MessageStatus.QUEUED), item.sid, word
                )
        return None


def build(settings: Settings) -> TwilioSmsSender:
    return TwilioSmsSender(settings)
