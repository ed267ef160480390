"""The simulator in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

A person dials, chooses French, opens a lesson with the keypad and hangs up; then texts QUIZ in the
SMS panel and sees the reply with its encoding and segment count. Skipped with a reason when
/usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1`` (set by .ci/run).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from core.db import db
from core.vocabulary import CallStatus
from ivr.models import CallSession
from ivr.prompts import prompt
from listeners.models import Listener
from tests.conftest import make_app

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser():
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        if os.environ.get("KALANSO_REQUIRE_BROWSER") == "1":
            pytest.fail("KALANSO_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed: browser tests skipped (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def live_app(sqlite_url):
    """The app served over HTTP on 127.0.0.1 (a random port), in a thread."""
    app = make_app(sqlite_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        with app.app_context():
            db.engine.dispose()


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
    wait_for_text(page, "#status", "main")
    page.click("#keypad button[data-key='2']")  # courses
    wait_for_text(page, "#status", "courses")
    page.click("#keypad button[data-key='1']")  # the first course
    page.click("#keypad button[data-key='1']")  # its first lesson
    wait_for_text(page, "#status", "lesson")
    wait_for_text(page, "#screen", "Qu'est-ce que le travail des enfants ?")
    page.click("#hangup")
    wait_for_text(page, "#status", "Raccroché")

    page.fill("#sms-phone", "+223 76 12 34 56")
    page.fill("#sms-text", "QUIZ")
    page.click("#sms-form button[type=submit]")
    wait_for_text(page, "#sms-log", "segment")
    log_text = page.inner_text("#sms-log")
    assert "QUIZ" in log_text and "GSM-7" in log_text
    page.screenshot(path=str(Path(os.environ.get("KALANSO_SCREENSHOTS", "/tmp")) / "kalanso-simulator.png"))

    with app.app_context():
        listener = db.session.scalars(select(Listener)).one()
        assert (listener.phone, listener.language) == ("+22376123456", "fr")
        session = db.session.scalars(select(CallSession)).one()
        assert session.status == CallStatus.COMPLETED
        assert [node for _, node in session.path][:3] == ["language", "main", "courses"]
