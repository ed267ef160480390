"""The campaign rules of issue 12: who can be in an audience (consent, country, opt-out) and the counts that say
so; every error of a definition at once (and of a YAML file); unknown groups; past times and "send now"; cancel
with pending retries; ``finished`` only when nothing can send any more; lesson starts attributed to deliveries;
the next send time in `campaigns list`; cost estimates; settings; the scheduler's log."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from campaigns.audience import audience_ids, count_audience, sample_audience
from campaigns.dispatch import dispatch_due
from campaigns.estimate import estimate_cost
from campaigns.expand import expand_due
from campaigns.models import Campaign, CampaignState, Delivery, DeliveryStatus
from campaigns.ports import SmsPort, VoicePort
from campaigns.service import (
    AudienceCount,
    CampaignError,
    DefinitionErrors,
    FieldError,
    apply_action,
    change_state,
    next_send,
    upsert_from_definition,
    validate_definition,
)
from core.config import ConfigError, Settings, load_settings
from core.db import db
from core.outbox import OutboxItem, OutboxStatus
from core.signals import call_finished
from core.vocabulary import CallStatus, Channel
from engine import Start
from ivr.models import CallSession
from listeners.models import Group, Listener
from listeners.progress import take_turn
from listeners.service import give_consent, opt_out
from tests.conftest import BASE_CONFIG, NOW, send_outbox

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 09:00 in Bamako


@pytest.fixture
def settings(app):
    return app.config["KALANSO"]


def definition(**overrides):
    data = {
        "name": "Koutiala",
        "channel": "voice",
        "lesson": "money/saving-a-little",
        "audience": "everyone",
        "schedule": {"kind": "once", "at": "2026-11-24T10:00"},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def scheduled(catalog, settings, now=T0, **overrides) -> Campaign:
    campaign = upsert_from_definition(definition(**overrides), catalog, settings, now)
    change_state(campaign, "schedule", now, settings)
    db.session.commit()
    return campaign


def deliveries(campaign):
    return db.session.scalars(select(Delivery).filter_by(campaign_id=campaign.id).order_by(Delivery.id)).all()


def end_call(delivery, status, now):
    session = db.session.get(CallSession, delivery.call_session_id)
    session.status = status
    call_finished.send(session, now=now)
    db.session.commit()


# --- who can be in an audience --------------------------------------------------------------------------------------


def _voice(client, **data):
    response = client.post("/simulator/voice", json=data)
    assert response.status_code == 200
    return response.get_json()


def _sms(client, phone, text):
    assert client.post("/simulator/sms/send", json={"phone": phone, "text": text}).status_code == 200


def test_the_consent_rule_through_the_real_lines(backend, app, client, clock, settings, make_listener):
    """Who rang once, texted AIDE, chose a language, texted START, was imported or opted out — and a +33 number."""
    rang = _voice(client, action="dial", phone="+22376000001")
    _voice(client, action="hangup", call=rang["call"])  # rang and hung up before choosing a language
    chose = _voice(client, action="dial", phone="+22376000002")
    _voice(client, action="key", digits="2", call=chose["call"], phone="+22376000002")  # French: consent by voice
    _sms(client, "+22376000003", "AIDE")  # a question is not a consent
    _sms(client, "+22376000004", "STOP")
    _sms(client, "+22376000004", "START")  # an opt-in by SMS is
    imported = make_listener(phone="+22376000005", language="bm")
    give_consent(imported, NOW, "import")
    stopped = make_listener(phone="+22376000006", consent_at=NOW, consent_channel="agent")
    opt_out(stopped, NOW, "sms")
    french = make_listener(phone="+33612345678", consent_at=NOW, consent_channel="agent", language="fr")
    db.session.commit()
    phones = dict(db.session.execute(select(Listener.id, Listener.phone)).all())
    assert sorted(phones[i] for i in audience_ids({"everyone": True})) == ["+22376000002", "+22376000004",
                                                                           "+22376000005"]  # fmt: skip
    assert count_audience("everyone") == AudienceCount(
        eligible=3, matched=7, no_consent=2, other_country=1, opted_out=1, by_language={"fr": 2, "bm": 1}
    )
    with_france = replace(settings, campaign_countries=("223", "33"))
    assert french.id in list(audience_ids({"everyone": True}, settings=with_france))
    assert count_audience({"language": "fr"}, with_france).eligible == 3  # the voice and SMS ones, and France
    assert [x.phone for x in sample_audience("everyone", n=2)] == ["+22376000002", "+22376000004"]


def test_expansion_obeys_the_rule(backend, app, catalog, settings, make_listener):
    ok = make_listener(consent_at=T0, language="fr")
    make_listener(language="fr")  # no consent
    make_listener(phone="+33612345678", consent_at=T0, language="fr")  # France
    campaign = scheduled(catalog, settings, channel="sms")
    expand_due(settings, T0 + timedelta(hours=1))
    db.session.commit()
    assert [d.listener_id for d in deliveries(campaign)] == [ok.id]


# --- definitions: every error at once -------------------------------------------------------------------------------


def test_every_error_of_a_definition_is_reported_with_its_field(app, catalog, settings):
    db.session.add(Group(name="coop-koutiala", created_at=T0))
    db.session.flush()
    data = {
        "channel": "fax",
        "lesson": "money/nope",
        "audience": {"groups": ["coop-koutiala", "coop-kutiala", "femmes"], "language": "en"},
        "schedule": {"kind": "once", "at": "2026-11-24T08:00"},
        "calling_window": "22:00-06:00",
        "max_retries": 12,
        "colour": "red",
    }
    errors = validate_definition(data, catalog, settings, T0)
    assert errors == [
        FieldError("", "unknown key(s): colour"),
        FieldError("name", "required"),
        FieldError("channel", "must be voice or sms, got 'fax'"),
        FieldError("lesson", "no lesson 'money/nope' in the content"),
        FieldError("schedule.at", "this time has passed (2026-11-24 08:00 local); choose a later time or 'send now'"),
        FieldError("audience.language", "must be bm or fr, got 'en'"),
        FieldError("audience.groups", "unknown group(s): coop-kutiala, femmes"),
        FieldError("calling_window", errors[7].message),
        FieldError("max_retries", "must be between 0 and 10"),
    ]
    with pytest.raises(DefinitionErrors) as raised:
        upsert_from_definition(data, catalog, settings, T0)
    assert raised.value.errors == errors
    assert str(raised.value).splitlines()[1:3] == ["name: required", "channel: must be voice or sms, got 'fax'"]
    assert db.session.scalar(select(Campaign.id)) is None


@pytest.mark.parametrize(
    ("audience", "error"),
    [
        (None, FieldError("audience", "choose who receives it, or 'everyone'")),
        ({}, FieldError("audience", "choose who receives it, or 'everyone'")),
        ({"everyone": True, "region": ["Sikasso"]}, FieldError("audience", "choose either 'everyone' or filters, "
                                                                           "not both")),
        ({"everyone": "yes"}, FieldError("audience", "everyone: expected true (or leave it out and give filters)")),
        ({"groups": ["nobody"]}, FieldError("audience.groups", "unknown group(s): nobody")),
        ("everyone", None),
        ({"everyone": True}, None),
        ({"region": "Sikasso"}, None),
    ],
)  # fmt: skip
def test_the_audience_must_be_chosen(app, catalog, settings, audience, error):
    data = definition(audience=audience)  # None: no audience key at all
    errors = validate_definition(data, catalog, settings, T0)
    assert errors == ([error] if error else [])


def test_a_group_name_with_accented_capitals_is_known_and_matched_on_every_database(
    backend, app, catalog, settings, make_listener
):
    """SQLite's lower() lowers ASCII only: the group names are compared in Python, without case."""
    group = Group(name="Écoute à Sanando", created_at=T0)
    db.session.add(group)
    member, other = make_listener(consent_at=T0), make_listener(consent_at=T0)
    member.groups.append(group)
    db.session.flush()
    data = definition(audience={"groups": ["écoute À SANANDO"]})
    assert validate_definition(data, catalog, settings, T0) == []
    assert list(audience_ids({"groups": ["ÉCOUTE à sanando"]}, settings=settings)) == [member.id]
    assert other.id not in list(audience_ids({"groups": ["Écoute à Sanando"]}, settings=settings))


