"""Finding listeners by phone, locking one for a turn, and consent: opting out and back in, across every channel.

**One listener's turns run one at a time.** A voice turn, an SMS turn, a campaign preparing a lesson and a
STOP each lock the listener's row (``lock_listener``) before they read anything about them, and keep the lock
until they commit: two channels answering the same question at once are served one after the other, the
second seeing what the first recorded. Lock order, everywhere: a call's session, then its listener, then the
listener's lesson progress.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import db
from core.outbox import cancel_pending
from core.phones import normalize_phone
from core.signals import listener_opted_out
from listeners.models import ConsentEvent, Listener


def find_listener(phone: str) -> Listener | None:
    """The listener with this number (any accepted format), or None. Raises InvalidPhone for junk."""
    return db.session.scalars(select(Listener).filter_by(phone=normalize_phone(phone))).first()


def find_or_create_listener(phone: str, now: datetime, *, lock: bool = False) -> Listener:
    """The listener with this number, created on first contact. Raises InvalidPhone for junk.

    ``lock``: found and locked in one statement, for a turn (see ``lock_listener``)."""
    e164 = normalize_phone(phone)
    query = select(Listener).filter_by(phone=e164)
    postgres = lock and db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    listener = db.session.scalars(query).first()
    if listener is None:
        listener = Listener(phone=e164, created_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(listener)
        except IntegrityError:  # created by a concurrent request
            listener = db.session.scalars(query).one()
    if lock:
        mark_locked(listener.id)  # PostgreSQL: locked above (or a new row, ours until commit); SQLite: BEGIN
    return listener


_LOCKED = "kalanso.listeners.locked"


@event.listens_for(Session, "after_commit")
def _forget_locks(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release fires after_commit too: not the end
        session.info.pop(_LOCKED, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_locks_on_rollback(session: Session, _previous) -> None:
    session.info.pop(_LOCKED, None)  # even a savepoint's: locks taken inside it may be gone


def lock_listener(listener: Listener) -> Listener:
    """Lock this listener's row until the transaction ends, and reload it (what a concurrent turn committed
    while we waited). Once per transaction; PostgreSQL only (SQLite transactions already run one at a time)."""
    locked = db.session.info.setdefault(_LOCKED, set())
    if listener.id in locked:
        return listener
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.scalars(
            select(Listener)
            .where(Listener.id == listener.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        ).one()
    locked.add(listener.id)
    return listener


def is_locked(listener_id: int) -> bool:
    """Whether this transaction holds the listener's lock (``lock_listener``)."""
    return listener_id in db.session.info.get(_LOCKED, ())


def mark_locked(listener_id: int) -> None:
    """The caller locked this listener's row itself (e.g. together with a call session)."""
    db.session.info.setdefault(_LOCKED, set()).add(listener_id)


def opt_out(listener: Listener, now: datetime, channel: str, *, by: int | None = None) -> bool:
    """Stop all traffic to this listener at once: pending SMS and calls in the outbox are cancelled in this
    transaction, and campaigns drop their pending deliveries. True if this changed anything."""
    lock_listener(listener)
    if listener.opted_out:
        return False
    listener.opt_out(now, channel)
    db.session.add(ConsentEvent(listener_id=listener.id, action="opt_out", channel=channel, user_id=by, at=now))
    db.session.flush()
    cancel_pending(listener.id, now)
    listener_opted_out.send(listener, now=now, channel=channel)
    return True


def opt_in(listener: Listener, now: datetime, channel: str, *, by: int | None = None) -> bool:
    """Welcome a listener back (or record a first consent). True if they were opted out."""
    was_out, first = listener.opted_out, listener.consent_at is None
    listener.opt_in(now, channel)
    if was_out or first:
        action = "opt_in" if was_out else "consent"
        db.session.add(ConsentEvent(listener_id=listener.id, action=action, channel=channel, user_id=by, at=now))
    db.session.flush()
    return was_out


def give_consent(listener: Listener, now: datetime, channel: str, *, by: int | None = None) -> bool:
    """Record a first consent (the listener chose a language on a call, an agent read the consent sentence).
    True if this is the first."""
    if listener.consent_at is not None:
        return False
    listener.consent_at, listener.consent_channel = now, channel
    db.session.add(ConsentEvent(listener_id=listener.id, action="consent", channel=channel, user_id=by, at=now))
    return True


def may_contact(listener: Listener | None) -> bool:
    """Whether anything but an opt-in confirmation may be sent to this listener."""
    return listener is None or not listener.opted_out
