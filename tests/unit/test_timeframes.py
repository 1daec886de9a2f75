"""Time frames: every shortcut around month, quarter and year ends, leap days, week starts and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from timereports.engine.timeframes import previous_period, resolve_time_frame, today_in
from timereports.models.definition import CustomTimeFrame
from timereports.models.report import Period
from timereports.models.vocabulary import TIME_FRAME_SHORTCUTS

MONDAY, SUNDAY, SATURDAY = 0, 6, 5


def d(text: str) -> date:
    return date.fromisoformat(text)


# (shortcut, today, week_start, first day, last day)
CASES: list[tuple[str, str, int, str, str]] = [
    ("today", "2026-12-31", MONDAY, "2026-12-31", "2026-12-31"),
    ("yesterday", "2026-01-01", MONDAY, "2025-12-31", "2025-12-31"),
    ("yesterday", "2028-03-01", MONDAY, "2028-02-29", "2028-02-29"),
    # weeks: 2026-11-25 is a Wednesday
    ("this_week", "2026-11-25", MONDAY, "2026-11-23", "2026-11-29"),
    ("this_week", "2026-11-25", SUNDAY, "2026-11-22", "2026-11-28"),
    ("this_week", "2026-11-25", SATURDAY, "2026-11-21", "2026-11-27"),
    ("this_week", "2026-11-23", MONDAY, "2026-11-23", "2026-11-29"),  # on the week's first day
    ("this_week", "2026-11-22", SUNDAY, "2026-11-22", "2026-11-28"),
    ("last_week", "2026-11-23", MONDAY, "2026-11-16", "2026-11-22"),  # the Monday-morning report
    ("last_week", "2026-11-22", MONDAY, "2026-11-09", "2026-11-15"),  # a Sunday is still in this week
    ("last_week", "2026-11-22", SUNDAY, "2026-11-15", "2026-11-21"),
    ("last_week", "2027-01-04", MONDAY, "2026-12-28", "2027-01-03"),  # across the year end
    ("last_week", "2028-03-01", MONDAY, "2028-02-21", "2028-02-27"),
    # half months
    ("this_half_month", "2026-11-15", MONDAY, "2026-11-01", "2026-11-15"),
    ("this_half_month", "2026-11-16", MONDAY, "2026-11-16", "2026-11-30"),
    ("this_half_month", "2028-02-20", MONDAY, "2028-02-16", "2028-02-29"),
    ("last_half_month", "2026-11-16", MONDAY, "2026-11-01", "2026-11-15"),  # sent on the 16th
    ("last_half_month", "2026-12-01", MONDAY, "2026-11-16", "2026-11-30"),  # sent on the 1st
    ("last_half_month", "2027-01-01", MONDAY, "2026-12-16", "2026-12-31"),
    ("last_half_month", "2028-03-01", MONDAY, "2028-02-16", "2028-02-29"),
    ("last_half_month", "2027-03-10", MONDAY, "2027-02-16", "2027-02-28"),
    # months
    ("this_month", "2028-02-29", MONDAY, "2028-02-01", "2028-02-29"),
    ("this_month", "2026-12-31", MONDAY, "2026-12-01", "2026-12-31"),
    ("last_month", "2026-01-15", MONDAY, "2025-12-01", "2025-12-31"),
    ("last_month", "2028-03-31", MONDAY, "2028-02-01", "2028-02-29"),
    ("last_month", "2027-03-01", MONDAY, "2027-02-01", "2027-02-28"),
    ("last_month", "2026-05-31", MONDAY, "2026-04-01", "2026-04-30"),
    # quarters
    ("this_quarter", "2026-01-01", MONDAY, "2026-01-01", "2026-03-31"),
    ("this_quarter", "2026-03-31", MONDAY, "2026-01-01", "2026-03-31"),
    ("this_quarter", "2026-04-01", MONDAY, "2026-04-01", "2026-06-30"),
    ("this_quarter", "2026-09-30", MONDAY, "2026-07-01", "2026-09-30"),
    ("this_quarter", "2026-12-31", MONDAY, "2026-10-01", "2026-12-31"),
    ("last_quarter", "2026-01-01", MONDAY, "2025-10-01", "2025-12-31"),
    ("last_quarter", "2026-04-01", MONDAY, "2026-01-01", "2026-03-31"),
    ("last_quarter", "2028-05-15", MONDAY, "2028-01-01", "2028-03-31"),
    ("last_quarter", "2026-12-31", MONDAY, "2026-07-01", "2026-09-30"),
    # years
    ("this_year", "2028-02-29", MONDAY, "2028-01-01", "2028-12-31"),
    ("last_year", "2026-01-01", MONDAY, "2025-01-01", "2025-12-31"),
    ("last_year", "2029-02-28", MONDAY, "2028-01-01", "2028-12-31"),
    # rolling windows: last N end yesterday, next N start today
    ("last_30", "2026-03-01", MONDAY, "2026-01-30", "2026-02-28"),
    ("last_30", "2028-03-01", MONDAY, "2028-01-31", "2028-02-29"),
    ("last_60", "2026-01-01", MONDAY, "2025-11-02", "2025-12-31"),
    ("last_90", "2026-04-01", MONDAY, "2026-01-01", "2026-03-31"),
    ("next_30", "2028-02-15", MONDAY, "2028-02-15", "2028-03-15"),
    ("next_60", "2026-12-15", MONDAY, "2026-12-15", "2027-02-12"),
    ("next_90", "2026-01-01", MONDAY, "2026-01-01", "2026-03-31"),
    ("last_and_next_90", "2026-04-01", MONDAY, "2026-01-01", "2026-06-29"),
]


@pytest.mark.parametrize(("shortcut", "today", "week_start", "first", "last"), CASES)
def test_each_shortcut_resolves_to_its_inclusive_period(
    shortcut: str, today: str, week_start: int, first: str, last: str
) -> None:
    # Given a shortcut and the report's local today
    # When it is resolved
    period = resolve_time_frame(shortcut, d(today), week_start)
    # Then it covers exactly the expected days
    assert period == Period(d(first), d(last))


def test_every_shortcut_the_definition_accepts_is_covered_by_the_table() -> None:
    assert {case[0] for case in CASES} == set(TIME_FRAME_SHORTCUTS)


@pytest.mark.parametrize(("shortcut", "days"), [("last_30", 30), ("last_60", 60), ("last_90", 90), ("next_30", 30)])
def test_rolling_windows_have_exactly_n_days(shortcut: str, days: int) -> None:
    for offset in range(0, 400, 37):
        assert resolve_time_frame(shortcut, date(2027, 12, 1) + timedelta(days=offset)).days == days


def test_last_and_next_90_joins_last_90_and_next_90() -> None:
    today = date(2028, 2, 29)
    joined = resolve_time_frame("last_and_next_90", today)
    assert joined.start == resolve_time_frame("last_90", today).start
    assert joined.end == resolve_time_frame("next_90", today).end
    assert joined.days == 180


@pytest.mark.parametrize("week_start", range(7))
def test_a_week_always_starts_on_its_weekday_and_holds_today(week_start: int) -> None:
    for offset in range(14):
        today = date(2026, 12, 24) + timedelta(days=offset)
        week = resolve_time_frame("this_week", today, week_start)
        assert week.start.weekday() == week_start
        assert week.start <= today <= week.end
        assert week.days == 7
        assert resolve_time_frame("last_week", today, week_start).end == week.start - timedelta(days=1)


def test_half_months_tile_every_month() -> None:
    day = date(2027, 12, 1)
    while day < date(2029, 1, 1):
        this = resolve_time_frame("this_half_month", day)
        assert this.start <= day <= this.end
        assert resolve_time_frame("last_half_month", day).end == this.start - timedelta(days=1)
        day += timedelta(days=1)


def test_a_custom_time_frame_is_used_as_written() -> None:
    frame = CustomTimeFrame.model_validate({"from": "2026-11-01", "to": "2026-11-30"})
    assert resolve_time_frame(frame, date(2030, 1, 1)) == Period(date(2026, 11, 1), date(2026, 11, 30))


def test_an_unknown_shortcut_or_week_start_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time frame"):
        resolve_time_frame("next_week", date(2026, 1, 1))
    with pytest.raises(ValueError, match="week_start"):
        resolve_time_frame("this_week", date(2026, 1, 1), 7)


# (zone, instant in UTC, local date): around midnight and the DST switches of 2026.
# Berlin: CET->CEST on 2026-03-29 01:00 UTC, back on 2026-10-25 01:00 UTC.
# New York: EST->EDT on 2026-03-08 07:00 UTC, back on 2026-11-01 06:00 UTC.
TODAY_CASES: list[tuple[str, str, str]] = [
    ("Europe/Berlin", "2026-03-28T22:59:00", "2026-03-28"),  # 23:59 CET
    ("Europe/Berlin", "2026-03-28T23:00:00", "2026-03-29"),  # 00:00 CET, the night of the switch
    ("Europe/Berlin", "2026-03-29T21:59:00", "2026-03-29"),  # 23:59 CEST
    ("Europe/Berlin", "2026-03-29T22:00:00", "2026-03-30"),  # midnight is now at 22:00 UTC
    ("Europe/Berlin", "2026-10-24T21:59:00", "2026-10-24"),
    ("Europe/Berlin", "2026-10-24T22:00:00", "2026-10-25"),  # 00:00 CEST
    ("Europe/Berlin", "2026-10-25T22:59:00", "2026-10-25"),  # 23:59 CET, after the switch back
    ("Europe/Berlin", "2026-10-25T23:00:00", "2026-10-26"),
    ("America/New_York", "2026-03-08T04:59:00", "2026-03-07"),  # 23:59 EST
    ("America/New_York", "2026-03-08T05:00:00", "2026-03-08"),
    ("America/New_York", "2026-03-09T03:59:00", "2026-03-08"),  # 23:59 EDT
    ("America/New_York", "2026-03-09T04:00:00", "2026-03-09"),
    ("America/New_York", "2026-11-01T03:59:00", "2026-10-31"),  # 23:59 EDT
    ("America/New_York", "2026-11-01T04:00:00", "2026-11-01"),
    ("America/New_York", "2026-11-02T04:59:00", "2026-11-01"),  # 23:59 EST
    ("America/New_York", "2026-11-02T05:00:00", "2026-11-02"),
    ("UTC", "2028-02-29T23:59:59", "2028-02-29"),
    ("Pacific/Kiritimati", "2026-12-31T10:00:00", "2027-01-01"),  # UTC+14 is a day ahead
]


@pytest.mark.parametrize(("zone", "instant", "local_day"), TODAY_CASES)
def test_today_is_the_calendar_day_in_the_report_zone(zone: str, instant: str, local_day: str) -> None:
    now = datetime.fromisoformat(instant).replace(tzinfo=UTC)
    assert today_in(zone, now) == d(local_day)


def test_a_monday_morning_berlin_report_after_the_autumn_switch_covers_the_week_before() -> None:
    # Given the Monday 07:00 Berlin run right after the clocks went back (06:00 UTC)
    today = today_in("Europe/Berlin", datetime(2026, 10, 26, 6, 0, tzinfo=UTC))
    # Then last week is the Monday-to-Sunday week that held the switch
    assert resolve_time_frame("last_week", today) == Period(date(2026, 10, 19), date(2026, 10, 25))


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        today_in("Europe/Berlin", datetime(2026, 3, 29, 12, 0))


@pytest.mark.parametrize(
    ("time_frame", "period", "expected"),
    [
        # A calendar time frame compares with the calendar unit before, whatever the two units' lengths
        ("last_month", ("2026-11-01", "2026-11-30"), ("2026-10-01", "2026-10-31")),
        ("this_month", ("2026-03-01", "2026-03-31"), ("2026-02-01", "2026-02-28")),
        ("last_month", ("2026-01-01", "2026-01-31"), ("2025-12-01", "2025-12-31")),
        ("last_half_month", ("2026-11-01", "2026-11-15"), ("2026-10-16", "2026-10-31")),
        ("this_half_month", ("2026-11-16", "2026-11-30"), ("2026-11-01", "2026-11-15")),
        ("last_quarter", ("2026-01-01", "2026-03-31"), ("2025-10-01", "2025-12-31")),
        ("this_year", ("2028-01-01", "2028-12-31"), ("2027-01-01", "2027-12-31")),
        # Weeks, day counts and custom ranges compare with as many days just before
        ("last_week", ("2026-11-16", "2026-11-22"), ("2026-11-09", "2026-11-15")),
        ("last_30", ("2026-11-01", "2026-11-30"), ("2026-10-02", "2026-10-31")),
        # A month's report given its own dates (not one whole month) also compares with as many days before
        ("last_month", ("2026-11-05", "2026-11-30"), ("2026-10-10", "2026-11-04")),
    ],
)
def test_the_previous_period_is_the_calendar_unit_before_for_calendar_time_frames(
    time_frame: str, period: tuple[str, str], expected: tuple[str, str]
) -> None:
    current = Period(date.fromisoformat(period[0]), date.fromisoformat(period[1]))
    assert previous_period(time_frame, current) == Period(
        date.fromisoformat(expected[0]), date.fromisoformat(expected[1])
    )


def test_a_custom_time_frame_compares_with_as_many_days_before() -> None:
    custom = CustomTimeFrame.model_validate({"from": "2026-11-10", "to": "2026-11-19"})
    assert previous_period(custom, Period(custom.start, custom.end)) == Period(date(2026, 10, 31), date(2026, 11, 9))
