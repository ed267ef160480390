"""When the database is unreachable, silent or hung, every webhook still answers, within the timeouts:
the voice line with its polite goodbye, the SMS line with 503 so that the provider sends the text again
(a STOP above all), and nothing is lost once the database is back.
"""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import create_engine, select, text

from core.db import db
from listeners.models import Listener
from tests import voice_support as w
from tests.conftest import make_app
from tests.test_sms_line import EMPTY_TWIML, SECRET, at_inbound, sign, twilio_inbound

SORRY_TWIML_START = '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="fr-FR"'


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_server():
    """A server that accepts connections and never says a word (a hung host, a dead proxy)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server.getsockname()[1]
    server.close()


def _answers(app, phone: str = w.CALLER) -> dict[str, tuple[int, str, str]]:
    client = app.test_client()
    out = {}
    response = w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    out["voice"] = (response.status_code, response.get_data(as_text=True), "")
    params = twilio_inbound("STOP", phone, "SM" + "5" * 32)
    response = client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params))
    out["sms-twilio"] = (response.status_code, response.get_data(as_text=True), response.headers.get("Retry-After"))
    response = client.post(f"/sms/at/{SECRET}/incoming", data=at_inbound("STOP", phone, "ATXid_stop"))
    out["sms-at"] = (response.status_code, response.get_data(as_text=True), response.headers.get("Retry-After"))
    response = client.post(f"/sms/at/{SECRET}/delivery", data={"id": "ATXid_1", "status": "Success"})
    out["report-at"] = (response.status_code, response.get_data(as_text=True), response.headers.get("Retry-After"))
    return out


def _polite(answers, *, reports: tuple = (503, "", "30")) -> None:
    status, body, _ = answers["voice"]
    assert status == 200 and body.startswith(SORRY_TWIML_START) and body.endswith("<Hangup /></Response>")
    assert answers["sms-twilio"] == (503, EMPTY_TWIML, "30")
    assert answers["sms-at"] == (503, "", "30")
    assert answers["report-at"] == reports


def test_an_unreachable_database_gets_answers_that_make_the_provider_retry():
    app = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/kalanso", DATABASE_CONNECT_TIMEOUT="1")
    with app.app_context():
        _polite(_answers(app))
        db.session.remove()
        db.engine.dispose()


def test_a_database_that_never_answers_is_given_up_after_the_connect_timeout(silent_server):
    app = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{silent_server}/kalanso", DATABASE_CONNECT_TIMEOUT="1")
    with app.app_context():
        _polite(_answers(app))
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgres
def test_a_hung_database_answers_within_the_statement_timeout_and_the_retried_stop_counts(postgres_migrated):
    app = make_app(postgres_migrated, DATABASE_STATEMENT_TIMEOUT="1")
    with app.app_context():
        db.session.add(Listener(phone=w.CALLER, language="fr"))
        db.session.commit()
        blocker = create_engine(postgres_migrated.replace("postgresql+psycopg", "postgresql+psycopg", 1))
        held = threading.Event()
        release = threading.Event()

        def hold_the_lock():  # a migration or a runaway query holds the listeners table
            with blocker.connect() as conn:
                conn.execute(text("LOCK TABLE listeners IN ACCESS EXCLUSIVE MODE"))
                held.set()
                release.wait(60)
                conn.rollback()

        thread = threading.Thread(target=hold_the_lock)
        thread.start()
        try:
            assert held.wait(30)
            _polite(_answers(app), reports=(200, "", None))  # a delivery report needs no listener: recorded
        finally:
            release.set()
            thread.join(timeout=30)
            blocker.dispose()
        # the provider sends the STOP again: now it is recorded
        client = app.test_client()
        params = twilio_inbound("STOP", w.CALLER, "SM" + "5" * 32)
        response = client.post("/sms/twilio", data=params, headers=sign("/sms/twilio", params))
        assert (response.status_code, response.get_data(as_text=True)) == (200, EMPTY_TWIML)
        db.session.expire_all()
        assert db.session.scalars(select(Listener)).one().opted_out
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text("TRUNCATE listeners, messages, outbox, call_sessions RESTART IDENTITY CASCADE"))
        db.engine.dispose()
