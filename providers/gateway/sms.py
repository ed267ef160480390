"""Your own HTTP SMS gateway: the sender's adapter and what the routes ask of a callback.

``SMS_GATEWAY_PRESET`` picks the wire formats (``kannel``, ``jasmin``, ``android``, ``generic``: one module each).
Every callback URL carries our secret segment (``SMS_GATEWAY_CALLBACK_SECRET``, checked by ``verify``); the
Android app also signs its webhooks. One text per request (``max_batch = 1``): every gateway here takes one
recipient per delivery report. The gateway's answer is read by its preset; a gateway that cannot be reached is
tried again only when the request certainly never arrived (``never_reached``), or when it said "not now"
(429, 503).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from datetime import datetime
from types import ModuleType

import requests
from flask import current_app

from core.config import Settings
from core.events import DeliveryReport, IncomingSms
from core.vocabulary import MessageStatus
from providers.base import OutboundSms, ProviderError, SmsSendResult, never_reached
from providers.gateway import android, generic, jasmin, kannel
from providers.gateway.wire import IGNORED, NAME, TIMEOUT, Callback, Ignored, Outgoing
from providers.webhooks import FORM_ONLY, Accepts

log = logging.getLogger(__name__)
PRESETS: dict[str, ModuleType] = {"kannel": kannel, "jasmin": jasmin, "android": android, "generic": generic}
NOT_CONFIGURED = "the SMS gateway is not configured: set SMS_GATEWAY_PRESET and SMS_GATEWAY_URL"
__all__ = ["IGNORED", "NAME", "Callback", "GatewaySmsSender", "Ignored", "build"]


def preset(settings: Settings) -> ModuleType | None:
    return PRESETS.get(settings.sms_gateway_preset)


def configured(settings: Settings) -> bool:
    """Whether the callbacks are open: a preset and a callback secret (else they answer 404)."""
    return preset(settings) is not None and bool(settings.sms_gateway_callback_secret)


def accepts() -> Accepts:
    """What this deployment's gateway posts (``providers.webhooks``): its preset says."""
    found = preset(current_app.config["KALANSO"])
    return found.ACCEPTS if found is not None else FORM_ONLY


def answer(settings: Settings) -> tuple[str, str]:
    """The body and content type that tell the gateway "received" (Jasmin needs exactly ``ACK/Jasmin``)."""
    found = preset(settings)
    return found.ACK if found is not None else ("", "text/plain")


def verify(secret: str, callback: Callback, settings: Settings, now: datetime) -> bool:
    """The callback URL's secret segment matches, and the preset's own check passes (the Android app's
    signature and its timestamp)."""
    expected = settings.sms_gateway_callback_secret
    found = preset(settings)
    if not expected or found is None or not hmac.compare_digest(secret.encode(), expected.encode()):
        return False
    return found.verify(callback, settings, now)


def parse_incoming(callback: Callback, settings: Settings) -> IncomingSms | Ignored | None:
    """An incoming text as our event, ``IGNORED`` for a callback with nothing to record, None for junk."""
    found = preset(settings)
    return found.parse_incoming(callback, settings) if found is not None else None


def parse_report(callback: Callback, settings: Settings) -> DeliveryReport | Ignored | None:
    """A delivery report as our event, ``IGNORED`` for a callback with nothing to record, None for junk."""
    found = preset(settings)
    return found.parse_report(callback, settings) if found is not None else None


class GatewaySmsSender:
    name = NAME
    max_batch = 1

    def __init__(self, settings: Settings):
        self.settings = settings
        self.preset = preset(settings)
        self.session = requests.Session()

    def send(self, messages: Sequence[OutboundSms]) -> list[SmsSendResult]:
        return [self._send_one(message) for message in messages]

    def _send_one(self, message: OutboundSms) -> SmsSendResult:
        if self.preset is None or not self.settings.sms_gateway_url:
            return SmsSendResult(message.reference, message.to, MessageStatus.FAILED, error=NOT_CONFIGURED)
        try:
            response = self._request(self.preset.outgoing(message, self.settings))
        except requests.RequestException as exc:  # never str(exc): Kannel's URL carries the password
            log.warning("SMS gateway unreachable for message %s: %s", message.reference, exc.__class__.__name__)
            return SmsSendResult(
                message.reference,
                message.to,
                MessageStatus.FAILED,
                error=f"unreachable: {exc.__class__.__name__}",
                retryable=never_reached(exc),
            )
        result = self.preset.read_answer(message, response.status_code, response.text)
        if result.status == MessageStatus.FAILED:
            log.warning("SMS gateway refused message %s: %s", message.reference, result.error)
        return result

    def _request(self, out: Outgoing) -> requests.Response:
        return self.session.request(
            out.method,
            out.url,
            params=out.params,
            data=out.data,
            json=out.json,
            headers=out.headers,
            auth=out.auth,
            timeout=TIMEOUT,
        )

    def find_sent(self, message: OutboundSms, since: datetime) -> SmsSendResult | None:
        """Ask the gateway about an interrupted send: only the Android app can be asked (by our id)."""
        lookup = getattr(self.preset, "lookup", None)
        if lookup is None:
            raise ProviderError(f"the {self.settings.sms_gateway_preset or 'unset'} gateway cannot be asked")
        try:
            response = self._request(lookup(message, self.settings))
        except requests.RequestException as exc:
            raise ProviderError(f"SMS gateway look-up failed: {exc.__class__.__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(f"SMS gateway look-up answered {response.status_code}")
        return self.preset.read_state(message, response.text)


def build(settings: Settings) -> GatewaySmsSender:
    return GatewaySmsSender(settings)
