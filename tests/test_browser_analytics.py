"""The learning analytics in a real browser: Debian's Chromium driven by Playwright, at a phone's size (390x844)
and on a desktop.

Calls are first played on the voice line's simulator (the real service: each finished call writes its facts).
A manager opens "Analyses" from the menu, reads the funnel, changes a filter (htmx refreshes the figures and the
address, no reload), goes through every tab, and nothing scrolls sideways. Screenshots are saved in
``$KALANSO_SCREENSHOTS`` (default ``/tmp/kalanso-screenshots``) as ``kalanso-analytics-*.png``.

Skipped with a reason when /usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1`` (.ci/run).
"""

from __future__ import annotations

import pytest

from accounts import service
from accounts.roles import Role, ScopeKind
from core.db import db
from core.vocabulary import Channel
from listeners.models import Listener, QuizAnswer
from tests.browser_support import DESKTOP, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import NOW
from tests.dashboard_support import PASSWORD
from tests.test_dashboard_analytics import WHOLE_LESSON, play_call

pytestmark = pytest.mark.browser
LESSON = ("child-labour", "what-is-child-labour")
TABS = {"Menus": "menus", "Questions": "questions", "Écoute": "listening", "Heures": "hours"}


def _seed(app) -> None:
    """Awa (Kaniko, Bambara) hears a whole lesson; Moussa (Kaniko, French) stops at the main menu; Seydou
    (Molobala) hangs up at the language menu."""
    with app.app_context():
        app.config["KALANSO_CLOCK"] = lambda: NOW
        db.session.add_all(
            [
                Listener(phone="+22376000001", name="Awa Traoré", village="Kaniko", created_at=NOW),
                Listener(phone="+22376000002", name="Moussa Diarra", village="Kaniko", created_at=NOW),
                Listener(phone="+22376000003", name="Seydou Keïta", village="Molobala", created_at=NOW),
            ]
        )
        for email, role, scopes in [
            ("manager@example.org", Role.MANAGER, []),
            ("agent@example.org", Role.AGENT, [(ScopeKind.VILLAGE, "Kaniko")]),
        ]:
            service.create_user(email, role, NOW, name=email.split("@")[0].title(), password=PASSWORD, scopes=scopes)
        db.session.commit()
        for n in range(24):  # answers by SMS to the second question: most get it wrong (flagged)
            person = Listener(phone=f"+2237610{n:04d}", village="Kaniko", created_at=NOW)
            db.session.add(person)
            db.session.flush()
            db.session.add(QuizAnswer(listener_id=person.id, course_id=LESSON[0], lesson_id=LESSON[1],
                                      question_id="moussa-saturday", answer="1", option_key="1", correct=n < 6,
                                      channel=Channel.SMS, answered_at=NOW, lang="bm"))  # fmt: skip
        db.session.commit()
        client = app.test_client()
        play_call(client, "+22376000001", WHOLE_LESSON)
        play_call(client, "+22376000002", ["2"])
        play_call(client, "+22376000003", [])


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/dashboard/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/dashboard/")


def _step(page, label: str) -> str:
    """One line of the funnel, as its words."""
    return " ".join(page.locator(f"ol.funnel li:has(span:text-is('{label}'))").inner_text().split())


def test_a_manager_reads_the_analytics_on_a_phone_and_changes_a_filter(browser, live_app, clock):
    app, base = live_app
    _seed(app)
    page = browser.new_page(viewport=PHONE_SCREEN)
    _sign_in(page, base, "manager@example.org")
    page.click("details.menu summary")
    page.click("details.menu nav a:text-is('Analyses')")
    page.wait_for_selector("ol.funnel")
    assert _step(page, "Appels").startswith("Appels 3")
    assert "67 % de l'étape d'avant · 67 % des appels" in _step(page, "Langue choisie (ou déjà connue)")
    assert sideways_overflow(page) == 0
    screenshot(page, "analytics-phone-overview")

    page.click("summary:has-text('Plus de filtres')")
    page.select_option("#language", "fr")  # htmx: the body is fetched again, the address follows
    page.wait_for_url("**language=fr**")
    # Moussa chose French; Seydou chose nothing, and a call without a choice counts in the default language
    page.wait_for_function("document.querySelector('ol.funnel li strong').textContent.trim() === '2'")
    assert _step(page, "Langue choisie (ou déjà connue)").startswith("Langue choisie (ou déjà connue) 1")
    assert _step(page, "Leçon commencée").startswith("Leçon commencée 0")
    assert page.locator("#language").input_value() == "fr"
    assert sideways_overflow(page) == 0
    screenshot(page, "analytics-phone-filtered")

    page.fill("#village", "Kanikoo")  # a typo: said next to the field, no misleading zero
    page.click("button.primary:has-text('Afficher')")
    page.wait_for_selector(".has-error #village")
    assert "vérifiez l'orthographe" in page.locator(".has-error").inner_text()
    assert page.locator("ol.funnel").count() == 0
    screenshot(page, "analytics-phone-error")
    page.fill("#village", "Kaniko")
    page.click("button.primary:has-text('Afficher')")
    page.wait_for_selector("ol.funnel")

    for label, name in TABS.items():
        page.click(f"nav.tabs-an a:text-is('{label}')")
        page.wait_for_selector(f"nav.tabs-an a[aria-current]:text-is('{label}')")
        assert "language=fr" in page.url and "village=Kaniko" in page.url  # the tabs keep the filters
        assert sideways_overflow(page) == 0, name
        screenshot(page, f"analytics-phone-{name}")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_no_analytics_page_scrolls_sideways(browser, live_app, clock, size):
    app, base = live_app
    _seed(app)
    page = browser.new_page(viewport=PHONE_SCREEN if size == "phone" else DESKTOP)
    _sign_in(page, base, "agent@example.org" if size == "phone" else "manager@example.org")
    for name in ["", *TABS.values()]:
        answer = page.goto(f"{base}/dashboard/analytics/{name}")
        assert answer.status == 200, name
        assert sideways_overflow(page) == 0, name
        screenshot(page, f"analytics-{size}-{'agent-' if size == 'phone' else ''}{name or 'overview'}")
        if name == "questions":  # 18 of 24 got the second question wrong: listed to review
            assert "la plupart se trompent" in page.locator(".to-read").inner_text()
