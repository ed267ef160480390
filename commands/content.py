"""``flask content check`` (validate the courses, report audio coverage) and ``flask content audio``."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from content.audio import coverage
from content.catalog import CHECKS_KEY, load_checked, stamp_path
from content.loader import AUDIO_DIR, COURSES_DIR, ContentError, load_catalog, read_courses
from content.model import LANGUAGES, native_review_marks
from content.recordings import GENERATED_DIR
from core.contacts import CONTACTS

content_cli = AppGroup("content", help="Course content: check files and recordings, generate French audio.")

courses_option = click.option(
    "--courses",
    "courses_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=COURSES_DIR,
    show_default=True,
    help="Folder of course YAML files.",
)
audio_option = click.option(
    "--audio",
    "audio_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=AUDIO_DIR,
    show_default=True,
    help="Folder of recordings, one sub-folder per language.",
)


def _contacts() -> dict[str, str]:
    return current_app.config["KALANSO"].contacts


def _prompt_texts(lang: str) -> dict[str, str]:
    """The voice line's fixed prompts (menus, goodbye...), by recording stem: recorded or generated like lessons."""
    from ivr.prompts import is_template, load_prompts, prompt_stem

    return {prompt_stem(key): text.text(lang) for key, text in load_prompts().items() if not is_template(key)}


def _channel_problems(catalog) -> list[str]:
    """What the app's checks refuse in a catalog (the same a reloaded catalog must pass: what the SMS line would
    refuse to send, over SMS_MAX_SEGMENTS or an option that is a keyword), and the SMS line's own texts."""
    from sms.authoring import text_problems

    checks = current_app.extensions.get(CHECKS_KEY, [])
    return [e for check in checks for e in check(catalog)] + [
        f"SMS: {p}" for p in text_problems(current_app.config["KALANSO"])
    ]


def _sms_cost_report(catalog) -> None:
    """Each lesson's SMS cost in segments per language, walked with right answers; a warning above the budget."""
    from sms.authoring import lesson_costs

    settings = current_app.config["KALANSO"]
    budget = settings.sms_lesson_budget_segments
    costs = lesson_costs(catalog, settings)
    click.echo("")
    click.echo(f"SMS cost per lesson (segments, right answers; budget {budget}: SMS_LESSON_BUDGET_SEGMENTS)")
    click.echo(f"  {'lesson':<48}" + "".join(f"{lang:>6}" for lang in LANGUAGES))
    for c in costs:
        click.echo(f"  {c.course_id + ' › ' + c.lesson_id:<48}" + "".join(f"{c.segments[g]:>6}" for g in LANGUAGES))
    click.echo(f"  {'whole curriculum':<48}" + "".join(f"{sum(c.segments[g] for c in costs):>6}" for g in LANGUAGES))
    for c in costs:
        for lang in LANGUAGES:
            if c.segments[lang] > budget:
                click.echo(
                    f"WARNING {c.course_id} › {c.lesson_id} [{lang}] costs {c.segments[lang]} SMS segments, "
                    f"over the budget of {budget}: give its long texts a shorter `sms` text (content/README.md)"
                )


def _voice_report(audio_dir: Path, list_missing: bool) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from content.recordings import find_recording
    from ivr.audio import fallback_counts
    from ivr.prompts import expected_prompt_recordings

    click.echo("")
    click.echo("Voice prompts (menus, goodbye...) recordings present / expected")
    for lang in LANGUAGES:
        stems = expected_prompt_recordings(lang)
        missing = [s for s in stems if find_recording(audio_dir, lang, s) is None]
        click.echo(f"  {lang:<10}{len(stems) - len(missing):>9}{len(stems):>10}")
        if missing and list_missing:
            for stem in missing:
                click.echo(f"  missing {lang}/{stem}.wav (or .mp3)")
    try:
        needed = fallback_counts(limit=10)
    except SQLAlchemyError:
        click.echo("(no call figures: the database is not reachable or not migrated — run `flask db upgrade`)")
        return
    if needed:
        click.echo("")
        click.echo("Most-needed missing recordings (times callers heard the fallback instead)")
        for lang, stem, times, last in needed:
            click.echo(f"  {times:>6}  {lang}/{stem}   last {last:%Y-%m-%d %H:%M}")


def _tests_report(courses) -> None:
    click.echo("")
    click.echo("Pre-test and post-test (measuring learning: the same questions before and after the course)")
    for course in courses:
        pre = course.test("pretest")
        if pre is None:
            click.echo(f"WARNING {course.id}: no pre-test and post-test (add a 'test:' block, content/README.md)")
        else:
            click.echo(f"  {course.id:<24}{len(pre.questions)} questions, {len(course.teaching)} lessons between")


def _native_review_report(courses) -> None:
    marks = [(course.id, where, note) for course in courses for where, note in native_review_marks(course)]
    click.echo("")
    click.echo(f"Marked for a native reader ({len(marks)} mark(s): `native_review:` in the course files)")
    for course in courses:
        mine = [(where, note) for cid, where, note in marks if cid == course.id]
        click.echo(f"  {course.id:<24}{len(mine)}")
        for where, note in mine:
            click.echo(f"    {where}: {note}")


