"""THE campaign funnel: one function computes it for the dashboard's page, the CLI report and the API.

audience → queued → sent → reached → started → completed, each stage a subset of the one before:

- ``audience``: delivery rows (listeners the campaign's runs selected). Before any run has expanded,
  ``expected_audience`` says how many the audience would select now (``count_audience``);
- ``queued``: handed to the outbox at least once (``attempts ≥ 1``);
- ``sent``: the provider took it — SMS: queued by the provider, sent or delivered; voice: the call was placed
  and rang or ended (answered, no answer, busy) — or the listener was reached (below);
- ``reached``: SMS delivered (the delivery report), voice answered; a listener who started the lesson was
  reached too, whatever report is missing (an SMS provider that sends no delivery reports, a call still under
  way);
- ``started``: the listener started the lesson the delivery sent (``Delivery.started_at``; a completion counts
  as a start);
- ``completed``: the listener completed it (``Delivery.completed_at``).

Side counts split the audience by where each delivery stands now: ``waiting`` (pending, never tried),
``retrying`` (pending after a failed attempt), ``in_flight`` (in the outbox, or a call placed whose end has not
come back), ``no_answer``, ``busy``, ``failed``, ``opted_out``, ``cancelled``, ``unknown``, and the ``done``
statuses (queued by the provider, sent, delivered, answered). ``attempts`` is the voice retries histogram.

Rates always say their denominator: ``completion_rate`` is completed out of reached.

One ``GROUP BY`` over the campaign's deliveries on (channel, status, attempts, started_at IS NULL,
completed_at IS NULL), which the ``ix_deliveries_funnel`` index answers alone on PostgreSQL (index-only scan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, func, or_, select, true

from campaigns.models import Campaign, CampaignRun, Delivery, DeliveryStatus
from core.db import db
from core.vocabulary import Channel

S = DeliveryStatus
SMS_SENT = {S.QUEUED, S.SENT, S.DELIVERED}
VOICE_SENT = {S.ANSWERED, S.NO_ANSWER, S.BUSY}
REACHED = {S.DELIVERED, S.ANSWERED}
VOICE_NOT_ANSWERED = {S.NO_ANSWER, S.BUSY, S.FAILED}
STAGES = ("audience", "queued", "sent", "reached", "started", "completed")
SIDES = ("waiting", "retrying", "in_flight", "no_answer", "busy", "failed", "opted_out", "cancelled", "unknown", "done")
STAGE_LABELS = {
    "audience": "audience",
    "queued": "queued (handed to the outbox)",
    "sent": "sent (accepted by the provider; calls rang)",
    "reached": "reached (SMS delivered / call answered)",
    "started": "started the lesson",
    "completed": "completed the lesson",
}


@dataclass(frozen=True)
class Funnel:
    channel: str
    audience: int = 0
    queued: int = 0
    sent: int = 0
    reached: int = 0
    started: int = 0
    completed: int = 0
    waiting: int = 0
    retrying: int = 0
    in_flight: int = 0
    no_answer: int = 0
    busy: int = 0
    failed: int = 0
    opted_out: int = 0
    cancelled: int = 0
    unknown: int = 0
    done: int = 0  # queued by the provider, sent, delivered or answered: nothing more will happen to it
    expected_audience: int | None = None  # before the first run: who the audience selects now
    attempts: dict[int, dict[str, int]] = field(default_factory=dict)  # voice: attempt → answered / not_answered

    completion_denominator = "reached"

    @property
    def reached_label(self) -> str:
        return "call answered" if self.channel == Channel.VOICE.value else "SMS delivered"

    @property
    def completion_rate(self) -> float | None:
        """Completed out of reached (None when nobody was reached)."""
        return self.completed / self.reached if self.reached else None

    @property
    def completion_label(self) -> str:
        """``"completed 3 of 10 reached (SMS delivered / call answered)"``."""
        return f"completed {self.completed} of {self.reached} reached ({REACH_WORDS})"

    @property
    def open(self) -> int:
        """Deliveries that may still send or whose outcome has not come back."""
        return self.waiting + self.retrying + self.in_flight

    def stages(self) -> list[tuple[str, int]]:
        return [(name, getattr(self, name)) for name in STAGES]

    def as_dict(self) -> dict[str, Any]:
        rate = self.completion_rate
        return {
            "channel": self.channel,
            "stages": {name: getattr(self, name) for name in STAGES},
            "expected_audience": self.expected_audience,
            "outcomes": {name: getattr(self, name) for name in SIDES},
            "open": self.open,
            "attempts": {str(k): v for k, v in sorted(self.attempts.items())},
            "completion": {
                "completed": self.completed,
                "denominator": self.completion_denominator,
                "of": self.reached,
                "rate": None if rate is None else round(rate, 4),
                "label": self.completion_label,
            },
        }


REACH_WORDS = "SMS delivered / call answered"


def funnel_rows(campaign_id: int) -> list[tuple[str, str, int, bool, bool, int]]:
    """(channel, status, attempts, started, completed, count) for the campaign's deliveries: the one query."""
    started = Delivery.started_at.is_not(None)
    completed = Delivery.completed_at.is_not(None)
    query = (
        select(Delivery.channel, Delivery.status, Delivery.attempts, started, completed, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.channel, Delivery.status, Delivery.attempts, started, completed)
    )
    return [
        (Channel(ch).value, S(st).value, int(att), bool(s), bool(c), int(n))
        for ch, st, att, s, c, n in db.session.execute(query)
    ]


