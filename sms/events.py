"""The SMS line's inbound events, in our own words (provider modules parse webhooks into these)."""

from __future__ import annotations

from dataclasses import dataclass

from sms.models import MessageStatus


@dataclass(frozen=True)
class IncomingSms:
    """A text a listener sent us."""

    provider: str  # local | twilio | africastalking
    phone: str  # as the provider gave it; normalised by the service
    text: str
    provider_message_id: str | None = None  # for de-duplicating a provider's retries


@dataclass(frozen=True)
class DeliveryReport:
    """What became of a message we sent. ``status`` is ours; the provider's word and reason are kept."""

    provider: str
    provider_message_id: str
    status: MessageStatus
    provider_status: str
    error: str = ""
