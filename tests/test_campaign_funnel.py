"""The campaign funnel (``campaigns.funnel``): a table of hand-built deliveries with the funnel each gives, and
``campaign_funnel`` against a brute-force count (one plain ``COUNT(*) ... WHERE`` per stage) on random small
campaigns, on SQLite and on the real PostgreSQL. Also: the PostgreSQL plan is an index-only scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text

from campaigns.funnel import STAGES, campaign_funnel, deliveries_query, funnel_from_rows
from campaigns.models import Campaign, CampaignRun, CampaignState, Delivery, DeliveryStatus, ScheduleKind
from campaigns.report import render_report
from core.db import db
from core.vocabulary import Channel
from listeners.models import Listener

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
S = DeliveryStatus


def row(status, attempts=1, *, channel="voice", started=False, completed=False, n=1):
    return (channel, S(status).value, attempts, started, completed, n)


# (what, campaign channel, rows: (channel, status, attempts, started, completed, count), expected figures)
TABLE = [
    (
        "the issue's campaign: 10 calls placed, 1 answered — reached is 1, not 11",
        "voice",
        [row("queued", 1, n=9), row("answered", 1, started=True)],
        {"audience": 10, "queued": 10, "sent": 1, "reached": 1, "started": 1, "completed": 0, "in_flight": 9,
         "done": 1},
        {1: {"answered": 1, "not_answered": 0}},
    ),
    (
        "retries: answered on the 1st, 2nd and 3rd attempt; one gave up after 4; two waiting for their retry",
        "voice",
        [
            row("answered", 1, started=True, completed=True),
            row("answered", 2, completed=True),
            row("answered", 3),
            row("no_answer", 4),
            row("pending", 1, n=2),
        ],
        {"audience": 6, "queued": 6, "sent": 4, "reached": 3, "started": 2, "completed": 2, "retrying": 2,
         "no_answer": 1, "done": 3},
        {1: {"answered": 1, "not_answered": 5}, 2: {"answered": 1, "not_answered": 2},
         3: {"answered": 1, "not_answered": 1}, 4: {"answered": 0, "not_answered": 1}},
    ),
    (
        "SMS: delivered is reached; sent without a delivery report is not, unless the listener answered",
        "sms",
        [row("delivered", channel="sms", n=3), row("sent", channel="sms", n=4),
         row("sent", channel="sms", started=True), row("queued", channel="sms"), row("failed", channel="sms"),
         row("pending", 0, channel="sms", n=5), row("sending", channel="sms", n=2)],
        {"audience": 17, "queued": 12, "sent": 9, "reached": 4, "started": 1, "completed": 0, "waiting": 5,
         "in_flight": 2, "failed": 1, "done": 9},
        {},
    ),
    (
        "busy, failed, opted out, cancelled and unknown are side counts; a call in progress is in flight",
        "voice",
        [row("busy", 2), row("failed", 1), row("opted_out", 0), row("cancelled", 1), row("cancelled", 0),
         row("unknown", 1), row("sending", 1), row("queued", 2, started=True)],
        {"audience": 8, "queued": 6, "sent": 2, "reached": 1, "started": 1, "busy": 1, "failed": 1, "opted_out": 1,
         "cancelled": 2, "unknown": 1, "in_flight": 2},
        {1: {"answered": 0, "not_answered": 3}, 2: {"answered": 1, "not_answered": 1}},
    ),
    (
        "the SMS fallback after 3 unanswered calls: its own dispatch is not a call attempt",
        "voice",
        [row("delivered", 4, channel="sms"), row("pending", 3, channel="sms")],
        {"audience": 2, "queued": 2, "sent": 1, "reached": 1, "retrying": 1, "done": 1},
        {1: {"answered": 0, "not_answered": 2}, 2: {"answered": 0, "not_answered": 2},
         3: {"answered": 0, "not_answered": 2}},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("what", "channel", "rows", "expected", "attempts"), TABLE, ids=[t[0][:40] for t in TABLE])
def test_funnel_table(what, channel, rows, expected, attempts):
    funnel = funnel_from_rows(channel, rows)
    figures = {name: getattr(funnel, name) for name in expected}
    assert figures == expected, what
    untouched = {name for name in ("waiting", "retrying", "in_flight", "no_answer", "busy", "failed", "opted_out",
                                   "cancelled", "unknown", "done")} - set(expected)  # fmt: skip
    assert {name: getattr(funnel, name) for name in untouched} == dict.fromkeys(untouched, 0)
    assert funnel.attempts == attempts
    stages = [getattr(funnel, s) for s in STAGES]
    assert stages == sorted(stages, reverse=True), "each stage is a subset of the one before"


def test_the_completion_rate_says_its_denominator():
    funnel = funnel_from_rows("sms", [row("delivered", channel="sms", n=10), row("delivered", channel="sms",
                                      started=True, completed=True, n=3)])  # fmt: skip
    assert funnel.completion_rate == 3 / 13
    assert funnel.completion_label == "completed 3 of 13 reached (SMS delivered / call answered)"
    assert funnel.as_dict()["completion"] == {
        "completed": 3, "denominator": "reached", "of": 13, "rate": 0.2308, "label": funnel.completion_label,
    }  # fmt: skip
    assert funnel_from_rows("voice", []).completion_rate is None


# --- on the database ---------------------------------------------------------------------------------------------


def make_campaign(channel: str, name: str = "funnel") -> Campaign:
    campaign = Campaign(
        name=name, channel=Channel(channel), course_id="money", lesson_id="saving-a-little", message={},
        audience={"everyone": True}, schedule_kind=ScheduleKind.ONCE, schedule={"at": "2026-11-24T10:00"},
        state=CampaignState.RUNNING, created_at=T0, updated_at=T0,
    )  # fmt: skip
    db.session.add(campaign)
    db.session.flush()
    run = CampaignRun(campaign_id=campaign.id, key="once", scheduled_for=T0, expanded_at=T0, created_at=T0)
    db.session.add(run)
    db.session.flush()
    return campaign


def add_deliveries(campaign: Campaign, listeners: list[int], specs) -> None:
    run_id = db.session.scalar(select(CampaignRun.id).filter_by(campaign_id=campaign.id))
    rows = []
    for listener_id, (channel, status, attempts, started, completed) in zip(listeners, specs, strict=False):
        rows.append(
            {"campaign_id": campaign.id, "run_id": run_id, "listener_id": listener_id, "channel": channel,
             "status": status, "due_at": T0, "attempts": attempts, "provider_id": "", "error": "",
             "fallback_sent": channel != campaign.channel.value,
             "started_at": T0 + timedelta(minutes=1) if started else None,
             "completed_at": T0 + timedelta(minutes=2) if completed else None, "created_at": T0, "updated_at": T0}
        )  # fmt: skip
    if rows:
        db.session.execute(Delivery.__table__.insert(), rows)
    db.session.flush()


def test_campaign_funnel_on_hand_built_deliveries(backend, app, make_listener):
    campaign = make_campaign("voice")
    people = [make_listener(consent_at=T0).id for _ in range(10)]
    specs = [(ch, st, att, s, c) for ch, st, att, s, c, n in TABLE[0][2] for _ in range(n)]
    add_deliveries(campaign, people, specs)
    db.session.commit()
    funnel = campaign_funnel(campaign)
    assert (funnel.audience, funnel.queued, funnel.sent, funnel.reached, funnel.in_flight) == (10, 10, 1, 1, 9)
    assert funnel.expected_audience is None
    text = render_report(campaign, funnel)
    assert "reached (call answered)" in text and "completed 0 of 1 reached (SMS delivered / call answered): 0%" in text
    assert "in the outbox or on a call 9" in text


def test_before_the_first_run_the_funnel_gives_the_expected_audience(backend, app, make_listener):
    campaign = make_campaign("sms")
    db.session.execute(delete(CampaignRun).where(CampaignRun.campaign_id == campaign.id))
    make_listener(consent_at=T0)
    make_listener(consent_at=T0)
    make_listener()  # no consent: not expected
    db.session.commit()
    funnel = campaign_funnel(campaign)
    assert (funnel.audience, funnel.expected_audience) == (0, 2)


STATUSES = [s.value for s in DeliveryStatus]


def brute_force(campaign: Campaign) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
    """Each stage and side count by its own plain COUNT(*) with a WHERE: what the funnel must equal."""
    engaged = "(started_at IS NOT NULL OR completed_at IS NOT NULL)"
    reached = f"(status IN ('delivered', 'answered') OR {engaged})"
    where = {
        "audience": "1 = 1",
        "queued": "attempts >= 1",
        "sent": "((channel = 'sms' AND status IN ('queued', 'sent', 'delivered')) OR "
                f"(channel = 'voice' AND status IN ('answered', 'no_answer', 'busy')) OR {reached})",
        "reached": reached,
        "started": engaged,
        "completed": "completed_at IS NOT NULL",
        "waiting": "status = 'pending' AND attempts = 0",
        "retrying": "status = 'pending' AND attempts >= 1",
        "in_flight": "(status = 'sending' OR (status = 'queued' AND channel = 'voice'))",
        "no_answer": "status = 'no_answer'",
        "busy": "status = 'busy'",
        "failed": "status = 'failed'",
        "opted_out": "status = 'opted_out'",
        "cancelled": "status = 'cancelled'",
        "unknown": "status = 'unknown'",
        "done": "(status IN ('sent', 'delivered', 'answered') OR (status = 'queued' AND channel = 'sms'))",
    }  # fmt: skip

    def count(condition: str) -> int:
        return db.session.scalar(
            text(f"SELECT COUNT(*) FROM deliveries WHERE campaign_id = :c AND ({condition})"), {"c": campaign.id}
        )

    figures = {name: count(condition) for name, condition in where.items()}
    attempts: dict[int, dict[str, int]] = {}
    if campaign.channel == Channel.VOICE:
        calls = "(CASE WHEN channel = 'sms' AND status <> 'pending' THEN attempts - 1 ELSE attempts END)"
        top = db.session.scalar(select(func.max(Delivery.attempts)).filter_by(campaign_id=campaign.id)) or 0
        for k in range(1, top + 1):
            answered = count(f"channel = 'voice' AND attempts = {k} AND (status = 'answered' OR "
                             f"(status = 'queued' AND {engaged}))")  # fmt: skip
            missed = count(f"{calls} > {k} OR ({calls} = {k} AND (channel = 'sms' OR "
                           "status IN ('no_answer', 'busy', 'failed', 'pending')))")  # fmt: skip
            if answered or missed:
                attempts[k] = {"answered": answered, "not_answered": missed}
    return figures, attempts


delivery_specs = st.lists(
    st.tuples(
        st.sampled_from(["sms", "voice"]),
        st.sampled_from(STATUSES),
        st.integers(min_value=0, max_value=4),
        st.booleans(),
        st.booleans(),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channel=st.sampled_from(["sms", "voice"]), specs=delivery_specs)
def test_campaign_funnel_equals_a_brute_force_count(backend, app, make_listener, channel, specs):
    db.session.execute(delete(Delivery))
    db.session.execute(delete(CampaignRun))
    db.session.execute(delete(Campaign))
    campaign = make_campaign(channel)
    listeners = list(db.session.scalars(select(Listener.id).order_by(Listener.id)))
    while len(listeners) < 25:
        listeners.append(make_listener(consent_at=T0).id)
    add_deliveries(campaign, listeners, specs)
    db.session.commit()
    funnel = campaign_funnel(campaign)
    figures, attempts = brute_force(campaign)
    assert {name: getattr(funnel, name) for name in figures} == figures
    assert funnel.attempts == attempts
    for name in figures:  # the "who" lists filter with the funnel's own conditions: the same numbers
        listed = db.session.scalar(select(func.count()).select_from(deliveries_query(campaign.id, name).subquery()))
        assert listed == figures[name], name


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_funnel_is_an_index_only_scan_on_postgresql(backend, app, make_listener):
    campaign = make_campaign("voice")
    people = [make_listener(consent_at=T0).id for _ in range(20)]
    add_deliveries(campaign, people, [("voice", "answered", 1, True, False)] * 20)
    db.session.commit()
    db.session.execute(text("ANALYZE deliveries"))
    db.session.execute(text("SET LOCAL enable_seqscan = off"))  # 20 rows: make the planner show what it would use
    D = Delivery
    started = D.started_at.is_not(None)
    completed = D.completed_at.is_not(None)
    query = (
        select(D.channel, D.status, D.attempts, started, completed, func.count())
        .where(D.campaign_id == campaign.id)
        .group_by(D.channel, D.status, D.attempts, started, completed)
    )
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    plan = "\n".join(r[0] for r in db.session.execute(text(f"EXPLAIN {compiled}")))
    assert "Index Only Scan using ix_deliveries_funnel" in plan, plan


def test_an_unknown_filter_is_refused():
    with pytest.raises(ValueError, match="unknown funnel stage or outcome 'lost'"):
        deliveries_query(1, "lost")
