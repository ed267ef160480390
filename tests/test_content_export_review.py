"""``flask content export-review``: the database's review states written into the course files' lesson
``review:`` (a tmp copy of the fixture courses), comments and layout kept, the loader still reading them."""

from __future__ import annotations

import shutil

import pytest

from content.loader import load_catalog
from content.model import Chunk
from core.db import db
from studio.models import ReviewStatus, TextReview
from studio.service import text_hash
from tests.conftest import FIXTURE_COURSES


@pytest.fixture
def courses(tmp_path):
    folder = tmp_path / "courses"
    shutil.copytree(FIXTURE_COURSES, folder)
    return folder


def _lesson_texts(lesson):
    out = [lesson.title]
    for item in lesson.items:
        out += [item.body] if isinstance(item, Chunk) else [item.prompt, item.feedback_correct, item.feedback_wrong]
    return out


def _review(lang, texts, status=ReviewStatus.REVIEWED):
    for t in texts:
        db.session.add(TextReview(lang=lang, stem=t.audio["bm"], status=status, text_hash=text_hash(t.text(lang))))
    db.session.commit()


def _export(runner, courses, *more):
    return runner.invoke(args=["content", "export-review", "--courses", str(courses), *more])


def test_a_fully_reviewed_lesson_is_written_reviewed_comments_kept(app, backend, runner, courses):
    lesson = load_catalog(courses).courses["money"].lessons[0]
    _review("bm", _lesson_texts(lesson))
    _review("fr", _lesson_texts(lesson)[:-1])  # one French text still to review: French stays draft
    before = (courses / "money.yaml").read_text(encoding="utf-8")
    other = (courses / "child-labour.yaml").read_text(encoding="utf-8")

    dry = _export(runner, courses, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "money.yaml: saving-a-little [bm] draft -> reviewed" in dry.output
    assert "[fr]" not in dry.output and "Dry run: nothing written." in dry.output
    assert (courses / "money.yaml").read_text(encoding="utf-8") == before

    result = _export(runner, courses)
    assert result.exit_code == 0, result.output
    assert (
        "money.yaml: saving-a-little [bm] draft -> reviewed" in result.output and "1 file(s) written." in result.output
    )
    after = (courses / "money.yaml").read_text(encoding="utf-8")
    assert after == before.replace("review: {fr: draft, bm: draft}", "review: {fr: draft, bm: reviewed}", 1)
    assert after.startswith("# Test fixture: a small, stable copy")  # the comment is kept
    assert (courses / "child-labour.yaml").read_text(encoding="utf-8") == other
    assert load_catalog(courses).courses["money"].lessons[0].review == {"fr": "draft", "bm": "reviewed"}

    again = _export(runner, courses)
    assert "Nothing to change." in again.output and (courses / "money.yaml").read_text(encoding="utf-8") == after


def test_a_changed_text_or_needs_changes_goes_back_to_draft(app, runner, courses):
    money = courses / "money.yaml"
    money.write_text(
        money.read_text(encoding="utf-8").replace(
            "review: {fr: draft, bm: draft}", "review: {fr: reviewed, bm: reviewed}"
        )
    )
    lesson = load_catalog(courses).courses["money"].lessons[0]
    texts = _lesson_texts(lesson)
    _review("bm", texts)
    _review("fr", texts[1:])
    _review("fr", texts[:1], ReviewStatus.NEEDS_CHANGES)
    db.session.execute(
        db.update(TextReview)
        .where(TextReview.stem == texts[2].audio["bm"], TextReview.lang == "bm")
        .values(text_hash="older")
    )
    db.session.commit()
    result = _export(runner, courses)
    assert result.exit_code == 0, result.output
    assert "saving-a-little [fr] reviewed -> draft" in result.output
    assert "saving-a-little [bm] reviewed -> draft" in result.output
    assert "review: {fr: draft, bm: draft}" in money.read_text(encoding="utf-8")


def test_a_lesson_without_review_gets_one_and_the_test_block_is_written(app, runner, courses):
    money = courses / "money.yaml"
    text = money.read_text(encoding="utf-8")
    money.write_text(text.replace("    review: {fr: draft, bm: draft}\n", "", 1))
    lesson = load_catalog(courses).courses["money"].lessons[0]
    _review("fr", _lesson_texts(lesson))
    result = _export(runner, courses)
    assert result.exit_code == 0, result.output
    assert "saving-a-little [fr] draft -> reviewed" in result.output
    written = money.read_text(encoding="utf-8")
    assert (
        '      bm: "Ka wari dɔɔnin mara dɔgɔkun o dɔgɔkun"\n    review: {fr: reviewed, bm: draft}\n    items:'
        in written
    )
    assert load_catalog(courses).courses["money"].lessons[0].review == {"fr": "reviewed", "bm": "draft"}


def test_broken_files_are_not_written(app, runner, courses):
    money = courses / "money.yaml"
    broken = money.read_text(encoding="utf-8").replace("review: {fr: draft, bm: draft}", "review: {fr: done}")
    money.write_text(broken)
    result = _export(runner, courses)
    assert result.exit_code == 1 and "Nothing written" in result.output
    assert money.read_text(encoding="utf-8") == broken


def test_the_test_block_of_a_shipped_course_only_its_review_line_changes(app, runner, tmp_path):
    """The shipped child-labour course (a copy): its ``test:`` block's review, and a quoted text written over two
    lines that ruamel.yaml would put on one — kept as it is."""
    from content.loader import COURSES_DIR

    folder = tmp_path / "shipped"
    folder.mkdir()
    shutil.copy(COURSES_DIR / "child-labour.yaml", folder)
    course = load_catalog(folder).courses["child-labour"]
    tests = [lesson for lesson in course.lessons if lesson.is_test]
    assert len(tests) == 2
    texts = {id(t): t for lesson in tests for t in [*_lesson_texts(lesson)]}
    _review("bm", list({t.audio["bm"]: t for t in texts.values()}.values()))
    before = (folder / "child-labour.yaml").read_text(encoding="utf-8")
    assert "(ɲininkali fɔlɔw / ɲininkali laban), and\n    the questions" in before
    result = _export(runner, folder)
    assert result.exit_code == 0, result.output
    assert "child-labour.yaml: test [bm] draft -> reviewed" in result.output and "WARNING" not in result.output
    after = (folder / "child-labour.yaml").read_text(encoding="utf-8")
    assert after == before.replace(
        "test:\n  review: {fr: draft, bm: draft}", "test:\n  review: {fr: draft, bm: reviewed}", 1
    )
    assert [
        lesson.review["bm"] for lesson in load_catalog(folder).courses["child-labour"].lessons if lesson.is_test
    ] == [
        "reviewed",
        "reviewed",
    ]


def _studio_lines(output: str) -> dict[str, list[str]]:
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Studio (the dashboard's reviews"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("  "):
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_the_check_reports_reviews_and_approved_recordings(app, backend, runner, tmp_path):
    from studio.models import Recording, RecordingSource, RecordingStatus

    catalog = load_catalog(FIXTURE_COURSES)
    lesson = catalog.courses["money"].lessons[0]
    texts = _lesson_texts(lesson)
    _review("bm", texts[:3])
    _review("fr", texts[:1])
    for stem, status in (
        (texts[0].audio["bm"], RecordingStatus.APPROVED),
        (texts[1].audio["bm"], RecordingStatus.RECORDED),
    ):
        db.session.add(
            Recording(lang="bm", stem=stem, file=f"bm/{stem}.wav", source=RecordingSource.PHONE, status=status)
        )
    db.session.commit()
    audio = tmp_path / "audio"
    (audio / "fr" / "money").mkdir(parents=True)
    (audio / "fr" / "money" / "title.wav").write_bytes(b"RIFF")  # a file committed with the content, no row
    result = runner.invoke(args=["content", "check", "--courses", str(FIXTURE_COURSES), "--audio", str(audio)])
    assert result.exit_code == 0, result.output
    rows = _studio_lines(result.output)
    money_total = sum(1 for _ in _money_stems(catalog))
    # bm reviewed, bm approved/present, fr reviewed, fr approved/present (LANGUAGES order)
    from content.model import LANGUAGES

    expected = {"bm": [f"3/{money_total}", "1/2"], "fr": [f"1/{money_total}", "0/1"]}
    assert rows["money"] == [cell for lang in LANGUAGES for cell in expected[lang]]
    child = sum(1 for _ in _money_stems(catalog, "child-labour"))
    assert rows["child-labour"] == [f"0/{child}", "0/0"] * len(LANGUAGES)


def _money_stems(catalog, course_id="money"):
    from studio.service import studio_texts

    return [t.stem for t in studio_texts(catalog) if t.course_id == course_id]


def test_the_check_says_when_the_database_is_unreachable(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'not-migrated.sqlite3'}")
    result = app.test_cli_runner().invoke(args=["content", "check", "--courses", str(FIXTURE_COURSES)])
    assert result.exit_code == 0, result.output
    assert "(no studio figures: the database is not reachable or not migrated" in result.output
