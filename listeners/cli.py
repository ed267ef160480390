"""``flask listeners ...``: import and inspect listeners."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from core.clock import utcnow
from core.db import db
from listeners.importer import import_listeners

listeners_cli = AppGroup("listeners", help="Listeners: import from CSV.")


@listeners_cli.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--partial", is_flag=True, help="Import the good rows even if some rows are bad.")
def import_command(csv_file: Path, partial: bool) -> None:
    """Import listeners from CSV_FILE (columns: phone, name, language, village, commune, region, groups)."""
    try:
        text = csv_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{csv_file}: not UTF-8 text ({exc.reason}); save the file as CSV UTF-8") from exc
    report = import_listeners(text, utcnow(), partial=partial)
    for error in report.errors:
        click.echo(f"{csv_file}: {error}", err=True)
    if not report.imported:
        db.session.rollback()
        click.echo(f"Nothing imported: {len(report.errors)} bad row(s). Fix them, or use --partial.", err=True)
        raise SystemExit(1)
    db.session.commit()
    click.echo(f"Imported: {report.created} new, {report.updated} updated, {len(report.errors)} bad row(s) skipped.")
