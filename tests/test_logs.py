"""Logs without phone numbers or secrets: the redacting formatter's own table (tracebacks included), where
``configure_logging`` puts it, and a scan of everything logged while real traffic (and a crash) goes through."""

from __future__ import annotations

import io
import logging
import re
import sys

import pytest
from flask import current_app, request

from core.db import db
from core.logs import (
    FORMAT,
    RedactingFormatter,
    configure_logging,
    kalanso_handler,
    redact,
    register_secrets,
)
from core.phones import normalize_phone
from listeners.models import Listener
from tests import voice_support as w
from tests.conftest import BASE_CONFIG, NOW
from tests.test_sms_line import SECRET, Line, wire  # noqa: F401

SECRETS = [BASE_CONFIG[k] for k in ("AT_CALLBACK_SECRET", "TWILIO_AUTH_TOKEN", "AT_API_KEY", "SECRET_KEY")]
# +223 (or its URL-encoded %2B, or 00) and the 8 digits of a Mali number, in clear
CLEAR_NUMBER = re.compile(r"(?:\+|%2[Bb]|00)223\d{8}")


@pytest.fixture(autouse=True)
def secrets():
    register_secrets(SECRETS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+22376123456", "+2237612****"),
        ("call from +223 76 12 34 56.", "call from +223 76 12 ** **."),
        ("0022376123456", "002237612****"),
        ("76123456", "7612****"),
        ("76 12 34 56", "76 12 ** **"),
        ("+223-76-12-34-56", "+223-76-12-**-**"),
        # a search typed in the dashboard, as the access log shows its query string
        (
            '"GET /dashboard/listeners/?q=76+12+34+56 HTTP/1.1" 200',
            '"GET /dashboard/listeners/?q=76+12+**+** HTTP/1.1" 200',
        ),
        ("/api/v1/listeners?q=76%2012%2034%2056&limit=5", "/api/v1/listeners?q=76%2012%20**%20**&limit=5"),
        ("/dashboard/listeners/?after=12345&q=Awa", "/dashboard/listeners/?after=12345&q=Awa"),
        (
            "POST /sms/twilio?From=%2B22376123456&To=%2b15005550006",
            "POST /sms/twilio?From=%2B2237612****&To=%2b1500555****",
        ),
        ("From=%2B223+76+12+34+56", "From=%2B223+76+12+**+**"),
        ("%2B223%2076%2012%2034%2056", "%2B223%2076%2012%20**%20**"),
        ("Key (phone)=(+22376123456) already exists.", "Key (phone)=(+2237612****) already exists."),
        ("Row (1, '+22376123456', None)", "Row (1, '+2237612****', None)"),
        ("number=+22376123456abc", "number=+2237612****abc"),
        ("SMS from 76 12 34 56. Then 76123456, 0022376123456.", "SMS from 76 12 ** **. Then 7612****, 002237612****."),
        ("total 12345678.9 and 0.12345678", "total 12345678.9 and 0.12345678"),
        # left alone: dates, times, durations, versions, addresses, ids with digits inside
        ("2026-11-24 10:00:00,123 INFO x", "2026-11-24 10:00:00,123 INFO x"),
        ("[24/Nov/2026:10:00:00 +0000]", "[24/Nov/2026:10:00:00 +0000]"),
        ("in 0.00012345678s", "in 0.00012345678s"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("ATVId_b1782591735cb0a658b2c0da6cdb2abf", "ATVId_b1782591735cb0a658b2c0da6cdb2abf"),
        ("CA" + "1" * 32, "CA" + "1" * 32),
        ("call 1234567 turns", "call 1234567 turns"),
        # secrets, as such and URL-encoded, before the numbers
        ("POST /ivr/at/s3cretPathSegment0123/voice", "POST /ivr/at/[secret]/voice"),
        ("token=test-twilio-token&key=test-at-key", "token=[secret]&key=[secret]"),
        ("", ""),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_url_encoded_secrets_and_short_values():
    register_secrets(["a b/c+d=e&f", "abc"])  # "abc" is too short to tell apart from text: ignored
    assert redact("x=a%20b%2Fc%2Bd%3De%26f y=a b/c+d=e&f abc") == "x=[secret] y=[secret] abc"


def _record(msg, args=(), exc_info=None, stack_info=None):
    record = logging.LogRecord("kalanso.test", logging.ERROR, __file__, 1, msg, args, exc_info)
    record.stack_info = stack_info
    return record


def test_the_formatter_redacts_message_arguments_traceback_and_stack():
    try:
        raise RuntimeError("no listener +22376123456 at /ivr/at/s3cretPathSegment0123/voice")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = _record(
        "call from %s (%s)", ("+22376123456", "test-twilio-token"), exc_info, "Stack:\n  phone='0022376123456'"
    )
    out = RedactingFormatter(FORMAT).format(record)
    assert "call from +2237612**** ([secret])" in out
    assert "Traceback (most recent call last)" in out
    assert "RuntimeError: no listener +2237612**** at /ivr/at/[secret]/voice" in out
    assert 'raise RuntimeError("no listener +2237612**** at /ivr/at/[secret]/voice")' in out  # the source line
    assert "phone='002237612****'" in out
    assert not CLEAR_NUMBER.search(out) and "s3cretPathSegment0123" not in out and "test-twilio-token" not in out


def test_the_formatter_wraps_another_formatter():
    inner = logging.Formatter("<%(levelname)s> %(message)s")
    assert RedactingFormatter(inner=inner).format(_record("to %s", ("76 12 34 56",))) == "<ERROR> to 76 12 ** **"


def test_configure_logging_redacts_every_handler_it_can_reach():
    werkzeug, sqlalchemy = logging.getLogger("werkzeug"), logging.getLogger("sqlalchemy")
    extra = [logging.StreamHandler(io.StringIO()) for _ in range(3)]
    werkzeug.addHandler(extra[0])
    sqlalchemy.addHandler(extra[1])
    logging.getLogger().addHandler(extra[2])
    try:
        configure_logging(secrets=["another-secret-value"])
        configure_logging()  # again: no second stderr handler
        from flask.logging import default_handler

        for handler in [*extra, default_handler, *logging.getLogger().handlers]:
            assert isinstance(handler.formatter, RedactingFormatter), handler
        assert sum(getattr(h, "_kalanso", False) for h in logging.getLogger().handlers) == 1
        werkzeug.warning("%s", '"GET /simulator/sms/messages?phone=%2B22376123456 HTTP/1.1" 200 another-secret-value')
        assert (
            extra[0].stream.getvalue().strip()
            == '"GET /simulator/sms/messages?phone=%2B2237612**** HTTP/1.1" 200 [secret]'
        )
    finally:
        werkzeug.removeHandler(extra[0])
        sqlalchemy.removeHandler(extra[1])
        logging.getLogger().removeHandler(extra[2])


# --- the scan: real traffic, a crash, everything at DEBUG ------------------------------------------


@pytest.fixture
def scanned(app):
    """Everything the app's own log handler writes, all loggers at DEBUG (SQLAlchemy's statements and rows)."""
    configure_logging()
    handler = kalanso_handler()
    assert handler is not None
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    root, engine = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = root.level, engine.level
    root.setLevel(logging.DEBUG)
    engine.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.setLevel(levels[0])
        engine.setLevel(levels[1])
        handler.setStream(previous)


def test_no_number_or_secret_in_any_log_line(backend, client, clock, wire, scanned, monkeypatch):  # noqa: F811
    # calls, by both providers: start, a key, the end
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    w.post_twilio(client, "/ivr/twilio/voice?ev=gather", w.twilio_gather("1"))
    w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("completed"))
    client.post(w.AT_URL, data=w.at_call(callerNumber="+22376000001"))
    client.post(w.AT_URL + "?ev=digits", data=w.at_call(callerNumber="+22376000001", dtmfDigits="2"))
    client.post(w.AT_URL, data=w.at_final(callerNumber="+22376000001"))
    # texts with numbers in them, by both providers
    Line("twilio", client, wire).text("QUIZ")
    Line("twilio", client, wire).text("mon frere +22376999999 ou 0022376888888", phone="+22376000002")
    Line("africastalking", client, wire).text("appelez 76 55 44 33 svp", phone="+22376000003")

    # a crash inside a handler: a real database error (PostgreSQL's DETAIL names the number), and an
    # error whose message holds the number, the URL with the AT secret and the other secrets
    import ivr.service
    import sms.service

    def duplicate_listener(event, now):
        phone = normalize_phone(event.call.phone)
        db.session.add(Listener(phone=phone, created_at=NOW))
        db.session.flush()  # the number exists already: IntegrityError

    def crash(event, now, **kwargs):
        settings = current_app.config["KALANSO"]
        raise RuntimeError(
            f"boom for {event.phone} at {request.url} ({settings.twilio_auth_token}, {settings.at_api_key}, "
            f"{settings.secret_key}, {request.form.to_dict()})"
        )

    monkeypatch.setattr(ivr.service, "handle", duplicate_listener)
    assert w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call(CallSid="CA" + "b" * 32)).status_code == 200
    monkeypatch.setattr(sms.service, "handle_incoming", crash)
    response = client.post(f"/sms/at/{SECRET}/incoming", data={"from": "+22376000004", "text": "QUIZ"})
    assert response.status_code == 503  # not recorded: the provider is asked to send it again

    out = scanned.getvalue()
    assert "Traceback (most recent call last)" in out and "IntegrityError" in out and "RuntimeError: boom" in out
    assert "sqlalchemy.engine" in out  # the SQL log was on
    assert "+2237600****" in out and "[secret]" in out  # there was something to hide
    assert CLEAR_NUMBER.findall(out) == []
    assert all(number not in out for number in ("76554433", "76 55 44 33", "76999999", "76888888"))
    assert [s for s in SECRETS if s in out] == []