def funnel_from_rows(channel: str, rows, expected_audience: int | None = None) -> Funnel:
    """The funnel from grouped rows (pure: the table tests give hand-built rows)."""
    counts = dict.fromkeys(STAGES + SIDES, 0)
    attempts: dict[int, dict[str, int]] = {}

    def tally(attempt: int, key: str, n: int) -> None:
        if attempt >= 1:
            attempts.setdefault(attempt, {"answered": 0, "not_answered": 0})[key] += n

    for ch, status, tries, started, completed, n in rows:
        status = S(status)
        engaged = started or completed
        reached = status in REACHED or engaged
        counts["audience"] += n
        counts["queued"] += n if tries >= 1 else 0
        sent_set = SMS_SENT if ch == Channel.SMS.value else VOICE_SENT
        counts["sent"] += n if status in sent_set or reached else 0
        counts["reached"] += n if reached else 0
        counts["started"] += n if engaged else 0
        counts["completed"] += n if completed else 0
        if status == S.PENDING:
            counts["waiting" if tries == 0 else "retrying"] += n
        elif status == S.SENDING or (status == S.QUEUED and ch == Channel.VOICE.value):
            counts["in_flight"] += n
        elif status in (S.NO_ANSWER, S.BUSY, S.FAILED, S.OPTED_OUT, S.CANCELLED, S.UNKNOWN):
            counts[status.value] += n
        else:
            counts["done"] += n
        if channel == Channel.VOICE.value:  # the retries histogram: what became of each call attempt
            # an SMS fallback's own dispatch counted one attempt more than the calls made
            calls = tries - 1 if ch == Channel.SMS.value and status != S.PENDING else tries
            answered_now = ch == Channel.VOICE.value and (status == S.ANSWERED or (status == S.QUEUED and engaged))
            for k in range(1, calls + 1):
                if k < calls:
                    tally(k, "not_answered", n)
                elif answered_now:
                    tally(k, "answered", n)
                elif ch == Channel.SMS.value or status in VOICE_NOT_ANSWERED or status == S.PENDING:
                    tally(k, "not_answered", n)
    return Funnel(channel=channel, expected_audience=expected_audience, attempts=attempts, **counts)


def clause(name: str):
    """The SQL condition on ``deliveries`` of one stage or side count (``"reached"``, ``"retrying"``...): the
    dashboard's "who" table filters with it, so its rows are exactly the funnel's number."""
    d = Delivery
    engaged = or_(d.started_at.is_not(None), d.completed_at.is_not(None))
    reached = or_(d.status.in_(REACHED), engaged)
    voice, sms = d.channel == Channel.VOICE, d.channel == Channel.SMS
    conditions = {
        "audience": true(),
        "queued": d.attempts >= 1,
        "sent": or_(and_(sms, d.status.in_(SMS_SENT)), and_(voice, d.status.in_(VOICE_SENT)), reached),
        "reached": reached,
        "started": engaged,
        "completed": d.completed_at.is_not(None),
        "waiting": and_(d.status == S.PENDING, d.attempts == 0),
        "retrying": and_(d.status == S.PENDING, d.attempts >= 1),
        "in_flight": or_(d.status == S.SENDING, and_(d.status == S.QUEUED, voice)),
        "done": or_(d.status.in_([S.SENT, S.DELIVERED, S.ANSWERED]), and_(d.status == S.QUEUED, sms)),
    }
    for status in (S.NO_ANSWER, S.BUSY, S.FAILED, S.OPTED_OUT, S.CANCELLED, S.UNKNOWN):
        conditions[status.value] = d.status == status
    return conditions.get(name, false())


def deliveries_query(campaign_id: int, which: str | None = None):
    """``SELECT deliveries`` of a campaign, narrowed to one stage or side count of its funnel (``clause``)."""
    query = select(Delivery).where(Delivery.campaign_id == campaign_id)
    if which:
        if which not in STAGES + SIDES:
            raise ValueError(f"unknown funnel stage or outcome {which!r}")
        query = query.where(clause(which))
    return query


def campaign_funnel(campaign: Campaign, settings=None) -> Funnel:
    """The campaign's funnel, from its deliveries (indexed aggregates only)."""
    rows = funnel_rows(campaign.id)
    expected = None
    if not rows:
        expanded = db.session.scalar(
            select(func.count())
            .select_from(CampaignRun)
            .where(CampaignRun.campaign_id == campaign.id, CampaignRun.expanded_at.is_not(None))
        )
        if not expanded:
            from campaigns.audience import count_audience

            expected = count_audience(campaign.audience, settings).eligible
    return funnel_from_rows(campaign.channel.value, rows, expected)
