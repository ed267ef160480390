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


def _studio_report(catalog, audio_dir: Path) -> None:
    """Per course and language, from the studio's tables: texts reviewed (for their current text) / total, and
    recordings approved / present (a person's: a file under ``<audio>/<lang>/`` or a current recording)."""
    from sqlalchemy.exc import SQLAlchemyError

    from content.recordings import find_recorded
    from studio.models import RecordingStatus, ReviewStatus
    from studio.service import current_recordings, review_state, reviews, studio_texts

    click.echo("")
    click.echo("Studio (the dashboard's reviews and recordings): texts reviewed / total, recordings approved / present")
    try:
        review_rows, recordings = reviews(), current_recordings()
    except SQLAlchemyError:
        click.echo("(no studio figures: the database is not reachable or not migrated — run `flask db upgrade`)")
        return
    texts = studio_texts(catalog)
    click.echo(f"  {'course':<24}" + "".join(f"{lang + ' reviewed':>14}{lang + ' approved':>14}" for lang in LANGUAGES))
    for course in catalog:
        mine = [t for t in texts if t.course_id == course.id]
        cells = ""
        for lang in LANGUAGES:
            reviewed = sum(
                review_state(review_rows.get((lang, t.stem)), t.text.text(lang)) is ReviewStatus.REVIEWED for t in mine
            )
            present = approved = 0
            for t in mine:
                row = recordings.get((lang, t.stem))
                if row is not None or find_recorded(audio_dir, lang, t.stem) is not None:
                    present += 1
                    approved += row is not None and row.status is RecordingStatus.APPROVED
            cells += f"{f'{reviewed}/{len(mine)}':>14}{f'{approved}/{present}':>14}"
        click.echo(f"  {course.id:<24}{cells}")


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
        _studio_report(catalog, audio_dir)
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


# --- export-review: the database's review states back into the course files ------------------------------------


def _lesson_texts(lesson) -> list:
    """The texts a lesson's review covers: its title and every item's (a chunk's text; a question's text and both
    feedbacks)."""
    from content.model import Chunk

    out = [lesson.title]
    for item in lesson.items:
        if isinstance(item, Chunk):
            out.append(item.body)
        else:
            out.extend((item.prompt, item.feedback_correct, item.feedback_wrong))
    return out


def lesson_review_states(course, review_rows: dict) -> dict[str, dict[str, str]]:
    """What each lesson's ``review:`` should say from the database (keyed by lesson id, ``test`` for the course's
    pre-test and post-test, which share one ``review:`` in the ``test:`` block): ``reviewed`` in a language when
    every text of the lesson is reviewed for its current text, else ``draft``."""
    from studio.models import ReviewStatus
    from studio.service import review_state

    texts: dict[str, list] = {}
    for lesson in course.lessons:
        key = "test" if lesson.is_test else lesson.id
        texts.setdefault(key, []).extend(_lesson_texts(lesson))
    out: dict[str, dict[str, str]] = {}
    for key, localized in texts.items():
        out[key] = {
            lang: "reviewed"
            if all(
                review_state(review_rows.get((lang, t.audio["bm"])), t.text(lang)) is ReviewStatus.REVIEWED
                for t in localized
            )
            else "draft"
            for lang in LANGUAGES
        }
    return out


def _round_trip_yaml():
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments, key order, quotes, flow mappings and block scalars kept
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    yaml.indent(mapping=2, sequence=4, offset=2)  # the course files' layout ("  - id: ...")
    return yaml


def _set_review(node, wanted: dict[str, str]) -> list[tuple[str, str, str]]:
    """Write ``wanted`` into a lesson's (or test block's) mapping; the changes as (language, before, after)."""
    from ruamel.yaml.comments import CommentedMap

    current = node.get("review")
    changes = []
    for lang in LANGUAGES:
        before = str(current.get(lang, "draft")) if isinstance(current, dict) else "draft"
        if before != wanted[lang]:
            changes.append((lang, before, wanted[lang]))
    if not changes:
        return []
    if isinstance(current, dict):
        for lang, _before, after in changes:
            current[lang] = after
    else:
        review = CommentedMap((lang, wanted[lang]) for lang in ("fr", "bm") if lang in LANGUAGES)
        review.fa.set_flow_style()
        keys = list(node)
        node.insert(keys.index("title") + 1 if "title" in keys else 0, "review", review)
    return changes


