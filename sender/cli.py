"""``flask sender run`` (the Procfile's ``sender:``; one or more per deployment) and ``flask sender reconcile``."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from core.clock import clock_from
from sender.loop import RECONCILE_AFTER, Sender

sender_cli = AppGroup("sender", help="The sender: hands the outbox to the providers (SMS and calls).")

now_option = click.option("--now", "now_text", default=None, help="Pretend it is this moment (ISO, UTC).")


def _clock(now_text: str | None):
    try:
        return clock_from(now_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from exc


@sender_cli.command("run")
@click.option("--once", is_flag=True, help="Send what is due now, then stop (instead of running until stopped).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=None, help="Requests in flight at most.")
@now_option
def run_command(once: bool, concurrency: int | None, now_text: str | None) -> None:
    """Run the sender until stopped (SIGTERM or Ctrl-C finish the requests in flight first)."""
    app = current_app._get_current_object()
    sender = Sender(app, concurrency=concurrency, clock=_clock(now_text))
    if once:
        report = sender.drain()
        click.echo(
            f"sent {report.sent}, failed {report.failed}, cancelled {report.cancelled} (claimed {report.claimed})"
        )
        return
    stop = threading.Event()

    def _stop(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"Kalanso sender {sender.name} running ({sender.concurrency} requests in flight at most)")
    sender.run(stop)
    click.echo("Sender stopped.")


@sender_cli.command("reconcile")
@now_option
@click.option(
    "--older-than", type=int, default=int(RECONCILE_AFTER.total_seconds()), show_default=True, help="Seconds."
)
def reconcile_command(now_text: str | None, older_than: int) -> None:
    """Resolve rows a dead sender left in 'sending' (asked of the provider where possible; else 'unknown',
    never resent blindly), and cancel pending rows of listeners who opted out. The sender does it every minute."""
    sender = Sender(current_app._get_current_object(), inline=True)
    counts = sender.reconcile(_clock(now_text)(), timedelta(seconds=older_than))
    click.echo(f"reconciled: {counts}")
