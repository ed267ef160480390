"""Finding listeners by phone, and consent: opting out and back in, across every channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import db
from core.phones import normalize_phone
from core.signals import listener_opted_out
from listeners.models import Listener


def find_listener(phone: str) -> Listener | None:
    """The listener with this number (any accepted format), or None. Raises InvalidPhone for junk."""
    return db.session.scalars(select(Listener).filter_by(phone=normalize_phone(phone))).first()


def find_or_create_listener(phone: str, now: datetime) -> Listener:
    """The listener with this number, created on first contact. Raises InvalidPhone for junk."""
    e164 = normalize_phone(phone)
    listener = db.session.scalars(select(Listener).filter_by(phone=e164)).first()
    if listener is not None:
        return listener
    listener = Listener(phone=e164, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(listener)
    except IntegrityError:  # created by a concurrent request
        listener = db.session.scalars(select(Listener).filter_by(phone=e164)).one()
    return listener


def opt_out(listener: Listener, now: datetime, channel: str) -> bool:
    """Stop all campaign traffic to this listener at once. True if this changed anything."""
    if listener.opted_out:
        return False
    listener.opt_out(now, channel)
    db.session.flush()
    listener_opted_out.send(listener, now=now, channel=channel)
    return True


def opt_in(listener: Listener, now: datetime, channel: str) -> bool:
    """Welcome a listener back. True if they were opted out."""
    was_out = listener.opted_out
    listener.opt_in(now, channel)
    db.session.flush()
    return was_out


def may_contact(listener: Listener | None) -> bool:
    """Whether anything but an opt-in confirmation may be sent to this listener."""
    return listener is None or not listener.opted_out
