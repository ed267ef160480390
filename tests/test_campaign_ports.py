"""Campaigns through the real channel services and the real sender: SMS and voice over the local simulator,
and the Twilio and Africa's Talking SDKs against a fake provider server on 127.0.0.1."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.funnel import campaign_funnel
from campaigns.models import Delivery, DeliveryStatus
from campaigns.ports import SmsPort, VoicePort
from campaigns.service import change_state, upsert_from_definition
from core.db import db
from core.events import DeliveryReport
from core.vocabulary import CallStatus, MessageStatus, Purpose
from ivr.models import CallSession
from listeners.models import LessonProgress, ProgressStatus
from sms.models import Message
from sms.outbound import apply_report
from tests.conftest import send_outbox
from tests.fake_provider import FakeProviderServer

TEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def campaign_for(app, catalog, **overrides):
    data = {
        "name": "Test",
        "channel": "sms",
        "lesson": "money/saving-a-little",
        "audience": "everyone",
        "schedule": {"kind": "once", "at": "2026-11-24T10:00"},
    }
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    campaign = upsert_from_definition(data, catalog, app.config["KALANSO"], TEN)
    change_state(campaign, "schedule", TEN)
    expand_due(app.config["KALANSO"], TEN)
    db.session.commit()
    return campaign


def run(port, app, now=TEN):
    """What the scheduler's dispatch job and then the sender do: (dispatch report, sender report)."""
    prepared = dispatch_due(port, app.config["KALANSO"], lambda: now)
    return prepared, send_outbox(app, now)


def deliveries(campaign):
    return db.session.scalars(select(Delivery).filter_by(campaign_id=campaign.id).order_by(Delivery.id)).all()


def test_sms_message_campaign_over_the_simulator(backend, app, catalog, make_listener):
    bm = make_listener(language="bm", consent_at=TEN)
    fr = make_listener(language="fr", consent_at=TEN)
    campaign = campaign_for(
        app, catalog, lesson=None,
        message={"fr": "Le quiz de la semaine arrive : répondez QUIZ.", "bm": "Dɔgɔkun ɲininkaliw: QUIZ ci."},
    )  # fmt: skip
    prepared, sent = run(SmsPort(app.config["KALANSO"], lambda: TEN), app)
    assert (prepared.claimed, prepared.queued, sent.sent) == (2, 2, 2)
    messages = {m.listener_id: m for m in db.session.scalars(select(Message))}
    assert messages[bm.id].body == "Dògòkun nyininkaliw: QUIZ ci."  # transliterated into GSM-7
    assert (messages[bm.id].encoding, messages[bm.id].segments) == ("GSM-7", 1)
    assert messages[fr.id].purpose == Purpose.CAMPAIGN and messages[fr.id].status == MessageStatus.SENT
    assert {d.status for d in deliveries(campaign)} == {DeliveryStatus.SENT}
    apply_report(
        DeliveryReport("local", messages[fr.id].provider_message_id, MessageStatus.DELIVERED, "delivered"), TEN
    )
    db.session.commit()
    statuses = {d.listener_id: d.status for d in deliveries(campaign)}
    assert statuses == {bm.id: DeliveryStatus.SENT, fr.id: DeliveryStatus.DELIVERED}


def test_sms_lesson_campaign_then_the_listener_answers_and_completes(backend, app, client, catalog, make_listener):
    listener = make_listener(language="fr", consent_at=TEN)
    campaign = campaign_for(app, catalog)
    run(SmsPort(app.config["KALANSO"], lambda: TEN), app)
    messages = db.session.scalars(select(Message).order_by(Message.id)).all()
    text = "\n".join(m.body for m in messages)
    assert "Fatoumata" in messages[0].body and "1) 500 francs" in text  # the chunk, then the first question
    (delivery,) = deliveries(campaign)
    assert delivery.message_id == messages[0].id and all(m.purpose == Purpose.CAMPAIGN for m in messages)
    response = client.post("/simulator/sms/send", json={"phone": listener.phone, "text": "2"})
    assert response.status_code == 200
    progress = db.session.scalars(select(LessonProgress)).one()
    assert progress.status == ProgressStatus.COMPLETED
    db.session.expire_all()
    (delivery,) = deliveries(campaign)
    assert delivery.completed_at is not None and delivery.started_at is not None  # the first answer started it
    funnel = campaign_funnel(campaign)
    assert (funnel.reached, funnel.started, funnel.completed, funnel.completion_rate) == (1, 1, 1, 1.0)


def test_after_stop_by_sms_the_campaign_sends_nothing_to_that_number(backend, app, client, catalog, make_listener):
    stopper = make_listener(language="fr", consent_at=TEN)
    other = make_listener(language="fr", consent_at=TEN)
    campaign = campaign_for(app, catalog, lesson=None, message={"fr": "Bonjour", "bm": "I ni ce"})
    assert client.post("/simulator/sms/send", json={"phone": stopper.phone, "text": "STOP"}).status_code == 200
    before = {m.id for m in db.session.scalars(select(Message))}
    run(SmsPort(app.config["KALANSO"], lambda: TEN), app)
    sent = [m for m in db.session.scalars(select(Message)) if m.id not in before]
    assert [m.listener_id for m in sent] == [other.id]
    statuses = {d.listener_id: d.status for d in deliveries(campaign)}
    assert statuses[stopper.id] == DeliveryStatus.OPTED_OUT


