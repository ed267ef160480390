"""The simulator (browser JSON endpoint and ``flask simulate call``) drives the same service as the providers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.db import db
from core.vocabulary import CallStatus, Direction
from ivr.callbacks import dispatch_due
from ivr.models import CallSession
from ivr.prompts import prompt
from listeners.models import LessonProgress, Listener
from tests.conftest import NOW

PHONE = "+223 76 12 34 56"


def _voice(client, **data):
    response = client.post("/simulator/voice", json=data)
    assert response.status_code == 200
    return response.get_json()


def test_the_page_has_a_phone_and_room_for_the_sms_panel(client):
    response = client.get("/simulator")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for needle in ('lang="fr"', 'id="phone"', 'id="dial"', 'id="hangup"', 'data-key="*"', "<audio", "/simulator/voice"):
        assert needle in html
    assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html  # no CDN


def test_dial_choose_and_hang_up_mid_lesson(client, catalog, clock):
    turn = _voice(client, action="dial", phone=PHONE)
    call = turn["call"]
    assert turn["node"] == "language" and turn["listen"] and not turn["ended"]
    assert [line["text"] for line in turn["lines"]] == [
        prompt("language-menu").text("bm"),
        prompt("language-menu").text("fr"),
    ]
    for key in ("1", "2", "1", "1"):  # Bambara, courses, first course, first lesson
        turn = _voice(client, action="key", digits=key, call=call, phone=PHONE)
    assert turn["node"] == "lesson"
    first = next(iter(catalog))
    assert turn["lines"][0]["text"] == first.lessons[0].title.text("bm")  # spoken as written, ɛ and all
    turn = _voice(client, action="hangup", call=call, phone=PHONE)
    assert turn["ended"]
    session = db.session.scalars(select(CallSession)).one()
    assert (session.provider, session.status) == ("local", CallStatus.COMPLETED)
    assert db.session.scalars(select(LessonProgress)).one().bookmark["started"] is True
    assert db.session.scalars(select(Listener)).one().language == "bm"


def test_bad_requests_get_a_polite_end(client, clock):
    turn = _voice(client, action="key", digits="1", call="SIMnope")
    assert turn["ended"] and turn["lines"][0]["text"] == prompt("sorry").text("fr")
    response = client.post("/simulator/voice", json={"action": "dial", "phone": "not a phone"})
    assert response.status_code == 400 and "« not a phone » n'est pas un numéro du Mali" in response.get_json()["error"]
    assert _voice(client, action="fly")["ended"]


def test_a_callback_rings_the_simulator(app, client, clock, make_listener, drain):
    from dataclasses import replace

    app.config["KALANSO"] = replace(app.config["KALANSO"], voice_provider="local")
    turn = _voice(client, action="dial", phone=PHONE)
    _voice(client, action="hangup", call=turn["call"])
    session = db.session.scalars(select(CallSession)).one()
    session.status = CallStatus.NO_ANSWER  # as if the listener had hung up before the answer
    from ivr.service import _finish

    _finish(session, NOW)
    db.session.commit()
    assert client.get("/simulator/incoming?phone=76123456").get_json() == {"call": None}
    [session_id] = dispatch_due(NOW + timedelta(seconds=30))
    assert client.get("/simulator/incoming?phone=76123456").get_json() == {"call": None}  # queued, not placed
    drain(NOW + timedelta(seconds=30))  # the sender places it: the simulator's phone rings
    incoming = client.get("/simulator/incoming?phone=76123456").get_json()["call"]
    assert incoming == f"SIMOUT{session_id}"
    turn = _voice(client, action="answer", call=incoming, phone=PHONE)
    assert turn["node"] == "language" and turn["listen"]
    outbound = db.session.get(CallSession, session_id)
    assert (outbound.direction, outbound.status) == (Direction.OUTBOUND, CallStatus.IN_PROGRESS)


def test_the_simulator_is_off_with_a_real_provider_in_production(database_url):
    from tests.conftest import make_app

    app = make_app(database_url, VOICE_PROVIDER="twilio")
    app.config["TESTING"] = False
    with app.app_context():
        assert app.test_client().get("/simulator").status_code == 404
        assert app.test_client().post("/simulator/voice", json={"action": "dial"}).status_code == 404
        db.session.remove()


def test_flask_simulate_call(runner, catalog, clock):
    keys = "2\n\n7\n2\n1\n1\nq\n"  # French; a silence; an invalid key; courses; first course; first lesson; hang up
    result = runner.invoke(args=["simulate", "call", "--phone", "+22376123456"], input=keys)
    assert result.exit_code == 0, result.output
    out = result.output
    assert prompt("language-menu").text("fr") in out
    assert prompt("language-set").text("fr") in out
    assert prompt("no-input").text("fr") in out and prompt("invalid-key").text("fr") in out
    assert next(iter(catalog)).lessons[0].title.text("fr") in out
    assert "(vous avez raccroché)" in out
    session = db.session.scalars(select(CallSession)).one()
    assert [node for _, node in session.path][-4:] == [
        "lesson",
        "lesson:child-labour/what-is-child-labour",
        "chunk:1/1",
        "hangup",
    ]
    assert session.status == CallStatus.COMPLETED


def test_flask_simulate_call_ends_at_goodbye(runner, clock):
    result = runner.invoke(args=["simulate", "call", "--phone", "+22376123456"], input="\n\n\n")
    assert result.exit_code == 0, result.output
    assert prompt("goodbye").text("fr") in result.output
    assert result.output.rstrip().endswith("(fin de l'appel)")
    session = db.session.scalars(select(CallSession)).one()  # the line ended it; the final status followed
    assert (session.status, session.provider_status) == (CallStatus.COMPLETED, "completed")
