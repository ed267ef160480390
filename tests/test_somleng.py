"""Somleng (TWILIO_COMPATIBLE=somleng): the Twilio provider against a Somleng-shaped fake (tests/somleng_support.py:
Somleng's exact parameters, its signature; ``responses`` for its REST API). The journeys shared with Twilio are in
test_ivr_webhooks.py and test_sms_line.py; here what only Somleng mode shows: its settings, its signature checked
against a request Somleng itself signed, forged requests, its status words, a campaign call placed through its
REST API and answered, an SMS and its status callbacks, the missed-call callback, its recordings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import responses
from sqlalchemy import func, select

from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.models import Delivery, DeliveryStatus
from campaigns.ports import VoicePort
from campaigns.service import change_state, upsert_from_definition
from core.config import ConfigError, load_settings
from core.db import db
from core.events import CallRef, Recorded
from core.vocabulary import CallStatus, Direction, MessageStatus
from ivr.callbacks import dispatch_due as dispatch_callbacks
from ivr.models import CallbackStatus, CallSession, MissedCallCallback
from ivr.outbound import start_call
from ivr.prompts import prompt
from listeners.models import LessonProgress, Listener, ProgressStatus
from providers.base import OutboundCall, ProviderError
from providers.twilio import voice as twilio_voice
from providers.twilio.dialect import SOMLENG, TWILIO, dialect
from sms.models import Message
from tests import somleng_support as s
from tests import voice_support as w
from tests.conftest import BASE_CONFIG, NOW, make_app, send_outbox

TEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def app_config():
    """Every test here runs on an app whose Twilio provider talks to Somleng, for voice and SMS."""
    return {**s.CONFIG, "VOICE_PROVIDER": "twilio", "SMS_PROVIDER": "twilio"}


def P(key: str, **params) -> str:
    return prompt(key).text("fr").format(**params)


def gather(*texts: str, turn: int) -> str:
    return w.twiml_gather(*texts, turn=turn, voice=None)


# --- settings ------------------------------------------------------------------------------------


def test_somleng_needs_its_api_address_and_twilio_stays_the_default():
    assert load_settings(BASE_CONFIG).twilio_compatible == "twilio"
    assert dialect(load_settings(BASE_CONFIG)) is TWILIO
    settings = load_settings({**BASE_CONFIG, **s.CONFIG, "TWILIO_COMPATIBLE": " Somleng "})
    assert (settings.twilio_compatible, settings.twilio_api_base_url) == ("somleng", s.API)
    assert dialect(settings) is SOMLENG
    with pytest.raises(ConfigError, match="TWILIO_COMPATIBLE=somleng needs TWILIO_API_BASE_URL"):
        load_settings({**BASE_CONFIG, "TWILIO_COMPATIBLE": "somleng", "TWILIO_API_BASE_URL": ""})
    with pytest.raises(ConfigError, match="TWILIO_COMPATIBLE must be one of twilio, somleng"):
        load_settings({**BASE_CONFIG, "TWILIO_COMPATIBLE": "signalwire"})


# --- the signature -------------------------------------------------------------------------------


def test_the_fake_signs_as_somleng_does():
    """A request Somleng's switch signed, recorded in its own test suite (somleng-switch
    components/app/spec/fixtures/vcr_cassettes/inbound_call.yml: a GET, so the parameters are in the URL in the
    order it sent them): the fake's signer, and so Kalanso's check, give Somleng's signature."""
    token = "pd-eZBeCozOHqtdcwYOpGcPaZNByMFQjryK73K3Pm14"  # that account's token, in the same recording
    url = (
        "https://demo.twilio.com/docs/voice.xml?Caller=1000&Called=1234&From=1000&To=1234"
        "&CallSid=574f0314-8d52-4a79-a7aa-2ff9898f7b79&Direction=inbound"
        "&AccountSid=0f82ec1a-c776-4669-a0b6-c2b11bef156a&ApiVersion=2010-04-01&CallStatus=ringing"
    )
    assert s.signature(url, {}, token) == "YXDSpMZlefngpbgS+wTLaIZ1Ik4="


SIGNED_PATHS = [
    ("/ivr/twilio/voice", s.voice(s.call_sid(1))),
    ("/ivr/twilio/voice?ev=gather&t=1", s.voice(s.call_sid(1), status="in-progress", digits="1")),
    ("/ivr/twilio/status", s.call_status(s.call_sid(1), "no-answer", "0", sip="487")),
    ("/sms/twilio", s.sms(s.message_sid(1), "STOP")),
    ("/sms/twilio/status", s.sms_status(s.message_sid(1), "delivered", s.CALLER, "Bonjour")),
]