def _keep_layout(original: str, baseline: str, new: str) -> str | None:
    """``new`` (the round-trip dump after the changes) as edits of ``original``: ruamel.yaml writes a few rare
    layouts its own way (a quoted text over several lines, on one line), so only the lines that the changes touch are
    taken from the dump (``baseline``: the dump before the changes). None when they cannot be placed."""
    from difflib import SequenceMatcher

    if baseline == original:
        return new
    o, b, n = original.splitlines(True), baseline.splitlines(True), new.splitlines(True)
    where: dict[int, int] = {}  # a line of the baseline -> the same line of the original
    for tag, i1, i2, j1, _j2 in SequenceMatcher(None, b, o, autojunk=False).get_opcodes():
        if tag == "equal":
            where.update({i1 + k: j1 + k for k in range(i2 - i1)})
    edits = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, b, n, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            span = [where.get(k) for k in range(i1, i2)]
            if None in span or span != list(range(span[0], span[0] + len(span))):
                return None
            start, end = span[0], span[-1] + 1
        elif i1 in where:
            start = end = where[i1]
        elif i1 - 1 in where:
            start = end = where[i1 - 1] + 1
        else:
            return None
        edits.append((start, end, n[j1:j2]))
    for start, end, lines in reversed(edits):
        o[start:end] = lines
    return "".join(o)


@content_cli.command("export-review")
@courses_option
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
def export_review(courses_dir: Path, dry_run: bool) -> None:
    """Write the texts' review states (set in the dashboard's studio) into the course files' lesson ``review:``.

    A lesson is ``reviewed`` in a language when all its texts (title, chunks, questions, feedback) are reviewed for
    their current text, else ``draft``. Comments and layout of the files are kept (ruamel.yaml round-trip).
    """
    import io
    import os
    import tempfile

    from sqlalchemy.exc import SQLAlchemyError

    from studio.service import reviews

    catalog, errors = read_courses(courses_dir, _contacts())
    if errors:
        for error in errors:
            click.echo(f"ERROR {error}", err=True)
        click.echo("Nothing written: fix the course files first (flask content check).", err=True)
        raise SystemExit(1)
    try:
        review_rows = reviews()
    except SQLAlchemyError as exc:
        click.echo("ERROR the database is not reachable or not migrated (run `flask db upgrade`)", err=True)
        raise SystemExit(1) from exc
    yaml = _round_trip_yaml()
    changed_files = 0
    for course in catalog:
        wanted = lesson_review_states(course, review_rows)
        path = courses_dir / Path(course.source).name
        original = path.read_text(encoding="utf-8")
        data = yaml.load(original)
        before = io.StringIO()
        yaml.dump(data, before)
        changes: list[str] = []
        for node in data.get("lessons") or []:
            lid = node.get("id")
            if lid in wanted:
                changes += [f"{lid} [{lang}] {a} -> {b}" for lang, a, b in _set_review(node, wanted[lid])]
        if isinstance(data.get("test"), dict) and "test" in wanted:
            changes += [f"test [{lang}] {a} -> {b}" for lang, a, b in _set_review(data["test"], wanted["test"])]
        for change in changes:
            click.echo(f"{path.name}: {change}")
        if not changes or dry_run:
            continue
        out = io.StringIO()
        yaml.dump(data, out)
        text = _keep_layout(original, before.getvalue(), out.getvalue())
        if text is None:
            click.echo(f"WARNING {path.name}: written as ruamel.yaml lays it out (some lines reflowed; same content)")
            text = out.getvalue()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)  # the running processes never read half a file
        changed_files += 1
    if dry_run:
        click.echo("Dry run: nothing written.")
    else:
        click.echo(f"{changed_files} file(s) written." if changed_files else "Nothing to change.")
