"""Done when (issue 14): in Chromium with a fake microphone, an editor records an item on its page, listens and
keeps the take; a reviewer (another person) approves it; the item page shows it approved and the studio says so
(``current_recording(...).status == APPROVED``). Screenshots at phone and desktop size in ``$KALANSO_SCREENSHOTS``.

Skipped with a reason when /usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1`` (.ci/run).
"""

from __future__ import annotations

import pytest

from accounts import service
from accounts.roles import Role
from core.db import db
from studio.models import RecordingSource, RecordingStatus
from studio.service import current_recording
from tests.browser_support import DESKTOP, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import NOW
from tests.dashboard_support import PASSWORD

pytestmark = pytest.mark.browser
STEM = "money/saving-a-little/small-sums"


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/dashboard/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state()


def test_an_editor_records_in_the_browser_and_a_reviewer_approves(browser_with_microphone, live_app, tmp_path):
    app, base = live_app
    audio = tmp_path / "audio"
    with app.app_context():
        app.config["KALANSO_AUDIO_DIR"] = audio
        app.config["KALANSO_CLOCK"] = lambda: NOW
        service.create_user("awa@example.org", Role.EDITOR, NOW, name="Awa Traoré", password=PASSWORD)
        service.create_user("moussa@example.org", Role.REVIEWER, NOW, name="Moussa Diarra", password=PASSWORD)
        db.session.commit()
    item = f"{base}/dashboard/studio/items/{STEM}"

    context = browser_with_microphone.new_context(viewport=PHONE_SCREEN, permissions=["microphone"])
    page = context.new_page()
    _sign_in(page, base, "awa@example.org")
    page.goto(item)
    bambara = page.locator("#lang-bm")
    assert bambara.locator('[data-status="missing"]').is_visible()
    screenshot(page, "studio-item-phone-before")
    bambara.locator("summary:text-is('Ou envoyer un fichier')").click()
    bambara.locator("input[type=file]").set_input_files(
        files=[{"name": "notes.mp3", "mimeType": "audio/mpeg", "buffer": b"<html>pas un son</html>" * 40}]
    )
    bambara.locator("button:text-is('Envoyer le fichier')").click()
    page.wait_for_load_state()
    refused = page.locator("#lang-bm .field.has-error")
    assert "pas un son lisible" in refused.locator(".error").inner_text()  # next to the field, the form still open
    assert refused.locator("input[type=file]").is_visible()
    screenshot(page, "studio-item-phone-refused")
    bambara = page.locator("#lang-bm")
    bambara.locator("[data-start]").click()
    page.wait_for_timeout(2500)  # speak (the fake microphone beeps)
    assert "Enregistrement en cours" in bambara.locator("[data-status-line]").inner_text()
    bambara.locator("[data-stop]").click()
    bambara.locator("[data-take]").wait_for(state="visible")
    assert page.evaluate("document.querySelector('#lang-bm [data-player]').src").startswith("blob:")
    screenshot(page, "studio-item-phone-take")
    bambara.locator("[data-keep]").click()
    page.wait_for_url("**done=kept-bm*")
    assert page.locator("#lang-bm [data-status='recorded']").is_visible()
    assert "la ligne le fait entendre dès le prochain appel" in page.locator(".studio-done").inner_text()
    assert sideways_overflow(page) <= 0
    screenshot(page, "studio-item-phone-kept")
    page.click("text=votre code du studio")
    assert "demandez à un administrateur" in page.locator("main").inner_text()  # no phone number on the account
    screenshot(page, "studio-pin-phone")
    context.close()

    with app.app_context():
        kept = current_recording("bm", STEM)
        assert kept is not None and kept.source is RecordingSource.BROWSER and kept.status is RecordingStatus.RECORDED
        assert (audio / "bm" / f"{STEM}.wav").is_file()  # where the voice line finds it

    context = browser_with_microphone.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in(page, base, "moussa@example.org")
    page.goto(item)
    player = page.locator("#lang-bm audio").first
    assert player.get_attribute("src").startswith("/dashboard/studio/audio/")
    assert page.evaluate(
        "fetch(document.querySelector('#lang-bm audio').src).then(r => r.headers.get('content-type'))"
    ).startswith("audio/wav")
    screenshot(page, "studio-item-desktop-to-review")
    page.locator("#lang-bm button:has-text('Approuver cet enregistrement')").click()
    page.wait_for_url("**done=approve-bm*")
    badge = page.locator("#lang-bm [data-status]").first
    assert badge.get_attribute("data-status") == "approved" and badge.inner_text() == "approuvé"
    assert "Moussa Diarra" in page.locator("#lang-bm").inner_text()
    screenshot(page, "studio-item-desktop-approved")
    page.set_viewport_size(PHONE_SCREEN)
    assert sideways_overflow(page) <= 0
    screenshot(page, "studio-item-phone-approved")
    with app.app_context():
        from content.catalog import get_catalog

        title = get_catalog().lesson("money", "saving-a-little").title.text("fr")
    page.set_viewport_size(DESKTOP)
    page.goto(f"{base}/dashboard/studio/?lang=bm&course=money")  # the coverage page counts it approved
    row = page.locator(f"tr:has(th.lesson:text-is('{title}'))").first
    assert (row.locator("td.recorded").inner_text(), row.locator("td.approved").inner_text()) == ("1", "1")
    screenshot(page, "studio-coverage-desktop-approved")
    context.close()

    with app.app_context():
        assert current_recording("bm", STEM).status is RecordingStatus.APPROVED
