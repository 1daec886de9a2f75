"""Time frames: turning `last_week` or `{from, to}` into the dates a run covers.

Pure date arithmetic on the report's local "today", so that *when* a report is sent (the schedule)
stays apart from *what period it covers* (the time frame), and a run can be replayed for any day.
"""

from __future__ import annotations

import calendar
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, timedelta

from timereports.models.definition import CustomTimeFrame
from timereports.models.report import Period

_DAY = timedelta(days=1)
# A shortcut's rule: (today, week_start) -> period.
Resolver = Callable[[date, int], Period]


def today_in(tz: str, now: datetime) -> date:
    """The calendar date at instant `now` in zone `tz` (a report sent at 00:30 Berlin time is on Berlin's day).

    `now` must be timezone-aware: a naive time is ambiguous, and guessing would shift reports by a day.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(zoneinfo.ZoneInfo(tz)).date()


def resolve_time_frame(time_frame: str | CustomTimeFrame, today: date, week_start: int = 0) -> Period:
    """The inclusive period a time frame covers as of `today` (the report's local date).

    `week_start` counts like `date.weekday()`: 0 Monday ... 6 Sunday. Shortcuts:

    - `today`, `yesterday`; `this_week`/`last_week` (7 days from the week's first day);
    - `this_half_month` (1st-15th, or 16th-end of month, whichever holds today) and `last_half_month`
      (the half before it: sent on the 1st it covers the 16th to the end of the previous month, sent on the
      16th the 1st to the 15th);
    - `this_month`, `last_month`, `this_quarter`, `last_quarter`, `this_year`, `last_year` (calendar ones);
    - `last_30`/`last_60`/`last_90`: the N days ending yesterday (today is not over yet);
    - `next_30`/`next_60`/`next_90`: the N days starting today;
    - `last_and_next_90`: 180 days, from today - 90 days through today + 89 days, i.e. the 90 days before
      today plus the 90 days starting today (`last_90` and `next_90` joined).
    """
    if isinstance(time_frame, CustomTimeFrame):
        return Period(time_frame.start, time_frame.end)
    if not 0 <= week_start <= 6:
        raise ValueError(f"week_start must be 0 (Monday) to 6 (Sunday), got {week_start}")
    resolver = _SHORTCUTS.get(time_frame)
    if resolver is None:
        raise ValueError(f"unknown time frame {time_frame!r}; allowed: {', '.join(_SHORTCUTS)}")
    return resolver(today, week_start)


def _week(today: date, week_start: int, weeks_back: int) -> Period:
    first = today - timedelta(days=(today.weekday() - week_start) % 7 + 7 * weeks_back)
    return Period(first, first + timedelta(days=6))


def _month(year: int, month: int) -> Period:
    return Period(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))


def _previous_month(today: date) -> tuple[int, int]:
    return (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)


def _half_month(year: int, month: int, first_half: bool) -> Period:
    whole = _month(year, month)
    if first_half:
        return Period(whole.start, whole.start.replace(day=15))
    return Period(whole.start.replace(day=16), whole.end)


def _this_half_month(today: date, _: int) -> Period:
    return _half_month(today.year, today.month, today.day <= 15)


def _last_half_month(today: date, _: int) -> Period:
    if today.day > 15:
        return _half_month(today.year, today.month, first_half=True)
    return _half_month(*_previous_month(today), first_half=False)


def _quarter(year: int, quarter: int) -> Period:
    first_month = 3 * quarter + 1
    return Period(date(year, first_month, 1), _month(year, first_month + 2).end)


def _this_quarter(today: date, _: int) -> Period:
    return _quarter(today.year, (today.month - 1) // 3)


def _last_quarter(today: date, _: int) -> Period:
    quarter = (today.month - 1) // 3
    return _quarter(today.year, quarter - 1) if quarter else _quarter(today.year - 1, 3)


def _last_days(days: int) -> Resolver:
    def resolve(today: date, _: int) -> Period:
        return Period(today - timedelta(days=days), today - _DAY)

    return resolve


def _next_days(days: int) -> Resolver:
    def resolve(today: date, _: int) -> Period:
        return Period(today, today + timedelta(days=days - 1))

    return resolve


_SHORTCUTS: dict[str, Resolver] = {
    "today": lambda today, _: Period(today, today),
    "yesterday": lambda today, _: Period(today - _DAY, today - _DAY),
    "this_week": lambda today, week_start: _week(today, week_start, 0),
    "last_week": lambda today, week_start: _week(today, week_start, 1),
    "this_half_month": _this_half_month,
    "last_half_month": _last_half_month,
    "this_month": lambda today, _: _month(today.year, today.month),
    "last_month": lambda today, _: _month(*_previous_month(today)),
    "this_quarter": _this_quarter,
    "last_quarter": _last_quarter,
    "this_year": lambda today, _: Period(date(today.year, 1, 1), date(today.year, 12, 31)),
    "last_year": lambda today, _: Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    "last_30": _last_days(30),
    "last_60": _last_days(60),
    "last_90": _last_days(90),
    "next_30": _next_days(30),
    "next_60": _next_days(60),
    "next_90": _next_days(90),
    "last_and_next_90": lambda today, _: Period(today - timedelta(days=90), today + timedelta(days=89)),
}


# The calendar time frames, each as (the unit holding a day, the unit before that one): a month's report compares
# with the month before, whatever the two months' lengths.
_CALENDAR_UNITS: dict[str, tuple[Resolver, Resolver]] = {
    **dict.fromkeys(("this_half_month", "last_half_month"), (_this_half_month, _last_half_month)),
    **dict.fromkeys(("this_month", "last_month"), (_SHORTCUTS["this_month"], _SHORTCUTS["last_month"])),
    **dict.fromkeys(("this_quarter", "last_quarter"), (_this_quarter, _last_quarter)),
    **dict.fromkeys(("this_year", "last_year"), (_SHORTCUTS["this_year"], _SHORTCUTS["last_year"])),
}


def previous_period(time_frame: str | CustomTimeFrame, period: Period) -> Period:
    """What `compare: previous` compares `period` with: for a calendar time frame, the calendar unit before (November
    with October, Q1 with the previous Q4, the 1st-15th with the 16th-end of the month before); otherwise, and for a
    period that is not one whole unit (a run given its own dates), the same number of days just before (a week with
    the week before)."""
    units = _CALENDAR_UNITS.get(time_frame) if isinstance(time_frame, str) else None
    if units is not None:
        holding, before = units
        if holding(period.start, 0) == period:
            return before(period.start, 0)
    return period.previous()
