"""The missed-call callback, with time injected: delay, daily cap, calling window, opt-out; and the
outbound call it places through the same provider (no network: ``responses`` stands in for it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import responses
from sqlalchemy import select

from core.db import db
from core.outbox import OutboxItem
from core.vocabulary import CallStatus, Direction
from core.window import CallingWindow
from ivr.callbacks import dispatch_due, dispatch_due_callbacks, plan_callback
from ivr.models import CallbackStatus, CallSession, MissedCallCallback
from listeners.models import Listener
from tests import voice_support as w
from tests.conftest import NOW, make_app, send_outbox

AT_CALL_API = "https://voice.sandbox.africastalking.com/call"
TWILIO_CALLS = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Calls.json"
WINDOW = CallingWindow()  # 08:00-20:00 Africa/Bamako (UTC+0)


def at(hh: int, mm: int = 0, ss: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "delay", "that_day", "pending", "opted_out", "expected"),
    [
        (at(10), 30, 0, False, False, (at(10, 0, 30), "")),
        (at(10), 0, 2, False, False, (at(10), "")),  # the third of the day is allowed
        (at(10), 30, 3, False, False, (None, "daily_cap")),
        (at(19, 59, 50), 30, 0, False, False, (at(8, day=25), "")),  # the window closes meanwhile
        (at(22), 30, 0, False, False, (at(8, day=25), "")),  # at night: when the window opens
        (at(5), 30, 0, False, False, (at(8), "")),
        (at(10), 30, 0, True, False, (None, "already_pending")),
        (at(10), 30, 0, False, True, (None, "opted_out")),
    ],
)
def test_plan_callback(now, delay, that_day, pending, opted_out, expected):
    plan = plan_callback(
        now,
        delay_seconds=delay,
        window=WINDOW,
        daily_cap=3,
        callbacks_that_day=that_day,
        pending=pending,
        opted_out=opted_out,
    )
    assert (plan.due_at, plan.reason) == expected


def test_plan_callback_skips_blocked_days():
    window = CallingWindow.parse("08:00-20:00", "wed", "Africa/Bamako")
    plan = plan_callback(
        at(21), delay_seconds=30, window=window, daily_cap=3, callbacks_that_day=0, pending=False, opted_out=False
    )
    assert plan.due_at == at(8, day=26)  # Tuesday night -> Thursday morning


def _missed_at(client, session_id: str = "ATVId_missed"):
    """AT's final notification of an inbound call the listener hung up before it was answered."""
    params = w.at_final() | {
        "sessionId": session_id,
        "callSessionState": "NotAnswered",
        "hangupCause": "ORIGINATOR_CANCEL",
        "durationInSeconds": "0",
        "amount": "0",
        "callStartTime": "None",
        "status": "NotAnswered",
    }
    response = client.post(w.AT_URL, data=params)
    assert response.get_data(as_text=True) == w.AT_EMPTY
    return response


def _callbacks() -> list[MissedCallCallback]:
    return list(db.session.scalars(select(MissedCallCallback).order_by(MissedCallCallback.id)))


def _at_call_api(session_id: str = "ATVId_out", status: str = "Queued"):
    body = {"entries": [{"phoneNumber": w.CALLER, "status": status, "sessionId": session_id}], "errorMessage": "None"}
    responses.add(responses.POST, AT_CALL_API, json=body, status=201, content_type="application/json")


