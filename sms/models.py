"""SMS messages, inbound and outbound, with our own status words and cost figures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import UTCDateTime, db, str_enum
from core.vocabulary import Direction, MessageStatus


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    listener_id: Mapped[int | None] = mapped_column(ForeignKey("listeners.id", ondelete="SET NULL"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "message_direction"))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus, "message_status"))
    provider_status: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(String(200), default="")  # the provider's reason, kept
    encoding: Mapped[str] = mapped_column(String(8), default="")  # GSM-7 | UCS-2 (outbound)
    segments: Mapped[int | None] = mapped_column()
    purpose: Mapped[str] = mapped_column(String(24), default="", server_default="")  # sms.models.Purpose (outbound)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id"),
        Index("ix_messages_phone_created", "phone", "created_at"),
        Index("ix_messages_created", "created_at", "id"),  # the latest, on the home page
    )
