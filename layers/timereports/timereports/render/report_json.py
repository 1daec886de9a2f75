"""A report table as the Reports API answers it: JSON-ready rows and totals (pure: a table in, plain data out).

Hours and amounts are exact `Decimal`s in the table; here they become JSON numbers (an int when whole, as RM writes
`"incurred_hours": 6`), dates ISO strings, and ids stay numbers. Labels were decoded from Intervals' HTML entities
when the entries were read.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from timereports.models.report import Cell, Period, ReportTable
from timereports.models.reports_api import JsonCell


def json_cell(value: Cell) -> JsonCell:
    """One cell as a JSON value: a number for ids, counts, hours and amounts; text for dates."""
    if isinstance(value, Decimal):
        # float() of a Decimal with a handful of decimals prints back as the same digits (shortest repr).
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def json_rows(table: ReportTable) -> list[dict[str, JsonCell]]:
    """Every row, its columns in the table's order (group columns, then the view's metrics)."""
    return [{column: json_cell(row.get(column)) for column in table.columns} for row in table.rows]


def json_totals(table: ReportTable) -> dict[str, JsonCell]:
    """Each metric summed over every row."""
    return {column: json_cell(table.totals.get(column, 0)) for column in table.metric_columns}


def json_dates(today: date, period: Period) -> dict[str, Any]:
    """RM's `dates`: the `today` the time frame was resolved from, and the range it covers (both inclusive)."""
    return {"today": today.isoformat(), "range": {"from": period.start.isoformat(), "to": period.end.isoformat()}}
