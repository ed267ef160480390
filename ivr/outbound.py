"""Outbound calls, for the missed-call callback and for campaigns.

``start_call(listener, entry, now, purpose=...)`` creates a queued ``CallSession`` whose ``state`` says what
to play (``{"entry": "menu"}``, or ``{"entry": "lesson", "course_id": ..., "lesson_id": ...,
"campaign_delivery_id": ...}``) and its outbox row, in the caller's transaction. The sender process asks
the provider to ring (our session id is the reference the provider echoes back) and the outcome comes back
through ``on_outbox_outcomes``: the provider's call id, or the refusal (the session ends ``failed`` and
``signals.call_finished`` lets campaigns retry), or ``canceled`` when the listener opted out before the
call was placed — such a call never rings.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from core.db import db
from core.outbox import OutboxStatus, Outcome, enqueue_call, outbox_outcomes
from core.phones import mask_phone
from core.signals import call_finished
from core.vocabulary import CallStatus, Channel, Direction, Purpose
from ivr.models import CallbackStatus, CallSession, MissedCallCallback
from listeners.models import Listener
from listeners.service import may_contact

log = logging.getLogger(__name__)


def start_call(
    listener: Listener,
    entry: dict[str, Any],
    now: datetime,
    *,
    provider: str | None = None,
    purpose: Purpose = Purpose.CALLBACK,
    campaign_id: int | None = None,
    delivery_id: int | None = None,
) -> CallSession | None:
    """A queued outbound call session and its outbox row (None if they opted out). Flushes, never commits."""
    if not may_contact(listener):
        return None
    session = CallSession(
        provider=provider or current_app.config["KALANSO"].voice_provider,
        listener_id=listener.id,
        phone=listener.phone,
        direction=Direction.OUTBOUND,
        status=CallStatus.QUEUED,
        state=dict(entry),
        path=[[now.isoformat(), "queued"]],
        created_at=now,
        updated_at=now,
    )
    db.session.add(session)
    db.session.flush()
    enqueue_call(
        listener_id=listener.id,
        phone=listener.phone,
        provider=session.provider,
        purpose=purpose,
        now=now,
        call_session_id=session.id,
        campaign_id=campaign_id,
        delivery_id=delivery_id,
    )
    return session


def on_outbox_outcomes(_sender, outcomes: list[Outcome], now: datetime, **_) -> None:
    """Record on each call session what the provider said when asked to ring (flush only)."""
    mine = {o.call_session_id: o for o in outcomes if o.channel == Channel.VOICE and o.call_session_id is not None}
    if not mine:
        return
    sessions = db.session.scalars(select(CallSession).where(CallSession.id.in_(list(mine)))).all()
    for session in sessions:
        outcome = mine[session.id]
        if outcome.status == OutboxStatus.PENDING:
            continue  # requeued by reconcile: it will be placed again
        session.updated_at = now
        if outcome.status == OutboxStatus.SENT:
            session.provider_call_id = session.provider_call_id or outcome.provider_id or None
            if session.status == CallStatus.QUEUED:
                session.provider_status = (outcome.provider_status or "queued")[:40]
            continue
        if outcome.status == OutboxStatus.UNKNOWN:
            session.provider_status = "unknown"  # it may still ring: its webhooks and status callbacks decide
            continue
        if session.status != CallStatus.QUEUED:
            continue  # the call reached us meanwhile: its own status callbacks decide
        cancelled = outcome.status == OutboxStatus.CANCELLED
        # cancelled by an opt-out, or with its campaign (the outcome's error says which): never called "opted out"
        # when it was the campaign
        by_campaign = cancelled and (outcome.error or "").startswith("campaign cancelled")
        label = "campaign-cancelled" if by_campaign else "opted-out" if cancelled else "failed"
        session.status = CallStatus.CANCELED if cancelled else CallStatus.FAILED
        reason = ("campaign cancelled" if by_campaign else "opted out") if cancelled else None
        session.provider_status = (reason or outcome.provider_status or outcome.error)[:40]
        session.ended_at = now
        session.path = [*(session.path or []), [now.isoformat(), label]]
        if not cancelled:
            log.warning(
                "call %s to %s refused by %s: %s",
                session.id,
                mask_phone(session.phone),
                session.provider,
                outcome.error,
            )
        _callback_outcome(session, cancelled, now)
        call_finished.send(session, now=now)
    db.session.flush()


def _callback_outcome(session: CallSession, cancelled: bool, now: datetime) -> None:
    callback_id = (session.state or {}).get("callback_id")
    if not callback_id:
        return
    row = db.session.get(MissedCallCallback, callback_id)
    if row is not None and row.status == CallbackStatus.PLACED:
        row.status = CallbackStatus.SKIPPED if cancelled else CallbackStatus.FAILED
        row.reason = "opted_out" if cancelled else "provider_refused"
        row.updated_at = now


def connect() -> None:
    outbox_outcomes.connect(on_outbox_outcomes, weak=False)
