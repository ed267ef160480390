"""``flask scheduler``: the single scheduler process (see the Procfile)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from campaigns.scheduler import build_scheduler


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler in the foreground. Start exactly one per deployment."""
    scheduler = build_scheduler(current_app._get_current_object())
    jobs = scheduler.get_jobs()
    click.echo(f"Kalanso scheduler starting with {len(jobs)} job(s): {', '.join(j.id for j in jobs) or 'none yet'}")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("Scheduler stopped.")
