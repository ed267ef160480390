"""Listeners, their groups, their progress through lessons and their quiz answers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core.clock import utcnow
from core.db import UTCDateTime, db, str_enum
from core.phones import normalize_phone
from core.vocabulary import Channel


class ProgressStatus(enum.StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


listener_groups = Table(
    "listener_groups",
    db.metadata,
    Column("listener_id", ForeignKey("listeners.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_listener_groups_group", "group_id", "listener_id"),  # a group's members; an agent's group scope
)


class Group(db.Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    listeners: Mapped[list[Listener]] = relationship(secondary=listener_groups, back_populates="groups")


class Listener(db.Model):
    """A person reached by the line. ``phone`` is E.164 and unique; set it through ``normalize_phone``."""

    __tablename__ = "listeners"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    language: Mapped[str | None] = mapped_column(String(2))  # bm | fr | None (not chosen yet)
    # who set the language: "voice" / "sms" (the listener chose it by phone), "default" (no choice made),
    # "import", or "user:<id>" (someone on the dashboard); an import never overwrites a phone choice
    language_set_by: Mapped[str] = mapped_column(String(40), default="", server_default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    village: Mapped[str] = mapped_column(String(120), default="")
    commune: Mapped[str] = mapped_column(String(120), default="")
    region: Mapped[str] = mapped_column(String(120), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_channel: Mapped[str] = mapped_column(String(20), default="")  # voice | sms | import | agent
    opted_out: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opted_out_channel: Mapped[str] = mapped_column(String(20), default="")
    opted_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    groups: Mapped[list[Group]] = relationship(secondary=listener_groups, back_populates="listeners")
    progress: Mapped[list[LessonProgress]] = relationship(back_populates="listener", cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("language IN ('bm', 'fr') OR language IS NULL", name="language"),
        # the scope rule and the place filters compare lower(trim(place)); with id, a scoped list pages by keyset;
        # with the place itself included, counts in a scope are index-only scans on PostgreSQL.
        # The migration builds them on every database; written here as PostgreSQL reflects them, for the drift
        # check (SQLite cannot reflect expression indexes: not compared there)
        Index(
            "ix_listeners_village_key", text("lower(TRIM(BOTH FROM village))"), "id", postgresql_include=["village"]
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_listeners_commune_key", text("lower(TRIM(BOTH FROM commune))"), "id", postgresql_include=["commune"]
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_listeners_region_key", text("lower(TRIM(BOTH FROM region))"), "id", postgresql_include=["region"]
        ).ddl_if(dialect="postgresql"),
        # a search for part of a name or village (lower(x) LIKE '%...%'): trigrams, on PostgreSQL only
        Index("ix_listeners_name_trgm", text("lower(name)"), postgresql_using="gin").ddl_if(dialect="postgresql"),
        Index("ix_listeners_village_trgm", text("lower(village)"), postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    @validates("phone")
    def _normalize(self, _key: str, value: str) -> str:
        return normalize_phone(value)

    @validates("language")
    def _language(self, _key: str, value: str | None) -> str | None:
        if value not in (None, "bm", "fr"):
            raise ValueError(f"language must be 'bm' or 'fr', got {value!r}")
        return value

    def set_language(self, lang: str | None, by: str) -> None:
        self.language, self.language_set_by = lang, by

    def chose_language_by_phone(self) -> bool:
        return self.language is not None and self.language_set_by in ("voice", "sms")

    def opt_out(self, now: datetime, channel: str) -> None:
        self.opted_out, self.opted_out_at, self.opted_out_channel = True, now, channel

    def opt_in(self, now: datetime, channel: str) -> None:
        self.opted_out, self.opted_in_at = False, now
        if self.consent_at is None:
            self.consent_at, self.consent_channel = now, channel

    def __repr__(self) -> str:  # never the phone number in clear
        from core.phones import mask_phone

        return f"<Listener {self.id} {mask_phone(self.phone)}>"


class ConsentEvent(db.Model):
    """The consent history: each consent given, opt-out and opt-in, by which channel, and by whom when it was
    someone on the dashboard (an agent registering a listener, a manager recording an opt-out request)."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(12))  # consent | opt_out | opt_in
    channel: Mapped[str] = mapped_column(String(20))  # voice | sms | import | agent | dashboard | api
    user_id: Mapped[int | None] = mapped_column()  # accounts.models.User.id (no FK: listeners sit below accounts)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("action IN ('consent', 'opt_out', 'opt_in')", name="consent_action"),
        Index("ix_consent_events_listener_at", "listener_id", "at"),
    )


