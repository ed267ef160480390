"""Users, their scopes, their API tokens, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.roles import Role, ScopeKind
from core.clock import utcnow
from core.db import UTCDateTime, db, str_enum


class User(db.Model):
    """A person who signs in to the dashboard (or whose token calls the API). ``phone``, when set, lets a
    field agent ask the SMS line for follow-up figures (``SUIVI``); it is E.164 and unique."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case: the sign-in name
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    # Argon2 of the studio PIN ("" when none); deferred and set by the database's default: an older schema (the
    # dashboard bench's --compare) has no such column and the accounts still work
    studio_pin_hash: Mapped[str] = mapped_column(String(255), server_default="", deferred=True, deferred_group="studio")
    # wrong studio PINs typed in a row, across calls (``studio.service.enter_pin``); at ``PIN_LOCK_AFTER`` the phone
    # studio is locked until a new PIN is chosen. Deferred with the PIN, for the same reason
    studio_pin_failures: Mapped[int] = mapped_column(server_default="0", deferred=True, deferred_group="studio")
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    scopes: Mapped[list[UserScope]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserScope.id", lazy="selectin"
    )

    __table_args__ = (CheckConstraint("locale IN ('fr', 'en')", name="locale"),)
    __mapper_args__: ClassVar[dict] = {"eager_defaults": False}  # the studio columns' server defaults are not read back

    # Flask-Login's protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class UserScope(db.Model):
    """One place or group an agent covers: a region, commune or village (by name, as on listeners), or a group."""

    __tablename__ = "user_scopes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ScopeKind] = mapped_column(str_enum(ScopeKind, "scope_kind"))
    value: Mapped[str] = mapped_column(String(120), default="")  # the place's name (region, commune, village)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))

    user: Mapped[User] = relationship(back_populates="scopes")

    __table_args__ = (
        UniqueConstraint("user_id", "kind", "value", "group_id"),
        CheckConstraint("(kind = 'group') = (group_id IS NOT NULL)", name="group_scope_has_group"),
    )


class ApiToken(db.Model):
    """A partner's API token: only its SHA-256 is stored; ``prefix`` (its first characters) names it in lists."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class AuditEvent(db.Model):
    """Who did what, when: sign-ins (and failed ones), exports, changes to listeners, users and tokens.
    ``detail`` never holds a phone number in clear (masked) or a secret."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80), default="")  # e.g. "listener:12", "export:listeners"
    login: Mapped[str] = mapped_column(String(254), default="")  # the sign-in name tried (sign-ins only)
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_action_login_at", "action", "login", "at"),
        Index("ix_audit_events_action_ip_at", "action", "ip", "at"),
    )
