"""Campaigns end to end on the database (SQLite and PostgreSQL): audiences, expansion into delivery
rows, handing them to the outbox, retries, outcomes, opt-out and the report. Deliveries go through the real
channel ports and the real sender over the simulator provider; the other providers are in
test_campaign_ports.py, the sender itself in test_sender.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from campaigns.audience import audience_ids, audience_size
from campaigns.dispatch import claim, dispatch_due
from campaigns.expand import expand_due
from campaigns.funnel import campaign_funnel
from campaigns.models import Campaign, CampaignRun, CampaignState, Delivery, DeliveryStatus
from campaigns.ports import SmsPort, VoicePort
from campaigns.report import render_report
from campaigns.service import CampaignError, change_state, upsert_from_definition
from core.db import db
from core.outbox import OutboxItem, OutboxStatus
from core.signals import call_finished, lesson_completed
from core.vocabulary import CallStatus, Channel, Direction
from ivr.models import CallSession
from listeners.models import Group, LessonProgress, ProgressStatus
from listeners.service import opt_out
from sms.models import Message
from tests.conftest import send_outbox

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 09:00 in Bamako


def sms(settings):
    return SmsPort(settings, lambda: T0)


def voice(settings):
    return VoicePort(replace(settings, voice_provider="local"), lambda: T0)


def sent_to(campaign) -> list[int]:
    """The deliveries whose message or call the provider accepted (through the real sender)."""
    rows = db.session.scalars(
        select(OutboxItem).filter_by(campaign_id=campaign.id, status=OutboxStatus.SENT).order_by(OutboxItem.id)
    )
    return list(dict.fromkeys(r.delivery_id for r in rows))


@pytest.fixture
def settings(app):
    return app.config["KALANSO"]


@pytest.fixture
def koutiala(make_listener):
    coop = Group(name="coop-koutiala", created_at=T0)
    people = [
        make_listener(language="bm", region="Sikasso", commune="Koutiala", groups=[coop], created_at=T0, consent_at=T0),
        make_listener(language="fr", region="Sikasso", commune="Koutiala", groups=[coop], created_at=T0, consent_at=T0),
        # not in the group:
        make_listener(language="bm", region="Sikasso", commune="Koutiala", created_at=T0, consent_at=T0),
        make_listener(language="bm", region="Kayes", groups=[coop], created_at=T0, consent_at=T0),
    ]
    db.session.commit()
    return people


def define(catalog, settings, **overrides):
    data = {
        "name": "Koutiala leçon 1",
        "channel": "sms",
        "lesson": "money/saving-a-little",
        "audience": {"groups": ["coop-koutiala"], "region": ["Sikasso"]},
        "schedule": {"kind": "once", "at": "2026-11-24T10:00"},
    }
    data.update(overrides)
    campaign = upsert_from_definition(data, catalog, settings, T0)
    change_state(campaign, "schedule", T0)
    db.session.commit()
    return campaign


def end_call(delivery, status, now):
    """The call placed for ``delivery`` ends with ``status`` (as its status callback would say)."""
    session = db.session.get(CallSession, delivery.call_session_id)
    session.status = status
    call_finished.send(session, now=now)
    db.session.commit()


def deliveries(campaign):
    return db.session.scalars(select(Delivery).filter_by(campaign_id=campaign.id).order_by(Delivery.id)).all()


def test_audience_filters(backend, app, koutiala, catalog):
    a, b, c, d = koutiala
    assert list(audience_ids({"groups": ["COOP-Koutiala"]})) == [a.id, b.id, d.id]
    assert list(audience_ids({"groups": ["coop-koutiala"], "region": "sikasso", "language": "bm"})) == [a.id]
    assert audience_size({"commune": ["Koutiala"]}) == 3
    db.session.add(
        LessonProgress(listener_id=b.id, course_id="money", lesson_id="saving-a-little",
                       status=ProgressStatus.COMPLETED, bookmark={}, updated_at=T0)
    )  # fmt: skip
    opt_out(d, T0, "sms")
    db.session.commit()
    assert list(audience_ids({"groups": ["coop-koutiala"], "not_completed": "money/saving-a-little"})) == [a.id]
    assert list(audience_ids({"completed": "money/saving-a-little"})) == [b.id]
    assert list(audience_ids({}, batch=2)) == [a.id, b.id, c.id]  # opted-out d never in an audience


def test_once_campaign_expands_exactly_once_and_dispatches(backend, app, koutiala, catalog, settings):
    campaign = define(catalog, settings)
    assert expand_due(settings, T0)["deliveries_created"] == 0  # 09:00: not yet
    at_ten = T0 + timedelta(hours=1)
    assert expand_due(settings, at_ten)["deliveries_created"] == 2
    assert expand_due(settings, at_ten + timedelta(minutes=1))["deliveries_created"] == 0  # idempotent
    db.session.commit()
    assert campaign.state == CampaignState.RUNNING
    rows = deliveries(campaign)
    assert [(r.listener_id, r.status, r.due_at) for r in rows] == [
        (koutiala[0].id, DeliveryStatus.PENDING, at_ten),
        (koutiala[1].id, DeliveryStatus.PENDING, at_ten),
    ]
    report = dispatch_due(sms(settings), settings, lambda: at_ten)
    assert (report.claimed, report.queued, report.failed) == (2, 2, 0)
    again = dispatch_due(sms(settings), settings, lambda: at_ten)
    assert again.claimed == 0  # never twice
    db.session.expire_all()
    assert {r.status for r in deliveries(campaign)} == {DeliveryStatus.SENDING}  # in the outbox
    assert send_outbox(app, at_ten).sent >= 2  # the lesson's first texts, to each
    assert send_outbox(app, at_ten).claimed == 0
    assert sorted(sent_to(campaign)) == [r.id for r in rows]
    db.session.expire_all()
    assert {r.status for r in deliveries(campaign)} == {DeliveryStatus.SENT}
    assert [r.attempts for r in deliveries(campaign)] == [1, 1]
    expand_due(settings, at_ten + timedelta(minutes=2))
    db.session.commit()
    assert db.session.get(Campaign, campaign.id).state == CampaignState.FINISHED


def test_outside_the_window_deliveries_wait_for_the_morning(backend, app, koutiala, catalog, settings):
    campaign = define(catalog, settings, schedule={"kind": "once", "at": "2026-11-24T21:30"})
    night = datetime(2026, 11, 24, 21, 30, tzinfo=UTC)
    expand_due(settings, night)
    db.session.commit()
    morning = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert {r.due_at for r in deliveries(campaign)} == {morning}
    assert dispatch_due(sms(settings), settings, lambda: night).claimed == 0
    assert dispatch_due(sms(settings), settings, lambda: morning).queued == 2


def test_a_row_due_inside_the_window_is_postponed_if_the_window_closed(backend, app, koutiala, catalog, settings):
    campaign = define(catalog, settings, schedule={"kind": "once", "at": "2026-11-24T19:59"})
    expand_due(settings, datetime(2026, 11, 24, 19, 59, tzinfo=UTC))
    db.session.commit()
    late = datetime(2026, 11, 24, 20, 5, tzinfo=UTC)  # the scheduler was busy: the window has closed
    report = dispatch_due(sms(settings), settings, lambda: late)
    assert report.postponed == 2 and report.queued == 0
    db.session.expire_all()
    assert {(r.status, r.due_at) for r in deliveries(campaign)} == {
        (DeliveryStatus.PENDING, datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
    }


def test_recurring_campaign_creates_one_run_per_occurrence(backend, app, koutiala, catalog, settings):
    campaign = define(
        catalog, settings, channel="sms", lesson=None, message={"fr": "Quiz de la semaine : envoyez QUIZ", "bm": "..."},
        schedule={"kind": "recurring", "days": ["thu"], "time": "18:00"},
    )  # fmt: skip
    thursday = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    for minutes in (0, 1, 30):
        expand_due(settings, thursday + timedelta(minutes=minutes))
    expand_due(settings, thursday + timedelta(days=7, minutes=5))
    db.session.commit()
    runs = db.session.scalars(select(CampaignRun).filter_by(campaign_id=campaign.id).order_by(CampaignRun.id)).all()
    assert [r.key for r in runs] == ["2026-11-26T18:00", "2026-12-03T18:00"]
    assert len(deliveries(campaign)) == 4


def test_drip_sends_each_step_days_after_joining(backend, app, catalog, settings, make_listener):
    campaign = define(
        catalog, settings, audience="everyone",
        schedule={"kind": "drip", "time": "10:00", "steps": [
            {"day": 0}, {"day": 3, "lesson_id": "saving-a-little", "course_id": "money"}]},
    )  # fmt: skip
    early = make_listener(created_at=T0 + timedelta(hours=2), consent_at=T0)  # joins Tuesday 11:00
    late = make_listener(created_at=T0 + timedelta(days=1), consent_at=T0)  # joins Wednesday 09:00
    make_listener(created_at=T0 - timedelta(days=30), consent_at=T0)  # joined before the campaign: not "new"
    db.session.commit()

    def due_pairs(now):
        expand_due(settings, now)
        db.session.commit()
        return sorted((r.listener_id, r.run_id) for r in deliveries(campaign))

    runs = {}
    assert due_pairs(T0 + timedelta(hours=2)) != []
    runs = {r.step: r.id for r in db.session.scalars(select(CampaignRun).filter_by(campaign_id=campaign.id))}
    assert due_pairs(T0 + timedelta(hours=2)) == [(early.id, runs[0])]
    assert due_pairs(T0 + timedelta(days=1, hours=1)) == [(early.id, runs[0]), (late.id, runs[0])]
    friday_nine = datetime(2026, 11, 27, 9, 59, tzinfo=UTC)
    assert len(due_pairs(friday_nine)) == 2  # step 3 for early is due at 10:00 Friday
    assert (early.id, runs[1]) in due_pairs(friday_nine + timedelta(minutes=1))
    assert (late.id, runs[1]) not in due_pairs(friday_nine + timedelta(minutes=1))
    assert (late.id, runs[1]) in due_pairs(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))


def test_voice_retries_then_sms_fallback(backend, app, koutiala, catalog, settings):
    campaign = define(catalog, settings, channel="voice", sms_fallback=True, audience={"language": "fr"})
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    db.session.commit()
    expected = [ten + timedelta(minutes=15), ten + timedelta(minutes=60), ten + timedelta(days=1, minutes=60)]
    now = ten
    for attempt, retry_at in enumerate(expected, start=1):
        assert dispatch_due(voice(settings), settings, lambda now=now: now).queued == 1
        assert send_outbox(app, now).sent == 1  # the call is placed
        (delivery,) = deliveries(campaign)
        end_call(delivery, CallStatus.NO_ANSWER, now)
        db.session.refresh(delivery)
        assert (delivery.status, delivery.due_at, delivery.attempts) == (DeliveryStatus.PENDING, retry_at, attempt)
        now = retry_at
    dispatch_due(voice(settings), settings, lambda: now)
    send_outbox(app, now)
    (delivery,) = deliveries(campaign)
    end_call(delivery, CallStatus.BUSY, now)
    db.session.refresh(delivery)
    assert (delivery.channel, delivery.status, delivery.fallback_sent) == (Channel.SMS, DeliveryStatus.PENDING, True)
    assert dispatch_due(sms(settings), settings, lambda: now).queued == 1
    assert send_outbox(app, now).sent >= 1  # the lesson's first texts
    calls = db.session.scalars(select(CallSession).filter_by(direction=Direction.OUTBOUND)).all()
    assert len(calls) == 4 and {c.listener_id for c in calls} == {koutiala[1].id}
    assert db.session.scalars(select(Message).filter_by(listener_id=koutiala[1].id)).first() is not None


def test_answered_call_and_completion_are_attributed(backend, app, koutiala, catalog, settings):
    campaign = define(catalog, settings, channel="voice", audience={"language": "fr"})
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    dispatch_due(voice(settings), settings, lambda: ten)
    send_outbox(app, ten)
    (delivery,) = deliveries(campaign)
    listener = koutiala[1]
    session = db.session.get(CallSession, delivery.call_session_id)
    session.status = CallStatus.COMPLETED
    lesson_completed.send(
        listener,
        course_id="money",
        lesson_id="saving-a-little",
        channel=Channel.VOICE,
        now=ten,
        first_time=True,
        score=1,
        total=1,
    )
    call_finished.send(session, now=ten)
    db.session.commit()
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.ANSWERED and delivery.completed_at == ten
    funnel = campaign_funnel(campaign)
    assert (funnel.audience, funnel.reached, funnel.started, funnel.completed, funnel.completion_rate) == (
        1, 1, 1, 1, 1.0,
    )  # fmt: skip
    assert delivery.started_at == ten  # the completion counts as a start (the start was not signalled here)
    text = render_report(campaign, funnel)
    assert "reached (call answered)" in text
    assert "completed 1 of 1 reached (SMS delivered / call answered): 100%" in text


def test_opt_out_during_a_campaign_stops_remaining_deliveries(backend, app, koutiala, catalog, settings):
    campaign = define(catalog, settings)
    expand_due(settings, T0 + timedelta(hours=1))
    db.session.commit()
    opt_out(koutiala[0], T0 + timedelta(minutes=61), "sms")
    db.session.commit()
    dispatch_due(sms(settings), settings, lambda: T0 + timedelta(hours=2))
    send_outbox(app, T0 + timedelta(hours=2))
    db.session.expire_all()
    statuses = {r.listener_id: r.status for r in deliveries(campaign)}
    assert statuses == {koutiala[0].id: DeliveryStatus.OPTED_OUT, koutiala[1].id: DeliveryStatus.SENT}
    assert len(sent_to(campaign)) == 1


def test_claimed_rows_are_never_claimed_twice(backend, app, koutiala, catalog, settings):
    define(catalog, settings)
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    db.session.commit()
    first = claim(sms(settings), settings, ten, 10)
    db.session.commit()
    second = claim(sms(settings), settings, ten, 10)
    db.session.commit()
    assert (first.claimed, first.queued, second.claimed) == (2, 2, 0)


def test_a_crash_while_preparing_leaves_nothing_half_done(backend, app, koutiala, catalog, settings):
    campaign = define(catalog, settings)
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    db.session.commit()
    claim(sms(settings), settings, ten, 10)
    db.session.rollback()  # the scheduler dies before its commit
    assert {r.status for r in deliveries(campaign)} == {DeliveryStatus.PENDING}
    assert db.session.scalar(select(func.count()).select_from(OutboxItem)) == 0
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    assert dispatch_due(sms(settings), settings, lambda: ten).queued == 2  # the next run does it all, once


def test_a_delivery_that_cannot_be_prepared_fails_alone(backend, app, koutiala, catalog, settings, monkeypatch):
    campaign = define(catalog, settings)
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    db.session.commit()
    port = sms(settings)
    broken = koutiala[0].id
    real = port.texts

    def texts(delivery, listener, campaign, now):
        if listener.id == broken:
            raise RuntimeError("a content bug")
        return real(delivery, listener, campaign, now)

    monkeypatch.setattr(port, "texts", texts)
    report = dispatch_due(port, settings, lambda: ten)
    assert (report.queued, report.failed) == (1, 1)
    statuses = {r.listener_id: (r.status, r.error[:40]) for r in deliveries(campaign)}
    assert statuses[broken] == (DeliveryStatus.FAILED, "could not be prepared: RuntimeError: a c")
    assert statuses[koutiala[1].id][0] == DeliveryStatus.SENDING


def test_the_dispatcher_fills_the_outbox_only_a_little_ahead_of_the_sender(
    backend, app, catalog, settings, make_listener, monkeypatch
):
    import campaigns.dispatch

    monkeypatch.setattr(campaigns.dispatch, "MIN_BACKLOG", 3)
    for _ in range(5):
        make_listener(language="fr", created_at=T0, consent_at=T0)
    campaign = define(catalog, settings, audience="everyone", lesson=None, message={"fr": "Bonjour", "bm": "I ni ce"})
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    db.session.commit()
    port = sms(settings)
    port.rate_per_second = 0.01  # a backlog of 3 messages at most
    assert dispatch_due(port, settings, lambda: ten).queued == 3
    assert dispatch_due(port, settings, lambda: ten).queued == 0  # the outbox is full enough
    assert send_outbox(app, ten).sent == 3
    assert dispatch_due(port, settings, lambda: ten).queued == 2
    assert {r.status for r in deliveries(campaign)} == {DeliveryStatus.SENT, DeliveryStatus.SENDING}


def test_pause_cancel_and_edit_rules(backend, app, koutiala, catalog, settings):
    campaign = define(catalog, settings)
    expand_due(settings, T0 + timedelta(hours=1))
    change_state(campaign, "pause", T0)
    db.session.commit()
    assert dispatch_due(sms(settings), settings, lambda: T0 + timedelta(hours=1)).claimed == 0
    change_state(campaign, "cancel", T0)
    db.session.commit()
    assert {r.status for r in deliveries(campaign)} == {DeliveryStatus.CANCELLED}
    with pytest.raises(CampaignError, match="cannot schedule"):
        change_state(campaign, "schedule", T0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"channel": "fax"}, "channel: must be voice or sms"),
        ({"lesson": "money/nope"}, "no lesson 'money/nope'"),
        ({"message": {"fr": "Bonjour"}}, "give either lesson"),
        ({"lesson": None, "message": {"fr": "Bonjour"}}, "message.bm: expected a text in both languages"),
        ({"schedule": {"kind": "once", "at": "demain"}}, "schedule.at"),
        ({"audience": {"village": "x", "age": 3}}, "unknown key(s) age"),
        ({"calling_window": "22:00-06:00"}, "calling_window: "),
        ({"blocked_days": "someday"}, "blocked_days: "),
        ({"max_retries": 11}, "max_retries"),
        ({"max_retries": "many"}, "max_retries"),
        ({"colour": "red"}, "unknown key(s): colour"),
    ],
)
def test_bad_definitions_are_refused_clearly(app, catalog, settings, overrides, message):
    data = {
        "name": "x",
        "channel": "sms",
        "lesson": "money/saving-a-little",
        "audience": "everyone",
        "schedule": {"kind": "once", "at": "2026-11-30T10:00"},
    }
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(CampaignError, match=message.replace("(", r"\(").replace(")", r"\)")):
        upsert_from_definition(data, catalog, settings, T0)


def test_cli_load_schedule_report(backend, app, runner, koutiala, tmp_path):
    path = tmp_path / "campaigns.yaml"
    path.write_text(
        """campaigns:
  - name: Koutiala — leçon 1 par appel
    channel: voice
    lesson: money/saving-a-little
    audience: {groups: [coop-koutiala], region: [Sikasso]}
    schedule: {kind: once, at: "2026-11-30T10:00"}
  - name: Quiz du jeudi
    channel: sms
    message: {fr: "Le quiz de la semaine : envoyez QUIZ.", bm: "Dɔgɔkun ɲininkaliw: QUIZ ci."}
    audience: everyone
    schedule: {kind: recurring, days: [thu], time: "18:00"}
