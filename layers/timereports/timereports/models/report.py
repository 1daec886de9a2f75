"""The finished report: what the engine produces and the renderers and delivery consume.

Values stay exact (`Decimal`) here; rounding to two decimals happens only when rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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

    @property
    def is_empty(self) -> bool:
        return not self.rows


def archive_key(report_id: str, period: Period) -> str:
    """The deterministic key of a report's CSV: the same report and period always land on the same object."""
    start, end = period.start.isoformat(), period.end.isoformat()
    return f"reports/{report_id}/{start}_{end}/{report_id}_{start}_{end}.csv"
