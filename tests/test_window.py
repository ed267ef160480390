"""The calling window, in Africa/Bamako (UTC+0, no DST): a table of cases with ``now`` injected."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from core.config import ConfigError, Settings
from core.window import CallingWindow

WINDOW = CallingWindow.parse("08:00-20:00", "sun, 2026-12-25", "Africa/Bamako")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "inside", "next_open"),
    [
        ("2026-11-24 07:59:59", False, "2026-11-24 08:00"),  # Tuesday, just before
        ("2026-11-24 08:00:00", True, "2026-11-24 08:00"),
        ("2026-11-24 13:30:00", True, "2026-11-24 13:30"),
        ("2026-11-24 19:59:59", True, "2026-11-24 19:59:59"),
        ("2026-11-24 20:00:00", False, "2026-11-25 08:00"),  # end is exclusive
        ("2026-11-24 23:10:00", False, "2026-11-25 08:00"),
        ("2026-11-28 21:00:00", False, "2026-11-30 08:00"),  # Saturday night: Sunday is blocked
        ("2026-11-29 10:00:00", False, "2026-11-30 08:00"),  # Sunday
        ("2026-12-24 20:30:00", False, "2026-12-26 08:00"),  # Christmas blocked by date
        ("2026-12-25 09:00:00", False, "2026-12-26 08:00"),
    ],
)
def test_window_table(now, inside, next_open):
    assert WINDOW.contains(at(now)) is inside
    assert WINDOW.next_open(at(now)) == at(next_open)


def test_other_time_zones_are_respected():
    paris = CallingWindow.parse("08:00-20:00", "", "Europe/Paris")
    assert not paris.contains(at("2026-11-24 06:30"))  # 07:30 in Paris (UTC+1 in winter)
    assert paris.contains(at("2026-11-24 07:00"))  # 08:00 in Paris
    assert not paris.contains(at("2026-11-24 19:00"))  # 20:00 in Paris
    assert paris.next_open(at("2026-11-24 19:00")) == at("2026-11-25 07:00")


@pytest.mark.parametrize(
    ("window", "blocked", "message"),
    [
        ("8-20", "", "KALANSO_CALLING_WINDOW"),
        ("20:00-08:00", "", "KALANSO_CALLING_WINDOW"),
        ("08:00-20:00", "someday", "KALANSO_BLOCKED_DAYS"),
    ],
)
def test_bad_window_settings(window, blocked, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"KALANSO_CALLING_WINDOW": window, "KALANSO_BLOCKED_DAYS": blocked})


def test_settings_window():
    window = Settings.from_env({"KALANSO_BLOCKED_DAYS": "Friday"}).window
    assert window.blocked_weekdays == frozenset({4}) and window.start == time(8)
    assert not window.contains(at("2026-11-27 10:00"))
    assert window.next_open(at("2026-11-27 10:00")).date() == date(2026, 11, 28)


def test_every_day_blocked_is_an_error():
    window = CallingWindow.parse("08:00-20:00", "mon,tue,wed,thu,fri,sat,sun", "UTC")
    with pytest.raises(ValueError, match="every day is blocked"):
        window.next_open(at("2026-11-24 10:00"))
