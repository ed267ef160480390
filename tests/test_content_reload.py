"""Publishing content without a restart (issue 14, part 5): an edited course file is served from the next call or
SMS once it passes the checks; a broken edit never takes the line down (the last good courses keep serving, the
errors are logged and shown by /healthz); ``flask content reload`` checks first, then makes every process reload.
"""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from content.catalog import content_status, get_catalog, signature, stamp_path
from tests import voice_support as w
from tests.conftest import FIXTURE_COURSES


@pytest.fixture
def courses(app, tmp_path):
    """The test courses copied to a folder the test may edit; the app serves them."""
    folder = tmp_path / "courses"
    shutil.copytree(FIXTURE_COURSES, folder)
    app.config["KALANSO_COURSES_DIR"] = folder
    app.instance_path = str(tmp_path / "instance")  # the reload stamp of this test only
    app.extensions.pop("kalanso.catalog", None)
    return folder


def edit(path, old: str, new: str) -> None:
    """Change a file's text; its modification time moves on even within the same clock tick."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def first_title(client) -> str:
    """What a caller hears as the first lesson's title, after choosing French, the courses and the first course."""
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    for turn, key in enumerate(["2", "2", "1"], start=1):
        body = w.post_twilio(client, f"/ivr/twilio/voice?ev=gather&t={turn}", w.twilio_gather(key)).get_data(
            as_text=True
        )
    return body


def test_a_valid_edit_is_served_from_the_next_call_without_a_restart(client, courses):
    money = courses / "money.yaml"
    before = get_catalog()
    assert get_catalog() is before  # unchanged files: the same catalog, not read again
    edit(money, "Épargner un peu chaque semaine", "Mettre de côté chaque semaine")
    after = get_catalog()
    assert after is not before
    assert after.lesson("money", "saving-a-little").title.text("fr") == "Mettre de côté chaque semaine"
    assert content_status().errors == ()
    response = client.post("/simulator/sms/send", json={"phone": "+22376123456", "text": "QUIZ 2"})
    assert response.get_json()["replies"][0]["body"].startswith("Lecon : Mettre de coté chaque semaine")


def test_a_broken_edit_keeps_the_last_good_courses_and_is_reported(client, courses, caplog):
    good = get_catalog()
    title = good.lesson("child-labour", "what-is-child-labour").title.text("fr")
    edit(courses / "child-labour.yaml", "correct: true", "correct: maybe")  # refused by the loader
    with caplog.at_level(logging.ERROR, logger="content.catalog"):
        assert get_catalog() is good
        assert get_catalog() is good  # refused once: not read again until the file changes
    assert len([r for r in caplog.records if "last good courses keep serving" in r.getMessage()]) == 1
    status = content_status()
    assert status.stale and any("correct must be true or false" in e for e in status.errors)
    health = client.get("/healthz")
    assert health.status_code == 200  # the line works
    assert health.get_json() == {
        "status": "ok",
        "database": "ok",
        "content": "stale",
        "content_errors": 4,
    }  # two questions: a bad value, no right option
    assert title in first_title(client)  # callers still hear the last good lesson
    edit(courses / "child-labour.yaml", "correct: maybe", "correct: true")  # fixed
    assert get_catalog() is not good and content_status().errors == ()
    assert client.get("/healthz").get_json()["content"] == "ok"


def test_an_edit_the_sms_line_could_not_send_is_refused_too(courses):
    good = get_catalog()
    long = "Un texte beaucoup trop long pour un SMS. " * 30  # over SMS_MAX_SEGMENTS
    edit(courses / "money.yaml", "Fatoumata vend des beignets", long + "Fatoumata vend des beignets")
    assert get_catalog() is good
    assert any(e.startswith("SMS: ") for e in content_status().errors)


def test_a_process_started_on_broken_files_serves_nothing_and_says_so(client, courses):
    edit(courses / "money.yaml", "correct: true", "correct: maybe")
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["content"] == "error"
    body = w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call()).get_data(as_text=True)
    assert body.startswith(w.XML_HEAD) and "<Hangup" in body  # a polite end, never a 500


def test_content_reload_checks_then_makes_every_process_reload(app, runner, courses):
    get_catalog()
    before = signature(courses, stamp_path(app.instance_path))
    result = runner.invoke(args=["content", "reload"])
    assert result.exit_code == 0, result.output
    assert "course(s)" in result.output and "served from the next call or SMS" in result.output
    assert signature(courses, stamp_path(app.instance_path)) != before  # every process sees the stamp move
    reloaded = get_catalog()
    assert get_catalog() is reloaded

    edit(courses / "money.yaml", "correct: true", "correct: maybe")
    stamp = stamp_path(app.instance_path).read_text()
    result = runner.invoke(args=["content", "reload"])
    assert result.exit_code == 1
    assert "correct must be true or false" in result.output
    assert "Nothing reloaded: the running processes keep serving the last good courses." in result.output
    assert stamp_path(app.instance_path).read_text() == stamp  # not touched