class LessonProgress(db.Model):
    """One listener in one lesson: the bookmark to resume from, status, score and attempts."""

    __tablename__ = "lesson_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    course_id: Mapped[str] = mapped_column(String(64))
    lesson_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[ProgressStatus] = mapped_column(
        str_enum(ProgressStatus, "progress_status"), default=ProgressStatus.NOT_STARTED
    )
    bookmark: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, "progress_channel"))  # last used
    completed_channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, "completed_channel"))
    score: Mapped[int | None] = mapped_column()  # of the latest finished attempt
    best_score: Mapped[int | None] = mapped_column()
    total: Mapped[int | None] = mapped_column()  # number of questions
    attempts: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    listener: Mapped[Listener] = relationship(back_populates="progress")

    __table_args__ = (
        UniqueConstraint("listener_id", "course_id", "lesson_id"),
        Index("ix_lesson_progress_course_lesson_status", "course_id", "lesson_id", "status"),
        Index("ix_lesson_progress_updated", "updated_at", "listener_id"),  # active learners this week
    )


class QuizAnswer(db.Model):
    """Every answer given, right or wrong, by any channel."""

    __tablename__ = "quiz_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[str] = mapped_column(String(64))
    lesson_id: Mapped[str] = mapped_column(String(64))
    question_id: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(String(200))  # as given: a key or the SMS text
    option_key: Mapped[str] = mapped_column(String(4))
    correct: Mapped[bool] = mapped_column()
    counted: Mapped[bool] = mapped_column(default=True)  # False for a re-answer after going back
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "answer_channel"))
    attempt: Mapped[int] = mapped_column(default=1)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the language the question was asked in (the listener's, else the default); "" for answers recorded before
    # it was kept (the analytics count them in the default language). Deferred: only the analytics' aggregates read
    # it, so a record page's answers (and bench/dashboard.py --compare on the older schema) do not load it
    lang: Mapped[str] = mapped_column(String(2), default="", server_default="", deferred=True)

    __table_args__ = (
        Index("ix_quiz_answers_lesson_question", "course_id", "lesson_id", "question_id"),
        # per-question results per language over a date range (analytics.queries.question_results): index-only
        Index(
            "ix_quiz_answers_results",
            "answered_at",
            "course_id",
            "lesson_id",
            "question_id",
            "lang",
            "correct",
            "attempt",
            postgresql_where=text("counted"),
            sqlite_where=text("counted"),
        ),
        # the answer that counts is recorded once per question and attempt, whatever retries or channels race
        Index(
            "uq_quiz_answers_counted",
            "listener_id",
            "course_id",
            "lesson_id",
            "question_id",
            "attempt",
            unique=True,
            postgresql_where=text("counted"),
            sqlite_where=text("counted"),
        ),
    )


class LessonCompletion(db.Model):
    """One completed run of a lesson (attempt) by one listener: recorded once, by a unique constraint."""

    __tablename__ = "lesson_completions"

    id: Mapped[int] = mapped_column(primary_key=True)
    listener_id: Mapped[int] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    course_id: Mapped[str] = mapped_column(String(64))
    lesson_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column()
    score: Mapped[int] = mapped_column()
    total: Mapped[int] = mapped_column()
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "completion_channel"))
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("listener_id", "course_id", "lesson_id", "attempt"),
        Index("ix_lesson_completions_lesson", "course_id", "lesson_id", "completed_at"),
        Index("ix_lesson_completions_course_listener", "course_id", "listener_id"),  # people per course
    )
