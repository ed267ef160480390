"""Jasmin's HTTP API (ja-http), ``SMS_GATEWAY_PRESET=jasmin``.

**Out**: ``POST <SMS_GATEWAY_URL>`` (``http://jasmin:1401/send``), form-encoded: ``username``, ``password`` (a
Jasmin user), ``to``, ``from`` (``SMS_GATEWAY_SENDER``, left out when empty), then ``content`` (UTF-8: Jasmin
converts it to GSM 03.38) — or, when the text is not GSM-7, ``coding=8`` and ``hex-content`` (the text in
UTF-16BE, as hex) — and ``dlr=yes``, ``dlr-url`` (our status URL with ``ref=<outbox row>``), ``dlr-level=3``
(the SMSC's acknowledgement and the handset's), ``dlr-method=POST`` (a GET would add its fields after our
``?ref=``). Jasmin answers ``200 Success "<message id>"``, else ``Error "..."`` with 400, 403, 412 or 500.

**In**: an HTTP client connector (``httpccm``) with our receive URL as its ``baseurl``, ``method`` POST (or
GET), and an MO route to it. Jasmin sends ``id``, ``from``, ``to``, ``origin-connector``, ``content`` (the
text's raw bytes), ``binary`` (the same bytes in hex), ``coding`` (8: UCS-2), and maybe ``priority``,
``validity``. The text is read from ``binary`` by ``coding``: 8 UTF-16BE, 3 Latin-1, otherwise UTF-8.

**Reports**: ``POST <dlr-url>`` with ``id`` (Jasmin's message id), ``message_status``, ``level`` and, from the
handset, ``id_smsc``, ``sub``, ``dlvrd``, ``subdate``, ``donedate``, ``err``, ``text``. ``message_status`` is the
SMSC's answer (``ESME_ROK``: accepted; another ``ESME_R...``: refused) or the handset report's state
(``DELIVRD``, ``ACCEPTD``, ``ENROUTE``, ``UNDELIV``, ``REJECTD``, ``EXPIRED``, ``DELETED``, ``UNKNOWN``).

**Answer**: 200 with exactly ``ACK/Jasmin``; without it Jasmin sends the same MO or report again
(``max_retries`` times, ``retry_delay`` apart): a 503 (database down) is answered without it on purpose.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

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
    fits_gsm7,
    reference_of,
    refused,
    status_url,
)
from providers.webhooks import Accepts

ACCEPTS = Accepts(types=(FORM,), raw_fields=frozenset({"content"}))
ACK = ("ACK/Jasmin", "text/plain")
DLR_LEVEL = "3"  # 1: the SMSC's acknowledgement, 2: the handset's report, 3: both
UCS2 = "8"
_SUCCESS = re.compile(r'^Success "([^"]{1,64})"')

# ``coding`` of an MO (a number, or Jasmin's name for it) → the codec of its bytes.
CODINGS = {"8": "utf-16-be", "UCS2": "utf-16-be", "3": "latin-1", "LATIN_1": "latin-1"}

# ``message_status`` of a report → ours. Any other ``ESME_R...`` is the SMSC's refusal.
STATUS: dict[str, MessageStatus] = {
    "ESME_ROK": MessageStatus.SENT,
    "DELIVRD": MessageStatus.DELIVERED,
    "ACCEPTD": MessageStatus.SENT,
    "ENROUTE": MessageStatus.SENT,
    "UNDELIV": MessageStatus.FAILED,
    "REJECTD": MessageStatus.FAILED,
    "EXPIRED": MessageStatus.FAILED,
    "DELETED": MessageStatus.FAILED,
    "UNKNOWN": MessageStatus.FAILED,
}


def outgoing(message: OutboundSms, settings: Settings) -> Outgoing:
    form = [("username", settings.sms_gateway_username), ("password", settings.sms_gateway_password)]
    form.append(("to", message.to))
    if settings.sms_gateway_sender:
        form.append(("from", settings.sms_gateway_sender))
    if fits_gsm7(message.body):
        form.append(("content", message.body))
    else:
        form += [("coding", UCS2), ("hex-content", message.body.encode("utf-16-be").hex())]
    form += [
        ("dlr", "yes"),
        ("dlr-url", status_url(settings, message.reference)),
        ("dlr-level", DLR_LEVEL),
        ("dlr-method", "POST"),
    ]
    return Outgoing("POST", settings.sms_gateway_url, data=urlencode(form).encode(), headers={"Content-Type": FORM})


def read_answer(message: OutboundSms, status_code: int, answer: str) -> SmsSendResult:
    found = _SUCCESS.match(answer.strip())
    if status_code == 200 and found:
        return SmsSendResult(message.reference, message.to, MessageStatus.QUEUED, found.group(1), "Success")
    return refused(message, status_code, answer)


def verify(callback: Callback, settings: Settings, now: datetime) -> bool:
    return True  # Jasmin signs nothing: the secret path segment is the check


def _text(raw: dict[str, bytes], coding: str) -> str | None:
    data = raw.get("content")
    hexed = raw.get("binary", b"").strip()
    if hexed:
        try:
            data = bytes.fromhex(hexed.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return None
    if data is None:
        return None
    return data.decode(CODINGS.get(coding, "utf-8"), "replace")


def parse_incoming(callback: Callback, settings: Settings) -> IncomingSms | Ignored | None:
    raw = callback.raw_fields()
    named = {name: value.decode("utf-8", "replace") for name, value in raw.items() if name != "content"}
    try:
        phone = fields.phone(named.get("from"), "from")
        message_id = fields.ident(named.get("id"), "id") or None
    except ValueError:
        return None
    text = _text(raw, named.get("coding", "").strip())
    if not phone or text is None:
        return None
    return IncomingSms(provider=NAME, phone=phone, text=fields.text(text), provider_message_id=message_id)


def parse_report(callback: Callback, settings: Settings) -> DeliveryReport | Ignored | None:
    named = callback.fields()
    try:
        message_id = fields.ident(named.get("id"), "id")
        word = fields.word(named.get("message_status"), "message_status")
        error_code = fields.word(named.get("err"), "err")
    except ValueError:
        return None
    status = STATUS.get(word.upper())
    if status is None and word.upper().startswith("ESME_R"):
        status = MessageStatus.FAILED  # the SMSC refused it: ESME_RINVDSTADR, ESME_RTHROTTLED...
    reference = reference_of(named.get("ref"))
    if status is None or not (message_id or reference):
        return None
    error = ""
    if status == MessageStatus.FAILED:
        error = word + (f" err={error_code}" if error_code and error_code.strip("0") else "")
    return DeliveryReport(NAME, message_id, status, word, error, reference=reference)