@responses.activate
def test_an_at_missed_call_is_called_back_after_the_delay_by_at(backend, client, clock, app):
    _missed_at(client)
    [row] = _callbacks()
    missed = db.session.get(CallSession, row.missed_call_id)
    assert (missed.status, missed.direction, missed.provider) == (
        CallStatus.CANCELED,
        Direction.INBOUND,
        "africastalking",
    )
    assert (row.status, row.provider, row.due_at) == (
        CallbackStatus.PENDING,
        "africastalking",
        NOW + timedelta(seconds=30),
    )

    assert dispatch_due(NOW + timedelta(seconds=29)) == []
    _at_call_api()
    [session_id] = dispatch_due(NOW + timedelta(seconds=30))
    assert len(responses.calls) == 0  # queued in the outbox: the sender rings, not the scheduler
    send_outbox(app, NOW + timedelta(seconds=30))
    db.session.expire_all()
    session = db.session.get(CallSession, session_id)
    assert (session.direction, session.status, session.provider, session.provider_call_id) == (
        Direction.OUTBOUND, CallStatus.QUEUED, "africastalking", "ATVId_out",
    )  # fmt: skip
    assert session.state == {"entry": "menu", "callback_id": row.id}
    assert (_callbacks()[0].status, _callbacks()[0].attempts) == (CallbackStatus.PLACED, 1)
    assert len(responses.calls) == 1
    sent = dict(x.split("=") for x in responses.calls[0].request.body.split("&"))
    assert (sent["to"], sent["from"], sent["username"]) == ("%2B22376123456", "%2B22344000000", "sandbox")

    # the listener answers: the same menu as an inbound call
    answered = client.post(w.AT_URL, data=w.at_call(sessionId="ATVId_out", direction="Outbound"))
    assert "<GetDigits" in answered.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CallSession, session_id).status == CallStatus.IN_PROGRESS
    assert dispatch_due(NOW + timedelta(minutes=5)) == []  # placed once only


@responses.activate
def test_at_callback_found_by_number_before_its_session_id_is_stored(client, clock):
    """AT may call the webhook before the call API answered: the queued call to that number is used."""
    from ivr.outbound import start_call

    listener = Listener(phone=w.CALLER, created_at=NOW)
    db.session.add(listener)
    db.session.flush()
    session = start_call(listener, {"entry": "menu"}, NOW, provider="africastalking")
    db.session.commit()
    response = client.post(w.AT_URL, data=w.at_call(sessionId="ATVId_early", direction="Outbound"))
    assert "<GetDigits" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CallSession, session.id).provider_call_id == "ATVId_early"


@responses.activate
def test_a_twilio_missed_call_is_called_back_by_twilio_with_our_reference(client, clock, drain):
    w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("no-answer", duration="0"))
    [row] = _callbacks()
    assert row.provider == "twilio"
    responses.add(
        responses.POST,
        TWILIO_CALLS,
        json={"sid": "CA" + "b" * 32, "status": "queued", "to": w.CALLER},
        status=201,
        content_type="application/json",
    )
    [session_id] = dispatch_due(NOW + timedelta(seconds=30))
    drain(NOW + timedelta(seconds=30))
    sent = responses.calls[0].request.body
    assert f"ref%3D{session_id}" in sent and "StatusCallback=" in sent and "To=%2B22376123456" in sent
    db.session.expire_all()
    assert db.session.get(CallSession, session_id).provider_call_id == "CA" + "b" * 32
    # the first webhook carries our reference
    params = w.twilio_call(CallSid="CA" + "b" * 32, Direction="outbound-api", From=w.TWILIO_NUMBER, To=w.CALLER)
    response = w.post_twilio(client, f"/ivr/twilio/voice?ref={session_id}", params | {"CallStatus": "in-progress"})
    assert response.status_code == 200 and "<Gather" in response.get_data(as_text=True)


@responses.activate
def test_a_refused_callback_is_recorded_as_failed(client, clock, drain):
    w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("busy", duration="0"))
    responses.add(
        responses.POST, TWILIO_CALLS, json={"code": 21211, "message": "Invalid 'To'", "status": 400}, status=400
    )
    [session_id] = dispatch_due(NOW + timedelta(seconds=30))
    assert drain(NOW + timedelta(seconds=30)).failed == 1
    db.session.expire_all()
    assert db.session.get(CallSession, session_id).status == CallStatus.FAILED
    assert (_callbacks()[0].status, _callbacks()[0].reason) == (CallbackStatus.FAILED, "provider_refused")


def test_daily_cap(backend, client, clock):
    """Three callbacks per number per day by default; the fourth missed call that day gets none."""
    for n in range(4):
        clock.set(NOW + timedelta(minutes=10 * n))
        _missed_at(client, f"ATVId_m{n}")
        if n < 3:
            assert _callbacks()[-1].status == CallbackStatus.PENDING
            dispatch_due(clock.now + timedelta(seconds=30))
    assert len(_callbacks()) == 3
    clock.set(at(8, day=25))  # the next day, a new allowance
    _missed_at(client, "ATVId_next_day")
    assert len(_callbacks()) == 4


