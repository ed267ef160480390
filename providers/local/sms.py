"""The simulator's SMS: nothing leaves the machine. Sent texts are recorded in an in-process outbox
(the simulator and ``flask simulate sms`` show them from the message rows; tests read the outbox).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime

from core.config import Settings
from core.events import DeliveryReport, IncomingSms
from core.vocabulary import MessageStatus
from providers import fields
from providers.base import OutboundSms, SmsSendResult

NAME = "local"
STATUS: dict[str, MessageStatus] = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "failed": MessageStatus.FAILED,
}

OUTBOX: deque[OutboundSms] = deque(maxlen=1000)
_lock = threading.Lock()
_ids = itertools.count(1)


def parse_incoming(data: Mapping[str, str]) -> IncomingSms | None:
    """The simulator's form or JSON: ``phone`` and ``text`` (bounded like a provider's, ``providers.fields``)."""
    text = data.get("text")
    try:
        phone = fields.phone(str(data.get("phone") or ""), "phone")
    except ValueError:
        return None
    if not phone or not isinstance(text, str):
        return None
    return IncomingSms(provider=NAME, phone=phone, text=fields.text(text))


def parse_report(data: Mapping[str, str]) -> DeliveryReport | None:
    """The simulator's delivery report: ``id`` (our provider id) and ``status`` (sent, delivered, failed)."""
    try:
        word = fields.word(str(data.get("status") or ""), "status").lower()
        message_id = fields.ident(str(data.get("id") or ""), "id")
    except ValueError:
        return None
    status = STATUS.get(word)
    if not message_id or status is None:
        return None
    return DeliveryReport(NAME, message_id, status, word, fields.text(str(data.get("error") or ""))[:200])


class LocalSmsSender:
    name = NAME
    max_batch = 1000

    def send(self, messages: Sequence[OutboundSms]) -> list[SmsSendResult]:
        results = []
        with _lock:
            for message in messages:
                OUTBOX.append(message)
                results.append(
                    SmsSendResult(
                        reference=message.reference,
                        to=message.to,
                        status=MessageStatus.SENT,
                        provider_message_id=f"local-{next(_ids):08d}-{message.reference}",
                        provider_status="sent",
                    )
                )
        return results

    def find_sent(self, message: OutboundSms, since: datetime) -> SmsSendResult | None:
        """The simulator's outbox knows exactly what it received."""
        with _lock:
            for index, sent in enumerate(OUTBOX):
                if sent.reference == message.reference:
                    return SmsSendResult(
                        message.reference, message.to, MessageStatus.SENT, f"local-{index:08d}-{sent.reference}", "sent"
                    )
        return None


def build(settings: Settings | None = None) -> LocalSmsSender:
    return LocalSmsSender()


def simulator_enabled(settings: Settings, *, debug: bool = False) -> bool:
    """The simulator's pages drive the real services: only offer them when SMS go through the simulator."""
    return debug or settings.sms_provider == NAME
