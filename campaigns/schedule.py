"""Scheduling maths, pure: every function takes ``now`` (or the moments it needs) as parameters.

Schedules, as stored in ``Campaign.schedule`` (times are local to the deployment's time zone):

- once:       ``{"at": "2026-11-30T10:00"}`` (``{"at": ..., "send_now": true}`` when saved with ``at: now``)
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
    """A schedule that cannot work; ``field`` is the form field it is about (``schedule.at``...)."""

    def __init__(self, message: str, field: str = "schedule"):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class Occurrence:
    key: str
    at: datetime  # aware
    step: int | None = None


SEND_NOW = "now"
SEND_NOW_GRACE = timedelta(minutes=10)
"""A "send now" campaign may still be scheduled this long after it was saved."""


def _time(value: Any, field: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise ScheduleError(f"expected HH:MM, got {value!r}", field) from exc


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ScheduleError(f"expected YYYY-MM-DD, got {value!r}", field) from exc


def local_minute(now: datetime, tz: ZoneInfo) -> datetime:
    return now.astimezone(tz).replace(second=0, microsecond=0)


def check(
    kind: str, schedule: Any, tz: ZoneInfo, now: datetime | None = None
) -> tuple[dict[str, Any] | None, list[ScheduleError]]:
    """The schedule in canonical form (None when it has errors) and every error found in it.

    With ``now``, times in the past are refused: a once ``at`` before the current minute (``at: now`` is the
    explicit "send now", stored as the current minute with ``send_now: true``), a recurring ``until`` before
    today."""
    errors: list[ScheduleError] = []

    def attempt(fn, *args):
        try:
            return fn(*args)
        except ScheduleError as exc:
            errors.append(exc)
            return None

    if not isinstance(schedule, dict):
        return None, [ScheduleError("expected a mapping with kind and its fields")]
    if kind == "once":
        at = schedule.get("at")
        if str(at).strip().lower() == SEND_NOW:
            if now is None:
                return None, [ScheduleError("'now' needs the moment it is saved", "schedule.at")]
            moment = local_minute(now, tz).replace(tzinfo=None)
            return {"at": moment.isoformat(timespec="minutes"), "send_now": True}, []
        try:
            moment = datetime.fromisoformat(str(at))
        except ValueError:
            return None, [ScheduleError(
                f"expected a local date and time like 2026-11-30T10:00, or 'now', got {at!r}", "schedule.at"
            )]  # fmt: skip
        moment = moment.astimezone(tz).replace(tzinfo=None) if moment.tzinfo else moment
        if now is not None and moment.replace(tzinfo=tz) < local_minute(now, tz):
            return None, [ScheduleError(
                f"this time has passed ({moment.isoformat(sep=' ', timespec='minutes')} local); "
                "choose a later time or 'send now'", "schedule.at"
            )]  # fmt: skip
        return {"at": moment.isoformat(timespec="minutes")}, []
    if kind == "recurring":
        days = schedule.get("days") or []
        if isinstance(days, str):
            days = [d.strip() for d in days.split(",")]
        out: dict[str, Any] = {}
        bad = [d for d in days if str(d).lower()[:3] not in WEEKDAYS] if isinstance(days, list) else [days]
        if not days or bad:
            errors.append(ScheduleError(f"expected weekdays like mon, thu; got {days!r}", "schedule.days"))
        else:
            out["days"] = sorted({str(d).lower()[:3] for d in days}, key=WEEKDAYS.index)
        at_time = attempt(_time, schedule.get("time"), "schedule.time")
        if at_time is not None:
            out["time"] = at_time.isoformat(timespec="minutes")
        for name in ("from", "until"):
            if schedule.get(name):
                day = attempt(_date, schedule[name], f"schedule.{name}")
                if day is not None:
                    out[name] = day.isoformat()
        if out.get("from") and out.get("until") and out["until"] < out["from"]:
            errors.append(ScheduleError("ends before it starts (from is after until)", "schedule.until"))
        if now is not None and out.get("until") and date.fromisoformat(out["until"]) < now.astimezone(tz).date():
            errors.append(
                ScheduleError(f"this date has passed ({out['until']}); choose a later date", "schedule.until")
            )
        return (None if errors else out), errors
    if kind == "drip":
        steps = schedule.get("steps")
        clean = []
        if not isinstance(steps, list) or not steps:
            errors.append(ScheduleError("expected a non-empty list of steps with a day", "schedule.steps"))
            steps = []
        for n, step in enumerate(steps):
            if not isinstance(step, dict) or not isinstance(step.get("day"), int) or step["day"] < 0:
                errors.append(
                    ScheduleError(f"step {n + 1}: day: expected a whole number of days ≥ 0", "schedule.steps")
                )
                continue
            clean.append({k: v for k, v in step.items() if k in ("day", "course_id", "lesson_id", "message")})
        days = [s["day"] for s in clean]
        if days != sorted(days):
            errors.append(ScheduleError("days must be in increasing order", "schedule.steps"))
        at_time = attempt(_time, schedule.get("time", "10:00"), "schedule.time")
        if errors:
            return None, errors
        return {"time": at_time.isoformat(timespec="minutes"), "steps": clean}, []
    return None, [ScheduleError(f"must be once, recurring or drip, got {kind!r}", "schedule.kind")]


def validate(kind: str, schedule: dict[str, Any], tz: ZoneInfo, now: datetime | None = None) -> dict[str, Any]:
    """The schedule in canonical form, or the first ScheduleError (naming the bad field)."""
    clean, errors = check(kind, schedule, tz, now)
    if errors:
        raise errors[0]
    assert clean is not None
    return clean


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


MAX_LOOKAHEAD_DAYS = 800


def next_sends(
    kind: str, schedule: dict[str, Any], tz: ZoneInfo, now: datetime, window: CallingWindow, n: int = 5
) -> list[datetime]:
    """The next ``n`` moments (aware) at which a run will send, each moved into the calling window.

    - once: its time (a time already reached counts while in the current minute: "send now"), or nothing;
    - recurring: the next occurrences after ``now`` (on or after ``from``, up to ``until`` inclusive);
    - drip: the step times of a listener joining ``now``: step ``day`` d is due on the local day of joining
      plus d at ``time``, or at once for a step that time has already passed on the day of joining.

    Two occurrences moved to the same opening (blocked days) count once."""
    out: list[datetime] = []

    def add(moment: datetime) -> None:
        moved = window.next_open(moment)
        if moved not in out:
            out.append(moved)

    if kind == "once":
        at = datetime.fromisoformat(schedule["at"]).replace(tzinfo=tz)
        if at >= local_minute(now, tz):
            add(at)
        return out[:n]
    if kind == "drip":
        at_time = time.fromisoformat(schedule["time"])
        joined = now.astimezone(tz)
        for step in schedule["steps"]:
            add(max(joined, datetime.combine(joined.date() + timedelta(days=step["day"]), at_time, tzinfo=tz)))
            if len(out) >= n:
                break
        return out
    at_time = time.fromisoformat(schedule["time"])
    weekdays = {WEEKDAYS.index(d) for d in schedule["days"]}
    first = date.fromisoformat(schedule["from"]) if schedule.get("from") else None
    last = date.fromisoformat(schedule["until"]) if schedule.get("until") else None
    day = now.astimezone(tz).date()
    if first is not None and first > day:
        day = first
    for _ in range(MAX_LOOKAHEAD_DAYS):
        if len(out) >= n or (last is not None and day > last):
            break
        moment = datetime.combine(day, at_time, tzinfo=tz)
        if day.weekday() in weekdays and moment > now:
            add(moment)
        day += timedelta(days=1)
    return out
