"""The calling window: when outbound calls and SMS may go out (default 08:00–20:00, Bamako time).

Pure: ``now`` is always a parameter. Days can be blocked by weekday (``sun``) or by date
(``2026-12-25``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class CallingWindow:
    start: time = time(8, 0)
    end: time = time(20, 0)  # exclusive
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Africa/Bamako"))
    blocked_weekdays: frozenset[int] = frozenset()  # 0 = Monday
    blocked_dates: frozenset[date] = frozenset()

    def __post_init__(self):
        if not self.start < self.end:
            raise ValueError("the calling window must start before it ends, on the same day")

    def is_blocked_day(self, day: date) -> bool:
        return day.weekday() in self.blocked_weekdays or day in self.blocked_dates

    def contains(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        return not self.is_blocked_day(local.date()) and self.start <= local.time() < self.end

    def next_open(self, now: datetime) -> datetime:
        """``now`` if inside the window, else the next moment the window opens (aware, in ``tz``)."""
        local = now.astimezone(self.tz)
        if self.contains(local):
            return local
        day = local.date()
        if local.time() >= self.end or self.is_blocked_day(day):
            day += timedelta(days=1)
        for _ in range(366 * 2):
            if not self.is_blocked_day(day):
                return datetime.combine(day, self.start, tzinfo=self.tz)
            day += timedelta(days=1)
        raise ValueError("every day is blocked: no calling window left")

    @classmethod
    def parse(cls, window: str, blocked: str, tz: str) -> CallingWindow:
        """From settings: ``window`` like ``08:00-20:00``; ``blocked`` like ``sun, 2026-12-25``."""
        try:
            start_text, end_text = (part.strip() for part in window.split("-"))
            start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
        except ValueError as exc:
            raise ValueError(f"expected HH:MM-HH:MM, got {window!r}") from exc
        weekdays, dates = _parse_blocked(blocked.replace(";", ",").split(","))
        return cls(start=start, end=end, tz=ZoneInfo(tz), blocked_weekdays=weekdays, blocked_dates=dates)


def _parse_blocked(items: Iterable[str]) -> tuple[frozenset[int], frozenset[date]]:
    weekdays, dates = set(), set()
    for raw in items:
        item = raw.strip().lower()
        if not item:
            continue
        if item[:3] in WEEKDAYS and item.isalpha():
            weekdays.add(WEEKDAYS.index(item[:3]))
            continue
        try:
            dates.add(date.fromisoformat(item))
        except ValueError as exc:
            raise ValueError(f"blocked day {raw.strip()!r} is neither a weekday (mon..sun) nor a date") from exc
    return frozenset(weekdays), frozenset(dates)
