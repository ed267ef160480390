"""The SMS line end to end, per provider: exact webhook parameters in, exact replies out, rows checked.

A webhook only records the replies in the outbox; the real sender (run here in the test's thread) hands
them to each provider's real SDK; ``responses`` stands in for the Twilio, Somleng and Africa's Talking REST
APIs (no network). ``somleng`` is the Twilio provider with TWILIO_COMPATIBLE=somleng, fed Somleng's own
parameters and signature (tests/somleng_support.py). The ``local`` simulator is driven through its JSON routes.
"""

from __future__ import annotations

import json
from collections import deque
from urllib.parse import parse_qs

import pytest
import responses
from flask import current_app
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from core.db import db
from core.vocabulary import Channel, MessageStatus
from listeners.models import LessonProgress, Listener, ProgressStatus, QuizAnswer
from providers.local import sms as local_sms
from sms.models import Message
from tests import somleng_support as somleng
from tests.conftest import BASE_CONFIG, NOW, send_outbox

PHONE = "+22376123456"
BASE = BASE_CONFIG["PUBLIC_BASE_URL"]
SECRET = BASE_CONFIG["AT_CALLBACK_SECRET"]
TOKEN = BASE_CONFIG["TWILIO_AUTH_TOKEN"]
TWILIO_MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{BASE_CONFIG['TWILIO_ACCOUNT_SID']}/Messages.json"
AT_MESSAGING = "https://api.sandbox.africastalking.com/version1/messaging"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
PROVIDERS = ["twilio", "africastalking", "somleng", "local"]


# The questions of tests/fixtures/courses as an SMS shows them: the sentences that say the voice keys
# ("Pour oui, tapez 1.") are left out, since the numbered options follow.
QUESTION_TEXT = {
    ("awa-at-the-mine", "fr"): (
        "Awa a dix ans. Toute la journée, elle porte de lourds sacs de terre à la mine d'or, et elle ne va pas "
        "à l'école. Est-ce du travail des enfants ?"
    ),
    ("awa-at-the-mine", "bm"): (
        "Awa si ye san tan ye. Tile bɛɛ, a bɛ bɔgɔ doni gɛlɛnw ta sanu bɔyɔrɔ la, a tɛ taa lakɔli la. Yala o ye "
        "denmisɛnw ka baara ye wa?"
    ),
    ("moussa-saturday", "fr"): (
        "Moussa a douze ans. Le samedi matin, il aide son père une heure au champ, puis il fait ses devoirs. "
        "Est-ce du travail des enfants ?"
    ),
}


def twilio_inbound(body: str, phone: str, sid: str) -> dict[str, str]:
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "FromCountry": "ML",
        "To": "+15005550006",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": BASE_CONFIG["TWILIO_ACCOUNT_SID"],
        "From": phone,
        "ApiVersion": "2010-04-01",
    }


def at_inbound(text: str, phone: str, message_id: str) -> dict[str, str]:
    return {
        "from": phone,
        "to": "36001",
        "text": text,
        "date": "2026-11-24 10:00:00",
        "id": message_id,
        "linkId": "",
        "networkCode": "99999",
    }


def sign(path: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(BASE + path, params)}


