"""``flask campaigns ...`` (manage campaigns) and ``flask scheduler`` (the single scheduler process)."""

from __future__ import annotations

from pathlib import Path

import click
import yaml
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from campaigns.audience import audience_size
from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.models import Campaign
from campaigns.report import campaign_report, render_report
from campaigns.scheduler import build_scheduler, run_jobs_once
from campaigns.service import CampaignError, change_state, upsert_from_definition
from content.catalog import get_catalog
from core.clock import clock_from, utcnow
from core.db import db

campaigns_cli = AppGroup("campaigns", help="Campaigns: load from YAML, schedule, pause, cancel, report.")


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.ClickException(f"no campaign {campaign_id} (see `flask campaigns list`)")
    return campaign


@campaigns_cli.command("load")
@click.argument("yaml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--schedule", "schedule_now", is_flag=True, help="Schedule the campaigns once loaded.")
def load_command(yaml_file: Path, schedule_now: bool) -> None:
    """Create or update campaigns (by name) from a YAML file: one definition, or `campaigns: [...]`."""
    try:
        data = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{yaml_file}: bad YAML: {exc}") from exc
    definitions = data.get("campaigns") if isinstance(data, dict) and "campaigns" in data else [data]
    if not isinstance(definitions, list):
        raise click.ClickException(f"{yaml_file}: 'campaigns' must be a list")
    now = utcnow()
    settings = current_app.config["KALANSO"]
    loaded = []
    for n, definition in enumerate(definitions, start=1):
        try:
            campaign = upsert_from_definition(definition, get_catalog(), settings, now)
            if schedule_now:
                change_state(campaign, "schedule", now)
        except CampaignError as exc:
            db.session.rollback()
            raise click.ClickException(f"{yaml_file}: campaign #{n}: {exc}") from exc
        loaded.append(campaign)
    db.session.commit()
    for campaign in loaded:
        click.echo(
            f"{campaign.id}: {campaign.name} — {campaign.state.value}, "
            f"audience now {audience_size(campaign.audience)} listener(s)"
        )


@campaigns_cli.command("list")
def list_command() -> None:
    """List campaigns."""
    for campaign in db.session.scalars(db.select(Campaign).order_by(Campaign.id)):
        what = f"{campaign.course_id}/{campaign.lesson_id}" if campaign.lesson_id else "message"
        click.echo(
            f"{campaign.id:>4}  {campaign.state.value:<10} {campaign.channel.value:<6}"
            f"{campaign.schedule_kind.value:<10} {what:<40} {campaign.name}"
        )


def _state_command(action: str, help_text: str):
    @campaigns_cli.command(action, help=help_text)
    @click.argument("campaign_id", type=int)
    def command(campaign_id: int) -> None:
        campaign = _campaign(campaign_id)
        try:
            change_state(campaign, "schedule" if action == "resume" else action, utcnow())
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        click.echo(f"{campaign.id}: {campaign.name} is now {campaign.state.value}")

    return command


_state_command("schedule", "Schedule a draft campaign: it starts at its time.")
_state_command("pause", "Pause a campaign: nothing more is sent until it is resumed.")
_state_command("resume", "Resume a paused campaign.")
_state_command("cancel", "Cancel a campaign: its pending deliveries are cancelled.")


@campaigns_cli.command("report")
@click.argument("campaign_id", type=int)
def report_command(campaign_id: int) -> None:
    """Deliveries per status and the lesson completion rate."""
    click.echo(render_report(campaign_report(_campaign(campaign_id))))


def _now(value: str | None):
    """``--now``: a fixed moment (ISO, UTC) for replays, tests and benchmarks; the clock otherwise."""
    try:
        return clock_from(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from exc


now_option = click.option("--now", "now_text", default=None, help="Pretend it is this moment (ISO, UTC).")
channel_option = click.option(
    "--channel", type=click.Choice(["sms", "voice", "all"]), default="all", show_default=True, help="Which ports."
)


def _ports(channel: str, clock):
    from campaigns.ports import build_ports

    return [p for p in build_ports(current_app.config["KALANSO"], clock) if channel in ("all", p.channel.value)]


@campaigns_cli.command("expand")
@now_option
def expand_command(now_text: str | None) -> None:
    """Create the due runs and delivery rows now (what the scheduler does every 30 s)."""
    result = expand_due(current_app.config["KALANSO"], _now(now_text)())
    db.session.commit()
    click.echo(f"expanded: {result}")


@campaigns_cli.command("dispatch")
@now_option
@channel_option
@click.option("--limit", default=None, type=int, help="At most this many deliveries (default: up to the backlog).")
def dispatch_command(now_text: str | None, channel: str, limit: int | None) -> None:
    """Hand due deliveries to the outbox now (what the scheduler does every 2 s); the sender sends them."""
    clock = _now(now_text)
    settings = current_app.config["KALANSO"]
    for port in _ports(channel, clock):
        report = dispatch_due(port, settings, clock, limit=limit)
        click.echo(
            f"{port.channel.value}: {report.queued} handed to the outbox, {report.skipped} skipped (opted out), "
            f"{report.failed} failed, {report.postponed} postponed to the calling window"
        )


@campaigns_cli.command("run-jobs")
def run_jobs_command() -> None:
    """Run every scheduler job once now (expand, dispatch, missed-call callbacks): for operators and try-outs."""
    for job_id, result in run_jobs_once(current_app._get_current_object()):
        click.echo(f"{job_id}: {result}")


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler in the foreground. Start exactly one per deployment."""
    scheduler = build_scheduler(current_app._get_current_object())
    jobs = scheduler.get_jobs()
    click.echo(f"Kalanso scheduler starting with {len(jobs)} job(s): {', '.join(j.id for j in jobs)}")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("Scheduler stopped.")