def test_a_message_is_checked_per_language(app, catalog, settings):
    errors = validate_definition(
        definition(channel="sms", lesson=None, message={"fr": "x" * 1000, "bm": " ", "en": "hi"}), catalog, settings, T0
    )
    assert [e.field for e in errors] == ["message.fr", "message.bm", "message"]
    assert errors[0].message.startswith("SMS too long: 7 segments")


# --- past times and "send now" ---------------------------------------------------------------------------------------


def test_a_draft_whose_time_has_passed_cannot_be_scheduled(backend, app, catalog, settings, make_listener):
    make_listener(consent_at=T0)
    campaign = upsert_from_definition(definition(), catalog, settings, T0)
    db.session.commit()
    with pytest.raises(CampaignError, match=r"this time has passed \(2026-11-24 10:00 local\); edit schedule.at"):
        change_state(campaign, "schedule", T0 + timedelta(hours=2), settings)
    assert campaign.state == CampaignState.DRAFT
    expand_due(settings, T0 + timedelta(hours=2))
    assert deliveries(campaign) == []  # nobody called at once


def test_send_now_is_explicit_and_does_not_keep(backend, app, catalog, settings, make_listener):
    make_listener(consent_at=T0)
    saved = T0 + timedelta(minutes=30, seconds=20)
    now_campaign = upsert_from_definition(definition(schedule={"kind": "once", "at": "now"}), catalog, settings, saved)
    assert now_campaign.schedule == {"at": "2026-11-24T09:30", "send_now": True}
    stale = upsert_from_definition(
        definition(name="stale", schedule={"kind": "once", "at": "now"}), catalog, settings, saved
    )
    apply_action(now_campaign, "schedule", saved + timedelta(minutes=5), settings)
    with pytest.raises(CampaignError, match="'send now' was chosen more than 10 minutes ago"):
        apply_action(stale, "schedule", saved + timedelta(minutes=11), settings)
    db.session.commit()
    assert expand_due(settings, saved + timedelta(minutes=5))["deliveries_created"] == 1