def _nothing_recorded() -> bool:
    tables = (Listener, CallSession, Message, MissedCallCallback)
    return all(db.session.scalar(select(func.count()).select_from(t)) == 0 for t in tables)


@pytest.mark.parametrize(("path", "params"), SIGNED_PATHS)
@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda path, params: {}, id="unsigned"),
        pytest.param(lambda path, params: {"X-Twilio-Signature": "YXDSpMZlefngpbgS+wTLaIZ1Ik4="}, id="forged"),
        pytest.param(  # Twilio's account token: the other platform's signature
            lambda path, params: {"X-Twilio-Signature": s.signature(s.BASE + path, params, w.TOKEN)}, id="twilio-token"
        ),
        pytest.param(  # signed for one number, sent with another
            lambda path, params: {"X-Twilio-Signature": s.signature(s.BASE + path, {**params, "From": "+22366000000"})},
            id="tampered",
        ),
    ],
)
def test_forged_or_unsigned_somleng_requests_get_403_and_change_nothing(client, path, params, forge):
    response = client.post(path, data=params, headers=forge(path, params))
    assert response.status_code == 403
    assert _nothing_recorded()


@pytest.mark.parametrize(("path", "params"), SIGNED_PATHS)
def test_the_same_requests_signed_by_somleng_pass(client, clock, path, params):
    assert s.post(client, path, params).status_code in (200, 204)


# --- its words -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("completed", CallStatus.COMPLETED),
        ("busy", CallStatus.BUSY),
        ("no-answer", CallStatus.NO_ANSWER),
        ("canceled", CallStatus.CANCELED),
        ("failed", CallStatus.FAILED),
        ("initiated", None),  # a Twilio progress event Somleng never sends: refused, nothing changes
        ("answered", None),
    ],
)
def test_somleng_call_status_words(client, clock, word, status):
    sid = s.call_sid(7)
    s.post(client, "/ivr/twilio/voice", s.voice(sid))
    session = db.session.scalars(select(CallSession)).one()
    before = session.status
    response = s.post(client, "/ivr/twilio/status", s.call_status(sid, word, "31"))
    assert (response.status_code, response.get_data(as_text=True)) == (200, w.TWIML_EMPTY)
    db.session.refresh(session)
    assert session.status == (status or before)
    assert (session.provider, session.provider_call_id, session.direction) == ("twilio", sid, Direction.INBOUND)


def test_the_status_tables_are_somlengs_words_with_twilios_meanings():
    assert set(SOMLENG.call_status) == {
        "queued", "ringing", "in-progress", "busy", "failed", "no-answer", "completed", "canceled",
    }  # fmt: skip
    assert set(SOMLENG.message_status) == {
        "accepted", "scheduled", "queued", "sending", "sent", "failed", "canceled", "delivered",
    }  # fmt: skip
    assert all(TWILIO.call_status[word] == ours for word, ours in SOMLENG.call_status.items())
    assert all(TWILIO.message_status[word] == ours for word, ours in SOMLENG.message_status.items())


# --- an outbound campaign call placed through Somleng's REST API, answered ----------------------


