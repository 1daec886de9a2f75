"""The finished report: what the engine produces and the renderers and delivery consume.

Values stay exact (`Decimal`) here; rounding to two decimals happens only when rendered.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

Cell = str | int | Decimal | bool | date | None


@dataclass(frozen=True)
class Period:
    """The inclusive range of dates a report covers."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"period starts {self.start} after it ends {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period just before this one, of the same length (last week -> the week before)."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


Metrics = dict[str, Decimal | int]


@dataclass(frozen=True)
class Section:
    """A first-level group of a report: its rows (`rows[start:stop]`), their exact subtotals, and its share of the
    report's total of `ReportTable.share_metric` (a fraction; 0 when the total is 0)."""

    key: Hashable
    label: str
    start: int
    stop: int
    totals: Metrics
    share: Decimal

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Change:
    """One figure now and over the previous period: the difference, and the percentage (None when before was 0)."""

    current: Decimal | int
    previous: Decimal | int
    delta: Decimal | int
    percent: Decimal | None


@dataclass(frozen=True)
class Comparison:
    """`compare: previous`: the share metric of the totals and of each first-level group (by `Section.key`) against
    the period just before."""

    period: Period
    metric: str
    totals: Change
    groups: dict[Hashable, Change] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportTable:
    """Rows grouped and sorted by `group_by`, with the view's metric columns and their totals.

    `columns` lists every column in CSV order: the group columns, then `metric_columns`.
    Each row maps every column name to its value; `totals` maps each metric column to its sum.
    """

    report_id: str
    title: str
    view: str
    period: Period
    group_by: tuple[str, ...]
    columns: tuple[str, ...]
    metric_columns: tuple[str, ...]
    rows: list[dict[str, Cell]] = field(default_factory=list)
    totals: dict[str, Decimal | int] = field(default_factory=dict)
    entries: int = 0
    # How the period was resolved and how fresh the data is: printed in the email and the workbook.
    timezone: str = "UTC"
    week_start: str = "monday"
    as_of: datetime | None = None
    # What the figures include, in words (engine/scope.py): the incurred basis and the filters.
    scope: tuple[str, ...] = ()
    # The hours in a day of the days views (None for the others): the email and the workbook say it.
    hours_per_day: Decimal | None = None
    # First-level groups with their subtotals (the engine computes them; renderers only print them).
    sections: tuple[Section, ...] = ()
    # The metric the sections' shares and the comparison are about (the view's first metric column).
    share_metric: str | None = None
    comparison: Comparison | None = None
    # A private slice (`delivery.split`): its name as shown, and the file-name form; None for the whole report.
    slice_label: str | None = None
    slice_slug: str | None = None
    # The ids of the records the slice was matched by (none for the slice of time without one): a slice listed by
    # name follows the name, and a delivery records whom it was for.
    slice_records: tuple[int, ...] = ()
    # A revision's number (logic/revisions.py): its files are named `<...>.rev<n>.csv`, as archived, so that they do
    # not take the name of the report they replace.
    revision: int | None = None
    # With `delivery.split`: each listed slice's own table, by the name or id the definition lists it under.
    slices: dict[str, ReportTable] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.rows


def archive_key(report_id: str, period: Period, *, slice_slug: str | None = None, extension: str = "csv") -> str:
    """The deterministic key of a report's file: the same report, period, slice and format always land on the same
    object. A private slice's files sit under `slices/<slug>/` of the run's folder, named like its attachments."""
    start, end = period.start.isoformat(), period.end.isoformat()
    folder = f"reports/{report_id}/{start}_{end}"
    if slice_slug:
        return f"{folder}/slices/{slice_slug}/{report_id}--{slice_slug}_{start}_{end}.{extension}"
    return f"{folder}/{report_id}_{start}_{end}.{extension}"
