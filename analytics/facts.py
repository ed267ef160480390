"""Writing call facts: when a call ends (``core.signals.call_finished``), and again on demand (``rebuild``).

``fact_values(session, listener, settings, first_call)`` is the row for one finished call session (pure but
for its arguments); ``record_call`` upserts it — one row per call session, whatever the number of
notifications, so a repeated signal or a rebuild changes nothing. The receiver runs in the webhook's
transaction and only flushes: one ``EXISTS`` (was there an earlier answered call?) and one upsert.

Costs, in FCFA: the provider's own cost when it gives one in XOF (Africa's Talking ``amount`` with
``currencyCode=XOF``), else the voice tariff × the minutes started (``voice_minute_fcfa``) for an answered
call; an unanswered call costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from accounts.scope import place_key
from analytics.models import CallFact
from analytics.paths import CallSummary, summarize
from core.config import Settings
from core.db import db
from core.signals import call_finished
from ivr.models import CallSession
from listeners.models import Listener

PROVIDER_CURRENCIES = frozenset({"XOF"})  # provider costs taken as they are (FCFA); others are priced by tariff
REBUILD_BATCH = 2000
UPSERT_ROWS = 400  # rows per INSERT statement (bound parameters stay under the drivers' limits)


def voice_minute_fcfa(provider: str, settings: Settings) -> Decimal:
    """The price of one started voice minute through ``provider``, in FCFA: the deployment's tariffs (``TARIFFS``,
    the same the campaign cost estimates use; ``core.config.DEFAULT_TARIFFS`` until set), 0 for a provider without
    one."""
    return Decimal(str((settings.tariffs.get(provider) or {}).get("voice_minute", 0)))


def call_cost(session: CallSession, settings: Settings) -> tuple[Decimal, str]:
    """(cost in FCFA, source): ``provider``, ``tariff``, or ``""`` for a call not billed (never answered)."""
    if session.cost is not None and (session.currency or "").upper() in PROVIDER_CURRENCIES:
        return abs(Decimal(str(session.cost))).quantize(Decimal("0.01")), "provider"
    if session.answered_at is None:
        return Decimal(0), ""
    seconds = session.duration_seconds
    if seconds is None and session.ended_at is not None:
        seconds = max(0, int((session.ended_at - session.answered_at).total_seconds()))
    minutes = max(1, math.ceil((seconds or 0) / 60))
    return (voice_minute_fcfa(session.provider, settings) * minutes).quantize(Decimal("0.01")), "tariff"


def entry_of(session: CallSession) -> str:
    state = session.state or {}
    if state.get("campaign_delivery_id"):
        return "campaign"
    if state.get("callback_id"):
        return "callback"
    return "inbound" if str(session.direction) == "inbound" else "outbound"


def fact_values(
    session: CallSession, listener: Listener | None, settings: Settings, *, first_call: bool, now: datetime
) -> dict[str, Any]:
    """The call fact's columns for one finished call session."""
    summary: CallSummary = summarize(session.path, answered=session.answered_at is not None)
    local = session.created_at.astimezone(settings.tz)
    cost, source = call_cost(session, settings)
    lang = summary.language or (listener.language if listener is not None else None) or settings.default_language
    return {
        "call_session_id": session.id,
        "listener_id": session.listener_id if listener is not None else None,
        "started_at": session.created_at,
        "local_day": local.date(),
        "local_hour": local.hour,
        "weekday": local.weekday(),
        "lang": lang,
        "region_key": place_key(listener.region)[:120] if listener is not None else "",
        "commune_key": place_key(listener.commune)[:120] if listener is not None else "",
        "village_key": place_key(listener.village)[:120] if listener is not None else "",
        "direction": str(session.direction),
        "entry": entry_of(session),
        "status": str(session.status),
        "answered": summary.answered,
        "chose_language": summary.chose_language,
        "reached_main": summary.reached_main,
        "started_lesson": summary.started_lesson,
        "completed": summary.completed,
        "passed": summary.passed,
        "course_id": summary.course_id[:64],
        "lesson_id": summary.lesson_id[:64],
        "chunks_heard": min(summary.chunks_heard, 32767),
        "chunks_total": min(summary.chunks_total, 32767),
        "score": summary.score,
        "total": summary.total,
        "first_call": first_call and summary.answered,
        "duration_seconds": session.duration_seconds,
        "cost_fcfa": cost,
        "cost_source": source,
        "nodes_entered": CallSummary.mask(summary.entered),
        "nodes_timed_out": CallSummary.mask(summary.timed_out),
        "nodes_invalid": CallSummary.mask(summary.invalid),
        "exit_node": summary.exit_node,
        "updated_at": now,
    }


