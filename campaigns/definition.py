"""Checking a campaign definition: every error of it at once, each tied to its form field.

A definition is a plain mapping, the same from a YAML file, the CLI or the dashboard (see ``campaigns.service``).
``validate_definition`` never stops at the first problem: a manager fixing a file or a form sees them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from campaigns import audience, schedule
from content.loader import Catalog
from core.config import Settings
from core.vocabulary import Channel
from core.window import CallingWindow

DEFINITION_KEYS = {
    "name", "channel", "lesson", "message", "audience", "schedule", "calling_window", "blocked_days",
    "max_retries", "sms_fallback",
}  # fmt: skip
LANGUAGES = ("fr", "bm")


class CampaignError(ValueError):
    """A definition or a state change that cannot be accepted; the message says why."""


class FieldError(NamedTuple):
    field: str  # a dotted form-field path: "name", "message.fr", "audience.groups", "schedule.at"...
    message: str  # plain English

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class DefinitionErrors(CampaignError):
    """Every error of one definition (``.errors``); ``str()`` gives one per line."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass
class Clean:
    """A definition once checked, in the form stored on ``Campaign``."""

    name: str
    channel: Channel
    course_id: str | None
    lesson_id: str | None
    message: dict[str, str]
    audience: dict[str, Any]
    schedule_kind: str
    schedule: dict[str, Any]
    calling_window: str
    blocked_days: str
    max_retries: int
    sms_fallback: bool


def _lesson(value: Any, catalog: Catalog, field: str, errors: list[FieldError]) -> tuple[str, str] | None:
    text = str(value or "")
    if text.count("/") != 1 or not all(text.split("/")):
        errors.append(FieldError(field, f"expected course/lesson, got {value!r}"))
        return None
    course_id, lesson_id = text.split("/")
    try:
        catalog.lesson(course_id, lesson_id)
    except KeyError:
        errors.append(FieldError(field, f"no lesson {text!r} in the content"))
        return None
    return course_id, lesson_id


def _message(value: Any, settings: Settings, field: str, errors: list[FieldError]) -> dict[str, str] | None:
    """A text per language that fits the SMS segment limit once encoded (refused now, never cut later)."""
    from sms.encoding import MessageTooLong, check_length

    if not isinstance(value, dict):
        errors.append(FieldError(field, "expected a text in both languages, {fr: ..., bm: ...}"))
        return None
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            errors.append(FieldError(f"{field}.{lang}", "expected a text in both languages, {fr: ..., bm: ...}"))
            continue
        try:
            check_length(text.strip(), settings)
        except MessageTooLong as exc:
            errors.append(FieldError(f"{field}.{lang}", str(exc)))
            continue
        out[lang] = text.strip()
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        errors.append(FieldError(field, f"unknown language(s) {', '.join(sorted(map(str, unknown)))} (fr, bm)"))
    return out if len(out) == len(LANGUAGES) and not unknown else None


def check_definition(
    data: Any, catalog: Catalog, settings: Settings, now: datetime
) -> tuple[list[FieldError], Clean | None]:
    """Every error of ``data``, and the clean definition when there is none."""
    if not isinstance(data, dict):
        return [
            FieldError("", "a campaign definition must be a mapping of name, channel, lesson or message, ...")
        ], None
    errors: list[FieldError] = []
    unknown = set(data) - DEFINITION_KEYS
    if unknown:
        errors.append(FieldError("", f"unknown key(s): {', '.join(sorted(map(str, unknown)))}"))
    name = str(data.get("name") or "").strip()
    if not name:
        errors.append(FieldError("name", "required"))
    elif len(name) > 200:
        errors.append(FieldError("name", "at most 200 characters"))
    channel = None
    try:
        channel = Channel(str(data.get("channel", "")).lower())
    except ValueError:
        errors.append(FieldError("channel", f"must be voice or sms, got {data.get('channel')!r}"))

    course_id = lesson_id = None
    message: dict[str, str] = {}
    has_lesson, has_message = data.get("lesson") is not None, data.get("message") is not None
    if has_lesson == has_message:
        errors.append(FieldError("lesson", "give either lesson (course/lesson) or message ({fr, bm}), not both"))
    elif has_lesson:
        found = _lesson(data["lesson"], catalog, "lesson", errors)
        if found:
            course_id, lesson_id = found
    elif channel == Channel.VOICE:
        errors.append(
            FieldError("lesson", "a voice campaign calls listeners with a lesson: give lesson, or use channel sms")
        )
    else:
        message = _message(data["message"], settings, "message", errors) or {}

    raw_schedule = data.get("schedule")
    kind = ""
    clean_schedule = None
    if not isinstance(raw_schedule, dict) or not raw_schedule:
        errors.append(FieldError("schedule", "required: {kind: once, at: ...}, recurring or drip"))
    else:
        sched = dict(raw_schedule)
        kind = str(sched.pop("kind", "")).lower()
        clean_schedule, problems = schedule.check(kind, sched, settings.tz, now)
        errors += [FieldError(p.field, p.message) for p in problems]
    if kind == "drip" and clean_schedule is not None:
        for n, step in enumerate(clean_schedule["steps"], start=1):
            if "lesson_id" in step:
                ref = f"{step.get('course_id', course_id)}/{step['lesson_id']}"
                before = len(errors)
                _lesson(ref, catalog, "schedule.steps", errors)
                errors[before:] = [FieldError(e.field, f"step {n}: {e.message}") for e in errors[before:]]
            if "message" in step:
                step["message"] = _message(step["message"], settings, "schedule.steps", errors)

    clean_audience, problems = audience.check(data.get("audience"), require_choice=True)
    errors += [FieldError(p.field, str(p)) for p in problems]
    if clean_audience.get("groups"):
        missing = audience.unknown_groups(clean_audience["groups"])
        if missing:
            errors.append(FieldError("audience.groups", f"unknown group(s): {', '.join(missing)}"))

    window_text = str(data.get("calling_window") or "")
    blocked = str(data.get("blocked_days") or "")
    try:
        CallingWindow.parse(window_text or settings.calling_window, "", settings.timezone)
    except ValueError as exc:
        errors.append(FieldError("calling_window", str(exc)))
    try:
        CallingWindow.parse(settings.calling_window, blocked, settings.timezone)
    except ValueError as exc:
        errors.append(FieldError("blocked_days", str(exc)))

    retries = 3
    raw_retries = data.get("max_retries", 3)
    if isinstance(raw_retries, bool) or not str(raw_retries).strip().lstrip("-").isdigit():
        errors.append(FieldError("max_retries", "must be a whole number"))
    else:
        retries = int(raw_retries)
        if not 0 <= retries <= 10:
            errors.append(FieldError("max_retries", "must be between 0 and 10"))
    fallback = data.get("sms_fallback", False)
    if not isinstance(fallback, bool):
        errors.append(FieldError("sms_fallback", "must be true or false"))

    if errors:
        return errors, None
    assert channel is not None and clean_schedule is not None
    return [], Clean(
        name=name,
        channel=channel,
        course_id=course_id,
        lesson_id=lesson_id,
        message=message,
        audience=clean_audience,
        schedule_kind=kind,
        schedule=clean_schedule,
        calling_window=window_text,
        blocked_days=blocked,
        max_retries=retries,
        sms_fallback=bool(fallback),
    )


def validate_definition(data: Any, catalog: Catalog, settings: Settings, now: datetime) -> list[FieldError]:
    """Every error of one definition (an empty list: it can be saved). Reads the group names from the database."""
    return check_definition(data, catalog, settings, now)[0]
