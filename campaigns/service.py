"""Campaign definitions and their life cycle (draft → scheduled → running → finished; paused; cancelled).

A definition is a plain mapping, the same from a YAML file, the CLI or the dashboard:

    name: Koutiala — leçon 2 par appel
    channel: voice                     # voice | sms
    lesson: money/saving-a-little      # or: message: {fr: "...", bm: "..."}
    audience: {groups: [coop-koutiala], region: [Sikasso]}   # required; or: audience: everyone
    schedule: {kind: once, at: "2026-11-30T10:00"}           # a later time, or at: now ("send now")
    calling_window: "08:00-20:00"      # optional, else the deployment's
    blocked_days: "fri"                # optional, added to the deployment's
    max_retries: 3                     # optional (voice)
    sms_fallback: true                 # optional (voice)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update

from campaigns import schedule
from campaigns.audience import AudienceCount, count_audience, sample_audience
from campaigns.definition import (
    DEFINITION_KEYS,
    CampaignError,
    DefinitionErrors,
    FieldError,
    check_definition,
    validate_definition,
)
from campaigns.models import Campaign, CampaignRun, CampaignState, Delivery, DeliveryStatus, ScheduleKind
from content.loader import Catalog
from core.config import Settings
from core.db import db
from core.outbox import OutboxItem, OutboxStatus, announce, outcome_of
from core.vocabulary import Channel
from core.window import CallingWindow

__all__ = [
    "DEFINITION_KEYS",
    "ActionResult",
    "AudienceCount",
    "CampaignError",
    "DefinitionErrors",
    "FieldError",
    "apply_action",
    "apply_definition",
    "change_state",
    "content_for_step",
    "count_audience",
    "next_send",
    "open_deliveries",
    "sample_audience",
    "upsert_from_definition",
    "validate_definition",
    "window_for",
]  # fmt: skip

TRANSITIONS = {
    "schedule": ({CampaignState.DRAFT, CampaignState.PAUSED}, CampaignState.SCHEDULED),
    "resume": ({CampaignState.PAUSED}, CampaignState.SCHEDULED),
    "pause": ({CampaignState.SCHEDULED, CampaignState.RUNNING}, CampaignState.PAUSED),
    "cancel": (
        {CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED},
        CampaignState.CANCELLED,
    ),
}
CANCEL_REASON = "campaign cancelled: not sent"
OUTCOME_COLUMNS = ("id", "channel", "purpose", "listener_id", "message_id", "call_session_id", "delivery_id")


def apply_definition(
    campaign: Campaign, data: dict[str, Any], catalog: Catalog, settings: Settings, now: datetime
) -> Campaign:
    """Validate ``data`` and write it into ``campaign`` (new or a draft/paused one).

    Raises ``DefinitionErrors`` with every error of the definition, or CampaignError for a state problem."""
    if campaign.id is not None and campaign.state not in (CampaignState.DRAFT, CampaignState.PAUSED):
        raise CampaignError(f"campaign '{campaign.name}' is {campaign.state}: pause it before editing")
    errors, clean = check_definition(data, catalog, settings, now)
    if errors:
        raise DefinitionErrors(errors)
    assert clean is not None
    campaign.name, campaign.channel = clean.name, clean.channel
    campaign.course_id, campaign.lesson_id, campaign.message = clean.course_id, clean.lesson_id, clean.message
    campaign.audience = clean.audience
    campaign.schedule_kind, campaign.schedule = ScheduleKind(clean.schedule_kind), clean.schedule
    campaign.calling_window, campaign.blocked_days = clean.calling_window, clean.blocked_days
    campaign.max_retries = clean.max_retries
    campaign.sms_fallback = clean.sms_fallback
    campaign.updated_at = now
    if campaign.id is None:
        campaign.created_at = now
        db.session.add(campaign)
    db.session.flush()
    return campaign


def upsert_from_definition(data: dict[str, Any], catalog: Catalog, settings: Settings, now: datetime) -> Campaign:
    name = str((data or {}).get("name") or "").strip() if isinstance(data, dict) else ""
    existing = db.session.scalars(select(Campaign).filter_by(name=name)).first() if name else None
    return apply_definition(existing or Campaign(state=CampaignState.DRAFT), data, catalog, settings, now)


@dataclass
class ActionResult:
    """What a state change did, for an honest message (``describe``)."""

    campaign: Campaign
    action: str
    before: CampaignState
    stopped: dict[str, int] = field(default_factory=dict)  # cancel: waiting, retrying, in the outbox
    in_flight: int = 0  # cancel: already with the provider (or a call under way): their outcome will come

    @property
    def stopped_total(self) -> int:
        return sum(self.stopped.values())

    def describe(self) -> str:
        c = self.campaign
        if self.action == "cancel":
            parts = [f"{c.id}: {c.name} is cancelled"]
            if self.stopped_total:
                detail = ", ".join(f"{n} {what}" for what, n in self.stopped.items() if n)
                parts.append(f"{self.stopped_total} deliveries stopped ({detail})")
            else:
                parts.append("no delivery was waiting")
            if self.in_flight:
                parts.append(
                    f"{self.in_flight} already handed to the provider (or on a call) cannot be stopped: their "
                    "outcome will be recorded, without retries or SMS fallback"
                )
            return "; ".join(parts)
        if self.action == "pause":
            return f"{c.id}: {c.name} is paused: nothing more is sent until it is resumed"
        return f"{c.id}: {c.name} is now {c.state.value}"


def _send_now_is_fresh(campaign: Campaign, settings: Settings, now: datetime) -> bool:
    at = datetime.fromisoformat(campaign.schedule["at"]).replace(tzinfo=settings.tz)
    return bool(campaign.schedule.get("send_now")) and now - at < schedule.SEND_NOW_GRACE


def _check_time(campaign: Campaign, settings: Settings, now: datetime) -> None:
    """A once campaign whose time has passed and that never ran is refused (unless "send now", saved < 10 min
    ago); a recurring one whose ``until`` has passed too."""
    tz = settings.tz
    if campaign.schedule_kind == ScheduleKind.ONCE:
        ran = db.session.scalar(select(func.count()).select_from(CampaignRun).filter_by(campaign_id=campaign.id))
        at = datetime.fromisoformat(campaign.schedule["at"]).replace(tzinfo=tz)
        if not ran and at < schedule.local_minute(now, tz) and not _send_now_is_fresh(campaign, settings, now):
            what = "'send now' was chosen more than 10 minutes ago" if campaign.schedule.get("send_now") else (
                f"this time has passed ({at.strftime('%Y-%m-%d %H:%M')} local)"
            )  # fmt: skip
            raise CampaignError(
                f"cannot schedule campaign '{campaign.name}': {what}; edit schedule.at (a later time or 'now')"
            )
    elif campaign.schedule_kind == ScheduleKind.RECURRING and schedule.finished(
        campaign.schedule_kind, campaign.schedule, tz, now
    ):
        raise CampaignError(
            f"cannot schedule campaign '{campaign.name}': its last date ({campaign.schedule['until']}) has passed"
        )


def apply_action(campaign: Campaign, action: str, now: datetime, settings: Settings | None = None) -> ActionResult:
    """schedule | resume | pause | cancel, with what it did. The caller commits."""
    if settings is None:
        from flask import current_app

        settings = current_app.config["KALANSO"]
    allowed, target = TRANSITIONS[action]
    if campaign.state not in allowed:
        raise CampaignError(f"cannot {action} campaign '{campaign.name}': it is {campaign.state}")
    result = ActionResult(campaign, action, campaign.state)
    if action in ("schedule", "resume"):
        _check_time(campaign, settings, now)
    if action in ("schedule", "resume") and campaign.started_at is None:
        campaign.started_at = now
    if action == "cancel":
        _cancel_deliveries(campaign, now, result)
    campaign.state = target
    campaign.updated_at = now
    db.session.flush()
    return result


def change_state(campaign: Campaign, action: str, now: datetime, settings: Settings | None = None) -> Campaign:
    return apply_action(campaign, action, now, settings).campaign


def _cancel_deliveries(campaign: Campaign, now: datetime, result: ActionResult) -> None:
    """Every waiting or retrying delivery is cancelled, then the campaign's outbox rows no sender has claimed yet
    (and their deliveries); the rest are in flight. In the caller's transaction: all or nothing.

    Deliveries first: on PostgreSQL this waits for a dispatcher holding some of them, and the outbox rows it
    wrote are then visible to the next statement."""
    db.session.flush()
    d = Delivery.__table__
    rows = db.session.execute(
        update(d)
        .where(d.c.campaign_id == campaign.id, d.c.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.CANCELLED.value, error=CANCEL_REASON, updated_at=now)
        .returning(d.c.attempts)
    ).all()
    result.stopped["waiting"] = sum(1 for r in rows if r.attempts == 0)
    result.stopped["retrying"] = sum(1 for r in rows if r.attempts > 0)
    table = OutboxItem.__table__
    outbox = db.session.execute(
        update(table)
        .where(table.c.campaign_id == campaign.id, table.c.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.CANCELLED.value, error=CANCEL_REASON, updated_at=now)
        .returning(*(table.c[name] for name in OUTCOME_COLUMNS))
    ).all()
    ids = sorted({r.delivery_id for r in outbox if r.delivery_id is not None})
    # a lesson's SMS of which a sender already took one is under way: its outcome will come, not "cancelled"
    part_sent = exists().where(table.c.delivery_id == d.c.id, table.c.status != OutboxStatus.CANCELLED.value)
    stopped = 0
    for start in range(0, len(ids), 1000):
        stopped += db.session.execute(
            update(d)
            .where(d.c.id.in_(ids[start : start + 1000]), d.c.status == DeliveryStatus.SENDING.value, ~part_sent)
            .values(status=DeliveryStatus.CANCELLED.value, error=CANCEL_REASON, updated_at=now)
        ).rowcount
    result.stopped["in the outbox"] = stopped
    db.session.expire_all()  # the bulk updates changed rows the session may hold
    announce([outcome_of(r, OutboxStatus.CANCELLED, error=CANCEL_REASON) for r in outbox], now)
    result.in_flight = open_deliveries(campaign.id)


def open_clause():
    """Deliveries that may still send or whose outcome has not come back: pending (waiting or retrying), in the
    outbox (sending), or a voice call placed whose end we have not heard (queued)."""
    return or_(
        Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
        and_(Delivery.status == DeliveryStatus.QUEUED, Delivery.channel == Channel.VOICE),
    )


def open_deliveries(campaign_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign_id, open_clause())
        )
        or 0
    )


def next_send(campaign: Campaign, settings: Settings, now: datetime) -> datetime | None:
    """When this campaign will next send something: its next pending delivery (a retry, a postponed one) or its
    schedule's next run, whichever comes first, inside the calling window. None when paused, cancelled, finished
    or nothing is left to send."""
    if campaign.state not in (CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.RUNNING):
        return None
    window = window_for(campaign, settings)
    candidates = []
    if campaign.id is not None:
        pending = db.session.scalar(
            select(func.min(Delivery.due_at)).where(
                Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.PENDING
            )
        )
        if pending is not None:
            candidates.append(window.next_open(max(pending, now)))
    ran = campaign.id is not None and db.session.scalar(
        select(func.count()).select_from(CampaignRun).filter_by(campaign_id=campaign.id)
    )
    if not (campaign.schedule_kind == ScheduleKind.ONCE and ran):
        upcoming = schedule.next_sends(campaign.schedule_kind, campaign.schedule, settings.tz, now, window, n=1)
        candidates += upcoming
    return min(candidates) if candidates else None


def window_for(campaign: Campaign, settings: Settings) -> CallingWindow:
    blocked = ", ".join(b for b in (settings.blocked_days, campaign.blocked_days) if b)
    return CallingWindow.parse(campaign.calling_window or settings.calling_window, blocked, settings.timezone)


def content_for_step(campaign: Campaign, step: int | None) -> tuple[str | None, str | None, dict[str, str]]:
    """(course_id, lesson_id, message) a delivery of this campaign (drip step) sends."""
    if step is not None and campaign.schedule_kind == ScheduleKind.DRIP:
        spec = campaign.schedule["steps"][step]
        if "message" in spec:
            return None, None, spec["message"]
        if "lesson_id" in spec:
            return spec.get("course_id", campaign.course_id), spec["lesson_id"], {}
    return campaign.course_id, campaign.lesson_id, campaign.message
