"""The missed-call callback: a listener rings and hangs up (or we decline on purpose), and is called
back for free by the same provider, after a short delay, at most N times per number per day,
never after an opt-out and only inside the calling window (otherwise when it next opens).

``plan_callback`` is pure (time is a parameter); ``schedule_callback`` writes the pending row;
``dispatch_due(now)`` queues the due ones in the outbox (the sender rings); ``dispatch_due_callbacks(app)``
is the scheduler's thin job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import func, select

from core.clock import utcnow
from core.config import Settings
from core.db import db
from core.phones import mask_phone
from core.window import CallingWindow
from ivr.models import CallbackStatus, CallSession, MissedCallCallback
from listeners.models import Listener
from listeners.service import lock_listener, may_contact

log = logging.getLogger(__name__)

LIVE = (CallbackStatus.PENDING, CallbackStatus.PLACED)


@dataclass(frozen=True)
class Plan:
    due_at: datetime | None  # None: no callback
    reason: str = ""  # why not (opted_out, daily_cap, already_pending)


def plan_callback(
    now: datetime,
    *,
    delay_seconds: int,
    window: CallingWindow,
    daily_cap: int,
    callbacks_that_day: int,
    pending: bool,
    opted_out: bool,
) -> Plan:
    """When to call back a missed call made at ``now`` (pure)."""
    if opted_out:
        return Plan(None, "opted_out")
    if pending:
        return Plan(None, "already_pending")
    due = window.next_open(now + timedelta(seconds=delay_seconds))
    if callbacks_that_day >= daily_cap:
        return Plan(None, "daily_cap")
    return Plan(due)


def local_day_bounds(moment: datetime, window: CallingWindow) -> tuple[datetime, datetime]:
    local = moment.astimezone(window.tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def callback_pending(phone: str) -> bool:
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(MissedCallCallback)
            .where(MissedCallCallback.phone == phone, MissedCallCallback.status == CallbackStatus.PENDING)
        )
    )


def schedule_callback(
    listener: Listener, missed: CallSession, now: datetime, settings: Settings
) -> MissedCallCallback | None:
    """Queue a callback for ``listener`` after the missed call ``missed``; None when none is due."""
    window = settings.window
    pending = callback_pending(listener.phone)
    first_guess = window.next_open(now + timedelta(seconds=settings.missed_call_delay_seconds))
    day_start, day_end = local_day_bounds(first_guess, window)
    that_day = db.session.scalar(
        select(func.count())
        .select_from(MissedCallCallback)
        .where(
            MissedCallCallback.phone == listener.phone,
            MissedCallCallback.status.in_(LIVE),
            MissedCallCallback.due_at >= day_start,
            MissedCallCallback.due_at < day_end,
        )
    )
    plan = plan_callback(
        now,
        delay_seconds=settings.missed_call_delay_seconds,
        window=window,
        daily_cap=settings.missed_call_daily_cap,
        callbacks_that_day=that_day or 0,
        pending=bool(pending),
        opted_out=not may_contact(listener),
    )
    if plan.due_at is None:
        log.info("no callback for %s: %s", mask_phone(listener.phone), plan.reason)
        return None
    row = MissedCallCallback(
        listener_id=listener.id,
        phone=listener.phone,
        provider=missed.provider,
        status=CallbackStatus.PENDING,
        missed_call_id=missed.id,
        missed_at=now,
        due_at=plan.due_at,
        created_at=now,
        updated_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def claim_due(now: datetime, limit: int = 50) -> list[MissedCallCallback]:
    """Pending callbacks due at ``now``, locked so that two schedulers never take the same one."""
    query = (
        select(MissedCallCallback)
        .where(MissedCallCallback.status == CallbackStatus.PENDING, MissedCallCallback.due_at <= now)
        .order_by(MissedCallCallback.due_at, MissedCallCallback.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(db.session.scalars(query))


def dispatch_due(now: datetime, settings: Settings | None = None) -> list[int]:
    """Turn due callbacks into outbound calls: a queued call session and its outbox row each, committed
    together; the sender rings. Returns the ids of the call sessions queued."""
    from ivr.outbound import start_call

    settings = settings or current_app.config["KALANSO"]
    window = settings.window
    sessions: list[int] = []
    for row in claim_due(now):
        listener = db.session.get(Listener, row.listener_id)
        row.updated_at = now
        if listener is not None:
            lock_listener(listener)  # a STOP meanwhile is seen, and cancels the call it would race
        if listener is None or not may_contact(listener):
            row.status, row.reason = CallbackStatus.SKIPPED, "opted_out"
            continue
        if not window.contains(now):  # the window closed meanwhile: wait, say nothing
            row.due_at = window.next_open(now)
            continue
        session = start_call(listener, {"entry": "menu", "callback_id": row.id}, now, provider=row.provider)
        if session is None:
            row.status, row.reason = CallbackStatus.SKIPPED, "opted_out"
            continue
        row.status, row.attempts, row.placed_at = CallbackStatus.PLACED, row.attempts + 1, now
        row.callback_call_id = session.id
        sessions.append(session.id)
    db.session.commit()
    return sessions


def dispatch_due_callbacks(app: Flask) -> None:
    """The scheduler's job (every few seconds): place the callbacks that are due."""
    with app.app_context():
        try:
            placed = dispatch_due(utcnow())
        except Exception:
            db.session.rollback()
            log.exception("missed-call callbacks: dispatch failed")
            return
        if placed:
            log.info("missed-call callbacks: %d call(s) queued", len(placed))
