"""Call records: one row per call, with the path of menu nodes visited.

**The call path** (``CallSession.path``) is a JSON list of ``[iso time, label]`` entries, in order, written by the
voice service as the call goes (``ivr.service._visit``). It is enough on its own to compute the learning
analytics (``analytics.paths.summarize``). The labels:

- a menu node entered: ``language``, ``main``, ``courses``, ``lessons``, ``lesson``, ``lesson_end``,
  ``campaign_end``, ``opt_out_confirm`` (``ivr.menu.NODE_ORDER``; a repeat with ``*`` is not a new entry);
- an event at the node entered last: ``!invalid`` (a key that means nothing there, in a lesson too) and
  ``!timeout`` (no key before the timeout; at a lesson's chunk a silence goes on and is not recorded);
- ``lang:bm`` / ``lang:fr``: a language chosen on this call;
- ``lesson:<course>/<lesson>``: a lesson started or resumed; ``chunk:<i>/<n>``: the i-th of the lesson's n chunks
  said (1-based; a resumed lesson starts past 1); ``done:<right>/<total>``: the lesson completed with that score;
- how it ends: ``goodbye`` (we said goodbye: three misses, or the end), ``opted_out`` (the listener stopped
  calls by key), then ``hangup`` when the provider reports the end of an answered call; an unanswered call
  ends with its status (``no_answer``, ``busy``, ``failed``, ``canceled``...), a declined one (missed-call
  callback) with ``rejected``; an outbound call starts with ``queued``, and ``failed`` / ``opted-out`` /
  ``campaign-cancelled`` when the provider refused it, the listener opted out or its campaign was cancelled
  before it rang.

A path is bounded (``MAX_PATH`` entries): past it, the first entries are kept, then one ``!truncated`` entry,
then the latest ``PATH_TAIL`` entries (so a call's end is always there).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import UTCDateTime, db, str_enum
from core.vocabulary import CallStatus, Direction
from studio.models import AudioFallback  # the most-needed recordings: the studio's table, counted by the voice line

__all__ = ["AudioFallback"]  # with the models defined below

MAX_PATH = 200
PATH_TAIL = 40
TRUNCATED = "!truncated"


def bounded_path(path: list[Any]) -> list[Any]:
    """``path`` cut to ``MAX_PATH`` entries (see the module's docstring); idempotent."""
    if len(path) <= MAX_PATH:
        return path
    head = path[: MAX_PATH - PATH_TAIL - 1]
    return [*head, [path[len(head)][0], TRUNCATED], *path[-PATH_TAIL:]]


class CallSession(db.Model):
    __tablename__ = "call_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))  # local | twilio | africastalking
    provider_call_id: Mapped[str | None] = mapped_column(String(64))
    listener_id: Mapped[int | None] = mapped_column(ForeignKey("listeners.id", ondelete="SET NULL"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "call_direction"))
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus, "call_status"), default=CallStatus.QUEUED)
    provider_status: Mapped[str] = mapped_column(String(40), default="")  # the provider's word, kept for audit
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # where the caller is in the menus
    path: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[iso time, label], ...]: see the docstring
    duration_seconds: Mapped[int | None] = mapped_column()
    cost: Mapped[float | None] = mapped_column(Numeric(12, 4))
    currency: Mapped[str] = mapped_column(String(3), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("provider", "provider_call_id"),
        Index("ix_call_sessions_phone_created", "phone", "created_at"),
        Index("ix_call_sessions_created", "created_at", "id"),  # the latest, on the home page
    )


class CallbackStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its due time (or for the calling window to open)
    PLACED = "placed"  # the outbound call session and its outbox row were created (the sender rings)
    SKIPPED = "skipped"  # not called back: opted out, or the daily cap was reached
    FAILED = "failed"  # the provider refused the call


class MissedCallCallback(db.Model):
    """A listener rang and hung up (or we declined on purpose): call them back, for free."""

    __tablename__ = "missed_call_callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(20))  # the provider the missed call came through
    status: Mapped[CallbackStatus] = mapped_column(
        str_enum(CallbackStatus, "callback_status"), default=CallbackStatus.PENDING
    )
    reason: Mapped[str] = mapped_column(String(40), default="")  # why skipped or failed
    missed_call_id: Mapped[int | None] = mapped_column(ForeignKey("call_sessions.id", ondelete="SET NULL"))
    callback_call_id: Mapped[int | None] = mapped_column(ForeignKey("call_sessions.id", ondelete="SET NULL"))
    missed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_missed_call_callbacks_status_due", "status", "due_at"),
        Index("ix_missed_call_callbacks_phone_due", "phone", "due_at"),
    )


class TakeStatus(enum.StrEnum):
    PENDING = "pending"  # kept on the phone: waiting to be fetched from the provider
    STORED = "stored"  # fetched and stored as the text's recording (``recording_id``)
    FAILED = "failed"  # could not be fetched after ``MAX_ATTEMPTS`` tries (``error`` says why)


class StudioTake(db.Model):
    """A take an editor kept in the phone studio, waiting to be fetched from the provider's storage (never in a
    webhook: ``ivr.studio_fetch``). One row per provider recording: a retried webhook cannot keep it twice."""

    __tablename__ = "studio_takes"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    recording_key: Mapped[str] = mapped_column(String(64))  # Twilio RecordingSid, else a hash of the URL
    url: Mapped[str] = mapped_column(String(300))
    lang: Mapped[str] = mapped_column(String(2))
    stem: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column()  # the recorder (accounts' user id, no foreign key)
    call_session_id: Mapped[int | None] = mapped_column()
    duration_seconds: Mapped[int | None] = mapped_column()
    status: Mapped[TakeStatus] = mapped_column(str_enum(TakeStatus, "studio_take_status"), default=TakeStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(String(300), default="")
    recording_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("provider", "recording_key"),
        Index("ix_studio_takes_status", "status", "updated_at"),
    )