def test_voice_lesson_campaign_rings_the_simulator_and_counts_the_answer(
    backend, app, client, catalog, make_listener, clock
):
    app.config["KALANSO"] = replace(app.config["KALANSO"], voice_provider="local")
    listener = make_listener(language="fr", consent_at=TEN)
    campaign = campaign_for(app, catalog, channel="voice")
    prepared, sent = run(VoicePort(app.config["KALANSO"], lambda: TEN), app)
    assert (prepared.queued, sent.sent) == (1, 1)
    (delivery,) = deliveries(campaign)
    session = db.session.get(CallSession, delivery.call_session_id)
    assert session.state["entry"] == "lesson" and session.state["campaign_delivery_id"] == delivery.id
    incoming = client.get(f"/simulator/incoming?phone={listener.phone}").get_json()["call"]
    turn = client.post(
        "/simulator/voice", json={"action": "answer", "call": incoming, "phone": listener.phone}
    ).get_json()
    assert "Fatoumata" in " ".join(line["text"] for line in turn["lines"])
    for key in ("1", "2"):  # continue after the chunk, then the right answer
        turn = client.post("/simulator/voice", json={"action": "key", "digits": key, "call": incoming}).get_json()
    client.post("/simulator/voice", json={"action": "hangup", "call": incoming})
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery.id)
    assert delivery.status == DeliveryStatus.ANSWERED and delivery.completed_at is not None
    assert db.session.get(CallSession, delivery.call_session_id).status == CallStatus.COMPLETED


def test_twilio_sms_through_the_sdk_to_a_fake_server(backend, app, catalog, make_listener):
    with FakeProviderServer() as server:
        settings = replace(app.config["KALANSO"], sms_provider="twilio", twilio_api_base_url=server.base_url)
        app.config["KALANSO"] = settings
        people = [make_listener(language="fr", consent_at=TEN) for _ in range(5)]
        campaign = campaign_for(app, catalog, lesson=None, message={"fr": "Bonjour", "bm": "I ni ce"})
        prepared, sent = run(SmsPort(settings, lambda: TEN), app)
        assert (prepared.queued, sent.sent) == (5, 5)
        assert server.store.message_counts() == {p.phone: 1 for p in people}
        assert {d.status for d in deliveries(campaign)} == {DeliveryStatus.QUEUED}
        assert all(d.provider_id.startswith("SM") for d in deliveries(campaign))


def test_africastalking_sends_equal_texts_in_one_request(backend, app, catalog, make_listener):
    with FakeProviderServer() as server:
        settings = replace(app.config["KALANSO"], sms_provider="africastalking", at_api_base_url=server.base_url)
        app.config["KALANSO"] = settings
        people = [make_listener(language="fr", consent_at=TEN) for _ in range(30)]
        campaign_for(app, catalog, lesson=None, message={"fr": "Bonjour", "bm": "I ni ce"})
        assert run(SmsPort(settings, lambda: TEN), app)[1].sent == 30
        assert server.store.message_counts() == {p.phone: 1 for p in people}
        assert server.store.requests["/version1/messaging"] == 1


@pytest.mark.parametrize("found", [True, False])
def test_reconcile_asks_twilio_what_it_received(backend, app, catalog, make_listener, found):
    from core.vocabulary import Channel
    from sender import claim as claims
    from sender.loop import Sender

    with FakeProviderServer() as server:
        settings = replace(app.config["KALANSO"], sms_provider="twilio", twilio_api_base_url=server.base_url)
        app.config["KALANSO"] = settings
        listener = make_listener(language="fr", consent_at=TEN)
        campaign = campaign_for(app, catalog, lesson=None, message={"fr": "Bonjour", "bm": "I ni ce"})
        dispatch_due(SmsPort(settings, lambda: TEN), settings, lambda: TEN)
        assert len(claims.claim(db.session, Channel.SMS, "twilio", 10, "dead-sender", TEN)) == 1
        db.session.commit()  # a sender claimed the row, then died
        if found:  # ... after its request had reached Twilio
            server.store.add_message("twilio", listener.phone, "Bonjour")
        counts = Sender(app, inline=True, clock=lambda: TEN).reconcile(TEN + timedelta(minutes=5))
        db.session.expire_all()
        (delivery,) = deliveries(campaign)
        if found:
            assert counts["recorded"] == 1 and delivery.status == DeliveryStatus.QUEUED
            assert db.session.get(Message, delivery.message_id).provider_message_id.startswith("SM")
        else:
            assert counts["requeued"] == 1 and delivery.status == DeliveryStatus.SENDING
            assert send_outbox(app, TEN + timedelta(minutes=6)).sent == 1
        assert server.store.message_counts() == {listener.phone: 1}


def test_a_listener_who_opts_out_before_the_call_is_placed_is_never_rung(backend, app, catalog, make_listener):
    from listeners.service import opt_out

    app.config["KALANSO"] = replace(app.config["KALANSO"], voice_provider="local")
    listener = make_listener(language="fr", consent_at=TEN)
    campaign = campaign_for(app, catalog, channel="voice", sms_fallback=True)
    port = VoicePort(app.config["KALANSO"], lambda: TEN)
    assert dispatch_due(port, app.config["KALANSO"], lambda: TEN).queued == 1
    opt_out(listener, TEN, "sms")  # the STOP arrives between the preparation and the sender
    db.session.commit()
    assert send_outbox(app, TEN).claimed == 0
    db.session.expire_all()
    (delivery,) = deliveries(campaign)
    session = db.session.get(CallSession, delivery.call_session_id)
    assert (session.status, session.provider_call_id) == (CallStatus.CANCELED, None)
    assert delivery.status == DeliveryStatus.OPTED_OUT and delivery.channel.value == "voice"  # no SMS fallback
