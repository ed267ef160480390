"""A lane is one (channel, provider) pair: its rate, how claimed rows become provider requests, and how one
request's answer becomes outcomes. Requests run in the sender's worker threads: each thread builds its own
provider client (an SDK client is not shared between threads).

SMS: Twilio takes one message per request; Africa's Talking many recipients of one text per request (the
lane groups equal texts, at most ``max_batch`` numbers each); the simulator takes anything. Voice: one call
per request, our call session id as the reference the provider echoes back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.config import Settings
from core.outbox import OutboxStatus, Outcome, outcome_of
from core.phones import mask_phone
from core.vocabulary import CallStatus, Channel, MessageStatus
from providers import registry
from providers.base import OutboundCall, OutboundSms, ProviderError, SmsSender, VoiceDialer

log = logging.getLogger(__name__)

ACCEPTED_SMS = (MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED)
MAX_ATTEMPTS = 6  # a provider that cannot be reached is tried again, with a growing delay, this many times


def _retry_or_fail(row: Any, error: str, **fields: Any) -> Outcome:
    """A send that never reached the provider: pending again (``record`` sets when), or failed at last."""
    if row.attempts < MAX_ATTEMPTS:
        return outcome_of(row, OutboxStatus.PENDING, error=error)
    return outcome_of(row, OutboxStatus.FAILED, error=f"{error} ({row.attempts} attempts)", **fields)


@dataclass
class Lane:
    channel: Channel
    provider: str
    settings: Settings
    rate: float  # per second, shared by every sender process (the token bucket)
    max_batch: int  # rows per provider request
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _build: Callable[[], Any] | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return f"{self.channel.value}:{self.provider}"

    @property
    def least(self) -> int:
        """Tokens worth waiting for before a claim: a full request for a batching provider, if it comes within
        a tenth of a second (Africa's Talking at 1,000/s: 100 recipients a request, not a few)."""
        return max(1, min(self.max_batch, int(self.rate / 10)))

    @property
    def burst(self) -> float:
        """At most one second's worth at once (and never less than one request)."""
        return max(self.rate, float(min(self.max_batch, max(1, int(self.rate)))), 1.0)

    def adapter(self):
        """This thread's provider adapter (built on first use)."""
        adapter = getattr(self._local, "adapter", None)
        if adapter is None:
            adapter = self._local.adapter = self._build()
        return adapter

    def requests(self, rows: Sequence[Any]) -> list[list[Any]]:
        """Claimed rows grouped into provider requests."""
        if self.channel == Channel.VOICE or self.max_batch <= 1:
            return [[row] for row in rows]
        groups: list[list[Any]] = []
        open_by_body: dict[str, list[Any]] = {}
        for row in rows:
            group = open_by_body.get(row.body)
            if group is None or len(group) >= self.max_batch or any(r.phone == row.phone for r in group):
                group = open_by_body[row.body] = []
                groups.append(group)
            group.append(row)
        return groups

    def send(self, rows: Sequence[Any]) -> list[Outcome]:
        """One provider request (in a worker thread): never raises, one outcome per row."""
        try:
            if self.channel == Channel.SMS:
                return self._send_sms(rows)
            return [self._place_call(row) for row in rows]
        except Exception as exc:  # an adapter bug must not lose the record of what happened
            log.exception("%s provider %s failed on a request of %d", self.channel, self.provider, len(rows))
            return [outcome_of(r, OutboxStatus.FAILED, error=f"provider error: {exc.__class__.__name__}") for r in rows]

    def _send_sms(self, rows: Sequence[Any]) -> list[Outcome]:
        sender: SmsSender = self.adapter()
        wire = [OutboundSms(to=r.phone, body=r.body, reference=str(r.id)) for r in rows]
        results = {result.reference: result for result in sender.send(wire)}
        out = []
        for row in rows:
            result = results.get(str(row.id))
            if result is None:
                out.append(outcome_of(row, OutboxStatus.FAILED, error="no answer from the provider for this message"))
                continue
            if result.retryable:
                out.append(_retry_or_fail(row, result.error, detail_status=MessageStatus.FAILED.value))
                continue
            accepted = result.status in ACCEPTED_SMS and bool(result.provider_message_id)
            out.append(
                outcome_of(
                    row,
                    OutboxStatus.SENT if accepted else OutboxStatus.FAILED,
                    provider_id=result.provider_message_id or "",
                    provider_status=result.provider_status,
                    detail_status=result.status.value,
                    error=result.error or ("" if accepted else "refused by the provider"),
                )
            )
        return out

    def _place_call(self, row: Any) -> Outcome:
        dialer: VoiceDialer = self.adapter()
        try:
            result = dialer.place_call(OutboundCall(to=row.phone, reference=str(row.call_session_id)))
        except (ProviderError, ValueError) as exc:
            log.warning("call %s to %s not placed: %s", row.call_session_id, mask_phone(row.phone), exc)
            return outcome_of(row, OutboxStatus.FAILED, detail_status=CallStatus.FAILED.value, error=str(exc)[:200])
        if result.retryable:
            return _retry_or_fail(row, result.error, detail_status=CallStatus.FAILED.value)
        placed = not result.status.final
        return outcome_of(
            row,
            OutboxStatus.SENT if placed else OutboxStatus.FAILED,
            provider_id=result.provider_call_id or "",
            provider_status=result.provider_status,
            detail_status=result.status.value,
            error=result.error,
        )

    def lookup(self, row: Any) -> Outcome | bool | None:
        """For reconcile: the provider's record of an interrupted send (an outcome), ``False`` when it
        certainly never got it, ``None`` when it cannot be asked."""
        if self.channel != Channel.SMS:
            return None  # no provider look-up for calls: never ring someone twice by guesswork
        finder = getattr(self.adapter(), "find_sent", None)
        if finder is None:
            return None
        since = row.claimed_at
        try:
            found = finder(OutboundSms(to=row.phone, body=row.body, reference=str(row.id)), since)
        except ProviderError as exc:
            log.warning("reconcile: %s", exc)
            return None
        if found is None:
            return False
        return outcome_of(
            row,
            OutboxStatus.SENT,
            provider_id=found.provider_message_id or "",
            provider_status=found.provider_status,
            detail_status=found.status.value,
        )


def build_lane(channel: Channel, provider: str, settings: Settings) -> Lane:
    if channel == Channel.SMS:
        try:
            probe: SmsSender | None = registry.sms_sender_for(provider, settings)
        except Exception:  # e.g. the provider is not configured: its rows fail one by one, with the reason
            log.exception("SMS provider %s cannot be set up", provider)
            probe = None
        lane = Lane(channel, provider, settings, settings.sms_rate_per_second, max(1, probe.max_batch if probe else 1))
        lane._build = lambda: registry.sms_sender_for(provider, settings)
        if probe is not None:
            lane._local.adapter = probe
    else:
        lane = Lane(channel, provider, settings, settings.call_rate_per_second, 1)
        lane._build = lambda: registry.voice_dialer_for(provider, settings)
    return lane