class Line:
    """One provider's side of the line: send a text as a listener, see what the provider was asked to send."""

    def __init__(self, provider: str, client, wire: list[tuple[str, str]]):
        self.provider, self.client, self.wire, self.n = provider, client, wire, 0
        self.now = NOW  # the sender's clock (the routes' clock is patched by the `wire` fixture)
        self.stored = "twilio" if provider == "somleng" else provider  # Somleng is the Twilio provider's platform

    def text(self, body: str, phone: str = PHONE) -> list[str]:
        before = len(self.wire)
        self.n += 1
        replies = None
        if self.provider == "twilio":
            params = twilio_inbound(body, phone, f"SM{self.n:032d}")
            response = self.client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params))
            assert (response.status_code, response.mimetype) == (200, "text/xml")
            assert response.get_data(as_text=True) == EMPTY_TWIML
        elif self.provider == "somleng":
            response = somleng.post(self.client, "/sms/twilio", somleng.sms(somleng.message_sid(self.n), body, phone))
            assert (response.status_code, response.mimetype) == (200, "text/xml")
            assert response.get_data(as_text=True) == EMPTY_TWIML
        elif self.provider == "africastalking":
            params = at_inbound(body, phone, f"ATXid_in{self.n}")
            response = self.client.post(f"/sms/at/{SECRET}/incoming", data=params)
            assert (response.status_code, response.get_data(as_text=True)) == (200, "")
        else:
            response = self.client.post("/simulator/sms/send", json={"phone": phone, "text": body})
            assert response.status_code == 200
            replies = [r["body"] for r in response.get_json()["replies"]]
        assert self.wire[before:] == [], "a webhook must never call the provider"
        send_outbox(current_app._get_current_object(), self.now)
        sent = self.wire[before:]
        if replies is not None:
            assert replies == [b for _, b in sent]
        assert all(to == phone for to, _ in sent)
        return [b for _, b in sent]


