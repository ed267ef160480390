"""Kannel (bearerbox + smsbox), ``SMS_GATEWAY_PRESET=kannel``.

**Out**: ``GET <SMS_GATEWAY_URL>`` (smsbox's ``http://kannel:13013/cgi-bin/sendsms``) with
``username``, ``password`` (a ``sendsms-user``), ``from`` (``SMS_GATEWAY_SENDER``, left out when empty: the
user's ``default-sender``), ``to``, ``text`` (UTF-8), ``charset=UTF-8``, ``coding`` (``0`` GSM-7, ``2`` UCS-2
when the text is not GSM-7: Kannel converts the UTF-8 text), ``dlr-mask=31`` (every report) and ``dlr-url``
(our status URL with ``ref=<outbox row>&status=%d&answer=%A``). smsbox answers ``202 0: Accepted for
delivery`` or ``202 3: Queued for later delivery``; anything else is a refusal, kept as said (``403
Authorization failed for sendsms``, ``400 Missing receiver number, rejected``...). Kannel gives no message id:
ours (``kalanso-<row>``) stands for it.

**In**: the ``sms-service``'s ``get-url`` = ``<base>/sms/gateway/<secret>/receive?from=%p&to=%P&text=%b&
coding=%c&charset=%C&time=%T&id=%I``: ``%b`` is the text's raw bytes (UTF-16BE when ``coding=2``, with
``charset=UTF-16BE``), ``%I`` Kannel's id of the message (a retry carries the same). A ``post-url`` with the
same query but no ``text`` works too: its body is the text, in the charset its Content-Type names.

**Reports**: ``GET <dlr-url>`` with ``%d``: 1 delivered, 2 not delivered, 4 buffered by the SMSC, 8 accepted by
the SMSC, 16 rejected by the SMSC; ``%A`` the SMSC's own words (kept as the error of a failure).

**Answer**: 200 with an empty ``text/plain`` body. The sms-service must say ``max-messages = 0`` (Kannel then
replies nothing itself: the replies go out through our sender). A 503 (database down) is retried by smsbox when
its ``http-request-retry`` is set (README).
"""

from __future__ import annotations

from datetime import datetime

from core.config import Settings
from core.events import DeliveryReport, IncomingSms
from core.vocabulary import MessageStatus
from providers import fields
from providers.base import OutboundSms, SmsSendResult
from providers.gateway.wire import (
    FORM,
    NAME,
    Callback,
    Ignored,
    Outgoing,
    decode,
    fits_gsm7,
    our_id,
    reference_of,
    refused,
    status_url,
)
from providers.webhooks import Accepts

ACCEPTS = Accepts(types=(FORM, "text/plain"), raw_fields=frozenset({"text"}), text_in_any_charset=True)
ACK = ("", "text/plain")
DLR_MASK = "31"  # 1 + 2 + 4 + 8 + 16: every report
UCS2_CODING = "2"  # Kannel's coding for UCS-2 (0 is 7-bit, 1 is 8-bit)

# %d, the report's type → our status and Kannel's own name for it.
DLR: dict[str, tuple[MessageStatus, str]] = {
    "1": (MessageStatus.DELIVERED, "DLR_SUCCESS"),
    "2": (MessageStatus.FAILED, "DLR_FAIL"),
    "4": (MessageStatus.SENT, "DLR_BUFFERED"),
    "8": (MessageStatus.SENT, "DLR_SMSC_SUCCESS"),
    "16": (MessageStatus.FAILED, "DLR_SMSC_FAIL"),
}
ACCEPTED = ("0:", "3:")  # "0: Accepted for delivery", "3: Queued for later delivery"


def outgoing(message: OutboundSms, settings: Settings) -> Outgoing:
    params = [("username", settings.sms_gateway_username), ("password", settings.sms_gateway_password)]
    if settings.sms_gateway_sender:
        params.append(("from", settings.sms_gateway_sender))
    params += [
        ("to", message.to),
        ("text", message.body),
        ("charset", "UTF-8"),
        ("coding", "0" if fits_gsm7(message.body) else UCS2_CODING),
        ("dlr-mask", DLR_MASK),
        ("dlr-url", status_url(settings, message.reference) + "&status=%d&answer=%A"),
    ]
    return Outgoing("GET", settings.sms_gateway_url, params=params)


def read_answer(message: OutboundSms, status_code: int, answer: str) -> SmsSendResult:
    said = answer.strip()
    if 200 <= status_code < 300 and said.startswith(ACCEPTED):
        return SmsSendResult(
            message.reference, message.to, MessageStatus.QUEUED, our_id(message.reference), said.splitlines()[0][:40]
        )
    return refused(message, status_code, answer)


def verify(callback: Callback, settings: Settings, now: datetime) -> bool:
    return True  # the secret path segment is all Kannel can carry


def parse_incoming(callback: Callback, settings: Settings) -> IncomingSms | Ignored | None:
    raw = callback.raw_fields()
    named = {name: value.decode("utf-8", "replace") for name, value in raw.items() if name != "text"}
    try:
        phone = fields.phone(named.get("from"), "from")
        message_id = fields.ident(named.get("id"), "id") or None
    except ValueError:
        return None
    if callback.method == "POST" and callback.mimetype == "text/plain":  # post-url: the body is the text
        text = decode(callback.body, callback.charset)
    elif "text" in raw:
        charset = named.get("charset", "")
        if not charset and named.get("coding", "").strip() == UCS2_CODING:
            charset = "UTF-16BE"
        text = decode(raw["text"], charset)
    else:
        return None
    if not phone:
        return None
    return IncomingSms(provider=NAME, phone=phone, text=fields.text(text), provider_message_id=message_id)


def parse_report(callback: Callback, settings: Settings) -> DeliveryReport | Ignored | None:
    named = callback.fields()
    reference = reference_of(named.get("ref"))
    found = DLR.get(named.get("status", "").strip())
    if not reference or found is None:
        return None
    status, word = found
    answer = fields.text(named.get("answer")).strip()[:200]
    error = answer if status == MessageStatus.FAILED else ""
    return DeliveryReport(NAME, our_id(reference), status, word, error, reference=reference)
