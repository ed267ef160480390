"""Call facts: one row per finished call, what the learning analytics count, denormalised for indexed filters.

Written by ``analytics.facts.record_call`` when a call ends (``core.signals.call_finished``), rebuilt by
``flask analytics rebuild``. Everything a filter needs is on the row: the local day, hour and weekday
(``KALANSO_TIMEZONE``), the language, the listener's places as the scope rule compares them (trimmed,
lower-case) at the time of the call, the lesson, new or returning caller, how the call began, its cost.
Per menu node, three bit masks (bit ``n`` = ``ivr.menu.NODE_ORDER[n]``: ``analytics.paths.NODE_BITS``) and
the exit node: eight nodes in 3 integers and a short string instead of 32 columns or a child table.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import UTCDateTime, db


class CallFact(db.Model):
    __tablename__ = "call_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_session_id: Mapped[int] = mapped_column(ForeignKey("call_sessions.id", ondelete="CASCADE"), unique=True)
    listener_id: Mapped[int | None] = mapped_column(ForeignKey("listeners.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the call session's creation
    local_day: Mapped[date] = mapped_column(Date)
    local_hour: Mapped[int] = mapped_column(SmallInteger)  # 0-23
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday
    lang: Mapped[str] = mapped_column(String(2), default="")  # the call's language (chosen, known, or default)
    region_key: Mapped[str] = mapped_column(String(120), default="")
    commune_key: Mapped[str] = mapped_column(String(120), default="")
    village_key: Mapped[str] = mapped_column(String(120), default="")
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    entry: Mapped[str] = mapped_column(String(10))  # inbound | campaign | callback | outbound (other)
    status: Mapped[str] = mapped_column(String(20))  # the call's final status
    answered: Mapped[bool] = mapped_column(default=False)
    chose_language: Mapped[bool] = mapped_column(default=False)
    reached_main: Mapped[bool] = mapped_column(default=False)
    started_lesson: Mapped[bool] = mapped_column(default=False)
    completed: Mapped[bool] = mapped_column(default=False)
    passed: Mapped[bool] = mapped_column(default=False)
    course_id: Mapped[str] = mapped_column(String(64), default="")  # the first lesson started on the call
    lesson_id: Mapped[str] = mapped_column(String(64), default="")
    chunks_heard: Mapped[int] = mapped_column(SmallInteger, default=0)
    chunks_total: Mapped[int] = mapped_column(SmallInteger, default=0)
    score: Mapped[int | None] = mapped_column(SmallInteger)
    total: Mapped[int | None] = mapped_column(SmallInteger)
    first_call: Mapped[bool] = mapped_column(default=False)  # the listener's first answered call
    duration_seconds: Mapped[int | None] = mapped_column()
    cost_fcfa: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    cost_source: Mapped[str] = mapped_column(String(8), default="")  # provider | tariff | "" (not billed)
    nodes_entered: Mapped[int] = mapped_column(default=0)
    nodes_timed_out: Mapped[int] = mapped_column(default=0)
    nodes_invalid: Mapped[int] = mapped_column(default=0)
    exit_node: Mapped[str] = mapped_column(String(20), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_call_facts_day", "local_day"),
        Index("ix_call_facts_village_day", "village_key", "local_day"),
        Index("ix_call_facts_commune_day", "commune_key", "local_day"),
        Index("ix_call_facts_region_day", "region_key", "local_day"),
        Index("ix_call_facts_lesson_day", "course_id", "lesson_id", "local_day"),
        Index("ix_call_facts_listener", "listener_id"),
    )
