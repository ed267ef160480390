"""The CLI report of a campaign, rendered from its funnel (``campaigns.funnel.campaign_funnel``): the same
numbers as the dashboard's page and the API, each stage with what it means and rates with their denominator."""

from __future__ import annotations

from datetime import datetime

from campaigns.funnel import SIDES, STAGE_LABELS, Funnel
from campaigns.models import Campaign

SIDE_LABELS = {
    "waiting": "waiting for their time",
    "retrying": "waiting to be retried",
    "in_flight": "in the outbox or on a call",
    "no_answer": "no answer",
    "busy": "busy",
    "failed": "failed",
    "opted_out": "opted out",
    "cancelled": "cancelled",
    "unknown": "outcome unknown",
    "done": "sent / delivered / answered",
}


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.0f}%" if whole else "—"


def render_report(campaign: Campaign, funnel: Funnel, upcoming: datetime | None = None, settings=None) -> str:
    c = campaign
    what = f"lesson {c.course_id}/{c.lesson_id}" if c.lesson_id else "message"
    lines = [
        f"Campaign {c.id}: {c.name}",
        f"  {c.channel.value}, {what}, {c.schedule_kind.value}, state {c.state.value}",
    ]
    if upcoming is not None and settings is not None:
        lines.append(f"  next send: {upcoming.astimezone(settings.tz):%Y-%m-%d %H:%M} ({settings.timezone})")
    lines.append("  funnel:")
    for name, count in funnel.stages():
        label = STAGE_LABELS[name]
        if name == "reached":
            label = f"reached ({funnel.reached_label})"
        share = f"{_percent(count, funnel.audience):>5} of audience" if name != "audience" else ""
        lines.append(f"    {label:<46} {count:>8}  {share}".rstrip())
    if funnel.expected_audience is not None:
        lines.append(f"    (no run yet: the audience would be {funnel.expected_audience} listener(s) now)")
    rate = funnel.completion_rate
    lines.append(f"  {funnel.completion_label}" + (f": {rate:.0%}" if rate is not None else ""))
    now_parts = [f"{SIDE_LABELS[name]} {getattr(funnel, name)}" for name in SIDES if getattr(funnel, name)]
    lines.append("  where each delivery stands: " + (", ".join(now_parts) if now_parts else "none yet"))
    if funnel.attempts:
        lines.append("  call attempts (answered / not answered):")
        for attempt, counts in sorted(funnel.attempts.items()):
            lines.append(f"    attempt {attempt}: {counts['answered']} / {counts['not_answered']}")
    return "\n".join(lines)
