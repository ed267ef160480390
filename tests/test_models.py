"""The data model on SQLite and on the real PostgreSQL (``backend`` runs each test on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from core.db import db
from core.phones import InvalidPhone
from core.vocabulary import CallStatus, Channel, Direction, MessageStatus
from engine import Continue, Digits, HangUp, Start
from ivr.models import CallSession
from listeners.models import Group, LessonProgress, Listener, ProgressStatus, QuizAnswer
from listeners.progress import take_turn
from sms.models import Message
from tests.conftest import NOW


def test_listener_phone_is_normalised_and_unique(backend, app, make_listener):
    listener = make_listener(phone="76 12 34 56", language="bm", name="Awa Traoré", village="Kéniéba")
    assert listener.phone == "+22376123456"
    assert listener.language == "bm" and listener.village == "Kéniéba"
    db.session.commit()
    db.session.add(Listener(phone="0022376123456"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_junk_phone_and_bad_language_are_refused(backend, app):
    with pytest.raises(InvalidPhone):
        Listener(phone="12")
    with pytest.raises(ValueError, match="language"):
        Listener(phone="76123456", language="en")


def test_language_check_constraint_holds_in_the_database(backend, app, make_listener):
    listener = make_listener()
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(Listener.__table__.update().values(language="en").where(Listener.id == listener.id))
        db.session.commit()
    db.session.rollback()


def test_groups_and_opt_out_state(backend, app, make_listener):
    coop = Group(name="Coopérative cotonnière de Koutiala")
    listener = make_listener(groups=[coop])
    later = NOW + timedelta(days=3)
    listener.opt_out(later, "sms")
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Listener, listener.id)
    assert [g.name for g in stored.groups] == ["Coopérative cotonnière de Koutiala"]
    assert stored.opted_out and stored.opted_out_at == later and stored.opted_out_channel == "sms"
    assert stored.opted_out_at.tzinfo is not None
    stored.opt_in(later + timedelta(hours=1), "sms")
    assert not stored.opted_out and stored.consent_at == later + timedelta(hours=1)


def test_naive_datetimes_are_refused(backend, app, make_listener):
    with pytest.raises(StatementError, match="naive datetime"):
        make_listener(created_at=datetime(2026, 1, 1))
    db.session.rollback()


def test_status_words_are_checked(backend, app, make_listener):
    listener = make_listener()
    db.session.add(
        CallSession(
            provider="twilio",
            provider_call_id="CA1",
            listener_id=listener.id,
            phone=listener.phone,
            direction=Direction.INBOUND,
            status=CallStatus.IN_PROGRESS,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    db.session.add(
        Message(
            provider="africastalking",
            provider_message_id="ATXid_1",
            phone=listener.phone,
            body="Ɲɛ",
            direction=Direction.OUTBOUND,
            status=MessageStatus.QUEUED,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    db.session.commit()
    call = db.session.scalars(select(CallSession)).one()
    assert call.status is CallStatus.IN_PROGRESS and not call.status.final
    assert db.session.scalars(select(Message)).one().body == "Ɲɛ"
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE call_sessions SET status = 'ringing-ish'"))
        db.session.commit()
    db.session.rollback()
    db.session.add(
        CallSession(
            provider="twilio",
            provider_call_id="CA1",
            phone="+22376000000",
            direction=Direction.INBOUND,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    with pytest.raises(IntegrityError):  # one row per provider call id
        db.session.commit()
    db.session.rollback()


def test_progress_turns_are_recorded_and_completion_counts_once(backend, app, make_listener, catalog):
    course = catalog.course("money")
    listener = make_listener(language="fr")
    t = iter(NOW + timedelta(minutes=m) for m in range(100))

    def turn(event, channel=Channel.VOICE):
        result = take_turn(listener, course, "saving-a-little", event, channel=channel, now=next(t))
        db.session.commit()
        return result

    turn(Start())
    row = db.session.scalars(select(LessonProgress)).one()
    assert row.status is ProgressStatus.IN_PROGRESS and row.attempts == 1 and row.started_at == NOW
    turn(Continue())
    turn(HangUp())  # the call drops at the question: the bookmark stays
    assert row.bookmark["index"] == 1
    result = turn(Start(), Channel.SMS)  # resumes by SMS
    assert result.steps[-1].question.id == "ten-weeks"
    result = turn(Digits("1"), Channel.SMS)  # wrong answer
    assert result.completion is not None
    db.session.refresh(row)
    assert row.status is ProgressStatus.COMPLETED and row.completed_channel is Channel.SMS
    assert (row.score, row.best_score, row.total) == (0, 0, 1)
    completed_at = row.completed_at

    turn(Start())  # a second attempt, by voice, answered right
    turn(Continue())
    turn(Digits("2"))
    db.session.refresh(row)
    assert row.status is ProgressStatus.COMPLETED and row.completed_at == completed_at  # not counted twice
    assert (row.score, row.best_score, row.attempts) == (1, 1, 2)

    answers = db.session.scalars(select(QuizAnswer).order_by(QuizAnswer.id)).all()
    assert [(a.question_id, a.option_key, a.correct, a.channel, a.attempt) for a in answers] == [
        ("ten-weeks", "1", False, Channel.SMS, 1),
        ("ten-weeks", "2", True, Channel.VOICE, 2),
    ]
    completed = db.session.scalars(
        select(LessonProgress).where(LessonProgress.status == ProgressStatus.COMPLETED)
    ).all()
    assert len(completed) == 1
    assert listener.last_contact_at == NOW + timedelta(minutes=7)


def test_datetimes_come_back_aware_and_in_utc(backend, app, make_listener):
    bamako_noon = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    listener = make_listener(last_contact_at=bamako_noon)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Listener, listener.id).last_contact_at == bamako_noon