@pytest.fixture
def wire(monkeypatch):
    """What the providers were asked to send: (to, body) in order. No network."""
    sent: list[tuple[str, str]] = []
    counter = iter(range(1, 10_000))

    def twilio_create(request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        assert form["From"] == "+15005550006"
        assert form["StatusCallback"] == f"{BASE}/sms/twilio/status"
        sent.append((form["To"], form["Body"]))
        sid = f"SMout{next(counter):029d}"
        return 201, {"Content-Type": "application/json"}, json.dumps({"sid": sid, "status": "queued", "to": form["To"]})

    def somleng_create(request):
        form = somleng.form_of(request)
        assert set(form) == {"To", "From", "Body", "StatusCallback"} <= somleng.MESSAGE_PARAMS
        assert (form["From"], form["StatusCallback"]) == (somleng.NUMBER, f"{BASE}/sms/twilio/status")
        sent.append((form["To"], form["Body"]))
        return somleng.created(
            somleng.message_resource(somleng.message_sid(1000 + next(counter)), form["To"], form["Body"])
        )

    def at_send(request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        assert (form["username"], form["from"], form["bulkSMSMode"]) == ("sandbox", "36001", "1")
        recipients = []
        for number in form["to"].split(","):
            sent.append((number, form["message"]))
            mid = f"ATXid_out{next(counter)}"
            recipients.append(
                {"statusCode": 101, "number": number, "status": "Success", "cost": "XOF 20", "messageId": mid}
            )
        data = {"SMSMessageData": {"Message": f"Sent to {len(recipients)}", "Recipients": recipients}}
        return 201, {"Content-Type": "application/json"}, json.dumps(data)

    class Recording(deque):
        def append(self, message):
            sent.append((message.to, message.body))
            super().append(message)

    monkeypatch.setattr(local_sms, "OUTBOX", Recording(maxlen=1000))
    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, TWILIO_MESSAGES, callback=twilio_create)
        mock.add_callback(responses.POST, somleng.MESSAGES, callback=somleng_create)
        mock.add_callback(responses.POST, AT_MESSAGING, callback=at_send)
        yield sent


@pytest.fixture(params=PROVIDERS)
def line(request, client, wire) -> Line:
    return Line(request.param, client, wire)


def listener() -> Listener:
    return db.session.scalars(select(Listener).filter_by(phone=PHONE)).one()


def outbound_rows() -> list[Message]:
    return db.session.scalars(select(Message).filter_by(direction="outbound").order_by(Message.id)).all()


HELP_FR = (
    "Kalanso : QUIZ pour apprendre, PROGRES pour vos lecons, LANGUE 1 bambara, LANGUE 2 francais, "
    "* pour revoir la question, ARRET pour ne plus rien recevoir."
)
HELP_BM = (
    "Kalanso: KALAN ka kalan kè, TAASIRA ka i ka kalansenw lajè, KAN 1 bamanankan, KAN 2 tubabukan, "
    "* ka nyininkali kura, BANNI ka dabila."
)
COURSES_FR = "Choisissez un cours, répondez par son numéro :\n1) Le travail des enfants\n2) L'argent"
COURSES_BM = "Kalan dò sugandi, a nimòrò ci:\n1) Denmisènw ka baara\n2) Wari"
WELCOME_FR = "Bienvenue sur Kalanso ! Apprenez par SMS, gratuitement."
LANGUAGE_FR = "Langue : francais. Pour le bambara, envoyez LANGUE 1."
LANGUAGE_BM = "Kan: bamanankan. Tubabukan kama, KAN 2 ci."
PROGRESS_FR = "Kalanso : vous n'avez pas encore terminé de lecon."
PROGRESS_BM = "Kalanso: i ma kalansen si ban fòlò."
STOPPED_FR = "Kalanso : vous ne recevrez plus de messages ni d'appels. Envoyez START pour revenir."
STOPPED_BM = "Kalanso: cikan ni wele si tèna na i ma tugun. SEGINNI ci ka segin."
RESTARTED_FR = "Kalanso : bon retour ! Envoyez QUIZ pour apprendre."


@pytest.mark.parametrize(
    ("text", "replies", "language", "opted_out"),
    [
        ("AIDE", [HELP_FR], "fr", False),
        ("help", [HELP_FR], "fr", False),  # no language of its own: KALANSO_DEFAULT_LANGUAGE
        ("DƐMƐ", [HELP_BM], "bm", False),
        ("deme", [HELP_BM], "bm", False),
        ("QUIZ", [COURSES_FR], "fr", False),
        ("KALAN", [COURSES_BM], "bm", False),
        ("LANGUE", [LANGUAGE_FR], "fr", False),
        ("KAN", [LANGUAGE_BM], "bm", False),
        ("LANGUE BM", [LANGUAGE_BM], "bm", False),
        ("kan fr", [LANGUAGE_FR], "fr", False),
        ("PROGRES", [PROGRESS_FR], "fr", False),
        ("Taasira", [PROGRESS_BM], "bm", False),
        ("STOP", [STOPPED_FR], "fr", True),
        ("ARRET", [STOPPED_FR], "fr", True),
        ("Arrêt !", [STOPPED_FR], "fr", True),
        ("BANNI", [STOPPED_BM], "bm", True),
        ("Banni !", [STOPPED_BM], "bm", True),
        ("DABILA", [WELCOME_FR + "\n" + COURSES_FR], "fr", False),  # a word the lessons use: no opt-out
        ("SEGINNI", [COURSES_BM], "bm", False),  # the Bambara opt-in word: not opted out, carry on learning
        ("LANGUE 1", [LANGUAGE_BM], "bm", False),  # 1 = Bambara, 2 = French, as on the voice line
        ("LANGUE 2", [LANGUAGE_FR], "fr", False),
        ("KAN 2", [LANGUAGE_FR], "fr", False),
        ("START", [COURSES_FR], "fr", False),  # not opted out: carry on learning
        ("REPRENDRE", [COURSES_FR], "fr", False),
        ("bonjour", [WELCOME_FR + "\n" + COURSES_FR], "fr", False),
    ],
)
def test_each_keyword_in_both_languages_from_a_first_text(line, text, replies, language, opted_out):
    assert line.text(text) == replies
    person = listener()
    assert (person.language, person.opted_out) == (language, opted_out)
    inbound = db.session.scalars(select(Message).filter_by(direction="inbound")).one()
    assert (inbound.provider, inbound.body, inbound.status, inbound.listener_id) == (
        line.stored,
        text,
        MessageStatus.RECEIVED,
        person.id,
    )
    rows = outbound_rows()
    assert [r.body for r in rows] == replies
    for row in rows:
        assert row.provider == line.stored
        assert row.status == (MessageStatus.QUEUED if line.stored == "twilio" else MessageStatus.SENT)
        assert row.provider_message_id
        assert (row.encoding, row.segments) == ("GSM-7", 1)
        assert row.purpose == ("opt_out_confirmation" if opted_out else "reply")
        assert row.created_at == NOW


def to_sms(text: str) -> str:
    from sms.encoding import to_gsm

    return to_gsm(text)


def test_a_full_lesson_quiz_by_sms(backend, line, catalog):
    lesson = catalog.lesson("child-labour", "what-is-child-labour")
    chunk, q1, q2 = lesson.items
    first = line.text("QUIZ 1")
    assert first == [
        "Lecon : Qu'est-ce que le travail des enfants ?\n" + to_sms(chunk.body.text("fr")),
        to_sms(f"Question 1/2 : {QUESTION_TEXT['awa-at-the-mine', 'fr']}\n1) Oui\n2) Non\nRépondez 1 ou 2."),
    ]
    assert line.text("oui !") == [
        to_sms(q1.feedback_correct.text("fr"))
        + "\n"
        + to_sms(f"Question 2/2 : {QUESTION_TEXT['moussa-saturday', 'fr']}\n1) Oui\n2) Non\nRépondez 1 ou 2.")
    ]
    assert line.text("1") == [
        to_sms(q2.feedback_wrong.text("fr"))
        + "\nLecon terminée. Bonnes réponses : 1 sur 2."
        + "\nCours terminé ! Envoyez QUIZ pour le cours suivant : L'argent."
    ]
    row = db.session.scalars(select(LessonProgress)).one()
    assert (row.status, row.score, row.total, row.completed_channel, row.completed_at) == (
        ProgressStatus.COMPLETED,
        1,
        2,
        Channel.SMS,
        NOW,
    )
    answers = db.session.scalars(select(QuizAnswer).order_by(QuizAnswer.id)).all()
    assert [(a.question_id, a.answer, a.option_key, a.correct, a.counted, a.channel) for a in answers] == [
        ("awa-at-the-mine", "oui !", "1", True, True, Channel.SMS),
        ("moussa-saturday", "1", "1", False, True, Channel.SMS),
    ]
    assert line.text("PROGRES") == ["Kalanso : lecons terminées : 1 sur 2. Bonnes réponses : 1 sur 2."]
    started = line.text("2")  # outside a lesson, a number picks a course from the list
    assert started[0].startswith("Lecon : Épargner un peu chaque semaine\nFatoumata vend des beignets")
    assert started[-1].endswith("1) 500 francs\n2) 5 000 francs\n3) 50 000 francs\nRépondez 1, 2 ou 3.")
    money = db.session.scalars(select(LessonProgress).filter_by(course_id="money")).one()
    assert money.status == ProgressStatus.IN_PROGRESS


def test_unclear_answers_get_a_one_sms_hint_with_the_options_only(line, catalog):
    line.text("QUIZ 1")
    hint = "Réponse non comprise. Répondez 1 ou 2 :\n1) Oui\n2) Non"
    for unclear in ("peut-être", "7", "", "zzz"):  # the third miss in a row does not end anything by SMS
        assert line.text(unclear) == [hint]
    assert {(r.segments, r.encoding) for r in outbound_rows()[2:]} == {(1, "GSM-7")}
    assert db.session.scalar(select(func.count()).select_from(QuizAnswer)) == 0
    line.text("Oui")
    line.text("*")  # repeat
    answers = db.session.scalars(select(QuizAnswer)).all()
    assert [(a.question_id, a.correct, a.counted) for a in answers] == [("awa-at-the-mine", True, True)]
    bookmark = db.session.scalars(select(LessonProgress)).one().bookmark
    assert (bookmark["answers"], bookmark["score"], bookmark["index"]) == ({"awa-at-the-mine": "1"}, 1, 2)


def test_switching_language_mid_quiz_asks_the_same_question_in_bambara(line, catalog):
    q1 = catalog.lesson("child-labour", "what-is-child-labour").items[1]
    line.text("QUIZ 1")
    assert line.text("KAN BM") == [
        LANGUAGE_BM
        + "\nAn bè segin: Denmisènw ka baara ye mun ye?\n"
        + to_sms(f"Ɲininkali 1/2: {QUESTION_TEXT['awa-at-the-mine', 'bm']}\n1) Ɔwɔ\n2) Ayi\nA jaabi 1 walima 2.")
    ]
    assert listener().language == "bm"
    reply = line.text("òwò")  # the Bambara word, in its older spelling
    assert reply[0].startswith(to_sms(q1.feedback_correct.text("bm")))


def test_stop_mid_quiz_wins_is_confirmed_once_and_then_nothing_is_sent(backend, line, catalog):
    line.text("QUIZ 1")
    assert line.text("stop") == [STOPPED_FR]
    assert line.text("STOP") == []  # confirmed once
    for text in ("1", "QUIZ", "AIDE", "KAN", "PROGRES", "bonjour", "ARRET", "DABILA", "*"):
        assert line.text(text) == [], text
    person = listener()
    assert person.opted_out and person.opted_out_at == NOW and person.opted_out_channel == "sms"
    assert db.session.scalar(select(func.count()).select_from(QuizAnswer)) == 0  # the answer was not taken
    assert [r.purpose for r in outbound_rows()] == ["reply", "reply", "opt_out_confirmation"]
    assert line.text("START") == [RESTARTED_FR]
    assert not listener().opted_out
    resumed = line.text("QUIZ")  # the lesson waits where it stopped
    assert resumed[0].startswith("On reprend : Qu'est-ce que le travail des enfants ?")


def test_a_provider_retry_of_the_same_incoming_text_is_handled_once(client, wire, drain):
    params = twilio_inbound("QUIZ", PHONE, "SM" + "7" * 32)
    for _ in range(2):
        assert client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params)).status_code == 200
    drain()
    assert len(wire) == 1
    assert db.session.scalar(select(func.count()).select_from(Message).filter_by(direction="inbound")) == 1