def test_a_campaign_call_placed_through_somleng_is_answered_and_completes_the_lesson(
    backend, app, client, catalog, clock
):
    listener = Listener(phone="+22376543210", language="fr", consent_at=TEN, created_at=TEN)
    db.session.add(listener)
    db.session.flush()
    data = {"name": "Épargne", "channel": "voice", "lesson": "money/saving-a-little", "audience": "everyone",
            "schedule": {"kind": "once", "at": "2026-11-24T10:00"}}  # fmt: skip
    settings = app.config["KALANSO"]
    campaign = upsert_from_definition(data, catalog, settings, TEN)
    change_state(campaign, "schedule", TEN)
    expand_due(settings, TEN)
    db.session.commit()
    sid = s.call_sid(42)
    placed = []

    def create_call(request):
        form = s.form_of(request)
        placed.append(form)
        return s.created(s.call_resource(sid, form["To"]))

    with responses.RequestsMock() as api:
        api.add_callback(responses.POST, s.CALLS, callback=create_call)
        assert dispatch_due(VoicePort(settings, lambda: TEN), settings, lambda: TEN).queued == 1
        assert send_outbox(app, TEN).sent == 1
    (delivery,) = db.session.scalars(select(Delivery).filter_by(campaign_id=campaign.id))
    ref = delivery.call_session_id
    assert placed == [
        {
            "To": listener.phone,
            "From": s.NUMBER,
            "Url": f"{s.BASE}/ivr/twilio/voice?ref={ref}",
            "Method": "POST",
            "StatusCallback": f"{s.BASE}/ivr/twilio/status?ref={ref}",
            "StatusCallbackMethod": "POST",
        }
    ]  # only what Somleng's Calls schema reads: no StatusCallbackEvent, no Timeout
    session = db.session.get(CallSession, ref)
    assert (session.provider, session.provider_call_id, session.status) == ("twilio", sid, CallStatus.QUEUED)

    # Somleng rings the listener and asks the Url what to do (CallStatus=ringing, Direction=outbound-api)
    lesson = catalog.lesson("money", "saving-a-little")
    chunk, question = lesson.items
    fr = lambda localized: localized.text("fr")  # noqa: E731
    url = f"/ivr/twilio/voice?ref={ref}"
    answer = s.post(client, url, s.outbound_voice(sid, listener.phone))
    first = gather(P("welcome-back"), fr(lesson.title), fr(chunk.body), P("chunk-help"), P("chunk-cue"), turn=1)
    assert answer.get_data(as_text=True) == first
    turns = [
        ("1", gather(fr(question.prompt), turn=2)),
        ("2", gather(fr(question.feedback_correct), P("lesson-score", score=1, total=1), P("campaign-end"), turn=3)),
    ]
    for n, (key, expected) in enumerate(turns, start=1):
        params = s.outbound_voice(sid, listener.phone, status="in-progress", digits=key)
        assert s.post(client, f"/ivr/twilio/voice?ev=gather&t={n}", params).get_data(as_text=True) == expected
    progress = db.session.scalars(select(LessonProgress).filter_by(listener_id=listener.id)).one()
    assert (progress.status, progress.score, progress.total) == (ProgressStatus.COMPLETED, 1, 1)

    # the listener hangs up; Somleng's one status callback, to the StatusCallback we gave it
    params = s.call_status(sid, "completed", "64", direction="outbound-api", caller=s.NUMBER, called=listener.phone)
    assert s.post(client, f"/ivr/twilio/status?ref={ref}", params).get_data(as_text=True) == w.TWIML_EMPTY
    db.session.expire_all()
    session = db.session.get(CallSession, ref)
    assert (session.status, session.duration_seconds, session.direction) == (
        CallStatus.COMPLETED, 64, Direction.OUTBOUND,
    )  # fmt: skip
    delivery = db.session.get(Delivery, delivery.id)
    assert delivery.status == DeliveryStatus.ANSWERED and delivery.completed_at is not None


def test_a_refused_call_is_recorded_with_somlengs_error(app):
    """Somleng answers a call it will not place with 422 and a Twilio-style error body."""
    listener = Listener(phone="+22376543210", language="fr", consent_at=TEN, created_at=TEN)
    db.session.add(listener)
    db.session.flush()
    session = start_call(listener, {"entry": "menu"}, TEN, provider="twilio")
    db.session.commit()
    refusal = {
        "message": "The source phone number provided is not yet verified for your account. You may only make "
        "calls from phone numbers that you've verified or purchased.",
        "status": 422,
        "code": "21210",
        "more_info": "https://www.twilio.com/docs/errors/21210",
    }
    with responses.RequestsMock() as api:
        api.add(responses.POST, s.CALLS, json=refusal, status=422)
        result = twilio_voice.build(app.config["KALANSO"]).place_call(OutboundCall(listener.phone, str(session.id)))
    assert (result.status, result.retryable) == (CallStatus.FAILED, False)
    assert result.error.startswith("21210: Unable to create record: The source phone number provided is not yet")


# --- an SMS out and its status callbacks ---------------------------------------------------------


