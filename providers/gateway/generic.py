"""Any HTTP SMS gateway, ``SMS_GATEWAY_PRESET=generic``: the "external channel" shape.

**Out**: ``SMS_GATEWAY_METHOD`` (POST) to ``SMS_GATEWAY_URL`` with ``SMS_GATEWAY_CONTENT_TYPE`` (form, json or
xml) and the body template ``SMS_GATEWAY_BODY``, where ``{{id}}`` (ours: ``kalanso-<outbox row>``), ``{{text}}``,
``{{to}}``, ``{{to_no_plus}}``, ``{{from}}``, ``{{from_no_plus}}`` (``SMS_GATEWAY_SENDER``) and ``{{dlr_url}}``
(our status URL with ``ref=<outbox row>``) are filled in, each escaped for where it stands: percent-encoded in
the URL and in a form, JSON-escaped in JSON (inside the template's quotes), XML-escaped in XML. The default body
is ``id={{id}}&text={{text}}&to={{to}}&from={{from}}&dlr_url={{dlr_url}}`` (or the same fields as a JSON object or
an XML ``<message>``). A GET sends no body: its URL carries the variables, or the default fields are added as its
query. Basic auth when ``SMS_GATEWAY_USERNAME`` is set. Any 2xx is "accepted".

**In**: ``from``, ``text`` and optionally ``date`` and ``id`` (the gateway's id: a retry with the same id is
handled once), as a form, a query string or a JSON object.

**Reports**: to ``{{dlr_url}}`` (``ref`` = our row) or to the status URL with ``id`` = ``{{id}}``: ``status``
``sent``, ``delivered``, ``failed`` (also ``queued``, ``undelivered``, ``rejected``, ``expired``), and
optionally ``error``.

**Answer**: 200 with an empty body; 503 (with ``Retry-After``) when it could not be recorded: send it again.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

from core.config import GATEWAY_CONTENT_TYPES, Settings
from core.events import DeliveryReport, IncomingSms
from core.vocabulary import MessageStatus
from providers import fields
from providers.base import OutboundSms, SmsSendResult
from providers.gateway.wire import (
    FORM,
    JSON,
    NAME,
    Callback,
    Ignored,
    Outgoing,
    no_plus,
    our_id,
    reference_of,
    refused,
    status_url,
)
from providers.webhooks import Accepts

ACCEPTS = Accepts(types=(FORM, JSON))
ACK = ("", "text/plain")
XML = GATEWAY_CONTENT_TYPES["xml"]
VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
DEFAULT_BODY = {
    FORM: "id={{id}}&text={{text}}&to={{to}}&from={{from}}&dlr_url={{dlr_url}}",
    JSON: '{"id": "{{id}}", "text": "{{text}}", "to": "{{to}}", "from": "{{from}}", "dlr_url": "{{dlr_url}}"}',
    XML: (
        "<message><id>{{id}}</id><text>{{text}}</text><to>{{to}}</to><from>{{from}}</from>"
        "<dlr_url>{{dlr_url}}</dlr_url></message>"
    ),
}
ESCAPE = {
    FORM: lambda value: quote_plus(value, safe=""),
    JSON: lambda value: json.dumps(value, ensure_ascii=False)[1:-1],
    XML: escape,
}

# A report's ``status`` → ours.
STATUS: dict[str, MessageStatus] = {
    "queued": MessageStatus.QUEUED,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "failed": MessageStatus.FAILED,
    "undelivered": MessageStatus.FAILED,
    "rejected": MessageStatus.FAILED,
    "expired": MessageStatus.FAILED,
}


def variables(message: OutboundSms, settings: Settings) -> dict[str, str]:
    sender = settings.sms_gateway_sender
    return {
        "id": our_id(message.reference),
        "text": message.body,
        "to": message.to,
        "to_no_plus": no_plus(message.to),
        "from": sender,
        "from_no_plus": no_plus(sender),
        "dlr_url": status_url(settings, message.reference),
    }


def fill(template: str, values: dict[str, str], escape_value) -> str:
    return VARIABLE.sub(lambda m: escape_value(values.get(m.group(1), "")), template)


def outgoing(message: OutboundSms, settings: Settings) -> Outgoing:
    values = variables(message, settings)
    kind = settings.sms_gateway_content_type
    body = fill(settings.sms_gateway_body or DEFAULT_BODY[kind], values, ESCAPE[kind])
    url = fill(settings.sms_gateway_url, values, lambda value: quote(value, safe=""))
    auth = (settings.sms_gateway_username, settings.sms_gateway_password) if settings.sms_gateway_username else None
    if settings.sms_gateway_method == "GET":
        if not VARIABLE.search(settings.sms_gateway_url):
            query = fill(DEFAULT_BODY[FORM], values, ESCAPE[FORM])
            url += ("&" if "?" in url else "?") + query
        return Outgoing("GET", url, auth=auth)
    headers = {"Content-Type": kind + ("; charset=utf-8" if kind != FORM else "")}
    return Outgoing(settings.sms_gateway_method, url, data=body.encode(), headers=headers, auth=auth)


def read_answer(message: OutboundSms, status_code: int, answer: str) -> SmsSendResult:
    if 200 <= status_code < 300:
        return SmsSendResult(
            message.reference, message.to, MessageStatus.QUEUED, our_id(message.reference), str(status_code)
        )
    return refused(message, status_code, answer)


def verify(callback: Callback, settings: Settings, now: datetime) -> bool:
    return True  # the secret path segment is the check


def _named(callback: Callback) -> dict[str, Any] | None:
    """The callback's fields: a JSON object's, or the query's and form's. None when a JSON body is not one."""
    found: dict[str, Any] = callback.fields()
    if callback.mimetype == JSON and callback.body:
        try:
            data = json.loads(callback.body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        found.update({k: v for k, v in data.items() if isinstance(v, str | int) and not isinstance(v, bool)})
    return {name: str(value) for name, value in found.items()}


def parse_incoming(callback: Callback, settings: Settings) -> IncomingSms | Ignored | None:
    named = _named(callback)
    if named is None or "text" not in named:
        return None
    try:
        phone = fields.phone(named.get("from"), "from")
        message_id = fields.ident(named.get("id"), "id") or None
    except ValueError:
        return None
    if not phone:
        return None
    return IncomingSms(provider=NAME, phone=phone, text=fields.text(named["text"]), provider_message_id=message_id)


def parse_report(callback: Callback, settings: Settings) -> DeliveryReport | Ignored | None:
    named = _named(callback)
    if named is None:
        return None
    try:
        word = fields.word(named.get("status"), "status")
        message_id = fields.ident(named.get("id"), "id")
    except ValueError:
        return None
    status = STATUS.get(word.lower())
    reference = reference_of(named.get("ref")) or reference_of(message_id, prefixed=True)
    if status is None or not (reference or message_id):
        return None
    error = fields.text(named.get("error")).strip()[:200] if status == MessageStatus.FAILED else ""
    return DeliveryReport(NAME, message_id or our_id(reference), status, word, error, reference=reference)
