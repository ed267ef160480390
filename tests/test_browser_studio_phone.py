"""The phone studio on the simulator, in a real browser (Debian's Chromium with its fake microphone): an editor
dials, types the studio code (shown as dots), records after the prompts, ends with #, hears the take, keeps it; the
fetch stores it as the text's recording. Screenshots at phone size in ``$KALANSO_SCREENSHOTS``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accounts import service as accounts
from accounts.roles import Role
from core.db import db
from ivr.prompts import prompt
from ivr.studio_fetch import fetch_pending
from studio.models import AudioFallback, Recording, RecordingSource
from studio.service import set_pin
from tests.browser_support import PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import NOW
from tests.test_browser_simulator import wait_for_text

pytestmark = pytest.mark.browser


def test_an_editor_records_on_the_simulator_with_the_microphone(browser_with_microphone, live_app, tmp_path):
    app, base = live_app
    app.instance_path = str(tmp_path / "instance")
    app.config["KALANSO_AUDIO_DIR"] = tmp_path / "audio"
    with app.app_context():
        user, _ = accounts.create_user("ed@example.org", Role.EDITOR, NOW, password="a long pass phrase 42",
                                       phone="+22376000111")  # fmt: skip
        set_pin(user, "2468")
        db.session.add(AudioFallback(lang="bm", stem="prompts/goodbye", count=9, first_at=NOW, last_at=NOW))
        db.session.commit()
        editor_id = user.id
        db.session.remove()

    page = browser_with_microphone.new_page(viewport=PHONE_SCREEN)
    page.goto(f"{base}/simulator")
    page.fill("#phone", "76 00 01 11")
    page.click("#dial")
    wait_for_text(page, "#screen", prompt("studio-welcome").text("fr"))
    for key in "2468#":
        page.click(f"#keypad button[data-key='{key}']")
    wait_for_text(page, "#screen", "Enregistrement en cours")
    assert "2468" not in page.inner_text("#screen")  # the code is shown as dots
    assert prompt("goodbye").text("fr") in page.inner_text("#screen")  # the French guide
    wait_for_text(page, "#status", "enregistrement")
    screenshot(page, "studio-simulator-recording-phone")
    assert sideways_overflow(page) == 0
    page.wait_for_timeout(3000)  # say the text (the fake microphone beeps)
    page.click("#keypad button[data-key='#']")
    wait_for_text(page, "#screen", prompt("studio-take-menu").text("fr"))
    assert "/simulator/takes/" in page.eval_on_selector("#player", "p => p.src")  # the take is played back
    screenshot(page, "studio-simulator-take-phone")
    page.click("#keypad button[data-key='1']")
    wait_for_text(page, "#screen", prompt("studio-kept").text("fr"))

    with app.app_context():
        assert fetch_pending(NOW) == {"stored": 1, "retry": 0, "failed": 0}
        recording = db.session.scalars(select(Recording)).one()
        assert (recording.stem, recording.source, recording.recorded_by) == (
            "prompts/goodbye", RecordingSource.PHONE, editor_id,
        )  # fmt: skip
        assert recording.duration_ms > 500
        db.session.remove()