def test_a_second_missed_call_while_one_is_pending_adds_nothing(client, clock):
    _missed_at(client, "ATVId_1")
    _missed_at(client, "ATVId_2")
    assert len(_callbacks()) == 1


def test_outside_the_window_say_nothing_and_call_back_when_it_opens(client, clock):
    clock.set(at(21, 30))
    _missed_at(client)
    [row] = _callbacks()
    assert row.due_at == at(8, day=25)
    assert dispatch_due(at(23)) == []
    assert dispatch_due(at(7, 59, day=25)) == []
    assert len(dispatch_due(at(8, day=25))) == 1


def test_the_window_closing_before_dispatch_postpones(client, clock):
    clock.set(at(19, 59, 0))
    _missed_at(client)
    [row] = _callbacks()
    assert row.due_at == at(19, 59, 30)
    assert dispatch_due(at(20, 0, 5)) == []  # the dispatcher ran late: the window is closed
    db.session.expire_all()
    assert (_callbacks()[0].status, _callbacks()[0].due_at) == (CallbackStatus.PENDING, at(8, day=25))


def test_opted_out_listeners_are_never_called_back(client, clock, make_listener):
    make_listener(phone=w.CALLER, opted_out=True, opted_out_at=NOW)
    db.session.commit()
    _missed_at(client)
    assert _callbacks() == []


def test_opting_out_after_the_missed_call_cancels_the_callback(client, clock):
    from listeners.service import opt_out

    _missed_at(client)
    opt_out(db.session.scalars(select(Listener)).one(), NOW, "sms")
    db.session.commit()
    assert dispatch_due(NOW + timedelta(minutes=1)) == []
    assert (_callbacks()[0].status, _callbacks()[0].reason) == (CallbackStatus.SKIPPED, "opted_out")
    assert db.session.scalars(select(CallSession).filter_by(direction=Direction.OUTBOUND)).all() == []


def test_reject_on_purpose_then_call_back(database_url, clock):
    app = make_app(database_url, KALANSO_MISSED_CALL_REJECT="true")
    with app.app_context():
        client = app.test_client()
        response = w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
        assert response.get_data(as_text=True) == f'{w.XML_HEAD}<Response><Reject reason="rejected" /></Response>'
        response = client.post(w.AT_URL, data=w.at_call())
        assert response.get_data(as_text=True) == f"{w.XML_HEAD}<Response><Reject /></Response>"
        rows = _callbacks()
        assert [r.provider for r in rows] == ["twilio"]  # one pending callback per number: both declined
        sessions = db.session.scalars(select(CallSession).order_by(CallSession.id)).all()
        assert [s.status for s in sessions] == [CallStatus.REJECTED, CallStatus.REJECTED]
        # Twilio's final status for the rejected call keeps our own word
        w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("busy", duration="0"))
        db.session.expire_all()
        assert db.session.get(CallSession, sessions[0].id).status == CallStatus.REJECTED
        db.session.remove()


def test_callback_switched_off(database_url, clock):
    app = make_app(database_url, KALANSO_MISSED_CALL_CALLBACK="false")
    with app.app_context():
        _missed_at(app.test_client())
        assert _callbacks() == []
        db.session.remove()


def test_the_scheduler_job_places_due_callbacks(app, client, clock):
    from campaigns.scheduler import JOBS

    assert ("missed-call-callbacks", dispatch_due_callbacks, 5) in JOBS
    app.config["KALANSO"] = _local(app.config["KALANSO"])
    _missed_at(client)
    clock.set(NOW + timedelta(seconds=31))
    dispatch_due_callbacks(app)
    db.session.expire_all()
    assert _callbacks()[0].status == CallbackStatus.PLACED
    outbox = db.session.scalars(select(OutboxItem)).one()  # the sender rings it
    assert (outbox.channel, outbox.purpose, outbox.priority, outbox.status) == ("voice", "callback", 5, "pending")


def _local(settings):
    from dataclasses import replace

    return replace(settings, voice_provider="local")
