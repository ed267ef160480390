"""Choose the outbound adapters from settings (``VOICE_PROVIDER``, ``SMS_PROVIDER``).

The only place that maps a provider name to its code; nothing else says ``if provider == ...``.
Adapters are registered by their modules under ``providers/<name>/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from flask import current_app

from core.config import Settings
from providers.base import SmsSender, VoiceDialer

PACKAGES = {
    "local": "providers.local",
    "twilio": "providers.twilio",
    "africastalking": "providers.africastalking",
    "gateway": "providers.gateway",  # SMS only: it has no voice module
}


def _factory(provider: str, channel: str) -> Callable[[Settings], object]:
    module = importlib.import_module(f"{PACKAGES[provider]}.{channel}")
    return module.build  # each providers/<name>/{voice,sms}.py defines build(settings)


def sms_sender(settings: Settings | None = None) -> SmsSender:
    settings = settings or current_app.config["KALANSO"]
    return _factory(settings.sms_provider, "sms")(settings)


def sms_sender_for(provider: str, settings: Settings | None = None) -> SmsSender:
    """The sender of one named provider (a reply goes out the way its text came in)."""
    settings = settings or current_app.config["KALANSO"]
    return _factory(provider, "sms")(settings)


def voice_dialer_for(provider: str, settings: Settings | None = None) -> VoiceDialer:
    """The dialer of a named provider (a missed-call callback goes out through the provider it came in by)."""
    settings = settings or current_app.config["KALANSO"]
    return _factory(provider, "voice")(settings)
