"""Creating and changing listeners through the API: validate a JSON body field by field (422 naming the
field), refuse a phone number already known (409), keep an agent inside their scope (``may_register``), and
write the audit log and the consent history. The caller commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from accounts import audit
from accounts.models import User
from accounts.scope import group_clause, may_register, visible_listener
from api.errors import ApiError, invalid
from core.db import db
from core.phones import InvalidPhone, mask_phone, normalize_phone
from listeners.models import Group, Listener
from listeners.service import give_consent, opt_out

TEXTS = {"name": 200, "village": 120, "commune": 120, "region": 120}
CREATE_FIELDS = {"phone", "language", "groups", "consent", *TEXTS}
UPDATE_FIELDS = {"language", "groups", "opted_out", *TEXTS}


def _body(body: Any, allowed: set[str]) -> dict:
    if not isinstance(body, dict):
        raise invalid("body", "The body must be a JSON object.")
    for key in sorted(body):
        if key not in allowed:
            raise invalid(key, f"Unknown field {key!r}; allowed: {', '.join(sorted(allowed))}.")
    out: dict[str, Any] = {}
    for key, limit in TEXTS.items():
        if key in body:
            value = body[key]
            if not isinstance(value, str) or len(value.strip()) > limit:
                raise invalid(key, f"{key} must be a text of at most {limit} characters.")
            out[key] = " ".join(value.split())
    if "language" in body:
        if body["language"] not in ("bm", "fr", None):
            raise invalid("language", "language must be 'bm', 'fr' or null.")
        out["language"] = body["language"]
    if "groups" in body:
        out["groups"] = _groups(body["groups"])
    for flag in ("consent", "opted_out"):
        if flag in body:
            if not isinstance(body[flag], bool):
                raise invalid(flag, f"{flag} must be true or false.")
            out[flag] = body[flag]
    return out


def _groups(value: Any) -> list[Group]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise invalid("groups", "groups must be a list of group ids.")
    ids = set(value)
    found = list(db.session.scalars(select(Group).where(Group.id.in_(ids)))) if ids else []
    if len(found) != len(ids):
        missing = sorted(ids - {g.id for g in found})
        raise invalid("groups", f"No such group: {', '.join(map(str, missing))}.")
    return sorted(found, key=lambda g: g.id)


def _check_scope(user: User, fields: dict, current: Listener | None = None) -> None:
    def value(name: str) -> str:
        return fields.get(name, getattr(current, name) if current is not None else "")

    groups = fields.get("groups", current.groups if current is not None else [])
    if not may_register(
        user,
        village=value("village"),
        commune=value("commune"),
        region=value("region"),
        group_ids={g.id for g in groups},
    ):
        raise ApiError(
            403, "out_of_scope", "This listener would be outside your area (village, commune, region or group)."
        )
    if "groups" in fields:  # an agent may only name groups they can see
        visible = set(db.session.scalars(select(Group.id).where(group_clause(user))))
        hidden = [g.id for g in fields["groups"] if g.id not in visible]
        if hidden and current is not None:
            hidden = [i for i in hidden if i not in {g.id for g in current.groups}]
        if hidden:
            raise invalid("groups", f"No such group: {', '.join(map(str, hidden))}.")


def create_listener(body: Any, user: User, now: datetime) -> Listener:
    fields = _body(body, CREATE_FIELDS)
    if "phone" not in body or not isinstance(body["phone"], str):
        raise invalid("phone", "phone is required (e.g. '+22376123456' or '76 12 34 56').")
    try:
        phone = normalize_phone(body["phone"])
    except InvalidPhone:
        raise invalid("phone", "Not a valid phone number (a Mali number has 8 digits, e.g. 76 12 34 56).") from None
    _check_scope(user, fields)
    existing = db.session.scalars(select(Listener.id).where(Listener.phone == phone)).first()
    if existing is not None:
        seen = visible_listener(user, existing) is not None
        raise ApiError(
            409,
            "duplicate",
            "A listener with this phone number exists already.",
            field="phone",
            **({"id": existing} if seen else {}),
        )
    listener = Listener(phone=phone, created_at=now, **{k: fields[k] for k in TEXTS if k in fields})
    if fields.get("language"):
        listener.set_language(fields["language"], f"user:{user.id}")
    listener.groups = fields.get("groups", [])
    db.session.add(listener)
    db.session.flush()
    if fields.get("consent"):
        give_consent(listener, now, "api", by=user.id)
    audit.record(
        "listener_created", now, user=user, target=f"listener:{listener.id}", via="api", phone=mask_phone(phone)
    )
    return listener


def update_listener(listener: Listener, body: Any, user: User, now: datetime) -> Listener:
    """Change a listener's profile and groups, or record their opt-out (only the listener opts back in)."""
    fields = _body(body, UPDATE_FIELDS)
    if fields.get("opted_out") is False and listener.opted_out:
        raise invalid("opted_out", "Only the listener can opt back in (by SMS or on a call).")
    _check_scope(user, fields, listener)
    changed = []
    for key in TEXTS:
        if key in fields and fields[key] != getattr(listener, key):
            setattr(listener, key, fields[key])
            changed.append(key)
    if "language" in fields and fields["language"] != listener.language:
        listener.set_language(fields["language"], f"user:{user.id}")
        changed.append("language")
    if "groups" in fields and {g.id for g in fields["groups"]} != {g.id for g in listener.groups}:
        listener.groups = fields["groups"]
        changed.append("groups")
    if fields.get("opted_out") and opt_out(listener, now, "api", by=user.id):
        changed.append("opted_out")
    if changed:
        db.session.flush()
        audit.record("listener_updated", now, user=user, target=f"listener:{listener.id}", via="api", fields=changed)
    return listener
