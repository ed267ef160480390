"""Our own words for what every area shares: channels, directions, call and message statuses, and why
an outbound message exists. Provider words are mapped to these at the edge (``providers/``)."""

from __future__ import annotations

import enum


class Channel(enum.StrEnum):
    VOICE = "voice"
    SMS = "sms"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallStatus(enum.StrEnum):
    """A call's status; each provider's vocabulary is mapped to these at the edge (``providers/``)."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"  # we declined it on purpose (missed-call callback)

    @property
    def final(self) -> bool:
        return self not in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


class MessageStatus(enum.StrEnum):
    """An SMS's status in our words."""

    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class Purpose(enum.StrEnum):
    """Why an outbound message or call exists. Only the two consent confirmations and the resume hint may reach
    an opted-out listener (``REACHES_OPTED_OUT``)."""

    REPLY = "reply"
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"
    OPT_IN_CONFIRMATION = "opt_in_confirmation"
    CAMPAIGN = "campaign"
    CALLBACK = "callback"
    OTHER = "other"
    RESUME_HINT = "resume_hint"  # to an opted-out listener who texted: how to opt back in (at most once a day)
    STUDIO = "studio"  # a studio call a user asked for on the dashboard, to record by phone (ivr.studio.call_me)


CONSENT_CONFIRMATIONS = frozenset({Purpose.OPT_OUT_CONFIRMATION, Purpose.OPT_IN_CONFIRMATION})
"""The only purposes that may be sent to a listener who opted out."""

REACHES_OPTED_OUT = CONSENT_CONFIRMATIONS | {Purpose.RESUME_HINT}
"""What the sender may send to a listener who opted out: the consent confirmations and the resume hint
(``sms.outbound.may_send`` lets the hint through at most once in 24 hours)."""
