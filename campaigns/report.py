"""Per-campaign figures: deliveries per status and the completion rate."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from campaigns.models import Campaign, Delivery, DeliveryStatus
from core.db import db

REACHED = (DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.ANSWERED)


@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    by_status: dict[str, int]
    total: int
    reached: int  # handed to the provider and not failed (queued, sent, delivered, answered)
    completed: int  # lesson completed after the delivery

    @property
    def completion_rate(self) -> float:
        return 100.0 * self.completed / self.reached if self.reached else 0.0


def campaign_report(campaign: Campaign) -> CampaignReport:
    rows = db.session.execute(
        select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign.id).group_by(Delivery.status)
    ).all()
    by_status = {status.value: 0 for status in DeliveryStatus}
    for status, count in rows:
        by_status[DeliveryStatus(status).value] = count
    completed = db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.campaign_id == campaign.id, Delivery.completed_at.is_not(None))
    )
    return CampaignReport(
        campaign=campaign,
        by_status=by_status,
        total=sum(by_status.values()),
        reached=sum(by_status[s.value] for s in REACHED),
        completed=completed or 0,
    )


def render_report(report: CampaignReport) -> str:
    c = report.campaign
    what = f"lesson {c.course_id}/{c.lesson_id}" if c.lesson_id else "message"
    lines = [
        f"Campaign {c.id}: {c.name}",
        f"  {c.channel.value}, {what}, {c.schedule_kind.value}, state {c.state.value}",
        f"  deliveries: {report.total}",
    ]
    for status, count in report.by_status.items():
        if count:
            lines.append(f"    {status:<10} {count:>8}")
    lines.append(f"  reached: {report.reached}   lessons completed: {report.completed}")
    if c.lesson_id:
        lines.append(f"  completion rate: {report.completion_rate:.1f}% of reached listeners")
    return "\n".join(lines)
