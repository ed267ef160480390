"""``flask campaigns ...`` (manage campaigns) and ``flask scheduler`` (the single scheduler process)."""

from __future__ import annotations

from pathlib import Path

import click
import yaml
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from campaigns.audience import count_audience
from campaigns.dispatch import dispatch_due
from campaigns.expand import expand_due
from campaigns.funnel import campaign_funnel
from campaigns.models import Campaign
from campaigns.report import render_report
from campaigns.scheduler import build_scheduler, run_jobs_once
from campaigns.service import CampaignError, DefinitionErrors, apply_action, next_send, upsert_from_definition
from content.catalog import get_catalog
from core.clock import clock_from
from core.db import db

campaigns_cli = AppGroup("campaigns", help="Campaigns: load from YAML, schedule, pause, cancel, report.")


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.ClickException(f"no campaign {campaign_id} (see `flask campaigns list`)")
    return campaign


def _label(n: int, definition) -> str:
    name = str(definition.get("name") or "").strip() if isinstance(definition, dict) else ""
    return f"campaign #{n}" + (f" ({name})" if name else "")


def load_definitions(yaml_file: Path, now, *, schedule_now: bool = False) -> list[Campaign]:
    """Every campaign of the file, or none: each error of each definition is collected first (ClickException
    listing them all, each line naming the campaign's number and name and the field)."""
    try:
        data = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{yaml_file}: bad YAML: {exc}") from exc
    definitions = data.get("campaigns") if isinstance(data, dict) and "campaigns" in data else [data]
    if not isinstance(definitions, list) or not definitions:
        raise click.ClickException(f"{yaml_file}: 'campaigns' must be a non-empty list of campaigns")
    settings = current_app.config["KALANSO"]
    problems: list[str] = []
    loaded = []
    names: dict[str, int] = {}
    for n, definition in enumerate(definitions, start=1):
        label = _label(n, definition)
        name = str(definition.get("name") or "").strip() if isinstance(definition, dict) else ""
        if name and name in names:
            problems.append(f"{label}: name: the same name as campaign #{names[name]} (names are unique)")
            continue
        names[name] = n
        try:
            with db.session.begin_nested():
                campaign = upsert_from_definition(definition, get_catalog(), settings, now)
                if schedule_now:
                    apply_action(campaign, "schedule", now, settings)
        except DefinitionErrors as exc:
            problems += [f"{label}: {error}" for error in exc.errors]
            continue
        except CampaignError as exc:
            problems.append(f"{label}: {exc}")
            continue
        loaded.append(campaign)
    if problems:
        db.session.rollback()
        count = f"{len(problems)} error(s)"
        raise click.ClickException(
            f"{yaml_file}: {count}, nothing loaded:\n" + "\n".join(f"  {line}" for line in problems)
        )
    return loaded


@campaigns_cli.command("load")
@click.argument("yaml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--schedule", "schedule_now", is_flag=True, help="Schedule the campaigns once loaded.")
@click.option("--now", "now_text", default=None, help="Pretend it is this moment (ISO, UTC).")
def load_command(yaml_file: Path, schedule_now: bool, now_text: str | None) -> None:
    """Create or update campaigns (by name) from a YAML file: one definition, or `campaigns: [...]`.

    Every error of the file is reported at once, and nothing is loaded unless every campaign is right."""
    now = _now(now_text)()
    loaded = load_definitions(yaml_file, now, schedule_now=schedule_now)
    db.session.commit()
    settings = current_app.config["KALANSO"]
    for campaign in loaded:
        count = count_audience(campaign.audience, settings)
        click.echo(
            f"{campaign.id}: {campaign.name} — {campaign.state.value}, audience now {count.eligible} listener(s)"
            + (f" ({_exclusions(count)})" if count.excluded else "")
        )


def _exclusions(count) -> str:
    parts = [
        f"{n} {why}"
        for why, n in (
            ("without recorded consent", count.no_consent),
            ("in another country", count.other_country),
            ("opted out", count.opted_out),
        )
        if n
    ]
    return f"{count.matched} matched; left out: " + ", ".join(parts)


def _local(moment, settings) -> str:
    return moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") if moment else "—"


@campaigns_cli.command("list")
@click.option("--now", "now_text", default=None, help="Pretend it is this moment (ISO, UTC).")
def list_command(now_text: str | None) -> None:
    """List campaigns with their next send time (local) and the audience they would reach now."""
    settings = current_app.config["KALANSO"]
    now = _now(now_text)()
    click.echo(f"{'id':>4}  {'state':<10} {'channel':<6} {'kind':<10} {'next send (' + settings.timezone + ')':<28} "
               f"{'audience':>8}  what / name")  # fmt: skip
    for campaign in db.session.scalars(db.select(Campaign).order_by(Campaign.id)):
        what = f"{campaign.course_id}/{campaign.lesson_id}" if campaign.lesson_id else "message"
        upcoming = _local(next_send(campaign, settings, now), settings)
        eligible = count_audience(campaign.audience, settings).eligible
        click.echo(
            f"{campaign.id:>4}  {campaign.state.value:<10} {campaign.channel.value:<6} "
            f"{campaign.schedule_kind.value:<10} {upcoming:<28} {eligible:>8}  {what}  {campaign.name}"
        )


def _state_command(action: str, help_text: str):
    @campaigns_cli.command(action, help=help_text)
    @click.argument("campaign_id", type=int)
    @click.option("--now", "now_text", default=None, help="Pretend it is this moment (ISO, UTC).")
    def command(campaign_id: int, now_text: str | None) -> None:
        campaign = _campaign(campaign_id)
        try:
            result = apply_action(campaign, action, _now(now_text)(), current_app.config["KALANSO"])
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        click.echo(result.describe())

    return command


_state_command("schedule", "Schedule a draft campaign: it starts at its time.")
_state_command("pause", "Pause a campaign: nothing more is sent until it is resumed.")
_state_command("resume", "Resume a paused campaign.")
_state_command(
    "cancel",
    "Cancel a campaign: its waiting and retrying deliveries, and those still in the outbox, are cancelled.",
)


@campaigns_cli.command("report")
@click.argument("campaign_id", type=int)
@click.option("--now", "now_text", default=None, help="Pretend it is this moment (ISO, UTC).")
def report_command(campaign_id: int, now_text: str | None) -> None:
    """The campaign's funnel (audience → queued → sent → reached → started → completed) and outcomes."""
    campaign = _campaign(campaign_id)
    settings = current_app.config["KALANSO"]
    upcoming = next_send(campaign, settings, _now(now_text)())
    click.echo(render_report(campaign, campaign_funnel(campaign, settings), upcoming, settings))


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