def test_resuming_a_paused_campaign_that_already_ran_is_allowed(backend, app, catalog, settings, make_listener):
    make_listener(consent_at=T0)
    campaign = scheduled(catalog, settings)
    expand_due(settings, T0 + timedelta(hours=1))
    apply_action(campaign, "pause", T0 + timedelta(hours=1), settings)
    result = apply_action(campaign, "resume", T0 + timedelta(hours=3), settings)
    assert result.campaign.state == CampaignState.SCHEDULED


# --- cancel and finished ---------------------------------------------------------------------------------------------


def voice_port(settings, now):
    return VoicePort(replace(settings, voice_provider="local"), lambda: now)


def test_cancel_stops_waiting_retrying_and_unsent_deliveries(backend, app, catalog, settings, make_listener):
    for _ in range(4):
        make_listener(consent_at=T0, language="fr")
    campaign = scheduled(catalog, settings, sms_fallback=True)
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    db.session.commit()
    port = voice_port(settings, ten)
    assert dispatch_due(port, settings, lambda: ten, limit=2).queued == 2
    assert send_outbox(app, ten).sent == 2  # two calls placed
    first, second, third, fourth = deliveries(campaign)
    end_call(first, CallStatus.NO_ANSWER, ten)  # first: a retry waits
    assert dispatch_due(port, settings, lambda: ten, limit=1).queued == 1  # the third in the outbox; the 4th waits
    db.session.expire_all()
    assert (first.status, first.attempts) == (DeliveryStatus.PENDING, 1)
    assert (second.status, third.status, fourth.status) == (
        DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.PENDING,
    )  # fmt: skip

    result = apply_action(campaign, "cancel", ten + timedelta(minutes=1), settings)
    db.session.commit()
    assert result.stopped == {"waiting": 1, "retrying": 1, "in the outbox": 1} and result.in_flight == 1
    assert result.describe() == (
        f"{campaign.id}: Koutiala is cancelled; 3 deliveries stopped (1 waiting, 1 retrying, 1 in the outbox); "
        "1 already handed to the provider (or on a call) cannot be stopped: their outcome will be recorded, "
        "without retries or SMS fallback"
    )
    db.session.expire_all()
    assert [d.status for d in deliveries(campaign)] == [
        DeliveryStatus.CANCELLED, DeliveryStatus.QUEUED, DeliveryStatus.CANCELLED, DeliveryStatus.CANCELLED,
    ]  # fmt: skip
    row = db.session.scalars(select(OutboxItem).filter_by(delivery_id=third.id)).one()
    assert (row.status, row.error) == (OutboxStatus.CANCELLED, "campaign cancelled: not sent")
    call = db.session.get(CallSession, third.call_session_id)
    assert call.status == CallStatus.CANCELED
    assert (call.provider_status, call.path[-1][1]) == ("campaign cancelled", "campaign-cancelled")  # not "opted out"
    assert send_outbox(app, ten + timedelta(minutes=2)).claimed == 0  # nothing left to place

    end_call(second, CallStatus.NO_ANSWER, ten + timedelta(minutes=3))  # the call in flight ends: no retry
    db.session.expire_all()
    assert (second.status, second.channel, second.fallback_sent) == (DeliveryStatus.NO_ANSWER, Channel.VOICE, False)
    assert dispatch_due(port, settings, lambda: ten + timedelta(days=1)).claimed == 0
    with pytest.raises(CampaignError, match="cannot cancel campaign 'Koutiala': it is cancelled"):
        apply_action(campaign, "cancel", ten, settings)


