"""The studio's tables: the recordings people made, each text's review state per language, and how often callers
heard a text without its recording (``audio_fallbacks``, counted by the voice line: the most-needed first).

A text is named by its recording *stem* (``content.model.Localized.audio``: ``<course>/<lesson>/<item>``,
``prompts/<key>``...), the same in every language. Users are referred to by id, without a foreign key (the
accounts' table is theirs; a user is deactivated, never deleted).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import UTCDateTime, db, str_enum


class AudioFallback(db.Model):
    """How often a text was spoken without its recording (by language and stem): the most-needed recordings."""

    __tablename__ = "audio_fallbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    lang: Mapped[str] = mapped_column(String(2))
    stem: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("lang", "stem"),)


class RecordingSource(enum.StrEnum):
    PHONE = "phone"  # recorded on a call to the line (Twilio, Africa's Talking, the simulator's microphone)
    BROWSER = "browser"  # recorded with the microphone on the item's page
    UPLOAD = "upload"  # a WAV or MP3 file uploaded on the item's page


class RecordingStatus(enum.StrEnum):
    RECORDED = "recorded"  # made and kept by its recorder: the line plays it
    APPROVED = "approved"  # a reviewer other than its recorder has checked it
    REJECTED = "rejected"  # a reviewer asked for it again (the line goes on playing it until it is replaced)


class Recording(db.Model):
    """One recording of one text in one language. The current one of a text has ``replaced_at`` empty (one at most:
    a partial unique index); replaced ones stay as history (their files are kept under ``content/audio/.history``)."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    lang: Mapped[str] = mapped_column(String(2))
    stem: Mapped[str] = mapped_column(String(200))
    file: Mapped[str] = mapped_column(String(300))  # relative to the audio folder: bm/money/saving-a-little/x.wav
    source: Mapped[RecordingSource] = mapped_column(str_enum(RecordingSource, "recording_source"))
    status: Mapped[RecordingStatus] = mapped_column(
        str_enum(RecordingStatus, "recording_status"), default=RecordingStatus.RECORDED
    )
    duration_ms: Mapped[int] = mapped_column(default=0)
    text_hash: Mapped[str] = mapped_column(String(64), default="")  # of the text it speaks (a changed text: again)
    recorded_by: Mapped[int | None] = mapped_column()  # accounts.models.User.id
    reviewed_by: Mapped[int | None] = mapped_column()
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")  # the reviewer's, when rejected
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "ux_recordings_current",
            "lang",
            "stem",
            unique=True,
            sqlite_where=text("replaced_at IS NULL"),
            postgresql_where=text("replaced_at IS NULL"),
        ),
    )


class ReviewStatus(enum.StrEnum):
    DRAFT = "draft"
    REVIEWED = "reviewed"
    NEEDS_CHANGES = "needs-changes"


class TextReview(db.Model):
    """A text's review state in one language, set by a reviewer in the dashboard (the course files keep a lesson's
    state; ``flask content export-review`` writes these back). ``text_hash``: the text as it was reviewed."""

    __tablename__ = "text_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    lang: Mapped[str] = mapped_column(String(2))
    stem: Mapped[str] = mapped_column(String(200))
    status: Mapped[ReviewStatus] = mapped_column(str_enum(ReviewStatus, "review_status"), default=ReviewStatus.DRAFT)
    comment: Mapped[str] = mapped_column(Text, default="")
    text_hash: Mapped[str] = mapped_column(String(64), default="")
    reviewed_by: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("lang", "stem"),)
