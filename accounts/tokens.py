"""API tokens: 32 random bytes shown once; only their SHA-256 is stored (a token is long and random, so a
fast hash is enough and lets a request find its token by an indexed look-up)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select

from accounts import audit
from accounts.models import ApiToken, User
from core.db import db

PREFIX = "kls_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(user: User, name: str, now: datetime) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row, and the token itself (to show once, never stored)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, name=name.strip()[:120], prefix=token[:12], token_hash=_digest(token), created_at=now
    )
    db.session.add(row)
    db.session.flush()
    audit.record("token_created", now, user=user, target=f"token:{row.id}", name=row.name)
    return row, token


def authenticate(token: str, now: datetime) -> User | None:
    """The active user a token belongs to, if the token exists and is not revoked (its last use is noted)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now  # at most once a minute: a busy partner does not write on every call
    return row.user


def revoke(row: ApiToken, by: User, now: datetime) -> None:
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record("token_revoked", now, user=by, target=f"token:{row.id}")


def of_user(user: User) -> list[ApiToken]:
    """A user's tokens, newest first (revoked ones too: the list says so)."""
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def find_own(user: User, token_id: int) -> ApiToken | None:
    """One of ``user``'s tokens by id, or None (someone else's token looks absent)."""
    return db.session.scalars(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)).first()
