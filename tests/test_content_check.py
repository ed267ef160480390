"""``flask content check`` on the shipped content and on broken copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from content.loader import COURSES_DIR, ContentError, load_catalog


@pytest.fixture
def courses_copy(tmp_path) -> Path:
    target = tmp_path / "courses"
    shutil.copytree(COURSES_DIR, target)
    return target


def edit(courses: Path, name: str, change) -> Path:
    path = courses / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def check(runner, courses: Path, audio: Path | None = None):
    args = ["content", "check", "--courses", str(courses)]
    if audio is not None:
        args += ["--audio", str(audio)]
    return runner.invoke(args=args)


def test_shipped_content_passes_and_reports_audio_coverage(runner, tmp_path):
    result = check(runner, COURSES_DIR, tmp_path / "no-audio")
    assert result.exit_code == 0, result.output
    assert "Content OK." in result.output
    assert "Audio coverage (recordings present / expected)" in result.output
    assert "WARNING" in result.output and "missing bm/money/saving-a-little/small-sums.wav" in result.output


def test_coverage_counts_recordings_that_exist(runner, tmp_path):
    audio = tmp_path / "audio"
    (audio / "fr" / "money" / "saving-a-little").mkdir(parents=True)
    (audio / "fr" / "money" / "saving-a-little" / "small-sums.mp3").write_bytes(b"ID3")
    (audio / "fr" / "money" / "title.wav").write_bytes(b"RIFF")
    result = check(runner, COURSES_DIR, audio)
    assert result.exit_code == 0
    fr_line = next(line for line in result.output.splitlines() if line.strip().startswith("fr "))
    assert fr_line.split()[:2] == ["fr", "2"]
    assert "missing fr/money/title.wav" not in result.output
    assert "missing fr/money/saving-a-little/small-sums.wav" not in result.output


def lesson0(data):
    return data["lessons"][0]


def item(data, item_id):
    return next(i for i in lesson0(data)["items"] if i["id"] == item_id)


BROKEN = [
    (
        "sms text not shorter",
        lambda d: item(d, "small-sums")["text"].update(sms={"fr": item(d, "small-sums")["text"]["fr"] + " Oui."}),
        "item 'small-sums' › text: sms 'fr': must be shorter than the text it replaces",
    ),
    (
        "sms text in an unknown language",
        lambda d: item(d, "small-sums")["text"].update(sms={"en": "Save."}),
        "item 'small-sums' › text: sms: unknown key 'en' (languages are bm, fr)",
    ),
    (
        "sms text on a title",
        lambda d: lesson0(d)["title"].update(sms={"fr": "Épargne"}),
        "lesson 'saving-a-little' › title: unknown key 'sms'",
    ),
    (
        "missing translation",
        lambda d: item(d, "small-sums")["text"].pop("bm"),
        "course 'money' › lesson 'saving-a-little' › item 'small-sums' › text: missing translation 'bm'",
    ),
    (
        "empty translation",
        lambda d: item(d, "ten-weeks")["feedback"]["wrong"].update(fr="  "),
        "item 'ten-weeks' › feedback wrong: missing translation 'fr'",
    ),
    (
        "duplicate item id",
        lambda d: lesson0(d)["items"].append(dict(item(d, "small-sums"))),
        "course 'money' › lesson 'saving-a-little' › item 'small-sums': duplicate item id",
    ),
    (
        "duplicate lesson id",
        lambda d: d["lessons"].append(dict(lesson0(d))),
        "course 'money' › lesson 'saving-a-little': duplicate lesson id",
    ),
    (
        "two correct options",
        lambda d: item(d, "ten-weeks")["options"][0].update(correct=True),
        "item 'ten-weeks': a question needs exactly one correct option, found 2",
    ),
    (
        "no correct option",
        lambda d: item(d, "ten-weeks")["options"][1].pop("correct"),
        "item 'ten-weeks': a question needs exactly one correct option, found 0",
    ),
    (
        "too many options",
        lambda d: item(d, "ten-weeks")["options"].extend([{"text": {"fr": "x", "bm": "x"}}] * 2),
        "item 'ten-weeks': a question needs 2 to 4 options, found 5",
    ),
    (
        "unknown key in an item",
        lambda d: item(d, "small-sums").update(colour="blue"),
        "item 'small-sums': unknown key 'colour'",
    ),
    (
        "unknown language",
        lambda d: item(d, "small-sums")["text"].update(en="Hello"),
        "item 'small-sums' › text: unknown key 'en'",
    ),
    (
        "unknown key in a course",
        lambda d: d.update(author="me"),
        "course 'money': unknown key 'author'",
    ),
    (
        "bad item type",
        lambda d: item(d, "small-sums").update(type="video"),
        "item 'small-sums': type must be 'chunk' or 'question', got 'video'",
    ),
    (
        "bad review state",
        lambda d: lesson0(d).update(review={"fr": "done", "bm": "draft"}),
        "lesson 'saving-a-little': review 'fr': 'done' is not one of draft, reviewed",
    ),
]


@pytest.mark.parametrize(("label", "change", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_copies_fail_with_a_precise_message(runner, courses_copy, label, change, message):
    path = edit(courses_copy, "money.yaml", change)
    result = check(runner, courses_copy)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR ")]
    assert any(str(path) in e or path.name in e for e in errors), errors
    assert any(message in e for e in errors), errors
    with pytest.raises(ContentError):
        load_catalog(courses_copy)


def test_bad_yaml_names_the_file_and_line(runner, courses_copy):
    path = courses_copy / "money.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = "title: [unclosed"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = check(runner, courses_copy)
    assert result.exit_code == 1
    assert "money.yaml: line " in result.output and "bad YAML" in result.output


def test_duplicate_course_id_across_files(runner, courses_copy):
    shutil.copyfile(courses_copy / "money.yaml", courses_copy / "money-copy.yaml")
    result = check(runner, courses_copy)
    assert result.exit_code == 1
    assert "course 'money': duplicate course id" in result.output


def test_all_errors_are_reported_in_one_pass(runner, courses_copy):
    edit(courses_copy, "money.yaml", lambda d: item(d, "small-sums")["text"].pop("fr"))
    edit(courses_copy, "child-labour.yaml", lambda d: item(d, "awa-at-the-mine").update(extra=1))
    result = check(runner, courses_copy)
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 2, errors


def test_empty_folder_is_an_error(runner, tmp_path):
    result = check(runner, tmp_path)
    assert result.exit_code == 1 and "no course files" in result.output


def test_an_option_that_is_an_sms_keyword_is_an_error(runner, courses_copy):
    edit(courses_copy, "money.yaml", lambda d: item(d, "ten-weeks")["options"][0]["text"].update(fr="Stop, 500 francs"))
    result = check(runner, courses_copy)
    assert result.exit_code == 1
    assert "ERROR SMS: money › saving-a-little › ten-weeks: option 1 [fr] starts with the SMS keyword 'STOP'" in (
        result.output
    )


def test_a_text_over_the_sms_segment_limit_is_refused_at_authoring_time(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", SMS_MAX_SEGMENTS="1")
    result = app.test_cli_runner().invoke(args=["content", "check", "--courses", str(COURSES_DIR)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR SMS: ")]
    assert errors and all("SMS_MAX_SEGMENTS" in e or "segment" in e for e in errors), errors[:3]
    assert "ERROR SMS: money › saving-a-little [fr] › small-sums" in result.output


def test_the_check_lists_the_recordings_callers_missed_most(app, runner, tmp_path):
    from core.db import db
    from ivr.audio import count_fallback
    from tests.conftest import NOW

    for _ in range(3):
        count_fallback("bm", "money/saving-a-little/small-sums", NOW)
    count_fallback("bm", "prompts/language-menu", NOW)
    db.session.commit()
    result = check(runner, COURSES_DIR, tmp_path / "no-audio")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("Most-needed missing recordings (times callers heard the fallback instead)")
    assert lines[start + 1].split()[:2] == ["3", "bm/money/saving-a-little/small-sums"]
    assert lines[start + 2].split()[:2] == ["1", "bm/prompts/language-menu"]


def test_an_option_or_a_text_containing_an_opt_out_or_opt_in_word_is_an_error(runner, courses_copy):
    def change(d):
        item(d, "ten-weeks")["options"][0]["text"].update(fr="500 francs, puis stop")
        item(d, "small-sums")["text"].update(bm=item(d, "small-sums")["text"]["bm"] + " Seginni.")

    edit(courses_copy, "money.yaml", change)
    result = check(runner, courses_copy)
    assert result.exit_code == 1
    assert (
        "ERROR SMS: money › saving-a-little › ten-weeks: option 1 [fr]: contains the opt-out word 'STOP': a learner "
        "repeating it would stop by accident; use another word (or change SMS_OPT_OUT_WORD_BM / SMS_OPT_IN_WORD_BM)"
    ) in result.output
    assert "ERROR SMS: money › saving-a-little › small-sums [bm]: contains the opt-in word 'SEGINNI'" in result.output


def test_the_old_bambara_opt_out_word_is_refused_because_the_lessons_use_it(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", SMS_OPT_OUT_WORD_BM="DABILA")
    result = app.test_cli_runner().invoke(args=["content", "check", "--courses", str(COURSES_DIR)])
    assert result.exit_code == 1
    assert (
        "ERROR SMS: child-labour › why-school-pays › lost-years [bm]: contains the opt-out word 'DABILA'"
        in result.output
    )


def test_the_check_prints_each_lessons_sms_cost_and_warns_over_the_budget(tmp_path):
    from sms.authoring import lesson_costs
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", SMS_LESSON_BUDGET_SEGMENTS="12")
    result = app.test_cli_runner().invoke(args=["content", "check", "--courses", str(COURSES_DIR)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        costs = lesson_costs(load_catalog(COURSES_DIR), app.config["KALANSO"])
    lines = result.output.splitlines()
    assert "SMS cost per lesson (segments, right answers; budget 12: SMS_LESSON_BUDGET_SEGMENTS)" in lines
    for c in costs:
        row = next(line for line in lines if line.strip().startswith(f"{c.course_id} › {c.lesson_id} "))
        assert row.split()[-2:] == [str(c.segments["bm"]), str(c.segments["fr"])]
        for lang in ("bm", "fr"):
            warning = (
                f"WARNING {c.course_id} › {c.lesson_id} [{lang}] costs {c.segments[lang]} SMS segments, "
                "over the budget of 12"
            )
            assert any(line.startswith(warning) for line in lines) == (c.segments[lang] > 12)
    total = next(line for line in lines if line.strip().startswith("whole curriculum"))
    assert total.split()[-2:] == [str(sum(c.segments[g] for c in costs)) for g in ("bm", "fr")]