""",
        encoding="utf-8",
    )
    result = runner.invoke(args=["campaigns", "load", str(path), "--now", T0.isoformat()])
    assert result.exit_code == 0, result.output
    assert "Koutiala — leçon 1 par appel — draft, audience now 2 listener(s)" in result.output
    (first_id,) = db.session.scalars(select(Campaign.id).filter_by(name="Koutiala — leçon 1 par appel"))
    result = runner.invoke(args=["campaigns", "schedule", str(first_id), "--now", T0.isoformat()])
    assert result.exit_code == 0 and "is now scheduled" in result.output
    result = runner.invoke(args=["campaigns", "schedule", str(first_id), "--now", T0.isoformat()])
    assert result.exit_code == 1 and "cannot schedule" in result.output
    listing = runner.invoke(args=["campaigns", "list", "--now", T0.isoformat()]).output
    assert "scheduled  voice  once       2026-11-30 10:00" in listing and "Quiz du jeudi" in listing
    assert "draft      sms    recurring  2026-11-26 18:00" in listing  # Thursday's
    report = runner.invoke(args=["campaigns", "report", str(first_id)])
    assert report.exit_code == 0 and "(no run yet: the audience would be 2 listener(s) now)" in report.output
    assert runner.invoke(args=["campaigns", "report", "999"]).exit_code == 1
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 2


def test_the_example_files_load(backend, app, runner, monkeypatch):
    from content.loader import COURSES_DIR
    from core.config import ROOT

    result = runner.invoke(args=["listeners", "import", str(ROOT / "listeners" / "example.csv")])
    assert result.exit_code == 0, result.output
    monkeypatch.setitem(app.config, "KALANSO_COURSES_DIR", COURSES_DIR)  # the shipped curriculum
    app.extensions.pop("kalanso.catalog", None)
    example = ROOT / "campaigns" / "example.yaml"
    result = runner.invoke(args=["campaigns", "load", str(example), "--now", T0.isoformat()])
    assert result.exit_code == 0, result.output
    assert "Koutiala — leçon « épargner un peu » par appel — draft, audience now 2 listener(s)" in result.output
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 3


def test_the_scheduler_runs_the_jobs_once(backend, app, runner, koutiala, catalog, settings, monkeypatch):
    import campaigns.jobs
    import campaigns.ports
    import ivr.callbacks
    from campaigns.scheduler import build_scheduler

    assert {job.id for job in build_scheduler(app).get_jobs()} == {
        "campaigns-expand", "campaigns-dispatch", "missed-call-callbacks", "studio-fetch",
    }  # fmt: skip
    ten = T0 + timedelta(hours=1)
    for module in (campaigns.jobs, campaigns.ports, ivr.callbacks):
        monkeypatch.setattr(module, "utcnow", lambda: ten)
    campaign = define(catalog, settings, lesson=None, message={"fr": "Bonjour", "bm": "I ni ce"})
    result = runner.invoke(args=["campaigns", "run-jobs"])
    assert result.exit_code == 0, result.output
    assert "campaigns-expand: {'campaigns': 1, 'deliveries_created': 2}" in result.output
    assert "'queued': 2" in result.output
    db.session.expire_all()
    assert {d.status for d in deliveries(campaign)} == {DeliveryStatus.SENDING}  # in the outbox
    assert send_outbox(app, ten).sent == 2  # the sender process's work
    db.session.expire_all()
    assert {d.status for d in deliveries(campaign)} == {DeliveryStatus.SENT}  # the local simulator's word


def test_flask_dev_serves_the_app_with_the_scheduler_and_the_sender_in_the_background(app, runner, monkeypatch):
    from werkzeug import serving

    seen = {}

    def fake_run_simple(host, port, application, **kwargs):
        seen.update(host=host, port=port, app=application, kwargs=kwargs)

    monkeypatch.setattr(serving, "run_simple", fake_run_simple)
    result = runner.invoke(args=["dev", "--port", "5055"])
    assert result.exit_code == 0, result.output
    assert "Scheduler (4 jobs) and sender running in the background" in result.output
    assert (seen["host"], seen["port"], seen["app"]) == ("127.0.0.1", 5055, app)
    assert seen["kwargs"]["use_reloader"] is False  # a reloader would start the jobs twice