def test_finished_only_when_nothing_is_pending_retrying_or_in_flight(backend, app, catalog, settings, make_listener):
    make_listener(consent_at=T0, language="fr")
    make_listener(consent_at=T0, language="fr")
    campaign = scheduled(catalog, settings, max_retries=1)
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    dispatch_due(voice_port(settings, ten), settings, lambda: ten)
    send_outbox(app, ten)
    answered, unanswered = deliveries(campaign)

    def state(now):
        expand_due(settings, now)
        db.session.commit()
        return db.session.get(Campaign, campaign.id).state

    assert state(ten + timedelta(minutes=1)) == CampaignState.RUNNING  # two calls placed, no outcome yet
    end_call(answered, CallStatus.COMPLETED, ten + timedelta(minutes=2))
    assert state(ten + timedelta(minutes=2)) == CampaignState.RUNNING  # one call still queued
    end_call(unanswered, CallStatus.NO_ANSWER, ten + timedelta(minutes=2))
    assert state(ten + timedelta(minutes=3)) == CampaignState.RUNNING  # its retry is pending
    retry = ten + timedelta(minutes=17)
    dispatch_due(voice_port(settings, retry), settings, lambda: retry)
    send_outbox(app, retry)
    assert state(retry) == CampaignState.RUNNING
    end_call(unanswered, CallStatus.BUSY, retry + timedelta(minutes=1))
    assert state(retry + timedelta(minutes=2)) == CampaignState.FINISHED  # no retry left, nothing in flight


def test_a_voice_lesson_start_is_attributed_to_the_delivery(backend, app, catalog, settings, make_listener):
    listener = make_listener(consent_at=T0, language="fr")
    campaign = scheduled(catalog, settings)
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    dispatch_due(voice_port(settings, ten), settings, lambda: ten)
    send_outbox(app, ten)
    (delivery,) = deliveries(campaign)
    take_turn(listener, catalog.courses["money"], "saving-a-little", Start(), channel=Channel.VOICE, now=ten)
    db.session.commit()
    db.session.refresh(delivery)
    assert (delivery.started_at, delivery.completed_at) == (ten, None)


# --- the CLI --------------------------------------------------------------------------------------------------------

