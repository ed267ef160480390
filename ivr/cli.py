"""``flask simulate call --phone +223...``: a voice call in the terminal, through the ``local`` provider.

Type keys and Enter: digits, ``*``, ``#``; an empty line is a timeout (silence); ``q`` hangs up.
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from core.clock import utcnow
from core.db import db, with_retry
from ivr import service
from providers.local import voice as local


@click.command("call")
@click.option("--phone", required=True, help="The caller's number, e.g. +22376123456")
@with_appcontext
def call_command(phone: str) -> None:
    """Call the voice line as a listener would (keys from stdin; empty line = silence; q = hang up)."""
    turn = _send({"action": "dial", "phone": phone})
    stdin = sys.stdin  # the CLI runner's input in tests
    while turn["call"] and not turn["ended"]:
        click.echo("? ", nl=False)
        line = stdin.readline()
        if not line or line.strip().lower() == "q":
            _send({"action": "hangup", "phone": phone, "call": turn["call"]})
            click.echo("(vous avez raccroché)")
            return
        keys = line.strip()
        if not keys:
            turn = {**_send({"action": "timeout", "phone": phone, "call": turn["call"]}), "call": turn["call"]}
            continue
        for key in keys:
            call_id = turn["call"]
            turn = {**_send({"action": "key", "digits": key, "phone": phone, "call": call_id}), "call": call_id}
            if turn["ended"]:
                break
    if turn["call"]:  # the line ended the call: its final status follows, as a provider would send it
        _send(
            {
                "action": "status",
                "status": "busy" if turn["rejected"] else "completed",
                "phone": phone,
                "call": turn["call"],
            }
        )
    click.echo("(fin de l'appel)")


def _send(data: dict) -> dict:
    event = None
    try:
        event = local.parse(data)
        now = utcnow()
        turn = with_retry(lambda: service.handle(event, now))
    except (ValueError, LookupError) as exc:
        db.session.rollback()
        click.echo(f"({exc})", err=True)
        turn = service.apology()
    out = local.render(turn, event)
    for line in out["lines"]:
        click.echo(f"[{line['lang']}] {line['text']}" + (f"  ♪ {line['audio_url']}" if line["audio_url"] else ""))
    return out
