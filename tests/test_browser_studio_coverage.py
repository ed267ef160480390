"""The studio's coverage page and print view in a real browser (Debian's Chromium), at phone and desktop size: an
editor signs in, lands on the studio, sees the figures and the most-needed list, opens the print view. Screenshots
in ``$KALANSO_SCREENSHOTS`` (default ``/tmp/kalanso-screenshots``); nothing scrolls sideways on a phone.
Skipped with a reason when /usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1``."""

from __future__ import annotations

import shutil

import pytest

from accounts import service
from accounts.roles import Role
from content.loader import load_catalog
from core.db import db
from studio.models import AudioFallback, Recording, RecordingSource, RecordingStatus, ReviewStatus, TextReview
from studio.service import studio_texts, text_hash
from tests.browser_support import DESKTOP, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import FIXTURE_COURSES, NOW
from tests.dashboard_support import PASSWORD

pytestmark = pytest.mark.browser


def _seed(app, tmp_path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    courses = tmp_path / "courses"
    shutil.copytree(FIXTURE_COURSES, courses)
    app.config.update(KALANSO_AUDIO_DIR=audio, KALANSO_COURSES_DIR=courses, KALANSO_CLOCK=lambda: NOW)
    with app.app_context():
        texts = studio_texts(load_catalog(courses))
        for n, t in enumerate(texts[:6]):
            db.session.add(
                TextReview(lang="bm", stem=t.stem, status=ReviewStatus.REVIEWED, text_hash=text_hash(t.text.text("bm")))
            )
            if n < 3:
                status = RecordingStatus.APPROVED if n == 0 else RecordingStatus.RECORDED
                db.session.add(
                    Recording(
                        lang="bm", stem=t.stem, file=f"bm/{t.stem}.wav", source=RecordingSource.PHONE, status=status
                    )
                )
        for t, times in zip(texts[6:9], (31, 12, 4), strict=True):
            db.session.add(AudioFallback(lang="bm", stem=t.stem, count=times))
        service.create_user("editor@example.org", Role.EDITOR, NOW, name="Aminata", password=PASSWORD)
        db.session.commit()


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/dashboard/login")
    page.fill("#email", "editor@example.org")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/dashboard/studio/")


@pytest.mark.parametrize(("size", "screen"), [("phone", PHONE_SCREEN), ("desktop", DESKTOP)])
def test_an_editor_sees_the_coverage_and_prints_the_texts_to_record(browser, live_app, tmp_path, size, screen):
    app, base = live_app
    _seed(app, tmp_path)
    page = browser.new_page(viewport=screen)
    _sign_in(page, base)
    assert page.locator("h1").inner_text() == "Studio : textes et enregistrements"
    first_course = page.locator("#lang-bm table.studio-figures").first
    title_row = first_course.locator("tbody tr").first  # the course title: recorded
    assert title_row.locator("td.recorded").inner_text() == "1"
    first_needed = page.locator("#lang-bm ol.needed li").first
    assert "31 ×" in first_needed.inner_text()
    assert sideways_overflow(page) == 0
    screenshot(page, f"studio-coverage-{size}")

    page.select_option("select[name=lang]", "bm")
    page.click(".studio-filters button")
    page.wait_for_url("**lang=bm**")
    assert page.locator("#lang-fr").count() == 0

    page.click("#lang-bm a.button")
    page.wait_for_url("**/dashboard/studio/print?**")
    assert page.locator("nav").count() == 0
    numbers = page.locator("ol.print-texts .n").all_inner_texts()
    assert numbers[:3] == ["1", "2", "3"]
    assert page.locator(".side.read[lang=bm]").count() == len(numbers)
    assert sideways_overflow(page) == 0
    screenshot(page, f"studio-print-{size}")
    page.emulate_media(media="print")
    assert page.locator(".no-print").first.is_hidden()
    page.close()


def test_a_broken_course_file_shows_its_errors(browser, live_app, tmp_path):
    app, base = live_app
    _seed(app, tmp_path)
    page = browser.new_page(viewport=PHONE_SCREEN)
    _sign_in(page, base)
    money = tmp_path / "courses" / "money.yaml"
    money.write_text(money.read_text(encoding="utf-8").replace("review: {fr: draft, bm: draft}", "review: {fr: done}"))
    page.goto(f"{base}/dashboard/studio/")
    banner = page.locator(".studio-errors")
    assert "Les fichiers des cours ont des erreurs" in banner.inner_text()
    assert "money.yaml" in banner.inner_text()
    assert sideways_overflow(page) == 0
    screenshot(page, "studio-coverage-broken-phone")
    page.close()