_EARLIER_ANSWERED = exists().where(
    CallSession.listener_id == bindparam("listener_id"),
    CallSession.answered_at.is_not(None),
    or_(
        CallSession.answered_at < bindparam("answered_at"),
        and_(CallSession.answered_at == bindparam("answered_at"), CallSession.id < bindparam("session_id")),
    ),
)


def is_first_call(session: CallSession) -> bool:
    """Whether this is the listener's first answered call (none answered before it)."""
    if session.answered_at is None or session.listener_id is None:
        return False
    params = {"listener_id": session.listener_id, "answered_at": session.answered_at, "session_id": session.id}
    return not db.session.execute(select(_EARLIER_ANSWERED), params).scalar()


def upsert(rows: list[dict[str, Any]]) -> None:
    """Insert call facts, or replace the existing fact of the same call session (flushes first, then one
    ``INSERT ... ON CONFLICT (call_session_id) DO UPDATE``)."""
    if not rows:
        return
    db.session.flush()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [c for c in rows[0] if c != "call_session_id"]
    for start in range(0, len(rows), UPSERT_ROWS):
        statement = insert(CallFact).values(rows[start : start + UPSERT_ROWS])
        statement = statement.on_conflict_do_update(
            index_elements=["call_session_id"], set_={c: statement.excluded[c] for c in columns}
        )
        db.session.execute(statement)


def record_call(session: CallSession, now: datetime, **_) -> None:
    """The receiver of ``call_finished``: write this call's fact (flush only; the edge commits)."""
    settings = current_app.config["KALANSO"]
    listener = db.session.get(Listener, session.listener_id) if session.listener_id else None
    upsert([fact_values(session, listener, settings, first_call=is_first_call(session), now=now)])


def _batches(since: date | None, tz, batch: int) -> Iterator[list[int]]:
    query = select(CallSession.id).where(CallSession.ended_at.is_not(None)).order_by(CallSession.id)
    if since is not None:
        start = datetime.combine(since, time(0), tzinfo=tz).astimezone(UTC)
        query = query.where(CallSession.created_at >= start)
    after = 0
    while True:
        ids = db.session.scalars(query.where(CallSession.id > after).limit(batch)).all()
        if not ids:
            return
        yield list(ids)
        after = ids[-1]


def _first_answered(listener_ids: set[int]) -> dict[int, int]:
    """Listener id → the id of their first answered call session (earliest answer; the lower id on a tie)."""
    if not listener_ids:
        return {}
    rows = db.session.execute(
        select(CallSession.listener_id, CallSession.answered_at, CallSession.id).where(
            CallSession.listener_id.in_(listener_ids), CallSession.answered_at.is_not(None)
        )
    ).all()
    best: dict[int, tuple[datetime, int]] = {}
    for listener_id, answered_at, session_id in rows:
        if listener_id not in best or (answered_at, session_id) < best[listener_id]:
            best[listener_id] = (answered_at, session_id)
    return {listener_id: pair[1] for listener_id, pair in best.items()}


def rebuild(now: datetime, since: date | None = None, batch: int = REBUILD_BATCH) -> int:
    """Write again the fact of every finished call (started on or after ``since``, local day), in batches of
    ``batch`` calls, each committed; returns how many. Idempotent: an existing fact is replaced."""
    settings = current_app.config["KALANSO"]
    done = 0
    for ids in _batches(since, settings.tz, batch):
        sessions = db.session.scalars(select(CallSession).where(CallSession.id.in_(ids))).all()
        listener_ids = {s.listener_id for s in sessions if s.listener_id}
        listeners = {x.id: x for x in db.session.scalars(select(Listener).where(Listener.id.in_(listener_ids))).all()}
        firsts = _first_answered(listener_ids)
        rows = []
        for session in sessions:
            listener = listeners.get(session.listener_id)
            first = session.answered_at is not None and firsts.get(session.listener_id) == session.id
            rows.append(fact_values(session, listener, settings, first_call=first, now=now))
        upsert(rows)
        db.session.commit()  # (the identity map holds loaded rows weakly: memory stays flat)
        done += len(rows)
    return done


def connect() -> None:
    call_finished.connect(record_call, weak=False)
