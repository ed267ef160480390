"""Browser-test fixtures and helpers (registered in conftest): Debian's Chromium driven by Playwright, never a
downloaded browser, and the app served over HTTP in a thread."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from core.db import db
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

PHONE_SCREEN = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PAGES = {"front": "/", "simulator": "/simulator", "sms": "/simulator/sms"}


def screenshot(page, name: str) -> Path:
    folder = Path(os.environ.get("KALANSO_SCREENSHOTS", "/tmp/kalanso-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kalanso-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sideways_overflow(page) -> int:
    """How many pixels the page is wider than the screen (0: no horizontal scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]  # a beeping tone, granted


def _chromium(extra: list[str]):
    """Debian's Chromium driven by Playwright (skipped with a reason when it is missing, unless required)."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        if os.environ.get("KALANSO_REQUIRE_BROWSER") == "1":
            pytest.fail("KALANSO_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed: browser tests skipped (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*FLAGS, *extra])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser():
    yield from _chromium([])


@pytest.fixture
def browser_with_microphone():
    """Chromium whose microphone is a fake device (a beeping tone), granted without asking."""
    yield from _chromium(MICROPHONE)


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
