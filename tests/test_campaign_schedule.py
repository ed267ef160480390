"""Scheduling maths in Africa/Bamako (UTC+0): once, recurring, drip, window edges, blocked days, retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns import schedule
from core.window import CallingWindow

BAMAKO = ZoneInfo("Africa/Bamako")
WINDOW = CallingWindow.parse("08:00-20:00", "sun", "Africa/Bamako")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def keys(kind, sched, since, now):
    clean = schedule.validate(kind, sched, BAMAKO)
    return [(o.key, o.at) for o in schedule.occurrences(kind, clean, BAMAKO, at(since), at(now))]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-30 09:59", []),
        ("2026-11-30 10:00", [("once", at("2026-11-30 10:00"))]),
        ("2026-12-05 10:00", [("once", at("2026-11-30 10:00"))]),
    ],
)
def test_once(now, expected):
    assert keys("once", {"at": "2026-11-30T10:00"}, "2026-11-24 00:00", now) == expected


@pytest.mark.parametrize(
    ("since", "now", "expected"),
    [
        # every Monday and Thursday at 18:00; Tuesday 24 Nov 2026 is the start
        ("2026-11-24 09:00", "2026-11-26 17:59", []),
        ("2026-11-24 09:00", "2026-11-26 18:00", ["2026-11-26T18:00"]),
        ("2026-11-26 18:00", "2026-11-30 18:30", ["2026-11-30T18:00"]),  # since is exclusive
        ("2026-11-24 09:00", "2026-11-30 18:30", ["2026-11-30T18:00"]),  # Thursday's is > 12 h late: skipped
        ("2026-11-24 09:00", "2026-11-27 05:59", ["2026-11-26T18:00"]),  # 11h59 late: still sent
        ("2026-11-24 09:00", "2026-11-27 06:01", []),
        ("2026-12-30 00:00", "2027-01-04 18:00", []),  # after "until"
    ],
)
def test_recurring(since, now, expected):
    sched = {"days": "mon, thursday", "time": "18:00", "until": "2026-12-31"}
    assert [k for k, _ in keys("recurring", sched, since, now)] == expected


def test_recurring_finished_only_after_until():
    clean = schedule.validate("recurring", {"days": ["mon"], "time": "18:00", "until": "2026-12-28"}, BAMAKO)
    assert not schedule.finished("recurring", clean, BAMAKO, at("2026-12-28 17:00"))
    assert schedule.finished("recurring", clean, BAMAKO, at("2026-12-28 18:00"))
    assert not schedule.finished("drip", {"time": "10:00", "steps": [{"day": 0}]}, BAMAKO, at("2030-01-01 00:00"))


@pytest.mark.parametrize(
    ("joined", "day", "due"),
    [
        ("2026-11-24 07:00", 0, "2026-11-24 10:00"),
        ("2026-11-24 15:00", 0, "2026-11-24 15:00"),  # joined after the hour: at once (then the window)
        ("2026-11-24 15:00", 3, "2026-11-27 10:00"),
        ("2026-11-24 23:59", 6, "2026-11-30 10:00"),
    ],
)
def test_drip_step_is_due_from_its_day_and_time(joined, day, due):
    """The expansion selects listeners who joined before ``drip_cutoff(now)``: due at ``due``, not a minute before."""
    joined_at, due_at = at(joined), at(due)
    assert joined_at < schedule.drip_cutoff(day, "10:00", BAMAKO, due_at)
    before = due_at - timedelta(minutes=1)
    if before >= joined_at:  # a listener cannot be due before they joined
        assert not joined_at < schedule.drip_cutoff(day, "10:00", BAMAKO, before)


@pytest.mark.parametrize(
    ("attempts", "last", "expected"),
    [
        (1, "2026-11-24 10:00", "2026-11-24 10:15"),  # +15 min
        (2, "2026-11-24 10:15", "2026-11-24 11:00"),  # +45 min
        (3, "2026-11-24 11:00", "2026-11-25 11:00"),  # next day
        (4, "2026-11-25 11:00", None),  # three retries spent
        (1, "2026-11-24 19:50", "2026-11-25 08:00"),  # +15 min falls after 20:00: next morning
        (2, "2026-11-28 19:30", "2026-11-30 08:00"),  # Saturday evening: Sunday blocked → Monday
        (3, "2026-11-28 11:00", "2026-11-30 08:00"),  # next day is a Sunday → Monday morning
    ],
)
def test_retries_stay_inside_the_window(attempts, last, expected):
    got = schedule.retry_due(attempts, at(last), WINDOW)
    assert got == (at(expected) if expected else None)


def test_retry_count_is_configurable():
    assert schedule.retry_due(1, at("2026-11-24 10:00"), WINDOW, max_retries=0) is None
    assert schedule.retry_due(5, at("2026-11-24 10:00"), WINDOW, max_retries=5) == at("2026-11-25 10:00")


@pytest.mark.parametrize(
    ("kind", "sched", "message"),
    [
        ("once", {"at": "tomorrow"}, "schedule.at"),
        ("recurring", {"days": ["someday"], "time": "18:00"}, "schedule.days"),
        ("recurring", {"days": ["mon"], "time": "6pm"}, "schedule.time"),
        ("recurring", {"days": ["mon"], "time": "18:00", "until": "31/12/2026"}, "schedule.until"),
        ("drip", {"steps": []}, "schedule.steps"),
        ("drip", {"steps": [{"day": 3}, {"day": 1}]}, "increasing order"),
        ("drip", {"steps": [{"day": -1}]}, "schedule.steps: step 1: day"),
        ("weekly", {}, "schedule.kind: must be once, recurring or drip"),
    ],
)
def test_bad_schedules_name_the_field(kind, sched, message):
    with pytest.raises(schedule.ScheduleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        schedule.validate(kind, sched, BAMAKO)


# --- the next send times (shown by `campaigns list`, the API and the editor) -------------------------------------

NOW_TUE = at("2026-11-24 09:00")  # Tuesday 09:00 in Bamako


def times(*texts: str) -> list[datetime]:
    return [at(t) for t in texts]


@pytest.mark.parametrize(
    ("kind", "sched", "now", "window", "expected"),
    [
        ("once", {"at": "2026-11-30T10:00"}, NOW_TUE, WINDOW, times("2026-11-30 10:00")),
        # a once at night moves to the morning; on a Sunday (blocked) to Monday morning
        ("once", {"at": "2026-11-28T21:30"}, NOW_TUE, WINDOW, times("2026-11-30 08:00")),
        ("once", {"at": "2026-11-24T08:59"}, NOW_TUE, WINDOW, []),  # passed: nothing more
        ("once", {"at": "2026-11-24T09:00", "send_now": True}, NOW_TUE, WINDOW, times("2026-11-24 09:00")),
        (
            "recurring", {"days": ["tue", "thu"], "time": "18:00"}, NOW_TUE, WINDOW,
            times("2026-11-24 18:00", "2026-11-26 18:00", "2026-12-01 18:00", "2026-12-03 18:00", "2026-12-08 18:00"),
        ),
        (  # after today's time: from the next occurrence
            "recurring", {"days": ["tue"], "time": "08:30"}, NOW_TUE, WINDOW,
            times("2026-12-01 08:30", "2026-12-08 08:30", "2026-12-15 08:30", "2026-12-22 08:30", "2026-12-29 08:30"),
        ),
        (  # 21:00 is outside the window: each moves to the next morning (Saturday's to Monday: Sunday is blocked)
            "recurring", {"days": ["wed", "sat"], "time": "21:00"}, NOW_TUE, WINDOW,
            times("2026-11-26 08:00", "2026-11-30 08:00", "2026-12-03 08:00", "2026-12-07 08:00", "2026-12-10 08:00"),
        ),
        (  # Saturday 21:00 and Sunday 10:00 both open on Monday 08:00: one send
            "recurring", {"days": ["sat", "sun"], "time": "21:00"}, NOW_TUE, WINDOW,
            times("2026-11-30 08:00", "2026-12-07 08:00", "2026-12-14 08:00", "2026-12-21 08:00", "2026-12-28 08:00"),
        ),
        (  # until (inclusive) ends the series; from starts it
            "recurring", {"days": ["mon"], "time": "10:00", "from": "2026-12-01", "until": "2026-12-14"}, NOW_TUE,
            WINDOW, times("2026-12-07 10:00", "2026-12-14 10:00"),
        ),
        (  # drip: a listener joining now (09:00, before 10:00) gets step 0 today at 10:00, step 3 on Friday
            "drip", {"time": "10:00", "steps": [{"day": 0}, {"day": 3}, {"day": 5}]}, NOW_TUE, WINDOW,
            times("2026-11-24 10:00", "2026-11-27 10:00", "2026-11-30 08:00"),  # day 5 is a Sunday: Monday 08:00
        ),
        (  # joining after the time: step 0 at once
            "drip", {"time": "08:30", "steps": [{"day": 0}, {"day": 1}]}, NOW_TUE, WINDOW,
            times("2026-11-24 09:00", "2026-11-25 08:30"),
        ),
    ],
)  # fmt: skip
def test_next_sends(kind, sched, now, window, expected):
    clean = {**schedule.validate(kind, {k: v for k, v in sched.items() if k != "send_now"}, BAMAKO)}
    clean.update({k: v for k, v in sched.items() if k == "send_now"})
    assert schedule.next_sends(kind, clean, BAMAKO, now, window) == expected


def test_next_sends_stops_at_n():
    clean = schedule.validate("recurring", {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "time": "12:00"},
                              BAMAKO)  # fmt: skip
    assert len(schedule.next_sends("recurring", clean, BAMAKO, NOW_TUE, WINDOW, n=3)) == 3
    assert len(schedule.next_sends("recurring", clean, BAMAKO, NOW_TUE, WINDOW, n=8)) == 8


@pytest.mark.parametrize(
    ("kind", "sched", "error"),
    [
        ("once", {"at": "2026-11-24T08:59"}, "schedule.at: this time has passed (2026-11-24 08:59 local); "
                                             "choose a later time or 'send now'"),
        ("once", {"at": "2026-11-23T18:00"}, "schedule.at: this time has passed"),
        ("recurring", {"days": ["mon"], "time": "10:00", "until": "2026-11-23"},
         "schedule.until: this date has passed"),
        ("recurring", {"days": ["mon"], "time": "10:00", "from": "2026-12-10", "until": "2026-12-01"},
         "schedule.until: ends before it starts"),
    ],
)  # fmt: skip
def test_times_in_the_past_are_refused(kind, sched, error):
    with pytest.raises(schedule.ScheduleError) as exc:
        schedule.validate(kind, sched, BAMAKO, NOW_TUE)
    assert str(exc.value).startswith(error)


def test_the_current_minute_and_send_now_are_accepted():
    now = NOW_TUE + timedelta(seconds=40)
    assert schedule.validate("once", {"at": "2026-11-24T09:00"}, BAMAKO, now) == {"at": "2026-11-24T09:00"}
    assert schedule.validate("once", {"at": "now"}, BAMAKO, now) == {"at": "2026-11-24T09:00", "send_now": True}
    assert schedule.validate("once", {"at": "NOW"}, BAMAKO, now + timedelta(minutes=7))["at"] == "2026-11-24T09:07"
    assert schedule.validate("recurring", {"days": ["mon"], "time": "10:00", "until": "2026-11-24"}, BAMAKO, now)


def test_every_schedule_error_is_collected():
    clean, errors = schedule.check("recurring", {"days": ["someday"], "time": "6pm", "from": "soon"}, BAMAKO, NOW_TUE)
    assert clean is None
    assert [e.field for e in errors] == ["schedule.days", "schedule.time", "schedule.from"]