YAML_WITH_ERRORS = """campaigns:
  - name: Bonne
    channel: sms
    message: {fr: "Bonjour", bm: "I ni ce"}
    audience: everyone
    schedule: {kind: once, at: now}
  - name: Passée
    channel: voice
    lesson: money/saving-a-little
    audience: {groups: [coop-kutiala]}
    schedule: {kind: once, at: "2026-11-20T10:00"}
  - name: Sans public
    channel: sms
    message: {fr: "Bonjour"}
    schedule: {kind: recurring, days: [someday], time: "18:00"}
  - channel: sms
    lesson: money/saving-a-little
    audience: everyone
    schedule: {kind: drip, steps: []}
"""


def test_yaml_errors_are_reported_all_at_once_and_nothing_is_loaded(backend, app, runner, tmp_path):
    path = tmp_path / "campaigns.yaml"
    path.write_text(YAML_WITH_ERRORS, encoding="utf-8")
    result = runner.invoke(args=["campaigns", "load", str(path), "--now", T0.isoformat()])
    assert result.exit_code == 1
    lines = [line.strip() for line in result.output.splitlines()]
    assert lines[0] == f"Error: {path}: 7 error(s), nothing loaded:"
    assert lines[1:] == [
        "campaign #2 (Passée): schedule.at: this time has passed (2026-11-20 10:00 local); "
        "choose a later time or 'send now'",
        "campaign #2 (Passée): audience.groups: unknown group(s): coop-kutiala",
        "campaign #3 (Sans public): message.bm: expected a text in both languages, {fr: ..., bm: ...}",
        "campaign #3 (Sans public): schedule.days: expected weekdays like mon, thu; got ['someday']",
        "campaign #3 (Sans public): audience: choose who receives it, or 'everyone'",
        "campaign #4: name: required",
        "campaign #4: schedule.steps: expected a non-empty list of steps with a day",
    ]
    assert db.session.scalar(select(Campaign.id)) is None  # not even the good one


