"""Africa's Talking SMS: incoming-message and delivery-report callbacks, bulk sending.

AT signs nothing: its callbacks carry our secret path segment (``AT_CALLBACK_SECRET``) instead,
checked by ``verify_secret``. AT's status words and codes are mapped to ours with lookup tables;
the word and the ``failureReason`` are kept. One request carries many recipients of the same text,
so ``send`` groups equal bodies (``max_batch`` recipients per request).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping, Sequence

from africastalking.Service import AfricasTalkingException

from core.config import Settings
from core.events import DeliveryReport, IncomingSms
from core.vocabulary import MessageStatus
from providers import fields
from providers.africastalking.client import at_sms
from providers.base import OutboundSms, SmsSendResult, never_reached

log = logging.getLogger(__name__)
NAME = "africastalking"

# Delivery reports (``status``).
STATUS: dict[str, MessageStatus] = {
    "sent": MessageStatus.SENT,
    "submitted": MessageStatus.SENT,
    "buffered": MessageStatus.SENT,
    "success": MessageStatus.DELIVERED,
    "rejected": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
    "absentsubscriber": MessageStatus.FAILED,
    "expired": MessageStatus.FAILED,
}

# The send response's per-recipient ``statusCode``; any other code is a failure (401 RiskHold, 403
# InvalidPhoneNumber, 405 InsufficientBalance, 406 UserInBlacklist, 5xx gateway errors...).
SEND_STATUS: dict[int, MessageStatus] = {
    100: MessageStatus.QUEUED,  # Processed
    101: MessageStatus.SENT,  # Sent ("Success")
    102: MessageStatus.QUEUED,  # Queued
}


def verify_secret(given: str, settings: Settings) -> bool:
    """The callback URL's secret segment matches ``AT_CALLBACK_SECRET`` (never when it is unset)."""
    secret = settings.at_callback_secret
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


def parse_incoming(form: Mapping[str, str]) -> IncomingSms | None:
    """An incoming-SMS callback as our event; None when it is not one, or a field is out of bounds
    (``providers.fields``: ``id`` and ``from`` bounded, ``text`` cleaned and cut to 1600 characters)."""
    try:
        phone = fields.phone(form.get("from"), "from")
        message_id = fields.ident(form.get("id"), "id") or None
    except ValueError:
        return None
    if not phone or "text" not in form:
        return None
    return IncomingSms(provider=NAME, phone=phone, text=fields.text(form.get("text")), provider_message_id=message_id)


def parse_report(form: Mapping[str, str]) -> DeliveryReport | None:
    """A delivery report as our event; None when it names no message, an unknown status, or a field is out of
    bounds (``failureReason`` is cut to 200 characters, as stored)."""
    try:
        message_id = fields.ident(form.get("id"), "id")
        word = fields.word(form.get("status"), "status")
    except ValueError:
        return None
    status = STATUS.get(word.lower())
    if not message_id or status is None:
        return None
    reason = fields.text(form.get("failureReason")).strip()[:200]
    return DeliveryReport(
        provider=NAME, provider_message_id=message_id, status=status, provider_status=word, error=reason
    )


class AfricasTalkingSmsSender:
    name = NAME
    max_batch = 100  # recipients per request: AT publishes no limit, so stay conservative

    def __init__(self, settings: Settings):
        self.settings = settings
        self.service = at_sms(settings)

    def send(self, messages: Sequence[OutboundSms]) -> list[SmsSendResult]:
        results: dict[int, SmsSendResult] = {}
        for batch in self._batches(messages):
            results.update(self._send_batch(messages, batch))
        return [results[i] for i in range(len(messages))]

    def _batches(self, messages: Sequence[OutboundSms]) -> list[list[int]]:
        """Indexes grouped by equal body, at most ``max_batch`` distinct numbers per request."""
        batches: list[list[int]] = []
        open_by_body: dict[str, list[int]] = {}
        for i, message in enumerate(messages):
            batch = open_by_body.get(message.body)
            if batch is None or len(batch) >= self.max_batch or any(messages[j].to == message.to for j in batch):
                batch = open_by_body[message.body] = []
                batches.append(batch)
            batch.append(i)
        return batches

    def _send_batch(self, messages: Sequence[OutboundSms], batch: list[int]) -> dict[int, SmsSendResult]:
        body = messages[batch[0]].body
        numbers = [messages[i].to for i in batch]
        try:
            response = self.service.send(body, numbers, sender_id=self.settings.at_shortcode or None)
            recipients = _recipients(response)
        except (AfricasTalkingException, ValueError, OSError) as exc:
            reason = str(exc)[:160] if isinstance(exc, AfricasTalkingException) else exc.__class__.__name__
            log.warning("africastalking send failed for %d recipient(s): %s", len(batch), reason)
            retryable = never_reached(exc)
            return {
                i: SmsSendResult(
                    messages[i].reference, messages[i].to, MessageStatus.FAILED, error=reason, retryable=retryable
                )
                for i in batch
            }
        by_number = {str(r.get("number", "")): r for r in recipients}
        out = {}
        for i in batch:
            m = messages[i]
            r = by_number.get(m.to)
            if r is None:
                out[i] = SmsSendResult(m.reference, m.to, MessageStatus.FAILED, error="not in the provider's answer")
                continue
            code = _int(r.get("statusCode"))
            word = str(r.get("status", ""))
            status = SEND_STATUS.get(code, MessageStatus.FAILED)
            message_id = r.get("messageId")
            out[i] = SmsSendResult(
                reference=m.reference,
                to=m.to,
                status=status,
                provider_message_id=str(message_id) if message_id not in (None, "", "None") else None,
                provider_status=word,
                error="" if status != MessageStatus.FAILED else f"{code}: {word}",
            )
        return out


def _recipients(response) -> list[dict]:
    """The per-recipient list of a send response (the SDK returns a str unless the type is exactly JSON)."""
    data = json.loads(response) if isinstance(response, str | bytes) else response
    if not isinstance(data, dict):
        raise ValueError("unexpected answer from Africa's Talking")
    recipients = (data.get("SMSMessageData") or {}).get("Recipients")
    if not isinstance(recipients, list):
        raise ValueError("unexpected answer from Africa's Talking")
    return [r for r in recipients if isinstance(r, dict)]


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def build(settings: Settings) -> AfricasTalkingSmsSender:
    return AfricasTalkingSmsSender(settings)
