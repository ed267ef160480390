"""Races, on SQLite and on the real PostgreSQL, through the HTTP layer (one Flask test client per thread, each
in its own app context and database session, all at once):

- STOPs sent while a campaign is being sent and while quiz answers come in, with the real sender running in
  its own thread: nothing is claimed for a listener after their STOP's transaction committed;
- 20 identical Gather requests for one answer (a provider's retries), with and without the idempotency
  header: one answer row, one completion, the same answer to all, no apology;
- a call and an SMS answering the last question of a lesson at the same moment: counted once, completed once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.ports import SmsPort
from campaigns.service import change_state, upsert_from_definition
from core.db import db
from core.outbox import OutboxItem, OutboxStatus
from core.vocabulary import CONSENT_CONFIRMATIONS, CallStatus, Channel, Direction
from engine import Continue, Digits, Start
from ivr.models import CallSession
from ivr.prompts import prompt
from listeners.models import LessonCompletion, Listener, QuizAnswer
from listeners.progress import take_turn
from sender.loop import Sender
from tests import voice_support as w
from tests.conftest import NOW, send_outbox
from tests.fake_provider import FakeProviderServer
from tests.test_sms_line import sign, twilio_inbound

LESSON = ("child-labour", "what-is-child-labour")
LAST_QUESTION = "moussa-saturday"
SORRY = prompt("sorry").text("fr")


@pytest.fixture(autouse=True)
def _fixed_time(clock, monkeypatch):
    """Every webhook (and the sender, given NOW) works at NOW."""
    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)


def _in_threads(app, jobs, workers: int = 8) -> list:
    """Run ``jobs`` (callables taking a test client) at once, each in a thread with its own app context; when
    there are no more jobs than threads they all start at the same moment."""
    barrier = threading.Barrier(len(jobs), timeout=30) if len(jobs) <= workers else None

    def run(job):
        with app.app_context():
            client = app.test_client()
            if barrier is not None:
                barrier.wait()
            try:
                return job(client)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, jobs))


def _at_last_question(listener, catalog) -> None:
    course = catalog.course(LESSON[0])
    for event in (Start(), Continue(), Digits("1")):  # intro and chunk, then the first question answered
        take_turn(listener, course, LESSON[1], event, channel=Channel.VOICE, now=NOW)


# --- STOP while sending -------------------------------------------------------------------------


def test_no_message_is_claimed_after_the_stop_committed(backend, app, catalog, make_listener):
    listeners = 120
    with FakeProviderServer() as server:
        settings = replace(
            app.config["KALANSO"], sms_provider="twilio", twilio_api_base_url=server.base_url, sms_rate_per_second=150
        )
        app.config["KALANSO"] = settings
        people = [make_listener(language="fr", consent_at=NOW) for _ in range(listeners)]
        quizzers = people[: listeners // 2]
        db.session.commit()
        with app.test_client() as client:  # half of them are in the middle of a quiz by SMS
            for n, person in enumerate(quizzers):
                params = twilio_inbound("QUIZ 1", person.phone, f"SMq{n:031d}")
                assert client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params)).status_code == 200
        send_outbox(app)
        campaign = upsert_from_definition(
            {"name": "race", "channel": "sms", "message": {"fr": "Le quiz de la semaine : QUIZ", "bm": "QUIZ ci."},
             "audience": "everyone", "schedule": {"kind": "once", "at": "2026-11-24T10:00"}},
            catalog, settings, NOW,
        )  # fmt: skip
        change_state(campaign, "schedule", NOW)
        expand_due(settings, NOW)
        db.session.commit()
        assert dispatch_due(SmsPort(settings, lambda: NOW), settings, lambda: NOW).queued == listeners

        claimed_when_confirmed: dict[int, set[int]] = {}

        def stop_job(n, listener_id, phone):
            def job(client):
                params = twilio_inbound("STOP", phone, f"SMs{n:031d}")
                response = client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params))
                assert response.status_code == 200  # committed: from now on nothing may be claimed for them
                claimed_when_confirmed[listener_id] = _claimed(listener_id)

            return job

        def answer_job(n, phone):
            def job(client):
                params = twilio_inbound("1", phone, f"SMa{n:031d}")
                assert client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params)).status_code == 200

            return job

        jobs = []
        quizzing = {p.id for p in quizzers}
        for n, (listener_id, phone) in enumerate([(p.id, p.phone) for p in people]):
            jobs.append(stop_job(n, listener_id, phone))
            if listener_id in quizzing:
                jobs.append(answer_job(n, phone))
        db.session.commit()  # nothing held open by this thread while the others race (SQLite: the write lock)
        stop = threading.Event()
        sender = Sender(app, concurrency=8, clock=lambda: NOW)
        running = threading.Thread(target=sender.run, args=(stop,))
        running.start()  # the campaign goes out at 150 SMS/s, about a second long
        try:
            _in_threads(app, jobs)
        finally:
            stop.set()
            running.join(timeout=60)
        send_outbox(app)  # the confirmations still queued

    db.session.expire_all()
    late = {}
    for listener_id, before in claimed_when_confirmed.items():
        after = _claimed(listener_id) - before
        late.update({row_id: listener_id for row_id in after if not _is_confirmation(row_id)})
    assert late == {}, f"{len(late)} message(s) claimed after the STOP was confirmed"
    assert all(p.opted_out for p in db.session.scalars(select(Listener)))
    statuses = dict(db.session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).all())
    assert statuses.get(OutboxStatus.CANCELLED, 0) > 0, "no STOP overtook the campaign: the race was not run"
    assert statuses.get(OutboxStatus.PENDING, 0) == statuses.get(OutboxStatus.SENDING, 0) == 0


def _claimed(listener_id: int) -> set[int]:
    """Outbox rows of this listener a sender has claimed (sent, failed, in flight), now (in this thread's
    session, committed at once: on SQLite an open transaction holds the write lock)."""
    rows = db.session.scalars(
        select(OutboxItem.id).where(
            OutboxItem.listener_id == listener_id,
            OutboxItem.status.not_in([OutboxStatus.PENDING, OutboxStatus.CANCELLED]),
        )
    )
    found = set(rows)
    db.session.commit()
    return found


def _is_confirmation(row_id: int) -> bool:
    return db.session.get(OutboxItem, row_id).purpose in {p.value for p in CONSENT_CONFIRMATIONS}


# --- a provider's retries -----------------------------------------------------------------------


@pytest.mark.parametrize("with_token", [True, False])
def test_twenty_identical_gathers_count_one_answer(backend, app, catalog, make_listener, with_token):
    person = make_listener(phone=w.CALLER, language="fr")
    _at_last_question(person, catalog)
    session = CallSession(
        provider="twilio", provider_call_id=w.CALL_SID, listener_id=person.id, phone=person.phone,
        direction=Direction.INBOUND, status=CallStatus.IN_PROGRESS, path=[], created_at=NOW, updated_at=NOW,
        state={"entry": "menu", "node": "lesson", "course_id": LESSON[0], "lesson_id": LESSON[1], "turn": 7},
    )  # fmt: skip
    db.session.add(session)
    db.session.commit()
    headers = {"I-Twilio-Idempotency-Token": "retry-of-one-request"} if with_token else {}
    person_id, session_id = person.id, session.id
    db.session.commit()

    def job(client):
        response = w.post_twilio(client, "/ivr/twilio/voice?ev=gather&t=7", w.twilio_gather("2"), headers=headers)
        return response.status_code, response.get_data(as_text=True)

    answers = _in_threads(app, [job] * 20, workers=20)
    assert {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1, "every retry gets the same answer"
    assert SORRY not in answers[0][1] and "Hangup" not in answers[0][1]
    db.session.expire_all()
    assert _counted(person_id) == 1
    assert _completions(person_id) == 1
    assert db.session.get(CallSession, session_id).state["turn"] == 8  # one request answered


@pytest.mark.parametrize("provider", ["twilio", "africastalking"])
def test_a_first_request_sent_twenty_times_at_once_never_hangs_up(backend, app, provider):
    """The first webhook of a new call, retried: one call session, one listener, the same menu for all."""

    def job(client):
        if provider == "twilio":
            response = w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
        else:
            response = client.post(w.AT_URL, data=w.at_call())
        return response.status_code, response.get_data(as_text=True)

    answers = _in_threads(app, [job] * 20, workers=20)
    assert {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1
    assert SORRY not in answers[0][1] and ("<Gather" in answers[0][1] or "<GetDigits" in answers[0][1])
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CallSession)) == 1
    assert db.session.scalar(select(func.count()).select_from(Listener)) == 1
    session = db.session.scalars(select(CallSession)).one()
    assert session.state["turn"] == 1 and [node for _, node in session.path] == ["language"]


# --- two channels, one question ------------------------------------------------------------------


def test_a_call_and_an_sms_answering_the_last_question_at_once_count_once(backend, app, catalog, make_listener):
    for round_ in range(6):
        phone = f"+2237600{round_:04d}"
        person = make_listener(phone=phone, language="fr")
        _at_last_question(person, catalog)
        sid = f"CA{round_:032d}"
        db.session.add(
            CallSession(
                provider="twilio", provider_call_id=sid, listener_id=person.id, phone=phone,
                direction=Direction.INBOUND, status=CallStatus.IN_PROGRESS, path=[], created_at=NOW, updated_at=NOW,
                state={"entry": "menu", "node": "lesson", "course_id": LESSON[0], "lesson_id": LESSON[1], "turn": 3},
            )
        )  # fmt: skip
        person_id = person.id
        db.session.commit()

        def by_voice(client, sid=sid, phone=phone):
            params = w.twilio_gather("2") | {"CallSid": sid, "From": phone, "Caller": phone}
            response = w.post_twilio(client, "/ivr/twilio/voice?ev=gather&t=3", params)
            return response.status_code, response.get_data(as_text=True)

        def by_sms(client, n=round_, phone=phone):
            params = twilio_inbound("2", phone, f"SMr{n:031d}")
            response = client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params))
            return response.status_code, response.get_data(as_text=True)

        voice, sms = _in_threads(app, [by_voice, by_sms], workers=2)
        assert voice[0] == sms[0] == 200 and SORRY not in voice[1]
        db.session.expire_all()
        assert (_counted(person_id), _completions(person_id)) == (1, 1), f"round {round_}"
        db.session.commit()


def _counted(listener_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(QuizAnswer)
        .where(QuizAnswer.listener_id == listener_id, QuizAnswer.question_id == LAST_QUESTION, QuizAnswer.counted)
    )


def _completions(listener_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(LessonCompletion).where(LessonCompletion.listener_id == listener_id)
    )
