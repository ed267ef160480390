"""The dashboard in a real browser: Debian's Chromium driven by Playwright, at a phone's size (390x844).

- A field agent of Kaniko signs in, opens the completion matrix, the follow-up list of who has not finished a
  lesson in their village, opens one person's record, and registers a new listener with their consent.
- A manager downloads the XLSX export of the listeners list; the test opens the file with openpyxl.
- No dashboard page scrolls sideways at 390 px; screenshots are saved in ``$KALANSO_SCREENSHOTS`` (default:
  ``/tmp/kalanso-screenshots``) as test artefacts, at phone and desktop size.

Skipped with a reason when /usr/bin/chromium is missing, except when ``KALANSO_REQUIRE_BROWSER=1`` (.ci/run).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from accounts import service
from accounts.roles import Role, ScopeKind
from core.db import db
from core.vocabulary import Channel
from listeners.models import ConsentEvent, LessonCompletion, LessonProgress, Listener, ProgressStatus
from tests.browser_support import DESKTOP, PHONE_SCREEN, screenshot, sideways_overflow
from tests.conftest import NOW
from tests.dashboard_support import PASSWORD

pytestmark = pytest.mark.browser
LESSON = ("child-labour", "what-is-child-labour")


def _seed(app) -> None:
    with app.app_context():
        app.config["KALANSO_CLOCK"] = lambda: NOW
        people = [
            Listener(phone="+22376000001", name="Awa Traoré", village="Kaniko", language="bm", created_at=NOW),
            Listener(phone="+22376000002", name="Moussa Diarra", village="Kaniko", language="fr", created_at=NOW),
            Listener(phone="+22376000003", name="Fanta Coulibaly", village="Kaniko", language="bm", created_at=NOW),
            Listener(phone="+22376000004", name="Seydou Keïta", village="Molobala", language="bm", created_at=NOW),
        ]
        db.session.add_all(people)
        db.session.flush()
        awa, moussa = people[0], people[1]
        when = NOW - timedelta(days=2)
        db.session.add_all(
            [
                LessonProgress(listener_id=awa.id, course_id=LESSON[0], lesson_id=LESSON[1], bookmark={},
                               status=ProgressStatus.COMPLETED, score=3, best_score=3, total=3, attempts=1,
                               started_at=when, completed_at=when, updated_at=when),
                LessonCompletion(listener_id=awa.id, course_id=LESSON[0], lesson_id=LESSON[1], attempt=1, score=3,
                                 total=3, channel=Channel.VOICE, completed_at=when),
                LessonProgress(listener_id=moussa.id, course_id=LESSON[0], lesson_id=LESSON[1], bookmark={},
                               status=ProgressStatus.IN_PROGRESS, attempts=0, started_at=when, updated_at=when),
            ]
        )  # fmt: skip
        for email, role, scopes in [
            ("agent@example.org", Role.AGENT, [(ScopeKind.VILLAGE, "Kaniko")]),
            ("manager@example.org", Role.MANAGER, []),
        ]:
            service.create_user(email, role, NOW, name=email.split("@")[0].title(), password=PASSWORD, scopes=scopes)
        db.session.commit()


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/dashboard/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/dashboard/")


def _open_menu(page, label: str) -> None:
    page.click("details.menu summary")
    page.click(f"details.menu nav a:text-is('{label}')")


def test_an_agent_follows_up_their_village_and_registers_someone(browser, live_app, tmp_path):
    app, base = live_app
    _seed(app)
    page = browser.new_page(viewport=PHONE_SCREEN)
    _sign_in(page, base, "agent@example.org")
    assert sideways_overflow(page) == 0
    screenshot(page, "dashboard-phone-home")

    _open_menu(page, "Suivi des leçons")
    page.wait_for_selector("table.matrix")
    rows = page.locator("table.matrix tbody tr").all_inner_texts()
    assert any(r.startswith("Kaniko") for r in rows) and not any("Molobala" in r for r in rows)
    assert sideways_overflow(page) == 0
    screenshot(page, "dashboard-phone-completion")

    page.click("ol.legend li:first-child a")  # the follow-up lists of the first lesson
    page.click("ul.tabs a:has-text('Commencé, pas fini')")
    page.wait_for_selector("text=Moussa Diarra")
    listed = page.locator("main table").inner_text()
    assert "Moussa Diarra" in listed and "Awa Traoré" not in listed and "Seydou" not in listed
    assert sideways_overflow(page) == 0
    screenshot(page, "dashboard-phone-followup")

    page.click("main table a:text-is('Moussa Diarra')")
    page.wait_for_selector("h1:has-text('Moussa Diarra')")
    assert sideways_overflow(page) == 0
    screenshot(page, "dashboard-phone-record")

    _open_menu(page, "Inscrire un auditeur")
    page.fill("#phone", "76 55 44 33")
    page.fill("#name", "Kadiatou Sangaré")
    assert page.input_value("#village") == "Kaniko"  # the agent's one village, already typed
    page.check("input[name='language'][value='bm']")
    page.check("#consent")
    screenshot(page, "dashboard-phone-register")
    page.click("button.primary:has-text('Inscrire')")
    page.wait_for_selector("text=Kadiatou Sangaré")
    assert sideways_overflow(page) == 0
    screenshot(page, "dashboard-phone-registered")
    with app.app_context():
        person = db.session.scalars(select(Listener).where(Listener.phone == "+22376554433")).one()
        assert (person.village, person.language, person.consent_channel) == ("Kaniko", "bm", "agent")
        events = db.session.scalars(select(ConsentEvent).where(ConsentEvent.listener_id == person.id)).all()
        assert [(e.action, e.channel) for e in events] == [("consent", "agent")]


def test_a_manager_downloads_the_listeners_as_xlsx(browser, live_app, tmp_path):
    app, base = live_app
    _seed(app)
    page = browser.new_page(viewport=PHONE_SCREEN, accept_downloads=True)
    _sign_in(page, base, "manager@example.org")
    _open_menu(page, "Auditeurs")
    page.wait_for_selector("text=Seydou Keïta")
    assert sideways_overflow(page) == 0
    screenshot(page, "dashboard-phone-listeners")
    with page.expect_download() as download:
        page.click("a:text-is('Excel')")
    path = tmp_path / "listeners.xlsx"
    download.value.save_as(path)
    book = load_workbook(path, read_only=True)
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()  # a read-only workbook keeps its file open: left to the garbage collector, the next test fails
    names = {cell for row in rows[1:] for cell in row if isinstance(cell, str)}
    assert {"Awa Traoré", "Moussa Diarra", "Fanta Coulibaly", "Seydou Keïta"} <= names
    assert "+22376000004" in names  # the phone kept as text, with its +


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_no_dashboard_page_scrolls_sideways(browser, live_app, size):
    app, base = live_app
    _seed(app)
    page = browser.new_page(viewport=PHONE_SCREEN if size == "phone" else DESKTOP)
    page.goto(f"{base}/dashboard/login")
    screenshot(page, f"dashboard-{size}-login")
    _sign_in(page, base, "manager@example.org")
    with app.app_context():
        someone = db.session.scalars(select(Listener.id).order_by(Listener.id)).first()
    paths = {
        "home": "/dashboard/",
        "listeners": "/dashboard/listeners/",
        "record": f"/dashboard/listeners/{someone}",
        "edit": f"/dashboard/listeners/{someone}/edit",
        "completion": "/dashboard/completion/",
        "followup": f"/dashboard/completion/lesson?lesson={LESSON[0]}/{LESSON[1]}",
        "register": "/dashboard/register",
        "import": "/dashboard/import",
        "groups": "/dashboard/groups/",
        "answers": "/dashboard/exports/answers",
        "tokens": "/dashboard/tokens/",
    }
    for name, path in paths.items():
        answer = page.goto(f"{base}{path}")
        assert answer.status == 200, path
        assert sideways_overflow(page) == 0, path
        screenshot(page, f"dashboard-{size}-{name}")
