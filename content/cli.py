"""``flask content check``: validate the course files and report audio coverage."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from content.audio import coverage
from content.loader import AUDIO_DIR, COURSES_DIR, read_courses

content_cli = AppGroup("content", help="Course content: check files and recordings.")


@content_cli.command("check")
@click.option(
    "--courses",
    "courses_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=COURSES_DIR,
    show_default=True,
    help="Folder of course YAML files.",
)
@click.option(
    "--audio",
    "audio_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=AUDIO_DIR,
    show_default=True,
    help="Folder of recordings, one sub-folder per language.",
)
@click.option("--list-missing/--no-list-missing", default=True, help="List each missing recording.")
def check(courses_dir: Path, audio_dir: Path, list_missing: bool) -> None:
    """Validate every course; exit 1 on any error. Missing recordings are warnings."""
    catalog, errors = read_courses(courses_dir)
    for error in errors:
        click.echo(f"ERROR {error}", err=True)
    courses = list(catalog)
    lessons = sum(len(c.lessons) for c in courses)
    questions = sum(len(lesson.questions) for c in courses for lesson in c.lessons)
    click.echo(f"{len(courses)} course(s), {lessons} lesson(s), {questions} question(s) checked.")
    if courses:
        click.echo("")
        click.echo("Audio coverage (recordings present / expected)")
        click.echo(f"  {'language':<10}{'present':>9}{'expected':>10}{'coverage':>10}")
        reports = coverage(catalog, audio_dir)
        for report in reports:
            click.echo(
                f"  {report.language:<10}{len(report.present):>9}{len(report.expected):>10}{report.percent:>9.0f}%"
            )
        for report in reports:
            if report.missing:
                click.echo(
                    f"WARNING {len(report.missing)} {report.language} recording(s) missing "
                    f"under {audio_dir / report.language}"
                )
                if list_missing:
                    for stem in report.missing:
                        click.echo(f"  missing {report.language}/{stem}.wav (or .mp3)")
        click.echo("")
        click.echo("Review status (lessons reviewed / total)")
        for course in courses:
            states = "  ".join(
                f"{lang}: {sum(lsn.review.get(lang) == 'reviewed' for lsn in course.lessons)}/{len(course.lessons)}"
                for lang in ("bm", "fr")
            )
            click.echo(f"  {course.id:<24}{states}")
    if errors:
        raise SystemExit(1)
    click.echo("Content OK.")
