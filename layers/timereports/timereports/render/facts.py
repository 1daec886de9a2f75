"""The sentences that say what a report covers and how fresh it is, shared by the email and the workbook so that
both say the same: the period, its time zone and week start, a day's hours (days views), what the figures include,
the data's "as of" time, and the slice."""

from __future__ import annotations

import zoneinfo
from decimal import ROUND_HALF_UP, Decimal

from timereports.models.report import ReportTable

_TENTH = Decimal("0.1")


def period_line(table: ReportTable) -> str:
    period = table.period
    if period.days == 1:
        return f"{period.start.isoformat()} ({period.start:%A})"
    return f"{period.start.isoformat()} to {period.end.isoformat()} ({period.days} days)"


def period_phrase(table: ReportTable) -> str:
    period = table.period
    if period.days == 1:
        return f"on {period.start.isoformat()}"
    return f"from {period.start.isoformat()} to {period.end.isoformat()}"


def calendar_line(table: ReportTable) -> str:
    """How the dates were resolved: the report's time zone and its first day of the week."""
    return f"Time zone {table.timezone}; weeks start on {table.week_start.capitalize()}"


def day_line(table: ReportTable) -> str | None:
    """`A day is 7.5 hours` for the days views: a reader turns days back into hours with it."""
    if table.hours_per_day is None:
        return None
    return f"A day is {table.hours_per_day.normalize():f} hours"


def as_of_line(table: ReportTable) -> str | None:
    """When the data was read from Intervals, in the report's time zone (None when the table does not say)."""
    if table.as_of is None:
        return None
    local = table.as_of.astimezone(zoneinfo.ZoneInfo(table.timezone))
    return f"Data as of {local:%Y-%m-%d %H:%M} {local.tzname()}"


def slice_line(table: ReportTable) -> str | None:
    """`Only <name>'s time`, for a private slice of a split report."""
    if table.slice_label is None:
        return None
    return f"Only the time of {table.slice_label}"


def fact_lines(table: ReportTable) -> list[str]:
    """Every line of context, in the order the email and the workbook print them."""
    lines = [period_line(table), calendar_line(table), *filter(None, [day_line(table)]), *table.scope]
    lines += [line for line in (as_of_line(table), slice_line(table)) if line]
    return lines


def percent_text(fraction: Decimal) -> str:
    """A share as a percentage with one decimal, half up (`0.4567` -> `45.7%`)."""
    return f"{(fraction * 100).quantize(_TENTH, ROUND_HALF_UP)}%"


def bar_width(fraction: Decimal) -> Decimal:
    """A bar's width in percent of its track, one decimal: the share, clamped to 0..100 (a credit draws nothing)."""
    percent = (fraction * 100).quantize(_TENTH, ROUND_HALF_UP)
    return min(max(percent, Decimal(0)), Decimal(100))