HINT_FR = "Kalanso : vous avez arreté nos messages. Envoyez START pour reprendre."


def test_a_listener_opted_out_by_voice_gets_one_resume_hint_a_day_through_the_sender(line, monkeypatch):
    from datetime import timedelta

    from listeners.service import find_or_create_listener, opt_out

    person = find_or_create_listener(PHONE, NOW)
    person.language = "fr"
    opt_out(person, NOW, "voice")  # key 9 on a call: no SMS confirmation
    db.session.commit()
    assert line.text("QUIZ") == [HINT_FR]  # sent by the sender although the listener is opted out
    for text in ("1", "bonjour", "AIDE", "QUIZ"):
        assert line.text(text) == [], text  # once in 24 hours
    later = NOW + timedelta(hours=24, minutes=1)
    monkeypatch.setattr("sms.routes.utcnow", lambda: later)
    line.now = later
    assert line.text("oui") == [HINT_FR]
    assert line.text("oui") == []
    rows = outbound_rows()
    assert [(r.purpose, r.created_at) for r in rows] == [("resume_hint", NOW), ("resume_hint", later)]
    assert listener().opted_out
    assert db.session.scalar(select(func.count()).select_from(QuizAnswer)) == 0
    assert line.text("START") == [RESTARTED_FR]
    assert not listener().opted_out


