"""Scheduling maths, pure: every function takes ``now`` (or the moments it needs) as parameters.

Schedules, as stored in ``Campaign.schedule`` (times are local to the deployment's time zone):

- once:       ``{"at": "2026-11-30T10:00"}``
- recurring:  ``{"days": ["mon", "thu"], "time": "18:00", "from": "2026-11-24", "until": "2027-01-31"}``
              (``from`` and ``until`` optional, inclusive dates)
- drip:       ``{"time": "10:00", "steps": [{"day": 0}, {"day": 3, "lesson_id": "..."}, ...]}``
              step N goes to each listener ``day`` days after they joined, at ``time``; a step may name
              its own ``course_id``/``lesson_id`` or ``message`` instead of the campaign's.

Every moment a delivery is due is then moved into the calling window (``CallingWindow.next_open``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.window import WEEKDAYS, CallingWindow

RETRY_DELAYS = (timedelta(minutes=15), timedelta(minutes=45), None)  # None: the next day, same time
CATCH_UP = timedelta(hours=12)
"""A recurring occurrence missed while the scheduler was down is still sent if at most this late."""


class ScheduleError(ValueError):
    """A schedule that cannot work; the message says which field."""


@dataclass(frozen=True)
class Occurrence:
    key: str
    at: datetime  # aware
    step: int | None = None


def _time(value: Any, field: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise ScheduleError(f"{field}: expected HH:MM, got {value!r}") from exc


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ScheduleError(f"{field}: expected YYYY-MM-DD, got {value!r}") from exc


def validate(kind: str, schedule: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The schedule in canonical form, or ScheduleError naming the bad field."""
    if not isinstance(schedule, dict):
        raise ScheduleError("schedule: expected a mapping")
    if kind == "once":
        at = schedule.get("at")
        try:
            moment = datetime.fromisoformat(str(at))
        except ValueError as exc:
            raise ScheduleError(
                f"schedule.at: expected a local date and time like 2026-11-30T10:00, got {at!r}"
            ) from exc
        return {"at": moment.replace(tzinfo=None).isoformat(timespec="minutes")}
    if kind == "recurring":
        days = schedule.get("days") or []
        if isinstance(days, str):
            days = [d.strip() for d in days.split(",")]
        bad = [d for d in days if str(d).lower()[:3] not in WEEKDAYS]
        if not days or bad:
            raise ScheduleError(f"schedule.days: expected weekdays like mon, thu; got {days!r}")
        out = {"days": sorted({str(d).lower()[:3] for d in days}, key=WEEKDAYS.index)}
        out["time"] = _time(schedule.get("time"), "schedule.time").isoformat(timespec="minutes")
        for field in ("from", "until"):
            if schedule.get(field):
                out[field] = _date(schedule[field], f"schedule.{field}").isoformat()
        return out
    if kind == "drip":
        steps = schedule.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ScheduleError("schedule.steps: expected a non-empty list of steps with a day")
        clean = []
        for n, step in enumerate(steps):
            if not isinstance(step, dict) or not isinstance(step.get("day"), int) or step["day"] < 0:
                raise ScheduleError(f"schedule.steps[{n}].day: expected a whole number of days ≥ 0")
            clean.append({k: v for k, v in step.items() if k in ("day", "course_id", "lesson_id", "message")})
        days = [s["day"] for s in clean]
        if days != sorted(days):
            raise ScheduleError("schedule.steps: days must be in increasing order")
        return {
            "time": _time(schedule.get("time", "10:00"), "schedule.time").isoformat(timespec="minutes"),
            "steps": clean,
        }
    raise ScheduleError(f"schedule kind must be once, recurring or drip, got {kind!r}")


def occurrences(
    kind: str, schedule: dict[str, Any], tz: ZoneInfo, since: datetime, now: datetime
) -> Iterator[Occurrence]:
    """Runs of a once/recurring campaign that fall in ``(since, now]`` (drip runs: one per step, at once)."""
    if kind == "once":
        at = datetime.fromisoformat(schedule["at"]).replace(tzinfo=tz)
        if at <= now:
            yield Occurrence("once", at)
        return
    if kind == "drip":
        for n, _step in enumerate(schedule["steps"]):
            yield Occurrence(f"drip-{n}", since, step=n)
        return
    at_time = time.fromisoformat(schedule["time"])
    weekdays = {WEEKDAYS.index(d) for d in schedule["days"]}
    first = date.fromisoformat(schedule["from"]) if schedule.get("from") else None
    last = date.fromisoformat(schedule["until"]) if schedule.get("until") else None
    day = max(since, now - timedelta(days=8)).astimezone(tz).date()
    while day <= now.astimezone(tz).date():
        moment = datetime.combine(day, at_time, tzinfo=tz)
        if (
            day.weekday() in weekdays
            and (first is None or day >= first)
            and (last is None or day <= last)
            and since < moment <= now
            and now - moment <= CATCH_UP
        ):
            yield Occurrence(moment.strftime("%Y-%m-%dT%H:%M"), moment)
        day += timedelta(days=1)


def finished(kind: str, schedule: dict[str, Any], tz: ZoneInfo, now: datetime) -> bool:
    """No run can come any more (a drip series never finishes by itself: new listeners keep joining)."""
    if kind == "once":
        return datetime.fromisoformat(schedule["at"]).replace(tzinfo=tz) <= now
    if kind == "recurring" and schedule.get("until"):
        end = datetime.combine(date.fromisoformat(schedule["until"]), time.fromisoformat(schedule["time"]), tzinfo=tz)
        return end <= now
    return False


def drip_cutoff(step_day: int, at_time: str, tz: ZoneInfo, now: datetime) -> datetime:
    """Listeners who joined before this moment have drip step ``step_day`` (sent at ``at_time``, local) due by ``now``.

    Step ``d`` of a listener who joined on local day ``J`` is due on day ``J + d`` at ``at_time``, or at once
    when they joined after that time on step 0's day."""
    t = time.fromisoformat(at_time)
    shifted = now.astimezone(tz) - timedelta(hours=t.hour, minutes=t.minute)
    last_day = shifted.date() - timedelta(days=step_day)
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz)


def retry_due(attempts: int, last_attempt_at: datetime, window: CallingWindow, max_retries: int = 3) -> datetime | None:
    """When to try a voice delivery again after ``attempts`` failed attempts (None: no retry left).

    Retries come about +15 min, +45 min, then the next day (and every next day beyond three),
    always moved into the calling window."""
    retry = attempts - 1  # the first attempt is not a retry
    if retry >= max_retries:
        return None
    delay = RETRY_DELAYS[min(retry, len(RETRY_DELAYS) - 1)]
    moment = last_attempt_at + delay if delay is not None else last_attempt_at + timedelta(days=1)
    return window.next_open(moment)
