"""``flask analytics rebuild [--since YYYY-MM-DD]``: write the call facts again from the call sessions."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

from analytics import facts
from core.clock import utcnow

analytics_cli = AppGroup("analytics", help="Learning analytics: the call facts behind the reports.")


def _day(_ctx, _param, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not a date: {value!r} (YYYY-MM-DD)") from None


@analytics_cli.command("rebuild")
@click.option("--since", callback=_day, help="only the calls from this local day on (YYYY-MM-DD); default: all")
@click.option("--batch", type=click.IntRange(1, 100_000), default=facts.REBUILD_BATCH, show_default=True,
              help="calls per committed batch")  # fmt: skip
def rebuild_command(since: date | None, batch: int) -> None:
    """Write again the fact of every finished call (idempotent: existing facts are replaced)."""
    done = facts.rebuild(utcnow(), since=since, batch=batch)
    where = f" since {since.isoformat()}" if since else ""
    click.echo(f"call facts rebuilt: {done} call(s){where}")
