"""Campaigns in a real browser (Debian's Chromium driven by Playwright): the issue's done-when test.

1. A manager, on a 390x844 phone screen, creates an SMS campaign for a group in the editor, sees the live count
   and the cost, saves the draft, confirms it on the confirmation step; the scheduler's jobs and the sender run
   (in the test, with a fixed clock); the simulator's SMS panel receives the text, and the campaign page's funnel
   moves without a reload (the same page object, its JavaScript state kept).
2. Then a voice campaign to two people: the simulator answers one call and lets the other ring out; the funnel
   shows answered 1, no answer 1 and the retry; the retry rings again and goes unanswered: no answer, final.

Time is controlled: the dashboard's clock (``KALANSO_CLOCK``), the voice line's (``clock`` fixture), and the
jobs are called with the moment they run at (``expand_due``, ``dispatch_due``, the sender's ``drain``); nothing
sleeps on the wall clock but the pages' own polling. Screenshots of the editor, the confirmation and the
campaign page, at phone and desktop size, go to ``$KALANSO_SCREENSHOTS`` (default ``/tmp/kalanso-screenshots``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from accounts import service
from accounts.roles import Role
from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.models import Campaign, Delivery, DeliveryStatus
from campaigns.ports import SmsPort, VoicePort
from core.db import db
from listeners.models import Group, Listener
from tests.browser_support import DESKTOP, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import NOW, send_outbox
from tests.dashboard_support import PASSWORD

pytestmark = pytest.mark.browser
AWA, SEYDOU = "+22376123456", "+22376654321"


def wait_for_text(page, selector: str, text: str, timeout: int = 20_000) -> None:
    page.wait_for_function(
        "([selector, text]) => { const e = document.querySelector(selector); return e && e.innerText.includes(text); }",
        arg=[selector, text],
        timeout=timeout,
    )


def funnel_value(page, step: int) -> str:
    return page.inner_text(f"ol.funnel li[data-step='{step}'] .value strong")


def wait_for_funnel(page, step: int, value: str) -> None:
    page.wait_for_function(
        "([step, value]) => { const e = document.querySelector(`ol.funnel li[data-step='${step}'] .value strong`);"
        " return e && e.textContent.trim() === value; }",
        arg=[step, value],
        timeout=20_000,
    )


def wait_for_attempt(page, attempt: int, answered: str, not_answered: str) -> None:
    """Wait until the retries table's row for ``attempt`` says so (the fragment is polled: an earlier one may
    still be on the page)."""
    page.wait_for_function(
        "([n, a, b]) => { const r = document.querySelector(`table.attempts tbody tr:nth-child(${n})`);"
        " if (!r) return false; const c = [...r.cells].map(x => x.textContent.trim());"
        " return c[0] === String(n) && c[1] === a && c[2] === b; }",
        arg=[attempt, answered, not_answered],
        timeout=20_000,
    )


def _seed(app, clock) -> None:
    with app.app_context():
        app.config["KALANSO_CLOCK"] = lambda: clock.now
        # the simulator is free; give it a provider's prices so that the estimate shows figures
        app.config["KALANSO"] = replace(app.config["KALANSO"], tariffs={
            "local": {"sms_segment": Decimal(25), "voice_minute": Decimal(75)}})  # fmt: skip
        coop = Group(name="Coopérative de Kaniko", created_at=NOW)
        voice = Group(name="Groupe écoute Sanando", created_at=NOW)
        awa = Listener(phone=AWA, name="Awa Traoré", village="Kaniko", language="fr", consent_at=NOW, created_at=NOW)
        seydou = Listener(phone=SEYDOU, name="Seydou Keïta", village="Sanando", language="fr", consent_at=NOW,
                          created_at=NOW)  # fmt: skip
        no_consent = Listener(phone="+22376000009", name="Sans accord", village="Kaniko", created_at=NOW)
        awa.groups, seydou.groups, no_consent.groups = [coop, voice], [voice], [coop]
        db.session.add_all([coop, voice, awa, seydou, no_consent])
        service.create_user("manager@example.org", Role.MANAGER, NOW, name="Mariam", password=PASSWORD)
        db.session.commit()
        db.session.remove()


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/dashboard/login")
    page.fill("#email", "manager@example.org")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/dashboard/")


def _both_sizes(page, name: str) -> None:
    assert sideways_overflow(page) == 0, f"{name} is wider than a 390 px screen"
    screenshot(page, f"campaigns-phone-{name}")
    page.set_viewport_size(DESKTOP)
    screenshot(page, f"campaigns-desktop-{name}")
    page.set_viewport_size(PHONE_SCREEN)


def _run_jobs(app, channel: str, now) -> None:
    """What the scheduler (expansion, then dispatch into the outbox) and the sender do at ``now``."""
    with app.app_context():
        settings = app.config["KALANSO"]
        expand_due(settings, now)
        db.session.commit()
        port = SmsPort(settings, lambda: now) if channel == "sms" else VoicePort(
            replace(settings, voice_provider="local"), lambda: now)  # fmt: skip
        dispatch_due(port, settings, lambda: now)
        db.session.commit()
        send_outbox(app, now)
        db.session.remove()


def _statuses(app) -> list[tuple[str, str, int]]:
    with app.app_context():
        rows = db.session.execute(
            select(Listener.phone, Delivery.status, Delivery.attempts)
            .join(Listener, Listener.id == Delivery.listener_id)
            .order_by(Delivery.id)
        ).all()
        db.session.remove()
    return [(phone, DeliveryStatus(status).value, attempts) for phone, status, attempts in rows]


def test_a_manager_sends_an_sms_then_a_voice_campaign_and_watches_the_funnel(browser, live_app, clock, monkeypatch):
    import sms.routes

    monkeypatch.setattr(sms.routes, "utcnow", lambda: clock.now)
    app, base = live_app
    _seed(app, clock)
    page = browser.new_page(viewport=PHONE_SCREEN)
    _sign_in(page, base)
    page.click("details.menu summary")
    page.click("details.menu nav a:text-is('Campagnes')")
    page.click("a:text-is('Nouvelle campagne')")

    # saved empty: every error next to its input, nothing saved
    page.click("button[name=save]")
    page.wait_for_selector("p.error.banner")
    assert "Choisissez qui reçoit la campagne" in page.inner_text("#everyone-set, .field:has(#everyone)")
    _both_sizes(page, "editor-errors")

    # the SMS campaign, in the editor
    page.fill("#name", "Épargne à Kaniko")
    page.fill("#message_fr", "Bonjour ! Une leçon sur l'épargne vous attend : répondez QUIZ.")
    page.fill("#message_bm", "I ni ce ! Kalan dɔ bɛ i makɔnɔ : QUIZ ci.")
    wait_for_text(page, "#enc-bm", "Kalan dò bè i makònò")  # the transliteration, as it will be sent
    assert "GSM-7" in page.inner_text("#enc-bm")
    page.check("input[name=groups][value='Coopérative de Kaniko']")
    wait_for_text(page, "#live-audience", "1 personne recevra la campagne")
    assert "1 sans accord enregistré" in page.inner_text("#live-audience")
    page.check("input[name=once_mode][value=now]")
    wait_for_text(page, "#live-cost", "FCFA")
    wait_for_text(page, "#live-sends", "Prochains envois")
    _both_sizes(page, "editor")
    page.click("button[name=save]")

    page.wait_for_selector("#confirm-schedule")
    confirmation = page.inner_text("main")
    assert "1 personne" in confirmation and "FCFA" in confirmation and "Premier envoi" in confirmation
    _both_sizes(page, "confirmation")
    page.click("#confirm-schedule")
    page.wait_for_selector("ol.funnel")
    assert "Campagne programmée" in page.inner_text("main")
    assert funnel_value(page, 3) == "0"
    page.evaluate("window.sameCampaignPage = 'not reloaded'")

    simulator = browser.new_page(viewport=PHONE_SCREEN)
    simulator.goto(f"{base}/simulator")
    wait_for_text(simulator, "#sms-log", "Aucun SMS")
    _run_jobs(app, "sms", NOW)
    wait_for_text(simulator, "#sms-log", "Une lecon sur l'épargne vous attend")  # as sent: ç is not GSM-7
    wait_for_funnel(page, 3, "1")  # sent, on the page as it was: the fragment polled, no reload
    assert page.evaluate("window.sameCampaignPage") == "not reloaded"
    assert funnel_value(page, 1) == "1" and funnel_value(page, 2) == "1"
    _both_sizes(page, "sms-campaign")

    # the voice campaign
    page.goto(f"{base}/dashboard/campaigns/new")
    page.fill("#name", "Leçon d'épargne par appel")
    page.check("input[name=channel][value=voice]")
    page.select_option("#lesson", "money/saving-a-little")
    page.check("input[name=groups][value='Groupe écoute Sanando']")
    page.check("input[name=once_mode][value=now]")
    page.fill("#max_retries", "1")
    wait_for_text(page, "#live-audience", "2 personnes recevront la campagne")
    wait_for_text(page, "#live-cost", "FCFA")
    page.click("button[name=save]")
    page.wait_for_selector("#confirm-schedule")
    page.click("#confirm-schedule")
    page.wait_for_selector("ol.funnel")
    page.evaluate("window.sameCampaignPage = 'voice, not reloaded'")
    with app.app_context():
        voice_id = db.session.scalars(select(Campaign.id).where(Campaign.channel == "voice")).one()
        db.session.remove()
    assert page.url.endswith(f"/dashboard/campaigns/{voice_id}")

    answering, ringing_out = simulator, browser.new_page(viewport=PHONE_SCREEN)
    ringing_out.goto(f"{base}/simulator")
    for sim, phone in ((answering, AWA), (ringing_out, SEYDOU)):
        sim.fill("#phone", phone)
    _run_jobs(app, "voice", NOW)
    answering.wait_for_selector("#ring:not([hidden])", timeout=20_000)
    answering.click("#ring-answer")
    wait_for_text(answering, "#status", "En ligne")
    ringing_out.wait_for_selector("#ring:not([hidden])", timeout=20_000)
    ringing_out.click("#ring-no-answer")
    wait_for_text(ringing_out, "#screen", "pas répondu")
    answering.click("#hangup")
    wait_for_text(answering, "#status", "Raccroché")

    wait_for_funnel(page, 4, "1")  # answered
    wait_for_attempt(page, 1, "1", "1")  # attempt 1: one answered, one not answered
    wait_for_text(page, "ul.sides", "0 En cours d'envoi")  # the hang-up is recorded: nothing in flight
    assert "1 Nouvel essai prévu" in page.inner_text("ul.sides")
    assert page.evaluate("window.sameCampaignPage") == "voice, not reloaded"
    assert sorted(s for s in _statuses(app) if s[0] == SEYDOU or s[1] != "sent") == [
        (AWA, "answered", 1),
        (SEYDOU, "pending", 1),
    ]
    _both_sizes(page, "voice-campaign-retry")

    retry = NOW + timedelta(minutes=15)  # the first retry, inside the calling window
    clock.set(retry)
    _run_jobs(app, "voice", retry)
    ringing_out.wait_for_selector("#ring:not([hidden])", timeout=20_000)
    ringing_out.click("#ring-no-answer")
    wait_for_text(page, "ul.sides", "1 Pas de réponse")
    assert "0 Nouvel essai prévu" in page.inner_text("ul.sides")
    wait_for_attempt(page, 2, "0", "1")  # the retry: not answered either
    assert funnel_value(page, 4) == "1"
    assert page.evaluate("window.sameCampaignPage") == "voice, not reloaded"
    assert (SEYDOU, "no_answer", 2) in _statuses(app)
    _both_sizes(page, "voice-campaign")

    page.goto(f"{base}/dashboard/campaigns/")
    listed = page.inner_text("ul.campaigns")
    assert "Leçon d'épargne par appel" in listed and "Appels passés : 2 · décrochés : 1 sur 2" in listed
    # the simulator reports an SMS sent, never delivered
    assert "Épargne à Kaniko" in listed and "Envoyés : 1 · reçus : 0 sur 1" in listed
    _both_sizes(page, "list")

    # cancelling asks first, on a page of its own, then says what it did
    page.click('a:text-is("Leçon d\'épargne par appel")')
    page.click("a:text-is('Annuler la campagne')")
    page.wait_for_selector("#confirm-cancel")
    assert "C'est définitif" in page.inner_text("main")
    _both_sizes(page, "cancel")
    page.click("#confirm-cancel")
    wait_for_text(page, "main", "Campagne annulée : 0 envoi(s) en attente ou à réessayer sont annulés")
    assert page.inner_text("#state") == "annulée"
    assert page.get_attribute("#progress", "hx-trigger") is None  # over: the page stops polling
