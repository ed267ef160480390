"""What every gateway preset shares: a callback as plain data, our ids in the gateway's hands, the request we
hand a text over with, and decoding a text from the bytes and charset a gateway gives.

Our id for a text we send is ``kalanso-<outbox row id>`` (``our_id``): the generic and Android presets send
it with the text, and every delivery-report URL we give a gateway carries the row id as ``ref``, so a report
finds its message even when it arrives before the sender has recorded the gateway's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec: the real GSM 03.38 table)

from core.config import Settings
from core.vocabulary import MessageStatus
from providers import fields
from providers.base import OutboundSms, SmsSendResult

NAME = "gateway"
OUR_ID_PREFIX = "kalanso-"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
RECEIVE_PATH = "/sms/gateway/{secret}/receive"
STATUS_PATH = "/sms/gateway/{secret}/status"
TIMEOUT = (5, 15)  # seconds to connect, to read the answer
RETRY_LATER = frozenset({429, 503})  # the gateway said "not now": it did not take the text, so it is sent again

# The charsets a gateway names (Kannel's %C, a Content-Type) that we decode; anything else is read as UTF-8.
CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-16be": "utf-16-be",
    "utf-16": "utf-16",
    "ucs-2": "utf-16-be",
    "ucs2": "utf-16-be",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
    "latin-1": "latin-1",
    "windows-1252": "cp1252",
    "us-ascii": "ascii",
    "ascii": "ascii",
}


class Ignored:
    """A well-formed callback with nothing for us to record (a ping, an event we do not use): answered as
    received, so that the gateway does not send it again."""

    def __repr__(self) -> str:
        return "IGNORED"


IGNORED = Ignored()


@dataclass(frozen=True)
class Callback:
    """One request from the gateway, as data (the routes build it from Flask's request; tests write it out)."""

    method: str
    query: bytes = b""
    body: bytes = b""
    mimetype: str = ""
    charset: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case

    @classmethod
    def from_request(cls, request: Any) -> Callback:
        return cls(
            method=request.method,
            query=request.query_string,
            body=request.get_data(cache=True),
            mimetype=request.mimetype,
            charset=request.mimetype_params.get("charset", ""),
            headers={name.lower(): value for name, value in request.headers.items()},
        )

    def raw_fields(self) -> dict[str, bytes]:
        """The query's and a form body's fields as bytes, the first of a name kept: an encoded text (UCS-2 as
        raw UTF-16 bytes) is decoded by its parser, not here."""
        pairs = _pairs(self.query)
        if self.body and self.mimetype == FORM:
            pairs += _pairs(self.body)
        found: dict[str, bytes] = {}
        for name, value in pairs:
            found.setdefault(name.decode("utf-8", "replace"), value)
        return found

    def fields(self) -> dict[str, str]:
        return {name: value.decode("utf-8", "replace") for name, value in self.raw_fields().items()}


def _pairs(data: bytes) -> list[tuple[bytes, bytes]]:
    """``a=1&b=%00I`` as byte pairs, percent-decoded and ``+`` read as a space: ``parse_qsl`` cannot give the raw
    bytes of a value that is not ASCII once decoded."""
    pairs = []
    for part in data.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            pairs.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


@dataclass(frozen=True)
class Outgoing:
    """The HTTP request that hands one text to the gateway (checked byte for byte by the tests)."""

    method: str
    url: str
    params: list[tuple[str, str]] | None = None
    data: bytes | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None


def our_id(reference: str) -> str:
    return f"{OUR_ID_PREFIX}{reference}"


def reference_of(value: str | None, *, prefixed: bool = False) -> str:
    """Our outbox row id from a bare ``<id>`` (our URLs' ``ref``) or from our message id ``kalanso-<id>`` (only
    that with ``prefixed``: a gateway's own numeric id is not ours); "" when it is neither, or out of bounds."""
    text = (value or "").strip()
    if text.startswith(OUR_ID_PREFIX):
        text = text[len(OUR_ID_PREFIX) :]
    elif prefixed:
        return ""
    try:
        return fields.reference(text)
    except ValueError:
        return ""


def status_url(settings: Settings, reference: str) -> str:
    """Where the gateway reports what became of a text: the status callback, with our row id as ``ref``."""
    path = STATUS_PATH.format(secret=settings.sms_gateway_callback_secret)
    return f"{settings.public_base_url}{path}?ref={reference}"


def decode(raw: bytes, charset: str = "") -> str:
    """A text from the bytes a gateway sent and the charset it named (UTF-8 when unnamed or unknown); bytes that
    do not decode become U+FFFD rather than refusing the text."""
    codec = CHARSETS.get(charset.strip().strip('"').lower(), "utf-8")
    return raw.decode(codec, "replace")


def fits_gsm7(text: str) -> bool:
    """Whether the text goes as GSM-7 (else UCS-2), by the GSM 03.38 table."""
    try:
        text.encode("gsm03.38")
    except UnicodeError:
        return False
    return True


def no_plus(number: str) -> str:
    return number[1:] if number.startswith("+") else number


def refused(message: OutboundSms, status_code: int, answer: str) -> SmsSendResult:
    """The gateway's refusal, kept as it said it: tried again later only when it said "not now" (429, 503)."""
    reason = f"{status_code}: {' '.join(answer.split())}"[:200]
    return SmsSendResult(
        message.reference,
        message.to,
        MessageStatus.FAILED,
        provider_status=str(status_code),
        error=reason,
        retryable=status_code in RETRY_LATER,
    )