def test_a_reply_goes_out_through_somleng_and_its_status_callbacks_are_recorded(client, monkeypatch):
    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)
    sid = s.message_sid(500)
    created = []

    def create_message(request):
        form = s.form_of(request)
        created.append(form)
        return s.created(s.message_resource(sid, form["To"], form["Body"]))

    with responses.RequestsMock() as api:
        api.add_callback(responses.POST, s.MESSAGES, callback=create_message)
        response = s.post(client, "/sms/twilio", s.sms(s.message_sid(1), "AIDE"))
        assert response.get_data(as_text=True) == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
        assert created == []  # the webhook only writes the reply; the sender sends it
        assert send_outbox(client.application, NOW).sent == 1
    (form,) = created
    assert form == {
        "To": s.CALLER,
        "From": s.NUMBER,
        "Body": form["Body"],
        "StatusCallback": f"{s.BASE}/sms/twilio/status",
    }
    reply = db.session.scalars(select(Message).filter_by(direction="outbound")).one()
    assert (reply.provider, reply.provider_message_id, reply.status, reply.provider_status) == (
        "twilio", sid, MessageStatus.QUEUED, "queued",
    )  # fmt: skip
    for word, status in (("sending", MessageStatus.QUEUED), ("sent", MessageStatus.SENT),
                         ("undelivered", MessageStatus.SENT),  # not a Somleng word: ignored
                         ("delivered", MessageStatus.DELIVERED), ("failed", MessageStatus.DELIVERED)):  # fmt: skip
        params = s.sms_status(sid, word, s.CALLER, form["Body"])
        assert s.post(client, "/sms/twilio/status", params).status_code == 204
        db.session.refresh(reply)
        assert reply.status == status, word
    assert (reply.error, reply.delivered_at) == ("", NOW)


# --- the missed-call callback ------------------------------------------------------------------


def test_a_call_declined_on_purpose_is_called_back_through_somleng(database_url, clock):
    """KALANSO_MISSED_CALL_REJECT: <Reject> (Somleng declines the SIP call unanswered: free for the caller), its
    status callback says no-answer, and the callback is placed through Somleng's REST API."""
    app = make_app(database_url, **s.CONFIG, VOICE_PROVIDER="twilio", KALANSO_MISSED_CALL_REJECT="true")
    with app.app_context():
        client = app.test_client()
        sid = s.call_sid(3)
        answer = s.post(client, "/ivr/twilio/voice", s.voice(sid))
        assert answer.get_data(as_text=True) == f'{w.XML_HEAD}<Response><Reject reason="rejected" /></Response>'
        s.post(client, "/ivr/twilio/status", s.call_status(sid, "no-answer", "0", sip="603"))
        (row,) = db.session.scalars(select(MissedCallCallback))
        assert (row.status, row.provider) == (CallbackStatus.PENDING, "twilio")
        with responses.RequestsMock() as api:
            api.add_callback(
                responses.POST,
                s.CALLS,
                callback=lambda r: s.created(s.call_resource(s.call_sid(4), s.form_of(r)["To"])),
            )
            [session_id] = dispatch_callbacks(NOW + timedelta(seconds=30))
            send_outbox(app, NOW + timedelta(seconds=30))
            assert s.form_of(api.calls[0].request)["To"] == s.CALLER
        db.session.expire_all()
        assert db.session.get(CallSession, session_id).provider_call_id == s.call_sid(4)
        db.session.remove()


# --- recordings (the phone studio) --------------------------------------------------------------


def test_somleng_recordings_are_taken_from_its_api_and_never_deleted_there(app, clock):
    settings = app.config["KALANSO"]
    recording = f"{s.API}/2010-04-01/Accounts/{s.ACCOUNT_SID}/Calls/{s.call_sid(9)}/Recordings/{s.message_sid(9)}"
    call = CallRef("twilio", s.call_sid(9), s.CALLER, Direction.INBOUND, "", "", 2)
    event = twilio_voice.parse_recorded(call, {"RecordingUrl": recording, "RecordingDuration": "7"}, settings)
    assert event == Recorded(call, recording, "", 7, hung_up=False)  # Somleng sends no RecordingSid, no Digits
    twilios = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"
    with pytest.raises(ValueError, match="outside the platform"):
        twilio_voice.parse_recorded(call, {"RecordingUrl": twilios}, settings)
    with responses.RequestsMock() as api:
        api.add(responses.GET, recording + ".wav", body=b"RIFF....WAVE", content_type="audio/wav")
        assert twilio_voice.fetch_recording(recording, settings) == b"RIFF....WAVE"
    with pytest.raises(ProviderError, match="no API to delete a recording"):
        twilio_voice.delete_recording(recording, settings)
    with pytest.raises(ProviderError, match="not a recording address"):
        twilio_voice.fetch_recording(recording, replace(settings, twilio_compatible="twilio"))