def test_cli_list_cancel_and_report_are_honest(backend, app, runner, catalog, settings, make_listener):
    for _ in range(3):
        make_listener(consent_at=T0, language="fr")
    make_listener(language="fr")  # no consent
    campaign = scheduled(catalog, settings, schedule={"kind": "once", "at": "2026-11-24T21:00"})
    listing = runner.invoke(args=["campaigns", "list", "--now", T0.isoformat()]).output
    assert "scheduled  voice  once       2026-11-25 08:00" in listing  # 21:00 is outside the window: next morning
    assert "       3  money/saving-a-little  Koutiala" in listing
    expand_due(settings, datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
    db.session.commit()
    report = runner.invoke(args=["campaigns", "report", str(campaign.id), "--now", "2026-11-25T08:00:00+00:00"])
    assert "audience" in report.output and "completed 0 of 0 reached (SMS delivered / call answered)" in report.output
    assert "next send: 2026-11-25 08:00 (Africa/Bamako)" in report.output
    assert "waiting for their time 3" in report.output
    result = runner.invoke(args=["campaigns", "cancel", str(campaign.id), "--now", "2026-11-25T07:59:00+00:00"])
    assert result.exit_code == 0
    assert "is cancelled; 3 deliveries stopped (3 waiting)" in result.output and "finished" not in result.output
    again = runner.invoke(args=["campaigns", "cancel", str(campaign.id)])
    assert again.exit_code == 1 and "it is cancelled" in again.output
    assert next_send(db.session.get(Campaign, campaign.id), settings, T0) is None


# --- estimates ------------------------------------------------------------------------------------------------------


def test_sms_estimate_counts_segments_as_sent(app, settings):
    priced = replace(settings, sms_provider="africastalking")
    audience = AudienceCount(eligible=30, matched=30, by_language={"bm": 10, "fr": 15, "": 5})
    message = {"fr": "Bonjour " * 25, "bm": "Dɔgɔkun ɲininkaliw: QUIZ ci."}  # 200 characters: 2 segments
    estimate = estimate_cost("sms", message, audience, priced, runs=2)
    assert estimate.lines == [
        ("SMS bm: 10 listener(s) × 1 segment(s)", 20, Decimal(25), Decimal(500)),
        ("SMS fr: 20 listener(s) × 2 segment(s)", 80, Decimal(25), Decimal(2000)),  # "" gets the default, fr
    ]
    assert estimate.total_fcfa == Decimal(2500)
    raw = estimate_cost("sms", message, audience, replace(priced, sms_transliterate=False))
    assert raw.lines[0][1] == 10  # UCS-2 still fits one segment
    long_bm = {"fr": "x", "bm": "ɛ" * 100}  # UCS-2: 2 segments; transliterated: 1
    assert estimate_cost("sms", long_bm, AudienceCount(1, 1, by_language={"bm": 1}), replace(
        priced, sms_transliterate=False)).lines[0][1] == 2  # fmt: skip
    assert estimate_cost("sms", long_bm, AudienceCount(1, 1, by_language={"bm": 1}), priced).lines[0][1] == 1


def test_voice_estimate_is_an_upper_bound_from_the_words(app, settings, catalog):
    priced = replace(settings, voice_provider="twilio")
    audience = AudienceCount(eligible=4, matched=4, by_language={"bm": 1, "fr": 3})
    estimate = estimate_cost("voice", "money/saving-a-little", audience, priced, max_retries=3, catalog=catalog)
    # 131 words in Bambara (1.01 min: billed 2 started minutes), 113 in French (0.87 min: 1)
    assert [line[0] for line in estimate.lines] == [
        "calls bm: 1 listener(s) × 2 min",
        "calls fr: 3 listener(s) × 1 min",
    ]
    assert estimate.total_fcfa == Decimal(300) * (2 + 3)
    assert "fr: 0.9 min from the words at 130 words a minute" in estimate.notes
    assert "upper bound: every call answered (once); unanswered attempts and retries are not billed" in estimate.notes


# --- settings and the scheduler's log --------------------------------------------------------------------------------


def test_campaign_settings_from_the_environment():
    base = {**BASE_CONFIG, "DATABASE_URL": "sqlite://"}
    default = Settings.from_env(base)
    assert default.campaign_countries == ("223",)
    assert default.tariffs["africastalking"] == {"sms_segment": Decimal(25), "voice_minute": Decimal(75)}
    tariffs = "twilio:sms_segment=150,voice_minute=250.5"
    custom = load_settings({**base, "CAMPAIGN_COUNTRIES": "223, +226", "TARIFFS": tariffs})
    assert custom.campaign_countries == ("223", "226")
    assert custom.tariffs["twilio"] == {"sms_segment": Decimal(150), "voice_minute": Decimal("250.5")}
    assert custom.tariffs["local"] == {"sms_segment": Decimal(0), "voice_minute": Decimal(0)}
    for env, message in [
        ({"CAMPAIGN_COUNTRIES": "Mali"}, "CAMPAIGN_COUNTRIES: expected calling codes"),
        ({"TARIFFS": "orange:sms_segment=1,voice_minute=2"}, "TARIFFS: expected provider:"),
        ({"TARIFFS": "twilio:sms_segment=1"}, "TARIFFS: twilio: missing voice_minute"),
        ({"TARIFFS": "twilio:sms_segment=-1,voice_minute=2"}, "TARIFFS: twilio: expected sms_segment=N"),
    ]:
        with pytest.raises(ConfigError, match=message):
            Settings.from_env({**base, **env})


def test_skipped_scheduler_ticks_do_not_fill_the_log(caplog):
    from campaigns.scheduler import SkippedRunsFilter

    class Job:
        id = "campaigns-dispatch"

    moment = [0.0]
    logger = logging.getLogger("test.apscheduler.scheduler")
    logger.addFilter(SkippedRunsFilter(interval=600, clock=lambda: moment[0]))
    msg = 'Execution of job "%s" skipped: maximum number of running instances reached (%d)'
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for _ in range(300):  # ten minutes of a job every 2 s, each tick skipped
            logger.warning(msg, Job(), 1)
            moment[0] += 2
        logger.warning(msg, Job(), 1)
        logger.warning("Run time of job was missed")  # other lines pass untouched
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "job campaigns-dispatch: a tick was skipped while its previous run was still working; "
        "this line at most every 600 s",
        "job campaigns-dispatch: a tick was skipped while its previous run was still working "
        "(299 more skipped since the last such line); this line at most every 600 s",
        "Run time of job was missed",
    ]


