"""The report as a CSV file that opens cleanly in Excel, LibreOffice and Google Sheets.

Why each choice:
- RFC 4180 (CRLF, quotes only where needed, doubled quotes) because every spreadsheet reads it.
- UTF-8 with a byte-order mark, because Excel guesses a legacy code page without it and mangles accents.
- Hours, days and amounts always with two decimals and `.`: one format whatever the locale, exact cents, and
  rounded half-up as accountants expect (Decimal, never float).
- Text that a spreadsheet would run as a formula is neutralised with a leading `'` (OWASP "CSV injection"):
  names, tasks and clients come from users and end up in other people's spreadsheets.
- The lines are produced one at a time (`iter_csv_lines`), so a big report never needs two copies in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import BinaryIO

from timereports.models.report import Cell, ReportTable

BYTE_ORDER_MARK = "\ufeff"
TOTAL_LABEL = "TOTAL"
LINE_END = "\r\n"

# Metric columns measured in hours, days or money: always printed with two decimals, even when a value is whole.
DECIMAL_COLUMN_SUFFIXES = ("_hours", "_days", "_amount")
DECIMAL_COLUMNS = frozenset({"hours", "amount"})  # the entry view's
_CENT = Decimal("0.01")

# First characters that make Excel, LibreOffice or Sheets evaluate a cell (OWASP), plus their full-width forms,
# which some East Asian spreadsheet locales also accept as formula starters.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FORMULA_ESCAPE = "'"


class _LineCatcher:
    """A file-like object whose `write` hands the text back, so `csv.writer.writerow` returns the line."""

    def write(self, text: str) -> str:
        return text


def starts_like_a_formula(text: str) -> bool:
    """Whether a spreadsheet could run `text`: it starts with a trigger, or does after leading whitespace (LibreOffice's
    import option that trims spaces, a CSV opened by a tool that strips them, would run " =1+1")."""
    return text.startswith(FORMULA_TRIGGERS) or text.lstrip().startswith(FORMULA_TRIGGERS)


def neutralise_formula(text: str) -> str:
    """Return `text` made inert for a spreadsheet: a leading `'` when it starts like a formula."""
    if starts_like_a_formula(text):
        return FORMULA_ESCAPE + text
    return text


def unneutralised(text: str) -> str:
    """The text `neutralise_formula` was given (what a reader is shown of a cell read back from our CSV)."""
    unquoted = text.removeprefix(FORMULA_ESCAPE)
    return unquoted if unquoted != text and starts_like_a_formula(unquoted) else text


def format_decimal(value: Decimal | int) -> str:
    """Two decimals, `.` separator, half-up, no exponent, no thousands separator, never `-0.00`."""
    rounded = Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP)
    if rounded.is_zero():
        rounded = abs(rounded)
    return f"{rounded:f}"


def is_decimal_column(column: str) -> bool:
    """True for hours, days and amount columns, which are always shown with two decimals."""
    return column in DECIMAL_COLUMNS or column.endswith(DECIMAL_COLUMN_SUFFIXES)


def format_cell(column: str, value: Cell) -> str:
    """The text of one value, as the CSV and the email show it (before any formula neutralisation).

    Numbers we produce are formatted here and never neutralised, so a negative amount stays a number.
    """
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, int):
        return format_decimal(value) if is_decimal_column(column) else str(value)
    if isinstance(value, float):  # not in Cell, but never let a float print as 1e-05
        return format_decimal(Decimal(repr(value)))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def csv_field(column: str, value: Cell) -> str:
    """The CSV text of one value: formatted, and neutralised when it is text from a user."""
    text = format_cell(column, value)
    if isinstance(value, str):
        return neutralise_formula(text)
    return text


def total_row(table: ReportTable) -> list[str]:
    """The last CSV row: `TOTAL` in the first column, other group columns empty, the metric totals."""
    if not table.columns or table.columns[0] in table.metric_columns:
        raise ValueError("a report table needs at least one group column before its metric columns")
    cells = []
    for index, column in enumerate(table.columns):
        if index == 0:
            cells.append(TOTAL_LABEL)
        elif column in table.metric_columns:
            cells.append(format_cell(column, table.totals.get(column)))
        else:
            cells.append("")
    return cells


def iter_csv_lines(table: ReportTable) -> Iterator[bytes]:
    """Yield the CSV as encoded lines: BOM + header, each row, then the totals row."""
    writer = csv.writer(_LineCatcher(), dialect="excel", lineterminator=LINE_END, quoting=csv.QUOTE_MINIMAL)
    header: str = writer.writerow(table.columns)
    yield (BYTE_ORDER_MARK + header).encode("utf-8")
    for row in table.rows:
        line: str = writer.writerow([csv_field(column, row.get(column)) for column in table.columns])
        yield line.encode("utf-8")
    yield writer.writerow(total_row(table)).encode("utf-8")


def render_csv(table: ReportTable) -> bytes:
    """The whole CSV file as bytes: what is archived in S3 and attached to the email."""
    return b"".join(iter_csv_lines(table))


def write_csv(table: ReportTable, stream: BinaryIO) -> int:
    """Write the CSV to a binary stream line by line; return the number of bytes written."""
    written = 0
    for line in iter_csv_lines(table):
        stream.write(line)
        written += len(line)
    return written
