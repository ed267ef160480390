"""Outbound calls, for the missed-call callback and for campaigns.

Two steps, so that the provider is only asked once the database has committed:

1. ``start_call(listener, entry, now)`` pre-creates a queued ``CallSession`` whose ``state`` says
   what to play (``{"entry": "menu"}``, or ``{"entry": "lesson", "course_id": ..., "lesson_id": ...,
   "campaign_delivery_id": ...}``) and flushes; the caller COMMITS;
2. ``place_pending(session_ids, now)`` asks each session's provider to ring (our session id is the
   reference the provider echoes back), stores the provider's call id and status; the caller commits.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app

from core.db import db
from core.phones import mask_phone
from core.signals import call_finished
from core.vocabulary import CallStatus, Direction
from ivr.models import CallSession
from listeners.models import Listener
from listeners.service import may_contact
from providers.base import OutboundCall, ProviderError
from providers.registry import voice_dialer_for

log = logging.getLogger(__name__)


def start_call(
    listener: Listener, entry: dict[str, Any], now: datetime, *, provider: str | None = None
) -> CallSession | None:
    """A queued outbound call session for ``listener`` (None if they opted out). Flushes, never commits."""
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
    return session


def place_pending(session_ids: list[int], now: datetime) -> dict[int, bool]:
    """Ask the providers to ring each queued session (call AFTER the commit that created them).

    Returns {session id: accepted by the provider}. Flushes; the caller commits.
    """
    settings = current_app.config["KALANSO"]
    out: dict[int, bool] = {}
    for session_id in session_ids:
        session = db.session.get(CallSession, session_id)
        if session is None or session.status != CallStatus.QUEUED or session.provider_call_id:
            continue
        listener = db.session.get(Listener, session.listener_id) if session.listener_id else None
        if not may_contact(listener):  # opted out since the call was queued: never ring
            session.status, session.ended_at, session.updated_at = CallStatus.CANCELED, now, now
            session.provider_status = "opted out"
            session.path = [*(session.path or []), [now.isoformat(), "opted-out"]]
            call_finished.send(session, now=now)
            out[session_id] = False
            db.session.flush()
            continue
        try:
            result = voice_dialer_for(session.provider, settings).place_call(
                OutboundCall(to=session.phone, reference=str(session.id))
            )
            status, call_id, word, error = result.status, result.provider_call_id, result.provider_status, result.error
        except (ProviderError, ValueError) as exc:
            status, call_id, word, error = CallStatus.FAILED, None, "", str(exc)
        session.provider_status = (word or error)[:40]
        session.updated_at = now
        if call_id:
            session.provider_call_id = call_id
        if status.final:
            session.status, session.ended_at = status, now
            session.path = [*(session.path or []), [now.isoformat(), "failed"]]
            log.warning(
                "call %s to %s refused by %s: %s", session.id, mask_phone(session.phone), session.provider, error
            )
            call_finished.send(session, now=now)
        out[session_id] = not status.final
        db.session.flush()
    return out
