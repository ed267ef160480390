"""The simulator in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

- A person dials, chooses French, opens a lesson with the keypad and hangs up; then texts QUIZ in the
  SMS panel and sees the reply with its encoding and segment count.
- On a 390x844 phone screen, a campaign call rings in the page; "Ne pas répondre" three times: each time
  the retry is scheduled, and after the last one the SMS fallback appears in the panel without a reload.
  Time is injected: the test moves the server's clock and runs the dispatcher and the sender in-process.
- No page scrolls sideways at 390 px; screenshots of every page at phone and desktop size are saved in
  ``$KALANSO_SCREENSHOTS`` (default: ``/tmp/kalanso-screenshots``) as test artefacts.

Skipped with a reason when /usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1`` (set by
.ci/run).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.models import Delivery, DeliveryStatus
from campaigns.ports import SmsPort, VoicePort
from campaigns.service import change_state, upsert_from_definition
from core.db import db
from core.vocabulary import CallStatus, Channel
from ivr.models import CallSession
from ivr.prompts import prompt
from listeners.models import Listener
from sms.models import Message
from tests.browser_support import DESKTOP, PAGES, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import NOW, send_outbox

pytestmark = pytest.mark.browser


def wait_for_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([selector, text]) => document.querySelector(selector).innerText.includes(text)",
        arg=[selector, text],
        timeout=10_000,
    )


def test_a_person_calls_learns_and_texts_in_the_browser(browser, live_app):
    app, base = live_app
    page = browser.new_page()
    page.goto(f"{base}/simulator")
    page.fill("#phone", "76 12 34 56")
    page.click("#dial")
    wait_for_text(page, "#screen", prompt("language-menu").text("fr"))

    page.click("#keypad button[data-key='2']")  # French
    wait_for_text(page, "#status", "En ligne — menu principal")
    page.click("#keypad button[data-key='2']")  # courses
    wait_for_text(page, "#status", "En ligne — liste des cours")
    page.click("#keypad button[data-key='1']")  # the first course
    wait_for_text(page, "#status", "En ligne — liste des leçons")
    page.click("#keypad button[data-key='1']")  # its first lesson
    wait_for_text(page, "#status", "En ligne — leçon")
    wait_for_text(page, "#screen", "Qu'est-ce que le travail des enfants ?")
    assert "Vous : touche 2" in page.inner_text("#screen")  # the keys pressed are in the transcript
    page.click("#hangup")
    wait_for_text(page, "#status", "Raccroché")

    page.fill("#sms-phone", "+223 76 12 34 56")
    page.fill("#sms-text", "QUIZ")
    page.click("#sms-form button[type=submit]")
    wait_for_text(page, "#sms-log", "segment")
    log_text = page.inner_text("#sms-log")
    assert "QUIZ" in log_text and "GSM-7" in log_text
    screenshot(page, "simulator-desktop-call-and-sms")

    with app.app_context():
        listener = db.session.scalars(select(Listener)).one()
        assert (listener.phone, listener.language) == ("+22376123456", "fr")
        session = db.session.scalars(select(CallSession)).one()
        assert session.status == CallStatus.COMPLETED
        assert [node for _, node in session.path][:4] == ["language", "lang:fr", "main", "courses"]


def test_a_campaign_call_goes_unanswered_three_times_then_the_sms_fallback_appears(
    browser, live_app, clock, monkeypatch
):
    import sms.routes

    monkeypatch.setattr(sms.routes, "utcnow", lambda: clock.now)
    app, base = live_app
    with app.app_context():
        settings = app.config["KALANSO"]
        db.session.add(Listener(phone="+22376123456", language="fr", created_at=NOW, consent_at=NOW))
        campaign = upsert_from_definition(
            {
                "name": "Épargne — Koutiala",
                "channel": "voice",
                "lesson": "money/saving-a-little",
                "audience": {"language": "fr"},
                "schedule": {"kind": "once", "at": "2026-11-24T10:00"},
                "max_retries": 2,
                "sms_fallback": True,
            },
            load_catalog_of(app),
            settings,
            NOW,
        )
        change_state(campaign, "schedule", NOW)
        db.session.commit()
        expand_due(settings, NOW)
        db.session.commit()
        db.session.remove()

    page = browser.new_page(viewport=PHONE_SCREEN)
    page.goto(f"{base}/simulator")
    wait_for_text(page, "#sms-log", "Aucun SMS")
    now = NOW
    retries = [NOW + timedelta(minutes=15), NOW + timedelta(minutes=60)]  # max_retries: 2, inside the window
    for attempt in (1, 2, 3):
        clock.set(now)
        voice = VoicePort(replace(settings, voice_provider="local"), clock=lambda moment=now: moment)
        with app.app_context():  # the scheduler's dispatcher, then the sender, place the call
            assert dispatch_due(voice, settings, voice.clock).queued == 1
            assert send_outbox(app, now).sent == 1
            db.session.remove()
        page.wait_for_selector("#ring:not([hidden])", timeout=10_000)
        assert page.inner_text("#ring-what") == "Kalanso vous appelle pour une leçon (campagne)"
        if attempt == 1:
            screenshot(page, "simulator-phone-ringing")
        page.click("#ring-no-answer")
        page.wait_for_function(
            "n => [...document.querySelectorAll('#screen p')].filter(p => p.textContent.includes('pas répondu')).length"
            " === n",
            arg=attempt,
            timeout=10_000,
        )
        assert page.is_hidden("#ring")
        with app.app_context():
            delivery = db.session.scalars(select(Delivery)).one()
            session = db.session.get(CallSession, delivery.call_session_id)
            assert (session.status, session.provider_status) == (CallStatus.NO_ANSWER, "no-answer")
            assert delivery.attempts == attempt
            if attempt < 3:  # the retry is scheduled
                assert (delivery.channel, delivery.status, delivery.due_at) == (
                    Channel.VOICE,
                    DeliveryStatus.PENDING,
                    retries[attempt - 1],
                )
                now = delivery.due_at
            else:  # every call failed: the lesson goes by SMS
                assert (delivery.channel, delivery.status, delivery.fallback_sent) == (
                    Channel.SMS,
                    DeliveryStatus.PENDING,
                    True,
                )
            db.session.remove()

    with app.app_context():  # the dispatcher and the sender send the fallback; the page is not reloaded
        assert dispatch_due(SmsPort(settings, lambda: now), settings, lambda: now).queued == 1
        assert send_outbox(app, now).sent >= 1
        texts = [m.body for m in db.session.scalars(select(Message).order_by(Message.id))]
        calls = db.session.scalars(select(CallSession)).all()
        assert [c.status for c in calls] == [CallStatus.NO_ANSWER] * 3
        db.session.remove()
    assert texts and "Fatoumata vend des beignets" in texts[0]  # the lesson, by SMS
    for text in texts:
        wait_for_text(page, "#sms-log", text.splitlines()[0])
    wait_for_text(page, "#sms-log", "envoyé")
    assert sideways_overflow(page) == 0
    screenshot(page, "simulator-phone-sms-fallback")


def test_no_page_scrolls_sideways_on_a_phone(browser, live_app):
    _app, base = live_app
    for size_name, size in (("phone", PHONE_SCREEN), ("desktop", DESKTOP)):
        page = browser.new_page(viewport=size)
        for name, path in PAGES.items():
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            if size is PHONE_SCREEN:
                assert sideways_overflow(page) == 0, f"{path} is wider than a 390 px screen"
            screenshot(page, f"{name}-{size_name}")
        page.close()


def test_an_invalid_number_is_shown_as_typed_in_french(browser, live_app):
    _app, base = live_app
    page = browser.new_page(viewport=PHONE_SCREEN)
    page.goto(f"{base}/simulator")
    page.fill("#phone", "76 12 34")
    page.click("#dial")
    wait_for_text(page, "#voice-error", "« 76 12 34 » n'est pas un numéro du Mali")
    page.fill("#sms-phone", "123")
    page.fill("#sms-text", "QUIZ")
    page.click("#sms-form button[type=submit]")
    wait_for_text(page, "#sms-error", "« 123 » n'est pas un numéro du Mali")
    assert sideways_overflow(page) == 0
    screenshot(page, "simulator-phone-invalid-number")


def load_catalog_of(app):
    from content.loader import load_catalog

    return load_catalog(app.config["KALANSO_COURSES_DIR"])
