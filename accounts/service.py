"""Users: create, find, disable, set scopes; sign in with throttling; the first local admin."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from accounts import audit, passwords
from accounts.models import AuditEvent, User, UserScope
from accounts.roles import Role, ScopeKind
from core.db import db
from core.phones import normalize_phone

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_LOGIN = 5  # then that account refuses sign-ins for the rest of the window
MAX_FAILURES_PER_IP = 20  # then that address is refused, whatever account it tries


class UserError(ValueError):
    """A user cannot be created or changed as asked; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == normalize_email(email))).first()


def create_user(
    email: str,
    role: Role,
    now: datetime,
    *,
    name: str = "",
    password: str | None = None,
    phone: str | None = None,
    scopes: list[tuple[ScopeKind, str | int]] = (),
    by: User | None = None,
) -> tuple[User, str | None]:
    """A new user; returns it and, when no password was given, the one-time password to hand over."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 254 or " " in email:
        raise UserError("email", "Adresse e-mail invalide.")
    if find_by_email(email) is not None:
        raise UserError("email", "Un compte existe déjà avec cette adresse.")
    generated = None
    if password is None:
        password = generated = passwords.one_time_password()
    elif (why := passwords.problem(password)) is not None:
        raise UserError("password", why)
    user = User(
        email=email,
        name=name.strip()[:200],
        role=Role(role),
        password_hash=passwords.hash_password(password),
        must_change_password=generated is not None,
        created_at=now,
    )
    set_phone(user, phone)
    db.session.add(user)
    set_scopes(user, scopes)
    db.session.flush()
    audit.record("user_created", now, user=by, target=f"user:{user.id}", role=user.role.value)
    return user, generated


def set_phone(user: User, phone: str | None) -> None:
    if not phone:
        user.phone = None
        return
    try:
        user.phone = normalize_phone(phone)
    except ValueError as exc:
        raise UserError("phone", "Numéro de téléphone invalide.") from exc
    clash = db.session.scalars(select(User.id).where(User.phone == user.phone, User.id != user.id)).first()
    if clash is not None:
        raise UserError("phone", "Ce numéro est déjà celui d'un autre compte.")


def set_scopes(user: User, scopes: list[tuple[ScopeKind, str | int]]) -> None:
    """Replace an agent's scopes: (kind, place name) or (GROUP, group id)."""
    user.scopes.clear()
    seen = set()
    for kind, value in scopes:
        kind = ScopeKind(kind)
        key = (kind, str(value).strip())
        if key in seen or not key[1]:
            continue
        seen.add(key)
        if kind is ScopeKind.GROUP:
            user.scopes.append(UserScope(kind=kind, group_id=int(value), value=""))
        else:
            user.scopes.append(UserScope(kind=kind, value=" ".join(str(value).split())[:120]))


def set_password(user: User, password: str, now: datetime) -> None:
    if (why := passwords.problem(password)) is not None:
        raise UserError("password", why)
    user.password_hash = passwords.hash_password(password)
    user.must_change_password = False
    audit.record("password_changed", now, user=user, target=f"user:{user.id}")


def disable(user: User, now: datetime, *, by: User | None = None) -> None:
    user.active = False
    audit.record("user_disabled", now, user=by, target=f"user:{user.id}")


class SignIn(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # unknown account, wrong password or disabled: one answer for all three
    THROTTLED = "throttled"


@dataclass(frozen=True)
class SignInResult:
    outcome: SignIn
    user: User | None = None


def _recent_failures(now: datetime, **match) -> int:
    since = now - THROTTLE_WINDOW
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sign_in_failed")
    for column, value in match.items():
        query = query.where(getattr(AuditEvent, column) == value)
    return db.session.scalar(query.where(AuditEvent.at >= since)) or 0


def sign_in(email: str, password: str, now: datetime, *, ip: str = "") -> SignInResult:
    """Check a password, with throttling per account and per address; every attempt is in the audit log.
    The caller commits (a failure is recorded too, so commit whatever the outcome)."""
    login = normalize_email(email)[:254]
    if _recent_failures(now, login=login) >= MAX_FAILURES_PER_LOGIN or (
        ip and _recent_failures(now, ip=ip) >= MAX_FAILURES_PER_IP
    ):
        audit.record("sign_in_throttled", now, login=login, ip=ip)
        return SignInResult(SignIn.THROTTLED)
    user = find_by_email(login)
    ok = passwords.verify(user.password_hash if user else "", password)
    if not ok or user is None or not user.active:
        audit.record("sign_in_failed", now, user=user, login=login, ip=ip)
        return SignInResult(SignIn.WRONG)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    audit.record("sign_in", now, user=user, login=login, ip=ip)
    return SignInResult(SignIn.OK, user)


def ensure_first_admin(now: datetime, email: str = "admin@localhost") -> str | None:
    """With no user at all, create a local admin and return its one-time password (else None)."""
    if db.session.scalar(select(func.count()).select_from(User)):
        return None
    _user, password = create_user(email, Role.ADMIN, now, name="Administrateur local")
    return password


def update_user(
    user: User,
    now: datetime,
    *,
    role: Role,
    name: str,
    phone: str | None,
    scopes: list[tuple[ScopeKind, str | int]],
    by: User | None = None,
) -> None:
    """Change a user's role, name, SUIVI phone and scopes (the dashboard's users page); audited with what
    changed (the phone masked). An admin cannot take the admin role from themselves (no one left to undo it)."""
    role = Role(role)
    if by is not None and by.id == user.id and user.role is Role.ADMIN and role is not Role.ADMIN:
        raise UserError("role", "Vous ne pouvez pas retirer votre propre rôle d'administrateur.")
    before = (user.role, user.name, user.phone, sorted((s.kind.value, s.value, s.group_id or 0) for s in user.scopes))
    user.role = role
    user.name = name.strip()[:200]
    set_phone(user, phone)
    set_scopes(user, scopes if role is Role.AGENT else [])
    db.session.flush()
    after = (user.role, user.name, user.phone, sorted((s.kind.value, s.value, s.group_id or 0) for s in user.scopes))
    changed = [
        key for key, old, new in zip(("role", "name", "phone", "scopes"), before, after, strict=True) if old != new
    ]
    if changed:
        audit.record("user_updated", now, user=by, target=f"user:{user.id}", fields=changed, role=user.role.value)


def enable(user: User, now: datetime, *, by: User | None = None) -> None:
    user.active = True
    audit.record("user_enabled", now, user=by, target=f"user:{user.id}")


def disable_by(user: User, now: datetime, *, by: User) -> None:
    """``disable`` from the dashboard: an admin cannot disable their own account."""
    if by.id == user.id:
        raise UserError("user", "Vous ne pouvez pas désactiver votre propre compte.")
    disable(user, now, by=by)
