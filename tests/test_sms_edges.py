"""Delivery reports of each status, forged and junk requests, the outbound service's consent rule,
and a lesson started by voice and finished by SMS."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db import db
from core.outbox import OutboxItem, OutboxStatus
from core.signals import lesson_completed, message_status_changed
from core.vocabulary import Channel, MessageStatus, Purpose
from engine import Continue, Digits, Start
from listeners.models import LessonProgress, Listener, QuizAnswer
from listeners.progress import take_turn
from listeners.service import opt_out
from providers.local import sms as local_sms
from sms import outbound
from sms.encoding import MessageTooLong
from sms.models import Message
from tests.conftest import NOW
from tests.test_sms_line import EMPTY_TWIML, PHONE, SECRET, Line, sign, twilio_inbound, wire  # noqa: F401


def sent_message(provider: str, provider_id: str, status=MessageStatus.SENT) -> Message:
    message = Message(
        provider=provider,
        provider_message_id=provider_id,
        phone=PHONE,
        direction="outbound",
        body="Bonjour",
        status=status,
        encoding="GSM-7",
        segments=1,
        purpose="reply",
        created_at=NOW,
        updated_at=NOW,
    )
    db.session.add(message)
    db.session.commit()
    return message


def twilio_status(sid: str, word: str, error: str = "") -> dict[str, str]:
    params = {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "To": PHONE,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": word,
        "SmsStatus": word,
        "RawDlrDoneDate": "2611241002",
    }
    if error:
        params["ErrorCode"] = error
    return params


@pytest.mark.parametrize(
    ("word", "error", "status", "kept_error"),
    [
        ("queued", "", MessageStatus.SENT, ""),  # never backwards: a late "queued" leaves "sent"
        ("sending", "", MessageStatus.SENT, ""),
        ("sent", "", MessageStatus.SENT, ""),
        ("delivered", "", MessageStatus.DELIVERED, ""),
        ("read", "", MessageStatus.DELIVERED, ""),
        ("undelivered", "30003", MessageStatus.FAILED, "30003"),
        ("failed", "30008", MessageStatus.FAILED, "30008"),
        ("canceled", "", MessageStatus.FAILED, ""),
    ],
)
def test_twilio_status_callbacks(client, word, error, status, kept_error):
    message = sent_message("twilio", "SM" + "5" * 32)
    seen = []
    message_status_changed.connect(lambda m, **kw: seen.append((m.id, kw["previous"])), weak=False)
    try:
        params = twilio_status(message.provider_message_id, word, error)
        response = client.post("/sms/twilio/status", data=params, headers=sign("/sms/twilio/status", params))
    finally:
        message_status_changed.receivers.clear()
    assert (response.status_code, response.get_data(as_text=True)) == (204, "")
    db.session.refresh(message)
    assert (message.status, message.error) == (status, kept_error)
    assert message.provider_status == (word if status != MessageStatus.SENT or word == "sent" else "")
    assert seen == ([] if status == MessageStatus.SENT else [(message.id, MessageStatus.SENT)])
    assert (message.delivered_at is not None) == (status == MessageStatus.DELIVERED)


@pytest.mark.parametrize(
    ("word", "reason", "status"),
    [
        ("Sent", "", MessageStatus.SENT),
        ("Submitted", "", MessageStatus.SENT),
        ("Buffered", "", MessageStatus.SENT),
        ("Success", "", MessageStatus.DELIVERED),
        ("Rejected", "DeliveryFailure", MessageStatus.FAILED),
        ("Failed", "UserDoesNotExist", MessageStatus.FAILED),
        ("AbsentSubscriber", "", MessageStatus.FAILED),
        ("Expired", "", MessageStatus.FAILED),
    ],
)
def test_africastalking_delivery_reports(client, word, reason, status):
    message = sent_message("africastalking", "ATXid_42", status=MessageStatus.QUEUED)
    params = {"id": "ATXid_42", "status": word, "phoneNumber": PHONE, "networkCode": "99999"}
    if reason:
        params["failureReason"] = reason
    response = client.post(f"/sms/at/{SECRET}/delivery", data=params)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "")
    db.session.refresh(message)
    assert (message.status, message.provider_status, message.error) == (status, word, reason)


@pytest.mark.parametrize("word", ["sent", "delivered", "failed"])
def test_simulator_delivery_reports(client, word):
    message = sent_message("local", "local-00000001-1")
    response = client.post("/simulator/sms/delivery", json={"id": "local-00000001-1", "status": word})
    assert response.status_code == 200 and response.get_json()["status"] == word
    db.session.refresh(message)
    assert message.status == MessageStatus(word)


def test_a_final_status_is_never_overwritten_and_unknown_reports_change_nothing(client):
    message = sent_message("twilio", "SM" + "6" * 32, status=MessageStatus.DELIVERED)
    for params in (
        twilio_status(message.provider_message_id, "undelivered", "30003"),
        twilio_status("SMnope", "delivered"),
    ):
        assert (
            client.post("/sms/twilio/status", data=params, headers=sign("/sms/twilio/status", params)).status_code
            == 204
        )
    db.session.refresh(message)
    assert (message.status, message.error) == (MessageStatus.DELIVERED, "")
    junk = {"MessageSid": message.provider_message_id, "MessageStatus": "exploded"}
    assert client.post("/sms/twilio/status", data=junk, headers=sign("/sms/twilio/status", junk)).status_code == 204


@pytest.mark.parametrize(
    ("path", "data", "headers", "status"),
    [
        ("/sms/twilio", twilio_inbound("STOP", PHONE, "SM" + "1" * 32), {"X-Twilio-Signature": "forged"}, 403),
        ("/sms/twilio", twilio_inbound("STOP", PHONE, "SM" + "1" * 32), {}, 403),
        ("/sms/twilio/status", {"MessageSid": "SMx", "MessageStatus": "delivered"}, {"X-Twilio-Signature": "x"}, 403),
        ("/sms/at/wrongSecret0123456789/incoming", {"from": PHONE, "text": "STOP"}, {}, 403),
        ("/sms/at/wrongSecret0123456789/delivery", {"id": "ATXid_1", "status": "Success"}, {}, 403),
    ],
)
def test_forged_requests_get_403_and_change_nothing(client, path, data, headers, status):
    assert client.post(path, data=data, headers=headers).status_code == status
    assert db.session.scalar(select(func.count()).select_from(Listener)) == 0
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_signed_with_the_query_string_and_the_public_url(client, wire):  # noqa: F811
    params = twilio_inbound("AIDE", PHONE, "SM" + "2" * 32)
    signed = sign("/sms/twilio?lang=fr", params)
    assert client.post("/sms/twilio?lang=fr", data=params, headers=signed).status_code == 200
    assert client.post("/sms/twilio", data=params, headers=signed).status_code == 403  # query string is signed


def test_africastalking_webhooks_are_closed_without_a_secret(app):
    from tests.conftest import make_app

    closed = make_app(app.config["SQLALCHEMY_DATABASE_URI"], AT_CALLBACK_SECRET="")
    with closed.test_client() as other:
        assert other.post("/sms/at/anything/incoming", data={"from": PHONE, "text": "STOP"}).status_code == 404
        assert other.post("/sms/at//delivery", data={}).status_code in (404, 405)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"Body": "QUIZ"},  # no From
        {"From": "not a phone", "Body": "QUIZ"},
        {"From": "+33", "Body": "QUIZ"},
        {"From": PHONE},  # no Body
    ],
)
def test_twilio_junk_gets_an_empty_twiml_answer_and_nothing_else(client, wire, params):  # noqa: F811
    response = client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params))
    assert (response.status_code, response.get_data(as_text=True)) == (200, EMPTY_TWIML)
    assert wire == []
    assert db.session.scalar(select(func.count()).select_from(Listener)) == 0


@pytest.mark.parametrize(
    "params", [{}, {"from": "junk", "text": "1"}, {"text": "hello"}, {"id": "x", "status": "Nope"}]
)
def test_africastalking_junk_gets_an_empty_200(client, wire, params):  # noqa: F811
    for kind in ("incoming", "delivery"):
        response = client.post(f"/sms/at/{SECRET}/{kind}", data=params)
        assert (response.status_code, response.get_data(as_text=True)) == (200, "")
    assert wire == []


def test_a_provider_refusal_is_recorded_and_the_webhook_still_answers(client, monkeypatch, drain):
    import json

    import responses

    from tests.test_sms_line import TWILIO_MESSAGES

    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)
    with responses.RequestsMock() as mock:
        body = {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}
        mock.add(responses.POST, TWILIO_MESSAGES, status=400, body=json.dumps(body), content_type="application/json")
        params = twilio_inbound("AIDE", PHONE, "SM" + "3" * 32)
        response = client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params))
        assert (response.status_code, response.get_data(as_text=True)) == (200, EMPTY_TWIML)
        assert drain().failed == 1
    reply = db.session.scalars(select(Message).filter_by(direction="outbound")).one()
    assert (reply.status, reply.error) == (
        MessageStatus.FAILED,
        "21610: Unable to create record: Attempt to send to unsubscribed recipient",
    )


# --- the outbound service ------------------------------------------------------------------------


def test_prepare_computes_and_stores_encoding_and_segments(app, make_listener):
    person = make_listener(phone=PHONE, language="bm")
    message = outbound.prepare(person, "I ni sɔgɔma! " * 20, NOW, purpose=Purpose.CAMPAIGN)
    assert (message.body[:12], message.encoding, message.segments, message.status) == (
        "I ni sògòma!",
        "GSM-7",
        2,
        MessageStatus.QUEUED,
    )
    with pytest.raises(MessageTooLong, match="SMS_MAX_SEGMENTS"):
        outbound.prepare(person, "a" * 500, NOW)
    with pytest.raises(ValueError, match="needs a text"):
        outbound.prepare(person, "  ", NOW)


def test_after_stop_no_code_path_sends_to_that_number(app, make_listener, drain):
    person = make_listener(phone=PHONE)
    early = outbound.prepare(person, "Leçon du jour", NOW, purpose=Purpose.CAMPAIGN)
    db.session.commit()
    opt_out(person, NOW, "voice")  # STOP arrives between the decision to send and the sender
    db.session.commit()
    assert outbound.prepare(person, "Rappel", NOW, purpose=Purpose.CAMPAIGN) is None
    assert outbound.prepare(PHONE, "Rappel", NOW, purpose=Purpose.REPLY) is None  # by number too
    outbound.prepare(person, "Arrêt confirmé", NOW, purpose=Purpose.OPT_OUT_CONFIRMATION)
    db.session.commit()
    assert outbound.prepare(person, "encore", NOW, purpose=Purpose.OPT_OUT_CONFIRMATION) is None  # once
    local_sms.OUTBOX.clear()
    report = drain()
    assert [m.body for m in local_sms.OUTBOX] == ["Arret confirmé"]
    assert (report.sent, report.cancelled) == (1, 0)  # the STOP itself cancelled the early one
    db.session.refresh(early)
    assert (early.status, early.error) == (MessageStatus.FAILED, outbound.OPTED_OUT)
    row = db.session.scalars(select(OutboxItem).filter_by(message_id=early.id)).one()
    assert (row.status, row.error) == (OutboxStatus.CANCELLED, outbound.OPTED_OUT)
    welcome_back = outbound.prepare(person, "Bon retour", NOW, purpose=Purpose.OPT_IN_CONFIRMATION)
    assert welcome_back is not None


def test_nothing_prepared_leaves_before_its_transaction_commits(app, make_listener, drain):
    person = make_listener(phone=PHONE)
    db.session.commit()
    outbound.prepare(person, "Bonjour", NOW, purpose=Purpose.REPLY)
    db.session.rollback()  # the turn failed: its replies go with it
    local_sms.OUTBOX.clear()
    assert drain().claimed == 0 and list(local_sms.OUTBOX) == []
    message = outbound.prepare(person, "Bonjour", NOW, purpose=Purpose.REPLY)
    row = db.session.scalars(select(OutboxItem).filter_by(message_id=message.id)).one()
    assert (row.status, row.priority, row.body) == (OutboxStatus.PENDING, 0, "Bonjour")
    db.session.commit()
    assert drain().sent == 1 and [m.body for m in local_sms.OUTBOX] == ["Bonjour"]
    assert drain().claimed == 0  # sent once


# --- cross-channel --------------------------------------------------------------------------------


def test_a_lesson_started_by_voice_is_finished_by_sms_and_counts_once(backend, client, wire, catalog):  # noqa: F811
    course = catalog.course("child-labour")
    person = Listener(phone=PHONE, language="fr", created_at=NOW)
    db.session.add(person)
    db.session.flush()
    completions = []
    lesson_completed.connect(lambda sender, **kw: completions.append(kw), weak=False)
    try:
        for event in (Start(), Continue(), Digits("1")):  # by phone: intro, chunk, first question answered
            take_turn(person, course, "what-is-child-labour", event, channel=Channel.VOICE, now=NOW)
        db.session.commit()
        replies = Line("africastalking", client, wire).text("Non")  # the second question, by SMS
    finally:
        lesson_completed.receivers.clear()
    assert replies[-1].endswith(
        "Lecon terminée. Bonnes réponses : 2 sur 2.\nCours terminé ! Envoyez QUIZ pour le cours suivant : L'argent."
    )
    row = db.session.scalars(select(LessonProgress)).one()
    assert (row.status, row.completed_channel, row.score) == ("completed", Channel.SMS, 2)
    answers = db.session.scalars(select(QuizAnswer).order_by(QuizAnswer.id)).all()
    assert [(a.channel, a.counted) for a in answers] == [(Channel.VOICE, True), (Channel.SMS, True)]
    assert [(c["channel"], c["first_time"]) for c in completions] == [(Channel.SMS, True)]


def test_a_listener_left_mid_chunk_by_voice_hears_that_chunk_by_sms(client, wire, catalog):  # noqa: F811
    course = catalog.course("money")
    person = Listener(phone=PHONE, language="fr", created_at=NOW)
    db.session.add(person)
    db.session.flush()
    take_turn(person, course, "saving-a-little", Start(), channel=Channel.VOICE, now=NOW)
    db.session.commit()
    replies = Line("twilio", client, wire).text("2")
    assert replies[0].startswith("Lecon : Épargner un peu chaque semaine\nFatoumata vend")
    assert db.session.scalar(select(func.count()).select_from(QuizAnswer)) == 0  # "2" was not taken as an answer


def test_eight_texts_at_once_from_an_opted_out_listener_get_one_resume_hint(backend, app, make_listener, monkeypatch):
    from tests.test_races import _in_threads

    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)
    person = make_listener(phone=PHONE, language="fr")
    opt_out(person, NOW, "voice")
    person_id = person.id
    db.session.commit()

    def text(n):
        def job(client):
            params = twilio_inbound("QUIZ", PHONE, f"SMh{n:031d}")
            return client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params)).status_code

        return job

    assert _in_threads(app, [text(n) for n in range(8)]) == [200] * 8
    db.session.expire_all()
    hints = db.session.scalars(
        select(Message).filter_by(listener_id=person_id, direction="outbound", purpose=Purpose.RESUME_HINT)
    ).all()
    assert len(hints) == 1
    inbound = db.session.scalar(select(func.count()).select_from(Message).filter_by(direction="inbound"))
    assert inbound == 8
