"""What a user may see: one rule, applied to every query that reads listeners (pages, exports, API, SMS).

Admins, managers and viewers see every listener. An agent sees the listeners whose region, commune or
village is one of their scopes, or who belong to one of their groups; an agent with no scope sees
nobody. Places are compared without case or surrounding spaces (listeners' places are typed by hand).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true

from accounts.models import User
from accounts.roles import ScopeKind, scoped
from core.db import db
from listeners.models import Group, Listener, listener_groups

_PLACE_COLUMNS = {
    ScopeKind.REGION: Listener.region,
    ScopeKind.COMMUNE: Listener.commune,
    ScopeKind.VILLAGE: Listener.village,
}


def place_key(value: str) -> str:
    """How a place's name is compared: trimmed, inner spaces collapsed, lower-case."""
    return " ".join(value.split()).lower()


def sql_place_keys(values: set[str]) -> list[str]:
    """The forms of these names that SQL ``lower(trim(column))`` can produce: PostgreSQL lowers every letter,
    SQLite only A-Z, so both forms are listed (``SÉGOU`` is ``ségou`` on one and ``sÉgou`` on the other)."""
    out = set()
    for value in values:
        trimmed = " ".join(value.split())
        out.add(trimmed.lower())
        out.add("".join(c.lower() if c.isascii() else c for c in trimmed))
    return sorted(out)


def listener_clause(user: User) -> ColumnElement[bool]:
    """A WHERE clause on ``Listener`` (or a query joined to it) that keeps only what ``user`` may see."""
    if not scoped(user.role):
        return true()
    parts: list[ColumnElement[bool]] = []
    for kind, column in _PLACE_COLUMNS.items():
        values = {s.value for s in user.scopes if s.kind is kind and s.value.strip()}
        if values:
            parts.append(func.lower(func.trim(column)).in_(sql_place_keys(values)))
    group_ids = sorted({s.group_id for s in user.scopes if s.kind is ScopeKind.GROUP and s.group_id})
    if group_ids:
        parts.append(
            exists().where(
                and_(listener_groups.c.listener_id == Listener.id, listener_groups.c.group_id.in_(group_ids))
            )
        )
    return or_(*parts) if parts else false()


def group_clause(user: User) -> ColumnElement[bool]:
    """The groups ``user`` may see: all of them, or an agent's own groups."""
    if not scoped(user.role):
        return true()
    ids = sorted({s.group_id for s in user.scopes if s.kind is ScopeKind.GROUP and s.group_id})
    return Group.id.in_(ids) if ids else false()


def visible_listener(user: User, listener_id: int) -> Listener | None:
    """The listener if ``user`` may see them, else None (a page answers 404: out of scope looks like absent)."""
    return db.session.scalars(select(Listener).where(Listener.id == listener_id, listener_clause(user))).first()


def may_see(user: User, listener: Listener) -> bool:
    return visible_listener(user, listener.id) is not None


def may_register(user: User, *, village: str, commune: str, region: str, group_ids: set[int]) -> bool:
    """Whether ``user`` may create (or move) a listener with these places and groups: for an agent, the row
    must land in their scope by the same rule as ``listener_clause``."""
    if not scoped(user.role):
        return True
    given = {ScopeKind.VILLAGE: village, ScopeKind.COMMUNE: commune, ScopeKind.REGION: region}
    for scope in user.scopes:
        if scope.kind is ScopeKind.GROUP:
            if scope.group_id in group_ids:
                return True
        elif given[scope.kind].strip() and place_key(given[scope.kind]) == place_key(scope.value):
            return True
    return False


def describe(user: User) -> list[tuple[ScopeKind, str]]:
    """An agent's scopes as (kind, name) pairs, for the page header; empty for the other roles."""
    if not scoped(user.role):
        return []
    ids = [s.group_id for s in user.scopes if s.kind is ScopeKind.GROUP]
    groups = dict(db.session.execute(select(Group.id, Group.name).where(Group.id.in_(ids))).all()) if ids else {}
    return [(s.kind, groups.get(s.group_id, "") if s.kind is ScopeKind.GROUP else s.value) for s in user.scopes]