def test_an_sms_stop_counts_as_the_days_hint_and_the_bambara_hint_names_the_opt_in_word(line, monkeypatch):
    from datetime import timedelta

    assert line.text("BANNI") == [STOPPED_BM]
    assert line.text("KALAN") == []  # the confirmation just said how to come back
    monkeypatch.setattr("sms.routes.utcnow", lambda: NOW + timedelta(days=2))
    line.now = NOW + timedelta(days=2)
    assert line.text("KALAN") == ["Kalanso: i ye an ka cikanw dabila. SEGINNI ci ka segin."]
    assert line.text("seginni") == ["Kalanso: i ni segin! KALAN ci ka kalan kè."]


def test_quiz_after_a_lesson_starts_the_next_lesson_not_the_course_list(line):
    line.text("QUIZ 1")
    line.text("1")
    line.text("2")  # child-labour done (one lesson in the fixtures): the next course is offered
    assert line.text("QUIZ")[0].startswith("Lecon : Épargner un peu chaque semaine")
    assert line.text("STOP") == [STOPPED_FR]
    assert line.text("START") == [RESTARTED_FR]
    assert line.text("PROGRES") == [
        "Kalanso : lecons terminées : 1 sur 2. Bonnes réponses : 2 sur 2. En cours : Épargner un peu chaque semaine."
    ]