def test_the_scheduler_installs_the_filter(app):
    from campaigns.scheduler import SkippedRunsFilter, build_scheduler

    build_scheduler(app)
    build_scheduler(app)
    filters = [f for f in logging.getLogger("apscheduler.scheduler").filters if isinstance(f, SkippedRunsFilter)]
    assert len(filters) == 1


def test_load_says_who_the_rules_left_out(backend, app, runner, tmp_path, make_listener):
    make_listener(consent_at=T0)
    make_listener()  # rang once
    make_listener(phone="+33612345678", consent_at=T0)
    path = tmp_path / "one.yaml"
    path.write_text(
        'name: Tous\nchannel: sms\nmessage: {fr: "Bonjour", bm: "I ni ce"}\naudience: everyone\n'
        "schedule: {kind: once, at: now}\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["campaigns", "load", str(path), "--now", T0.isoformat()])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(
        "Tous — draft, audience now 1 listener(s) (3 matched; left out: 1 without recorded consent, "
        "1 in another country)"
    )


def test_voice_estimate_from_the_recordings_when_all_are_measured(app, settings, catalog, tmp_path):
    import wave

    from campaigns.estimate import lesson_minutes

    course = catalog.courses["money"]
    lesson = course.lesson("saving-a-little")
    stems = [lesson.title.audio["fr"]]
    for item in lesson.items:
        stems += [item.body.audio["fr"]] if item.kind == "chunk" else [item.prompt.audio["fr"],
                                                                       item.feedback_correct.audio["fr"]]  # fmt: skip
    for stem in stems:
        path = tmp_path / "fr" / f"{stem}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(8000)
            f.writeframes(b"\0\0" * 8000 * 30)  # 30 s each
    minutes, source = lesson_minutes(course, lesson, "fr", tmp_path)
    assert (minutes, source) == (len(stems) * 0.5, "recordings")
    assert lesson_minutes(course, lesson, "bm", tmp_path)[1] == "words"  # no Bambara recording: the words
    audience = AudienceCount(eligible=2, matched=2, by_language={"fr": 2})
    priced = replace(settings, voice_provider="twilio")
    estimate = estimate_cost("voice", (course, "saving-a-little"), audience, priced, audio_dir=tmp_path)
    per_call = -(-len(stems) // 2)  # 30 s each, rounded up to started minutes
    assert estimate.lines == [(f"calls fr: 2 listener(s) × {per_call} min", 2 * per_call, Decimal(300),
                               Decimal(600 * per_call))]  # fmt: skip
    assert f"fr: {len(stems) * 0.5:.1f} min from the recordings' durations" in estimate.notes
    (tmp_path / "fr" / f"{stems[-1]}.wav").unlink()
    assert lesson_minutes(course, lesson, "fr", tmp_path)[1] == "words"  # one missing: not measured


def test_cancel_leaves_a_lesson_whose_first_sms_a_sender_took_in_flight(backend, app, catalog, settings, make_listener):
    for _ in range(2):
        make_listener(consent_at=T0, language="fr")
    campaign = scheduled(catalog, settings, channel="sms")
    ten = T0 + timedelta(hours=1)
    expand_due(settings, ten)
    dispatch_due(SmsPort(settings, lambda: ten), settings, lambda: ten)
    first, second = deliveries(campaign)
    rows = db.session.scalars(select(OutboxItem).filter_by(delivery_id=first.id).order_by(OutboxItem.id)).all()
    assert len(rows) >= 2  # the lesson's opening texts
    rows[0].status = OutboxStatus.SENDING  # a sender has just claimed the first one
    db.session.commit()
    result = apply_action(campaign, "cancel", ten, settings)
    db.session.commit()
    assert (result.stopped["in the outbox"], result.in_flight) == (1, 1)
    db.session.expire_all()
    assert (first.status, second.status) == (DeliveryStatus.SENDING, DeliveryStatus.CANCELLED)
    assert [r.status for r in rows[1:]] == [OutboxStatus.CANCELLED] * (len(rows) - 1)
