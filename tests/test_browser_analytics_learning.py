"""The "Apprentissage" analytics tab in a real browser (Debian's Chromium driven by Playwright), at a phone's size
(390x844) and on a desktop: a manager opens it from the tab bar, reads each course's before → after and the
questions, changes the language (htmx refreshes the figures), and nothing scrolls sideways. Screenshots are saved
in ``$KALANSO_SCREENSHOTS`` (default ``/tmp/kalanso-screenshots``) as ``kalanso-analytics-learning-*.png``.

The app serves a course with a test written into a temporary folder (the test app's courses have none), with
realistic questions, and the completions and answers of 24 listeners.

Skipped with a reason when /usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1`` (.ci/run).
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
import yaml

from accounts import service
from accounts.roles import Role, ScopeKind
from content.model import POST_TEST, PRE_TEST
from core.db import db
from core.vocabulary import Channel
from listeners.models import LessonCompletion, Listener, QuizAnswer
from tests.browser_support import DESKTOP, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import FIXTURE_COURSES, NOW
from tests.dashboard_support import PASSWORD
from tests.test_browser_analytics import _sign_in
from tests.test_course_tests import course, texts

pytestmark = pytest.mark.browser

QUESTIONS = [  # (id, the French question, the right option: 1 yes, 2 no)
    ("t-save-first", "Faut-il mettre de l'argent de côté avant de dépenser, le jour où l'on est payé ? Pour oui, tapez "
                     "1. Pour non, tapez 2.", 1),
    ("t-interest", "Un prêt de 10 000 francs à rembourser 12 000 francs : les 2 000 francs de plus sont-ils les "
                   "intérêts ? Pour oui, tapez 1. Pour non, tapez 2.", 1),
    ("t-pin", "Peut-on donner son code secret de mobile money à un agent qui le demande au téléphone ? Pour oui, "
              "tapez 1. Pour non, tapez 2.", 2),
    ("t-budget", "Un budget, est-ce seulement pour les gens qui gagnent beaucoup ? Pour oui, tapez 1. Pour non, "
                 "tapez 2.", 2),
    ("t-group", "Une tontine peut-elle aider à acheter les semences à temps ? Pour oui, tapez 1. Pour non, "
                "tapez 2.", 1),
]  # fmt: skip
# per listener: (village, language, pre-test marks, post-test marks or None); R right, W wrong, per question
PEOPLE = [
    ("Kaniko", "bm", "RWWRW", "RRRRW"), ("Kaniko", "bm", "WWWRW", "RRWRR"), ("Kaniko", "fr", "RRWRR", "RRRRR"),
    ("Kaniko", "bm", "WWWWW", "RRWRW"), ("Kaniko", "bm", "RWWRR", None), ("Kaniko", "fr", "RWRRW", "RRRRR"),
    ("Molobala", "bm", "WWWRW", "RWRRW"), ("Molobala", "bm", "RWWWR", "RRRRR"), ("Molobala", "fr", "RRWRW", None),
    ("Molobala", "bm", "WRWWW", "RRWRW"), ("Molobala", "bm", "RWWRW", None), ("Molobala", "fr", "RWRRR", "RRRRR"),
] * 2  # fmt: skip


def _course_dir(tmp_path):
    data = course(lessons=3, questions=len(QUESTIONS), id="savings", title=texts("L'épargne et le budget"))
    for item, (qid, text, right) in zip(data["test"]["questions"], QUESTIONS, strict=True):
        item["id"], item["text"]["fr"] = qid, text
        item["options"] = [{"text": texts("Oui", "Ɔwɔ"), **({"correct": True} if right == 1 else {})},
                           {"text": texts("Non", "Ayi"), **({"correct": True} if right == 2 else {})}]  # fmt: skip
    folder = tmp_path / "courses-with-tests"
    folder.mkdir()
    (folder / "savings.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    for path in FIXTURE_COURSES.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    return folder


def _seed(app, tmp_path) -> None:
    app.config["KALANSO_COURSES_DIR"] = _course_dir(tmp_path)
    app.extensions.pop("kalanso.catalog", None)
    with app.app_context():
        app.config["KALANSO_CLOCK"] = lambda: NOW
        for email, role, scopes in [
            ("manager@example.org", Role.MANAGER, []),
            ("agent@example.org", Role.AGENT, [(ScopeKind.VILLAGE, "Kaniko")]),
        ]:
            service.create_user(email, role, NOW, name=email.split("@")[0].title(), password=PASSWORD, scopes=scopes)
        for n, (village, lang, pre, post) in enumerate(PEOPLE):
            person = Listener(phone=f"+2237620{n:04d}", village=village, language=lang, created_at=NOW)
            db.session.add(person)
            db.session.flush()
            for lesson_id, marks, at in [(PRE_TEST, pre, NOW - timedelta(days=20)), (POST_TEST, post, NOW)]:
                if marks is None:
                    continue
                for (qid, _text, _right), mark in zip(QUESTIONS, marks, strict=True):
                    db.session.add(QuizAnswer(listener_id=person.id, course_id="savings", lesson_id=lesson_id,
                                              question_id=qid, answer="1", option_key="1", correct=mark == "R",
                                              channel=Channel.VOICE, attempt=1, answered_at=at, lang=lang))  # fmt: skip
                db.session.add(LessonCompletion(listener_id=person.id, course_id="savings", lesson_id=lesson_id,
                                                attempt=1, score=marks.count("R"), total=len(marks),
                                                channel=Channel.VOICE, completed_at=at))  # fmt: skip
        db.session.commit()


def test_a_manager_reads_what_the_courses_taught_on_a_phone(browser, live_app, tmp_path):
    app, base = live_app
    _seed(app, tmp_path)
    page = browser.new_page(viewport=PHONE_SCREEN)
    _sign_in(page, base, "manager@example.org")
    page.goto(f"{base}/dashboard/analytics/")
    page.click("nav.tabs-an a:text-is('Apprentissage')")
    page.wait_for_selector("article.learn")
    card = " ".join(page.locator("article.learn").inner_text().split())
    # 24 before (52 right of 120), 18 after (74 of 90); the 18 who took both: 36 of 90 → 74 of 90
    assert "Avant les leçons 24 personnes 43 % justes" in card
    assert "Après les leçons 18 personnes 82 % justes" in card
    assert "+42,2 pt progression moyenne des 18 personnes qui ont fait les deux quiz (40 % → 82 % justes)" in card
    assert sideways_overflow(page) == 0
    screenshot(page, "analytics-learning-phone")

    page.click("summary:has-text('Plus de filtres')")
    page.select_option("#language", "fr")
    page.wait_for_url("**language=fr**")
    page.wait_for_function("document.querySelector('article.learn .line small').textContent.includes('8 personnes')")
    assert sideways_overflow(page) == 0
    screenshot(page, "analytics-learning-phone-french")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_learning_tab_does_not_scroll_sideways(browser, live_app, tmp_path, size):
    app, base = live_app
    _seed(app, tmp_path)
    page = browser.new_page(viewport=PHONE_SCREEN if size == "phone" else DESKTOP)
    _sign_in(page, base, "agent@example.org" if size == "phone" else "manager@example.org")
    answer = page.goto(f"{base}/dashboard/analytics/learning")
    assert answer.status == 200
    assert page.locator("article.learn").count() == 1
    assert sideways_overflow(page) == 0
    screenshot(page, f"analytics-learning-{size}{'-agent' if size == 'phone' else ''}")
