"""``flask simulate sms --phone +22376123456 "QUIZ"``: text the line as a listener would (simulator)."""

from __future__ import annotations

import click
from flask import current_app

from core.clock import utcnow
from core.db import db
from core.phones import InvalidPhone, normalize_phone
from core.vocabulary import Channel
from providers.local import sms as local_sms
from sender.loop import Sender
from sms import service


@click.command("sms")
@click.option("--phone", required=True, help="The listener's number, e.g. +22376123456 or 76 12 34 56.")
@click.argument("text", nargs=-1, required=True)
def sms_command(phone: str, text: tuple[str, ...]) -> None:
    """Send TEXT to the SMS line as PHONE and print the replies (through the local simulator)."""
    try:
        phone = normalize_phone(phone)
    except InvalidPhone as exc:
        raise click.BadParameter(str(exc), param_hint="--phone") from exc
    event = local_sms.parse_incoming({"phone": phone, "text": " ".join(text)})
    now = utcnow()
    replies = service.handle_incoming(event, now)
    db.session.commit()
    # the simulator's own sender, in this process and for the simulator's texts only
    Sender(current_app._get_current_object(), inline=True, only=[(Channel.SMS, local_sms.NAME)]).drain()
    if not replies:
        click.echo("(no reply)")
    for message in replies:
        db.session.refresh(message)
        click.echo(f"--- reply {message.id}: {message.encoding}, {message.segments} segment(s), {message.status}")
        click.echo(message.body)
