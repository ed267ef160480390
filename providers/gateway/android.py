"""SMS Gateway for Android (capcom6, Apache-2.0), ``SMS_GATEWAY_PRESET=android``: a phone with local SIMs.

**Out**: ``POST <SMS_GATEWAY_URL>`` — the app's local server ``http://<phone>:8080/message``, or its cloud
``https://api.sms-gate.app/3rdparty/v1/message`` — with basic auth (the app's username and password) and JSON
``{"id": "kalanso-<outbox row>", "textMessage": {"text": ...}, "phoneNumbers": ["+223..."],
"withDeliveryReport": true}``. The app answers 202 with the message's state: ``{"id": ..., "state":
"Pending", "recipients": [{"phoneNumber": ..., "state": "Pending"}], ...}``; states ``Pending``,
``Processed``, ``Sent``, ``Delivered``, ``Failed``. ``GET <SMS_GATEWAY_URL>/<id>`` gives the same state later:
an interrupted send is looked up there rather than sent twice.

**In and reports**: webhooks, registered with ``POST .../webhooks`` one event each: ``sms:received`` to our
receive URL, ``sms:sent``, ``sms:delivered``, ``sms:failed`` to our status URL. Each posts JSON ``{"deviceId",
"event", "id", "payload": {...}, "webhookId"}``; ``sms:received``'s payload has ``messageId``, ``message``,
``phoneNumber`` (newer apps also ``sender``), ``simNumber``, ``receivedAt``; the others ``messageId`` (ours),
``phoneNumber`` and ``sentAt`` / ``deliveredAt`` / ``failedAt`` + ``reason``. The event ``id`` is drawn once
per event and kept on the app's retries: it tells a retry from a new text (``messageId`` of a received SMS is
derived from its content and is not unique, per the app's documentation).

**Signature**: ``X-Signature`` = hex HMAC-SHA256, keyed with the app's signing key (``SMS_GATEWAY_SIGNING_KEY``,
Settings → Webhooks), of the raw body followed by ``X-Timestamp`` (Unix seconds). A missing or wrong
signature, or a timestamp more than 5 minutes from our clock, is refused (403). Other events (``system:ping``,
MMS...) are answered 200 and ignored.

**Answer**: any 2xx; the app retries anything else with a growing delay (10 s, 20 s, 40 s...).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from core.config import Settings
from core.events import DeliveryReport, IncomingSms
from core.vocabulary import MessageStatus
from providers import fields
from providers.base import OutboundSms, SmsSendResult
from providers.gateway.wire import (
    IGNORED,
    JSON,
    NAME,
    Callback,
    Ignored,
    Outgoing,
    our_id,
    reference_of,
    refused,
)
from providers.webhooks import Accepts

ACCEPTS = Accepts(types=(JSON,))
ACK = ("", "text/plain")
MAX_SKEW_SECONDS = 300  # the app's documentation: accept timestamps within ±5 minutes

# The message's ``state`` in the app's answer (and its look-up) → ours.
STATE: dict[str, MessageStatus] = {
    "Pending": MessageStatus.QUEUED,
    "Processed": MessageStatus.QUEUED,
    "Sent": MessageStatus.SENT,
    "Delivered": MessageStatus.DELIVERED,
    "Failed": MessageStatus.FAILED,
}
# The status webhooks → ours.
EVENTS: dict[str, MessageStatus] = {
    "sms:sent": MessageStatus.SENT,
    "sms:delivered": MessageStatus.DELIVERED,
    "sms:failed": MessageStatus.FAILED,
}
RECEIVED = "sms:received"


def outgoing(message: OutboundSms, settings: Settings) -> Outgoing:
    body = {
        "id": our_id(message.reference),
        "textMessage": {"text": message.body},
        "phoneNumbers": [message.to],
        "withDeliveryReport": True,
    }
    return Outgoing(
        "POST",
        settings.sms_gateway_url,
        json=body,
        auth=(settings.sms_gateway_username, settings.sms_gateway_password),
    )


def lookup(message: OutboundSms, settings: Settings) -> Outgoing:
    """The request that asks the app what became of a text it may have received."""
    url = f"{settings.sms_gateway_url.rstrip('/')}/{our_id(message.reference)}"
    return Outgoing("GET", url, auth=(settings.sms_gateway_username, settings.sms_gateway_password))


def read_state(message: OutboundSms, answer: str) -> SmsSendResult:
    """The app's message state (its send answer, or its look-up) as our result; an unreadable answer to a
    request it accepted leaves the text queued under our id (the webhooks will tell)."""
    try:
        data = json.loads(answer)
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {}
    word = str(data.get("state") or "Pending")[:40]
    status = STATE.get(word, MessageStatus.QUEUED)
    recipients = data.get("recipients") if isinstance(data.get("recipients"), list) else []
    errors = [str(r.get("error")) for r in recipients if isinstance(r, dict) and r.get("error")]
    message_id = data.get("id") if isinstance(data.get("id"), str) and 0 < len(data["id"]) <= 64 else None
    return SmsSendResult(
        message.reference,
        message.to,
        status,
        message_id or our_id(message.reference),
        word,
        error="; ".join(errors)[:200] if status == MessageStatus.FAILED else "",
    )


def read_answer(message: OutboundSms, status_code: int, answer: str) -> SmsSendResult:
    if 200 <= status_code < 300:
        return read_state(message, answer)
    return refused(message, status_code, answer)


def signature(key: str, body: bytes, timestamp: str) -> str:
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def verify(callback: Callback, settings: Settings, now: datetime) -> bool:
    key = settings.sms_gateway_signing_key
    given = callback.headers.get("x-signature", "").strip().lower()
    stamp = callback.headers.get("x-timestamp", "").strip()
    if not key or not given or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        return False
    if abs(now.timestamp() - int(stamp)) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(key, callback.body, stamp), given)


def _event(callback: Callback) -> tuple[str, str, dict[str, Any]] | None:
    """(event name, event id, payload) of a webhook; None when the body is not one."""
    try:
        data = json.loads(callback.body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    payload = data.get("payload")
    event_id = data.get("id")
    return data["event"], event_id if isinstance(event_id, str) else "", payload if isinstance(payload, dict) else {}


def _str(payload: dict[str, Any], *names: str) -> str | None:
    for name in names:
        if isinstance(payload.get(name), str):
            return payload[name]
    return None


def parse_incoming(callback: Callback, settings: Settings) -> IncomingSms | Ignored | None:
    found = _event(callback)
    if found is None:
        return None
    event, event_id, payload = found
    if event != RECEIVED:
        return IGNORED
    text = _str(payload, "message")
    try:
        phone = fields.phone(_str(payload, "sender", "phoneNumber"), "phoneNumber")
        event_id = fields.ident(event_id, "id") or None
    except ValueError:
        return None
    if not phone or text is None:
        return None
    return IncomingSms(provider=NAME, phone=phone, text=fields.text(text), provider_message_id=event_id)


def parse_report(callback: Callback, settings: Settings) -> DeliveryReport | Ignored | None:
    found = _event(callback)
    if found is None:
        return None
    event, _, payload = found
    status = EVENTS.get(event)
    if status is None:
        return IGNORED
    try:
        message_id = fields.ident(_str(payload, "messageId"), "messageId")
    except ValueError:
        return None
    if not message_id:
        return None
    error = fields.text(_str(payload, "reason")).strip()[:200] if status == MessageStatus.FAILED else ""
    word = event.partition(":")[2]
    return DeliveryReport(NAME, message_id, status, word, error, reference=reference_of(message_id, prefixed=True))
