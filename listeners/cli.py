"""``flask listeners ...``: import and inspect listeners."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from core.clock import utcnow
from core.db import db
from listeners.importer import MESSAGES, decode, import_listeners

listeners_cli = AppGroup("listeners", help="Listeners: import from CSV.")


@listeners_cli.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--partial", is_flag=True, help="Import the good rows even if some rows are bad.")
def import_command(csv_file: Path, partial: bool) -> None:
    """Import listeners from CSV_FILE (columns: phone, name, language, village, commune, region, groups).

    Separators `,` or `;`; UTF-8 (Excel's "CSV UTF-8", byte-order mark accepted) or Windows-1252 (Excel's
    plain "CSV"). A language a listener chose by phone is kept. Nothing is imported if a row is bad, unless
    --partial."""
    try:
        text, encoding = decode(csv_file.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{csv_file}: {MESSAGES[str(exc)]}") from exc
    if encoding == "cp1252":
        click.echo(f"{csv_file}: read as Windows-1252 (not UTF-8): Bambara letters ɛ ɔ ɲ ŋ cannot be in it.", err=True)
    report = import_listeners(text, utcnow(), partial=partial, encoding=encoding)
    for error in report.errors:
        click.echo(f"{csv_file}: {error}", err=True)
    if not report.imported:
        db.session.rollback()
        click.echo(f"Nothing imported: {report.bad_lines} bad row(s). Fix them, or use --partial.", err=True)
        raise SystemExit(1)
    db.session.commit()
    kept = f", language kept for {report.language_kept} (chosen by phone)" if report.language_kept else ""
    click.echo(
        f"Imported: {report.created} new, {report.updated} updated, {report.bad_lines} bad row(s) skipped{kept}."
    )
