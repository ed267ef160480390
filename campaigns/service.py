"""Campaign definitions and their life cycle (draft → scheduled → running → finished; paused; cancelled).

A definition is a plain mapping, the same from a YAML file, the CLI or (later) the dashboard:

    name: Koutiala — leçon 2 par appel
    channel: voice                     # voice | sms
    lesson: money/saving-a-little      # or: message: {fr: "...", bm: "..."}
    audience: {groups: [coop-koutiala], region: [Sikasso]}
    schedule: {kind: once, at: "2026-11-30T10:00"}
    calling_window: "08:00-20:00"      # optional, else the deployment's
    blocked_days: "fri"                # optional, added to the deployment's
    max_retries: 3                     # optional (voice)
    sms_fallback: true                 # optional (voice)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from campaigns import audience, schedule
from campaigns.models import Campaign, CampaignState, Delivery, DeliveryStatus, ScheduleKind
from content.loader import Catalog
from core.config import Settings
from core.db import db
from core.vocabulary import Channel
from core.window import CallingWindow

DEFINITION_KEYS = {
    "name", "channel", "lesson", "message", "audience", "schedule", "calling_window", "blocked_days",
    "max_retries", "sms_fallback",
}  # fmt: skip


class CampaignError(ValueError):
    """A definition or a state change that cannot be accepted; the message says why."""


TRANSITIONS = {
    "schedule": ({CampaignState.DRAFT, CampaignState.PAUSED}, CampaignState.SCHEDULED),
    "pause": ({CampaignState.SCHEDULED, CampaignState.RUNNING}, CampaignState.PAUSED),
    "cancel": (
        {CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED},
        CampaignState.CANCELLED,
    ),
}


def _lesson(value: Any, catalog: Catalog) -> tuple[str, str]:
    text = str(value or "")
    if text.count("/") != 1:
        raise CampaignError(f"lesson: expected course/lesson, got {value!r}")
    course_id, lesson_id = text.split("/")
    try:
        catalog.lesson(course_id, lesson_id)
    except KeyError as exc:
        raise CampaignError(f"lesson: no lesson {text!r} in the content") from exc
    return course_id, lesson_id


def _message(value: Any, settings: Settings) -> dict[str, str]:
    """A text per language that fits the SMS segment limit once encoded (refused now, never cut later)."""
    from sms.encoding import MessageTooLong, check_length, for_sms

    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k].strip() for k in ("fr", "bm")):
        raise CampaignError("message: expected a text in both languages, {fr: ..., bm: ...}")
    out = {lang: value[lang].strip() for lang in ("fr", "bm")}
    for lang, text in out.items():
        try:
            check_length(for_sms(text, transliterate=settings.sms_transliterate), settings)
        except MessageTooLong as exc:
            raise CampaignError(f"message {lang}: {exc}") from exc
    return out


def apply_definition(
    campaign: Campaign, data: dict[str, Any], catalog: Catalog, settings: Settings, now: datetime
) -> Campaign:
    """Validate ``data`` and write it into ``campaign`` (new or a draft/paused one)."""
    if not isinstance(data, dict):
        raise CampaignError("a campaign definition must be a mapping")
    unknown = set(data) - DEFINITION_KEYS
    if unknown:
        raise CampaignError(f"unknown key(s): {', '.join(sorted(unknown))}")
    if campaign.id is not None and campaign.state not in (CampaignState.DRAFT, CampaignState.PAUSED):
        raise CampaignError(f"campaign '{campaign.name}' is {campaign.state}: pause it before editing")
    name = str(data.get("name") or "").strip()
    if not name:
        raise CampaignError("name: required")
    try:
        channel = Channel(str(data.get("channel", "")).lower())
    except ValueError as exc:
        raise CampaignError(f"channel: must be voice or sms, got {data.get('channel')!r}") from exc
    if (data.get("lesson") is None) == (data.get("message") is None):
        raise CampaignError("give either lesson (course/lesson) or message ({fr, bm}), not both")
    course_id = lesson_id = None
    message: dict[str, str] = {}
    if data.get("lesson") is not None:
        course_id, lesson_id = _lesson(data["lesson"], catalog)
    elif channel == Channel.VOICE:
        raise CampaignError("a voice campaign calls listeners with a lesson: give lesson, or use channel sms")
    else:
        message = _message(data["message"], settings)
    sched = dict(data.get("schedule") or {})
    kind = str(sched.pop("kind", "")).lower()
    try:
        clean_schedule = schedule.validate(kind, sched, settings.tz)
        clean_audience = audience.validate(data.get("audience"))
        window_text = str(data.get("calling_window") or "")
        blocked = str(data.get("blocked_days") or "")
        CallingWindow.parse(window_text or settings.calling_window, blocked, settings.timezone)
    except (schedule.ScheduleError, audience.AudienceError) as exc:
        raise CampaignError(str(exc)) from exc
    except ValueError as exc:
        raise CampaignError(f"calling_window/blocked_days: {exc}") from exc
    if kind == "drip":
        for step in clean_schedule["steps"]:
            if "lesson_id" in step:
                _lesson(f"{step.get('course_id', course_id)}/{step['lesson_id']}", catalog)
            if "message" in step:
                step["message"] = _message(step["message"], settings)
    try:
        retries = int(data.get("max_retries", 3))
    except (TypeError, ValueError) as exc:
        raise CampaignError("max_retries: must be a whole number") from exc
    if not 0 <= retries <= 10:
        raise CampaignError("max_retries: must be between 0 and 10")

    campaign.name, campaign.channel = name, channel
    campaign.course_id, campaign.lesson_id, campaign.message = course_id, lesson_id, message
    campaign.audience = clean_audience
    campaign.schedule_kind, campaign.schedule = ScheduleKind(kind), clean_schedule
    campaign.calling_window, campaign.blocked_days = window_text, blocked
    campaign.max_retries = retries
    campaign.sms_fallback = bool(data.get("sms_fallback", False))
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


def change_state(campaign: Campaign, action: str, now: datetime) -> Campaign:
    allowed, target = TRANSITIONS[action]
    if campaign.state not in allowed:
        raise CampaignError(f"cannot {action} campaign '{campaign.name}': it is {campaign.state}")
    if action == "schedule" and campaign.started_at is None:
        campaign.started_at = now
    campaign.state = target
    campaign.updated_at = now
    if action == "cancel":
        db.session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.CANCELLED, updated_at=now)
        )
    db.session.flush()
    return campaign


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
