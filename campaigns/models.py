"""Campaigns, their runs and one delivery row per (run, listener).

Business state lives here, not in the scheduler's job store. The unique constraint on
``(run_id, listener_id)`` is what makes a delivery exist at most once, whatever crashes or how
many dispatchers run.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import UTCDateTime, db, str_enum
from core.vocabulary import Channel


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class ScheduleKind(enum.StrEnum):
    ONCE = "once"
    RECURRING = "recurring"
    DRIP = "drip"


class DeliveryStatus(enum.StrEnum):
    """Our words for one delivery. ``pending``: waiting for its time; ``sending``: its SMS or call is in the
    outbox, the sender has not heard back from the provider yet; then the outcome."""

    PENDING = "pending"
    SENDING = "sending"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    OPTED_OUT = "opted_out"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the provider cannot tell us whether a crashed send went out; never resent blindly

    @property
    def open(self) -> bool:
        return self in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class Campaign(db.Model):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "campaign_channel"))
    # what is sent: a lesson (voice: the call plays it; SMS: the quiz starts) or a message (text per language)
    course_id: Mapped[str | None] = mapped_column(String(64))
    lesson_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # {"fr": ..., "bm": ...}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # see campaigns.audience.AudienceFilter
    schedule_kind: Mapped[ScheduleKind] = mapped_column(str_enum(ScheduleKind, "schedule_kind"))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # see campaigns.schedule
    calling_window: Mapped[str] = mapped_column(String(20), default="")  # "" = the deployment's setting
    blocked_days: Mapped[str] = mapped_column(String(400), default="")  # added to the deployment's
    max_retries: Mapped[int] = mapped_column(default=3)  # voice: busy / no answer / failed
    sms_fallback: Mapped[bool] = mapped_column(default=False)  # voice: text when every attempt failed
    state: Mapped[CampaignState] = mapped_column(str_enum(CampaignState, "campaign_state"), default=CampaignState.DRAFT)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when first scheduled; drip counts joins from it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    runs: Mapped[list[CampaignRun]] = relationship(back_populates="campaign", cascade="all, delete-orphan")


class CampaignRun(db.Model):
    """One occurrence of a campaign: the single send of a one-off, one date of a recurring campaign,
    one step of a drip series."""

    __tablename__ = "campaign_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))  # "once", "2026-11-26T18:00", "drip-2"
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    step: Mapped[int | None] = mapped_column()  # drip step index
    expanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # all deliveries created (not for drip)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="runs")

    __table_args__ = (UniqueConstraint("campaign_id", "key"),)


class Delivery(db.Model):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id", ondelete="CASCADE"))
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "delivery_channel"))
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # next attempt, always inside the window
    attempts: Mapped[int] = mapped_column(default=0)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    call_session_id: Mapped[int | None] = mapped_column(ForeignKey("call_sessions.id", ondelete="SET NULL"))
    provider_id: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    fallback_sent: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # lesson started after delivery
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # lesson completed after delivery
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("run_id", "listener_id"),
        Index("ix_deliveries_status_due", "status", "due_at"),
        Index(  # the dispatcher's claim, in its order: it reads its batch, never sorts a million rows
            "ix_deliveries_pending",
            "channel",
            "due_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_deliveries_campaign_status_due", "campaign_id", "status", "due_at"),  # next send, open ones
        Index(  # the funnel's one GROUP BY (campaigns.funnel): an index-only scan on PostgreSQL
            "ix_deliveries_funnel",
            "campaign_id",
            "status",
            "attempts",
            postgresql_include=["channel", "started_at", "completed_at"],
        ),
        Index("ix_deliveries_listener_status", "listener_id", "status"),
        Index("ix_deliveries_message_id", "message_id"),
        Index("ix_deliveries_call_session_id", "call_session_id"),
    )
