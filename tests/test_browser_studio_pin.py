"""The studio PIN page in Chromium, at phone and desktop size: a mistyped code is refused next to its field, a code is
chosen, "Appelez-moi pour enregistrer" queues the call and says so, a second request is refused next to the button.
Screenshots in ``$KALANSO_SCREENSHOTS``.

Skipped with a reason when /usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1`` (.ci/run).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from accounts import service
from accounts.roles import Role
from core.db import db
from core.vocabulary import Direction
from ivr.models import CallSession
from tests.browser_support import DESKTOP, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import NOW
from tests.dashboard_support import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("size", "screen"), [("phone", PHONE_SCREEN), ("desktop", DESKTOP)])
def test_an_editor_chooses_a_code_and_asks_the_line_to_call(browser, live_app, tmp_path, size, screen):
    app, base = live_app
    with app.app_context():
        app.config["KALANSO_AUDIO_DIR"] = tmp_path / "audio"
        app.config["KALANSO_CLOCK"] = lambda: NOW
        service.create_user("awa@example.org", Role.EDITOR, NOW, name="Awa Traoré", password=PASSWORD,
                            phone="+22376000111")  # fmt: skip
        db.session.commit()
    page = browser.new_context(viewport=screen).new_page()
    page.goto(f"{base}/dashboard/login")
    page.fill("#email", "awa@example.org")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.goto(f"{base}/dashboard/studio/pin")
    assert "pas encore choisi" in page.inner_text("main")

    page.fill("#pin", "2468")
    page.fill("#again", "2486")
    page.click("form.card button.primary")
    error = page.locator("#again").locator("xpath=ancestor::*[contains(@class,'field')][1]").locator(".error")
    assert "Les deux codes ne sont pas les mêmes." in error.inner_text()
    screenshot(page, f"studio-pin-{size}-refused")

    page.fill("#pin", "2468")
    page.fill("#again", "2468")
    page.click("form.card button.primary")
    assert page.locator(".studio-done").inner_text() == "Code enregistré."

    page.click("#call button.primary")
    page.wait_for_load_state()
    assert "la ligne vous appelle dans un instant" in page.locator("#call").inner_text()
    assert "+22376000111" not in page.content()  # the number shows masked
    assert sideways_overflow(page) == 0
    screenshot(page, f"studio-pin-{size}-called")
    page.click("#call button.primary")  # again, while the first call is not over: refused, next to the button
    assert page.locator("#call .error").is_visible()
    screenshot(page, f"studio-pin-{size}-call-refused")
    with app.app_context():
        count = select(func.count()).select_from(CallSession).where(CallSession.direction == Direction.OUTBOUND)
        assert db.session.scalar(count) == 1
