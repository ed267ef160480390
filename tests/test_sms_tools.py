"""The simulator's SMS panel and command, bulk sending through Africa's Talking, and the SMS settings."""

from __future__ import annotations

import json

import pytest
import responses

from core.config import ConfigError, load_settings
from core.vocabulary import MessageStatus
from providers.africastalking.sms import build as build_at
from providers.base import OutboundSms
from tests.conftest import BASE_CONFIG
from tests.test_sms_line import AT_MESSAGING, PHONE


def test_the_standalone_simulator_page_includes_the_panel(client):
    html = client.get("/simulator/sms").get_data(as_text=True)
    assert 'id="sms-panel"' in html and "/simulator/sms/send" in html


def test_the_simulator_answers_bad_input_clearly(client):
    assert client.post("/simulator/sms/send", json={"phone": "abc", "text": "QUIZ"}).status_code == 400
    assert client.post("/simulator/sms/send", data="junk").status_code == 400
    assert client.get("/simulator/sms/messages?phone=x").status_code == 400


def test_the_simulator_is_not_offered_when_sms_go_through_a_real_provider(app):
    from tests.conftest import make_app

    real = make_app(app.config["SQLALCHEMY_DATABASE_URI"], SMS_PROVIDER="twilio")
    assert real.test_client().get("/simulator/sms").status_code == 404


def test_flask_simulate_sms_prints_the_replies_with_their_cost(runner):
    result = runner.invoke(args=["simulate", "sms", "--phone", "76 12 34 56", "KALAN"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("--- reply 2: GSM-7, 1 segment(s), sent\nKalan dò sugandi")
    result = runner.invoke(args=["simulate", "sms", "--phone", "nope", "QUIZ"])
    assert result.exit_code != 0 and "--phone" in result.output


def test_africastalking_sends_equal_texts_in_one_request_and_keeps_each_outcome():
    settings = load_settings(BASE_CONFIG)
    sender = build_at(settings)
    messages = [
        OutboundSms("+22376000001", "Rappel", "1"),
        OutboundSms("+22376000002", "Rappel", "2"),
        OutboundSms("+22376000003", "Autre", "3"),
        OutboundSms("+22376000001", "Rappel", "4"),  # same number twice: a second request
    ]
    requests_seen = []

    def answer(request):
        form = dict(pair.split("=", 1) for pair in request.body.split("&"))
        requests_seen.append(form["to"].replace("%2B", "+").replace("%2C", ","))
        recipients = []
        for n, number in enumerate(requests_seen[-1].split(",")):
            code, word = (403, "InvalidPhoneNumber") if number.endswith("2") else (101, "Success")
            recipients.append(
                {"statusCode": code, "number": number, "status": word, "messageId": f"ATX{n}{number[-1]}"}
            )
        # charset in the type: the SDK then returns a str, which must work too
        return (
            201,
            {"Content-Type": "application/json; charset=utf-8"},
            json.dumps({"SMSMessageData": {"Recipients": recipients}}),
        )

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, AT_MESSAGING, callback=answer)
        results = sender.send(messages)
    assert requests_seen == ["+22376000001,+22376000002", "+22376000003", "+22376000001"]
    assert [(r.reference, r.status, r.error) for r in results] == [
        ("1", MessageStatus.SENT, ""),
        ("2", MessageStatus.FAILED, "403: InvalidPhoneNumber"),
        ("3", MessageStatus.SENT, ""),
        ("4", MessageStatus.SENT, ""),
    ]


def test_an_unreachable_provider_fails_the_batch_without_raising():
    sender = build_at(load_settings(BASE_CONFIG))
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, AT_MESSAGING, status=500, body="oops")
        results = sender.send([OutboundSms(PHONE, "Bonjour", "9")])
    assert results[0].status == MessageStatus.FAILED and "oops" in results[0].error


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SMS_TRANSLITERATE", "maybe", "SMS_TRANSLITERATE must be on or off"),
        ("SMS_MAX_SEGMENTS", "0", "SMS_MAX_SEGMENTS must be a whole number from 1 to 10"),
        ("SMS_MAX_SEGMENTS", "three", "SMS_MAX_SEGMENTS"),
        ("SMS_OPT_OUT_WORD_BM", "two words", "SMS_OPT_OUT_WORD_BM must be one word"),
        ("SMS_OPT_IN_WORD_BM", "a b", "SMS_OPT_IN_WORD_BM must be one word"),
        ("SMS_OPT_IN_WORD_BM", "Banni", "SMS_OPT_OUT_WORD_BM and SMS_OPT_IN_WORD_BM must be different words"),
        ("SMS_LESSON_BUDGET_SEGMENTS", "0", "SMS_LESSON_BUDGET_SEGMENTS"),
        ("SMS_LESSON_BUDGET_SEGMENTS", "lots", "SMS_LESSON_BUDGET_SEGMENTS"),
        ("SMS_KEYWORDS_FILE", "/nope/keywords.yaml", "SMS_KEYWORDS_FILE: no such file"),
    ],
)
def test_bad_sms_settings_stop_the_start_naming_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({**BASE_CONFIG, name: value})


def test_authoring_check_reports_texts_over_the_limit_and_keyword_clashes(catalog):
    from sms.authoring import course_problems, text_problems
    from sms.keywords import Keywords

    keywords = Keywords.from_mapping(
        {a: {"fr": [a.upper()]} for a in ("stop", "start", "quiz", "help", "language", "progress")}
        | {"help": {"fr": ["HELP", "OUI"]}}
    )
    assert course_problems(catalog, load_settings(BASE_CONFIG)) == []
    assert text_problems(load_settings(BASE_CONFIG)) == []
    problems = course_problems(catalog, load_settings({**BASE_CONFIG, "SMS_TRANSLITERATE": "off"}), keywords)
    assert (
        "money › saving-a-little [bm] › small-sums: SMS too long: 4 segments (UCS-2, 224 characters), "
        "the limit is 3 (SMS_MAX_SEGMENTS)"
    ) in "\n".join(problems)
    assert (
        "child-labour › what-is-child-labour › awa-at-the-mine: option 1 [fr] starts with the SMS keyword 'OUI' (help)"
        in problems
    )
