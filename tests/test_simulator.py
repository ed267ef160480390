"""The simulator's endpoints as a provider would use them: numbers refused in French, the final status of a call
the line ended, the four answers to a call we placed (and what campaigns make of them), the missed call, and
recordings addressed relative to the page. The browser itself is in test_browser_simulator.py."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.models import Delivery, DeliveryStatus
from campaigns.ports import VoicePort
from campaigns.service import change_state, upsert_from_definition
from core.db import db
from core.vocabulary import CallStatus, Channel, Direction
from ivr.models import CallbackStatus, CallSession, MissedCallCallback
from ivr.prompts import prompt
from listeners.models import Listener
from providers.local.numbers import invalid_number_message
from sms.models import Message
from tests.conftest import NOW

PHONE = "+22376123456"


def _voice(client, expect: int = 200, **data):
    response = client.post("/simulator/voice", json=data)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


# --- numbers ---------------------------------------------------------------------------------------

NOT_MALIAN = " n'est pas un numéro du Mali. Un numéro a 8 chiffres, par exemple 76 12 34 56 ou +223 76 12 34 56."
TYPE_ONE = "Tapez d'abord un numéro du Mali, par exemple 76 12 34 56 ou +223 76 12 34 56."
REFUSED = [  # as typed -> the message, which shows it as typed
    ("76 12 34", "« 76 12 34 »" + NOT_MALIAN),
    ("+33 6 12 34 56 7", "« +33 6 12 34 56 7 »" + NOT_MALIAN),
    ("abc", "« abc »" + NOT_MALIAN),
    (" 76-12-34 ", "« 76-12-34 »" + NOT_MALIAN),
    ("", TYPE_ONE),
    ("   ", TYPE_ONE),
    ("7" * 60, f"« {'7' * 40}… »" + NOT_MALIAN),
]


@pytest.mark.parametrize(("typed", "message"), REFUSED)
def test_a_number_that_is_not_malian_gets_a_french_message_showing_it(typed, message, client, clock, caplog):
    assert invalid_number_message(typed) == message
    caplog.set_level(logging.INFO)
    for action in ("dial", "missed"):
        assert _voice(client, 400, action=action, phone=typed) == {"error": message}
    response = client.post("/simulator/sms/send", json={"phone": typed, "text": "QUIZ"})
    assert (response.status_code, response.get_json()) == (400, {"error": message})
    response = client.get("/simulator/sms/messages", query_string={"phone": typed})
    assert (response.status_code, response.get_json()) == (400, {"error": message})
    assert db.session.scalars(select(CallSession)).all() == []
    assert db.session.scalars(select(Message)).all() == []
    if typed.strip() and any(c.isdigit() for c in typed):  # the number as typed is never logged in clear
        assert typed.strip() not in caplog.text and "refused, not a Mali number" in caplog.text


def test_the_sms_simulator_wants_a_text(client):
    response = client.post("/simulator/sms/send", json={"phone": "76 12 34 56"})
    assert (response.status_code, response.get_json()) == (400, {"error": "Écrivez le texte du SMS avant d'envoyer."})


def test_a_mali_number_as_people_type_it_is_accepted(client, clock):
    for typed in ("76 12 34 56", "0022376123456", "+223 76 12 34 56"):
        turn = _voice(client, action="dial", phone=typed)
        assert turn["node"] == "language" and turn["status_text"] == "choix de la langue"
        _voice(client, action="hangup", call=turn["call"], phone=typed)
    assert {s.phone for s in db.session.scalars(select(CallSession))} == {PHONE}


# --- the status line and the final status ------------------------------------------------------------


def test_status_words_are_french(client, clock):
    call = _voice(client, action="dial", phone=PHONE)["call"]
    words = [_voice(client, action="key", digits=key, call=call, phone=PHONE)["status_text"] for key in "221"]
    assert words == ["menu principal", "liste des cours", "liste des leçons"]
    assert _voice(client, action="key", digits="1", call=call, phone=PHONE)["status_text"] == "leçon"


def test_every_menu_node_has_its_french_status_words():
    from ivr.menu import MENU_NODES
    from ivr.simulator import STATUS_WORDS

    assert MENU_NODES - set(STATUS_WORDS) == set()


def test_a_call_the_line_ended_is_completed_when_the_final_status_arrives(backend, client, clock):
    call = _voice(client, action="dial", phone=PHONE)["call"]
    for _ in range(3):  # silence, silence, silence: the polite goodbye
        turn = _voice(client, action="timeout", call=call, phone=PHONE)
    assert turn["ended"] and turn["lines"][-1]["text"] == prompt("goodbye").text("fr")
    assert turn["status_text"] == "fin de l'appel"
    clock.set(NOW + timedelta(seconds=40))
    final = _voice(client, action="status", status="completed", call=call, phone=PHONE)
    assert final["ended"] and final["lines"] == []
    session = db.session.scalars(select(CallSession)).one()
    assert (session.status, session.provider_status) == (CallStatus.COMPLETED, "completed")
    assert session.ended_at is not None


def test_an_unknown_final_status_word_gets_the_polite_end(client, clock):
    call = _voice(client, action="dial", phone=PHONE)["call"]
    turn = _voice(client, action="status", status="exploded", call=call, phone=PHONE)
    assert turn["ended"] and turn["node"] == "sorry" and turn["status_text"] == "problème technique"
    assert db.session.scalars(select(CallSession)).one().status == CallStatus.IN_PROGRESS


# --- a missed call ---------------------------------------------------------------------------------


def test_ring_and_hang_up_schedules_the_free_callback(backend, client, clock):
    turn = _voice(client, action="missed", phone="76 12 34 56")
    assert turn["ended"] and turn["lines"] == [] and turn["status_text"] == "appel terminé"
    assert turn["callback"] == "Appel manqué : Kalanso vous rappelle gratuitement vers 10:00 (Africa/Bamako)."
    session = db.session.scalars(select(CallSession)).one()
    assert (session.direction, session.status, session.phone) == (Direction.INBOUND, CallStatus.NO_ANSWER, PHONE)
    callback = db.session.scalars(select(MissedCallCallback)).one()
    assert (callback.status, callback.phone, callback.missed_call_id) == (CallbackStatus.PENDING, PHONE, session.id)
    assert callback.due_at == NOW + timedelta(seconds=30)


def test_a_missed_call_over_the_daily_cap_says_no_callback(client, clock):
    for minute in range(4):  # the cap is 3 a day
        clock.set(NOW + timedelta(minutes=minute))
        turn = _voice(client, action="missed", phone=PHONE)
        db.session.execute(MissedCallCallback.__table__.update().values(status=CallbackStatus.PLACED))
        db.session.commit()
    assert turn["callback"] == (
        "Appel manqué enregistré, mais aucun rappel n'est prévu "
        "(rappel désactivé, limite du jour atteinte ou numéro désinscrit)."
    )


# --- a campaign call rings: the four buttons ---------------------------------------------------------


@pytest.fixture
def campaign_call(app, catalog, make_listener, drain):
    """A voice campaign (retries, SMS fallback) whose call to PHONE is placed: it rings in the simulator."""
    settings = app.config["KALANSO"]
    make_listener(phone=PHONE, language="fr", consent_at=NOW)
    campaign = upsert_from_definition(
        {
            "name": "Essai simulateur",
            "channel": "voice",
            "lesson": "money/saving-a-little",
            "audience": {"language": "fr"},
            "schedule": {"kind": "once", "at": "2026-11-24T10:00"},
            "sms_fallback": True,
            "max_retries": 2,
        },
        catalog,
        settings,
        NOW,
    )
    change_state(campaign, "schedule", NOW)
    db.session.commit()
    expand_due(settings, NOW)
    db.session.commit()

    def place(now):
        port = VoicePort(replace(settings, voice_provider="local"), lambda: now)
        assert dispatch_due(port, settings, lambda: now).queued == 1
        assert drain(now).sent == 1
        return db.session.scalars(select(Delivery)).one()

    return place


def test_a_campaign_call_rings_until_the_simulator_answers(client, clock, campaign_call):
    delivery = campaign_call(NOW)
    ringing = client.get("/simulator/incoming", query_string={"phone": "76 12 34 56"}).get_json()
    what = "Kalanso vous appelle pour une leçon (campagne)"
    assert ringing == {"call": f"SIMOUT{delivery.call_session_id}", "what": what}
    assert client.get("/simulator/incoming?phone=76123457").get_json() == {"call": None}
    assert client.get("/simulator/incoming?phone=nope").get_json() == {"call": None}
    turn = _voice(client, action="answer", call=ringing["call"], phone=PHONE)
    assert turn["listen"] and turn["status_text"] == "leçon"
    assert client.get("/simulator/incoming", query_string={"phone": PHONE}).get_json() == {"call": None}
    session = db.session.get(CallSession, delivery.call_session_id)
    assert (session.direction, session.status) == (Direction.OUTBOUND, CallStatus.IN_PROGRESS)
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.QUEUED  # answered is recorded when the call ends
    assert delivery.started_at == NOW  # the call's lesson began: the campaign's funnel counts a start


BUTTONS = [  # the button's word -> the call's status, the provider's word kept
    ("no-answer", CallStatus.NO_ANSWER, "no-answer"),
    ("busy", CallStatus.BUSY, "busy"),
    ("declined", CallStatus.BUSY, "declined"),
]


@pytest.mark.parametrize(("word", "status", "provider_word"), BUTTONS)
def test_an_unanswered_campaign_call_is_retried(word, status, provider_word, client, clock, campaign_call):
    delivery = campaign_call(NOW)
    call = f"SIMOUT{delivery.call_session_id}"
    turn = _voice(client, action="status", status=word, call=call, phone=PHONE)
    assert turn["ended"] and turn["lines"] == []
    session = db.session.get(CallSession, delivery.call_session_id)
    assert (session.status, session.provider_status, session.answered_at) == (status, provider_word, None)
    assert session.path[-1][1] == status.value
    db.session.refresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.due_at) == (
        DeliveryStatus.PENDING,
        1,
        NOW + timedelta(minutes=15),
    )
    assert client.get("/simulator/incoming", query_string={"phone": PHONE}).get_json() == {"call": None}


def test_no_answer_every_time_ends_in_the_sms_fallback(backend, client, clock, campaign_call, drain):
    now = NOW
    for _attempt in range(3):
        delivery = campaign_call(now)
        clock.set(now)
        _voice(client, action="status", status="no-answer", call=f"SIMOUT{delivery.call_session_id}", phone=PHONE)
        db.session.refresh(delivery)
        now = delivery.due_at
    assert (delivery.channel, delivery.status, delivery.fallback_sent) == (Channel.SMS, DeliveryStatus.PENDING, True)
    calls = db.session.scalars(select(CallSession).order_by(CallSession.id)).all()
    assert [c.status for c in calls] == [CallStatus.NO_ANSWER] * 3
    listener = db.session.scalars(select(Listener)).one()
    assert not listener.opted_out


# --- recordings --------------------------------------------------------------------------------------


def test_recordings_are_addressed_relative_to_the_page(app, client, clock, tmp_path):
    (tmp_path / "fr" / "prompts").mkdir(parents=True)
    (tmp_path / "fr" / "prompts" / "language-menu.wav").write_bytes(b"RIFF")
    app.config["KALANSO_AUDIO_DIR"] = tmp_path
    turn = _voice(client, action="dial", phone=PHONE)
    assert [line["audio_url"] for line in turn["lines"]] == [None, "/audio/fr/prompts/language-menu.wav"]
    page = client.get("/simulator", base_url="http://127.0.0.1:5101").get_data(as_text=True)
    assert "5000" not in page and "kalanso.example.org" not in page


def test_the_pages_link_the_phone_style_and_no_cdn(client):
    with client.get("/assets/simulator.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
    for url in ("/simulator", "/simulator/sms"):
        html = client.get(url).get_data(as_text=True)
        assert '<link rel="stylesheet" href="/assets/simulator.css">' in html
        assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
        assert "https://" not in html and "confirm(" not in html
    html = client.get("/simulator").get_data(as_text=True)
    for button in ("ring-answer", "ring-decline", "ring-no-answer", "ring-busy", "missed"):
        assert f'id="{button}"' in html
    assert 'href="/simulator"' in client.get("/simulator/sms").get_data(as_text=True)
