"""Measuring learning in a real browser (Debian's Chromium driven by Playwright), with the shipped curriculum:

- On a 390x844 phone screen, a person calls the simulator, opens the first course: its lesson list starts with
  the pre-test and, longer than eight lessons, offers "9" for the others; in the pre-test an answer is only
  noted (no feedback), and the score comes at the end.
- The person's record in the dashboard, at phone and desktop size, shows what they learnt: the first pre-test,
  the first post-test and the gain.

Screenshots are saved in ``$KALANSO_SCREENSHOTS`` (default ``/tmp/kalanso-screenshots``). Skipped with a reason
when /usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1`` (.ci/run).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accounts import service
from accounts.roles import Role
from content.loader import COURSES_DIR, load_catalog
from content.model import POST_TEST, PRE_TEST
from core.db import db
from core.vocabulary import Channel
from engine import Continue, Digits, Start
from ivr.prompts import prompt
from listeners.models import Listener
from listeners.progress import take_turn
from tests.browser_support import DESKTOP, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import NOW
from tests.dashboard_support import PASSWORD

pytestmark = pytest.mark.browser
CATALOG = load_catalog(COURSES_DIR)
FIRST = next(iter(CATALOG))


def wait_for_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([selector, text]) => document.querySelector(selector).innerText.includes(text)",
        arg=[selector, text],
        timeout=10_000,
    )


@pytest.fixture
def shipped(live_app):
    app, base = live_app
    app.config["KALANSO_COURSES_DIR"] = COURSES_DIR
    app.extensions.pop("kalanso.catalog", None)
    return app, base


def key(page, digit: str) -> None:
    page.click(f"#keypad button[data-key='{digit}']")


def test_a_caller_takes_the_pre_test_without_feedback_on_a_phone(browser, shipped):
    app, base = shipped
    pre = FIRST.test("pretest")
    page = browser.new_page(viewport=PHONE_SCREEN)
    page.goto(f"{base}/simulator")
    page.fill("#phone", "76 12 34 56")
    page.click("#dial")
    wait_for_text(page, "#screen", prompt("language-menu").text("fr"))
    key(page, "2")  # French
    wait_for_text(page, "#status", "menu principal")
    key(page, "2")  # the courses
    wait_for_text(page, "#status", "liste des cours")
    key(page, "1")  # the first course: its lessons, the pre-test first
    wait_for_text(page, "#status", "liste des leçons")
    wait_for_text(page, "#screen", pre.title.text("fr"))
    if len(FIRST.lessons) > 8:
        wait_for_text(page, "#screen", prompt("lessons-more").text("fr"))
    key(page, "1")  # the pre-test: its intro
    wait_for_text(page, "#screen", pre.items[0].body.text("fr")[:40])
    key(page, "1")  # go on: the first question
    first = pre.questions[0]
    wait_for_text(page, "#screen", first.prompt.text("fr")[:40])
    key(page, first.correct_option.key)
    wait_for_text(page, "#screen", prompt("answer-noted").text("fr"))
    transcript = page.inner_text("#screen")
    assert first.feedback_correct.text("fr")[:30] not in transcript  # no feedback in a pre-test
    for question in pre.questions[1:]:
        wait_for_text(page, "#screen", question.prompt.text("fr")[:40])
        key(page, question.correct_option.key)
    score = prompt("test-score-pre").text("fr").format(score=len(pre.questions), total=len(pre.questions))
    wait_for_text(page, "#screen", score)
    assert sideways_overflow(page) == 0
    screenshot(page, "simulator-phone-pre-test")
    page.click("#hangup")
    with app.app_context():
        listener = db.session.scalars(select(Listener)).one()
        from listeners.progress import learning_scores

        [scores, *_] = learning_scores(listener.id, [FIRST])
        assert (scores.pre.score, scores.pre.total, scores.post) == (len(pre.questions), len(pre.questions), None)


def _seed(app) -> int:
    """A listener who took the first course's pre-test (all wrong), then its post-test (all right)."""
    with app.app_context():
        listener = Listener(phone="+22376000001", name="Awa Traoré", village="Kaniko", language="fr", created_at=NOW)
        db.session.add(listener)
        db.session.flush()
        for lesson_id in (PRE_TEST, POST_TEST):
            lesson = FIRST.lesson(lesson_id)
            take_turn(listener, FIRST, lesson_id, Start(), channel=Channel.SMS, now=NOW)
            take_turn(listener, FIRST, lesson_id, Continue(), channel=Channel.SMS, now=NOW)
            for q in lesson.questions:
                wrong = next(o.key for o in q.options if not o.correct)
                answer = wrong if lesson_id == PRE_TEST else q.correct_option.key
                take_turn(listener, FIRST, lesson_id, Digits(answer), channel=Channel.SMS, now=NOW)
        service.create_user("manager@example.org", Role.MANAGER, NOW, name="Manager", password=PASSWORD)
        db.session.commit()
        return listener.id


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_record_shows_what_a_listener_learnt(browser, shipped, size):
    app, base = shipped
    listener_id = _seed(app)
    n = len(FIRST.test("pretest").questions)
    page = browser.new_page(viewport=PHONE_SCREEN if size == "phone" else DESKTOP)
    page.goto(f"{base}/dashboard/login")
    page.fill("#email", "manager@example.org")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/dashboard/")
    page.goto(f"{base}/dashboard/listeners/{listener_id}")
    page.wait_for_selector("h2:has-text('Ce qu')")
    said = " ".join(page.locator("ul.learning li").first.inner_text().split())
    assert said == f"{FIRST.title.text('fr')} Quiz de départ 0/{n} → Quiz final {n}/{n} Progrès +{n}"
    assert sideways_overflow(page) == 0
    page.locator("h2:has-text('Ce qu')").scroll_into_view_if_needed()
    screenshot(page, f"dashboard-{size}-record-learning")