@content_cli.command("check")
@courses_option
@audio_option
@click.option("--list-missing/--no-list-missing", default=True, help="List each missing recording.")
def check(courses_dir: Path, audio_dir: Path, list_missing: bool) -> None:
    """Validate every course; exit 1 on any error. Missing recordings are warnings."""
    catalog, errors = read_courses(courses_dir, _contacts())
    if not errors:
        errors = _channel_problems(catalog)
    for error in errors:
        click.echo(f"ERROR {error}", err=True)
    courses = list(catalog)
    lessons = sum(len(c.lessons) for c in courses)
    questions = sum(len(lesson.questions) for c in courses for lesson in c.lessons)
    click.echo(f"{len(courses)} course(s), {lessons} lesson(s), {questions} question(s) checked.")
    if courses:
        click.echo("")
        click.echo("Audio coverage (recordings present / expected)")
        click.echo("  present = recorded by a person + generated by `make audio` (French only)")
        click.echo(f"  {'language':<10}{'present':>9}{'recorded':>10}{'generated':>11}{'expected':>10}{'coverage':>10}")
        reports = coverage(catalog, audio_dir)
        for report in reports:
            click.echo(
                f"  {report.language:<10}{len(report.present):>9}{len(report.recorded):>10}"
                f"{len(report.generated):>11}{len(report.expected):>10}{report.percent:>9.0f}%"
            )
        for report in reports:
            if report.outdated:
                click.echo(
                    f"WARNING {len(report.outdated)} generated {report.language} file(s) were made from an older "
                    f"text: run `make audio`"
                )
            if report.missing:
                click.echo(
                    f"WARNING {len(report.missing)} {report.language} recording(s) missing "
                    f"under {audio_dir / report.language}"
                )
                if list_missing:
                    for stem in report.missing:
                        click.echo(f"  missing {report.language}/{stem}.wav (or .mp3)")
        if not errors:
            _sms_cost_report(catalog)
        _voice_report(audio_dir, list_missing)
        click.echo("")
        configured = _contacts()
        names = ", ".join(c.env for c in CONTACTS if c.key in configured) or "none"
        click.echo(f"Contact numbers configured ({len(configured)}/{len(CONTACTS)}): {names}")
        if not configured:
            click.echo("WARNING no KALANSO_CONTACT_* number is set: {contacts} tells listeners to ask the field agent")
        _tests_report(courses)
        _native_review_report(courses)
        click.echo("")
        click.echo("Review status (lessons reviewed / total)")
        for course in courses:
            states = "  ".join(
                f"{lang}: {sum(lsn.review.get(lang) == 'reviewed' for lsn in course.lessons)}/{len(course.lessons)}"
                for lang in LANGUAGES
            )
            click.echo(f"  {course.id:<24}{states}")
    if errors:
        raise SystemExit(1)
    click.echo("Content OK.")


@content_cli.command("reload")
def reload() -> None:
    """Check the course files, then make every running process serve them from its next call or SMS.

    The processes also notice an edited file by themselves; this command checks first (exit 1 and nothing changes
    when the files have errors: the processes keep serving the last good courses) and forces the reload.
    """
    import time

    courses_dir = Path(current_app.config["KALANSO_COURSES_DIR"])
    catalog, errors = load_checked(courses_dir, _contacts(), current_app.extensions.get(CHECKS_KEY, []))
    for error in errors:
        click.echo(f"ERROR {error}", err=True)
    if errors:
        click.echo("Nothing reloaded: the running processes keep serving the last good courses.", err=True)
        raise SystemExit(1)
    stamp = stamp_path(current_app.instance_path)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(f"{time.time_ns()}\n", encoding="utf-8")
    lessons = sum(len(c.lessons) for c in catalog)
    click.echo(f"{len(catalog.courses)} course(s), {lessons} lesson(s) checked: served from the next call or SMS.")


@content_cli.command("audio")
@courses_option
@audio_option
@click.option("--force", is_flag=True, help="Synthesise every file again, even unchanged ones.")
def audio(courses_dir: Path, audio_dir: Path, force: bool) -> None:
    """Generate French audio (eSpeak NG, offline) for every French text that has no recording.

    Only missing files and files whose text changed are made; the others are kept. Output goes to
    <audio>/_generated/fr/ (a build product, not committed). Bambara is recorded by people.
    """
    from content.tts import VOICES, EspeakNG, generate

    try:
        catalog = load_catalog(courses_dir, _contacts())
    except ContentError as exc:
        for error in exc.errors:
            click.echo(f"ERROR {error}", err=True)
        raise SystemExit(1) from exc
    synthesizer = EspeakNG()
    for lang in VOICES:
        started = time.perf_counter()
        report = generate(catalog, audio_dir, lang, synthesizer, force=force, extra=_prompt_texts(lang))
        seconds = time.perf_counter() - started
        click.echo(
            f"{lang}: {len(report.made)} generated, {len(report.unchanged)} unchanged, "
            f"{len(report.recorded)} recorded by a person, {len(report.removed)} removed "
            f"in {seconds:.1f} s -> {audio_dir / GENERATED_DIR / lang}"
        )
