"""Turn due campaign runs into delivery rows (one per run and listener), in SQL, idempotently.

``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` on the unique ``(run_id, listener_id)``: running this
twice, after a crash, or from two scheduler processes at once never creates a second row, and the
audience never has to fit in memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, exists, func, literal, select, text, true
from sqlalchemy.dialects import postgresql, sqlite

from campaigns import schedule
from campaigns.audience import audience_query
from campaigns.models import Campaign, CampaignRun, CampaignState, Delivery, DeliveryStatus, ScheduleKind
from campaigns.service import open_deliveries, window_for
from core.config import Settings
from core.db import UTCDateTime, db, set_job_statement_timeout
from listeners.models import Listener

ACTIVE = (CampaignState.SCHEDULED, CampaignState.RUNNING)
ANALYZE_AFTER = 50_000  # deliveries created at once: refresh PostgreSQL's statistics of the table


def _insert(table):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _ensure_run(campaign: Campaign, occurrence: schedule.Occurrence, now: datetime) -> None:
    stmt = (
        _insert(CampaignRun.__table__)
        .values(
            campaign_id=campaign.id,
            key=occurrence.key,
            scheduled_for=occurrence.at,
            step=occurrence.step,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["campaign_id", "key"])
    )
    db.session.execute(stmt)


def _insert_deliveries(campaign: Campaign, run: CampaignRun, listeners, due_at: datetime, now: datetime) -> int:
    """Deliveries for every listener id selected by ``listeners`` (a SELECT of Listener.id)."""
    ids = listeners.subquery()
    rows = select(
        literal(campaign.id),
        literal(run.id),
        ids.c.id,
        literal(campaign.channel.value, String),
        literal(DeliveryStatus.PENDING.value, String),
        literal(due_at, UTCDateTime),
        literal(0),
        literal(""),
        literal(""),
        literal(False),
        literal(now, UTCDateTime),
        literal(now, UTCDateTime),
    ).where(true())  # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT
    columns = [
        "campaign_id", "run_id", "listener_id", "channel", "status", "due_at", "attempts",
        "provider_id", "error", "fallback_sent", "created_at", "updated_at",
    ]  # fmt: skip
    stmt = (
        _insert(Delivery.__table__)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["run_id", "listener_id"])
        .returning(Delivery.__table__.c.id)
    )
    return sum(1 for _ in db.session.execute(stmt))


def expand_campaign(campaign: Campaign, settings: Settings, now: datetime) -> int:
    tz = settings.tz
    window = window_for(campaign, settings)
    latest = db.session.scalar(select(func.max(CampaignRun.scheduled_for)).filter_by(campaign_id=campaign.id))
    since = latest or campaign.started_at or campaign.created_at
    for occurrence in schedule.occurrences(campaign.schedule_kind, campaign.schedule, tz, since, now):
        _ensure_run(campaign, occurrence, now)
    created = 0
    runs = db.session.scalars(
        select(CampaignRun).where(CampaignRun.campaign_id == campaign.id, CampaignRun.expanded_at.is_(None))
    ).all()
    for run in runs:
        listeners = audience_query(campaign.audience, settings).order_by(None)
        if campaign.schedule_kind == ScheduleKind.DRIP:
            step = campaign.schedule["steps"][run.step]
            cutoff = schedule.drip_cutoff(step["day"], campaign.schedule["time"], settings.tz, now)
            joined_from = campaign.started_at or campaign.created_at
            already = exists().where(and_(Delivery.run_id == run.id, Delivery.listener_id == Listener.id))
            listeners = listeners.where(Listener.created_at >= joined_from, Listener.created_at < cutoff, ~already)
            created += _insert_deliveries(campaign, run, listeners, window.next_open(now), now)
        else:
            created += _insert_deliveries(campaign, run, listeners, window.next_open(run.scheduled_for), now)
            run.expanded_at = now
    if campaign.state == CampaignState.SCHEDULED and (runs or latest is not None):
        campaign.state = CampaignState.RUNNING
        campaign.updated_at = now
    if campaign.state == CampaignState.RUNNING and schedule.finished(
        campaign.schedule_kind, campaign.schedule, tz, now
    ):
        open_left = open_deliveries(campaign.id)  # incl. calls placed whose end has not come back
        unexpanded = db.session.scalar(
            select(func.count())
            .select_from(CampaignRun)
            .where(CampaignRun.campaign_id == campaign.id, CampaignRun.expanded_at.is_(None))
        )
        if not open_left and not unexpanded:
            campaign.state = CampaignState.FINISHED
            campaign.updated_at = now
    db.session.flush()
    return created


def expand_due(settings: Settings, now: datetime) -> dict[str, Any]:
    """Create the runs and deliveries that are due for every active campaign. The caller commits.

    One ``INSERT ... SELECT`` per run may take more than a webhook's statement timeout for a large audience:
    this transaction allows a job's (``core.db.JOB_STATEMENT_TIMEOUT_SECONDS``), whoever calls it."""
    set_job_statement_timeout(db.session)
    created = 0
    campaigns = db.session.scalars(select(Campaign).where(Campaign.state.in_(ACTIVE)).order_by(Campaign.id)).all()
    for campaign in campaigns:
        created += expand_campaign(campaign, settings, now)
    if created >= ANALYZE_AFTER and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE deliveries"))  # so that the dispatcher's plans know the new rows
    return {"campaigns": len(campaigns), "deliveries_created": created}
