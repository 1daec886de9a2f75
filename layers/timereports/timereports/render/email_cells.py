"""The email's cells: column labels, how a value is shown, the palette, and the small text helpers that the body
(email_body.py) and its sections (email_sections.py) share. Pure."""

from __future__ import annotations

import html
import unicodedata
from decimal import Decimal

from timereports.engine.attributes import ATTRIBUTES
from timereports.engine.entries import ENTRY_HEADINGS
from timereports.engine.views import METRICS
from timereports.models.report import Cell, ReportTable
from timereports.render.csv import format_cell, is_decimal_column

# Short labels keep the summary table narrow on a phone; other columns get a label made from their name.
COLUMN_LABELS: dict[str, str] = {
    **{spec.columns[-1]: spec.heading for spec in ATTRIBUTES.values()},
    **{metric.name: metric.heading for metric in METRICS.values()},
    **ENTRY_HEADINGS,
}


# The long form, for the totals block where there is room.
TOTAL_LABELS: dict[str, str] = {metric.name: metric.total_label for metric in METRICS.values()}


FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"


INK = "#111827"


MUTED = "#4b5563"


LINE = "#e5e7eb"


ACCENT = "#1d4ed8"


# More metric columns than this do not fit a phone's width beside the group names.
PHONE_METRIC_COLUMNS = 4


def display_columns(table: ReportTable) -> list[str]:
    """The columns the summary table shows: names rather than ids when both exist, then the metrics that say
    something. On a phone a wide table scrolls out of sight, so a column whose total is zero (non-billable hours
    of a billable-only report) is left out, and so is the entry count when there are still too many; the
    totals above the table and the CSV keep every column."""
    group_columns = [column for column in table.columns if column not in table.metric_columns]
    shown = [
        column
        for column in group_columns
        if not (column.endswith("_id") and f"{column.removesuffix('_id')}_name" in group_columns)
    ]
    metrics = [column for column in table.metric_columns if table.totals.get(column) or column == "entries"]
    if len(metrics) > PHONE_METRIC_COLUMNS and "entries" in metrics:
        metrics.remove("entries")
    return shown + (metrics or list(table.metric_columns))


def column_label(column: str) -> str:
    """A short human label for a column."""
    return COLUMN_LABELS.get(column) or column.replace("_", " ").capitalize()


def total_label(column: str) -> str:
    return TOTAL_LABELS.get(column) or column_label(column)


def display_value(column: str, value: Cell) -> str:
    """A cell as a reader of the email sees it: figures with thousands separators (54,535.59 hours, 1,521 entries),
    which the CSV leaves out for spreadsheets to read."""
    if value is None:
        return "\u2013"  # an en dash: visibly "nothing" in a table cell
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = format_cell(column, value)
    if isinstance(value, Decimal | int) and (is_decimal_column(column) or column == "entries"):
        return f"{Decimal(text):,}"
    return text


def count(number: int, singular: str, plural: str) -> str:
    return f"{number:,} {singular if number == 1 else plural}"


def totals_row_label(table: ReportTable, shown: int) -> str:
    """'Total', or 'Total of all N rows' when the summary shows fewer rows than the total counts."""
    return "Total" if shown >= len(table.rows) else f"Total of all {len(table.rows)} rows"


def display_width(text: str) -> int:
    """Columns `text` takes in a monospaced font: a CJK or full-width character (and most emoji) two, a combining
    mark none, so that a text part's figures line up after names in any script."""
    return sum(
        0 if unicodedata.combining(character) else 2 if unicodedata.east_asian_width(character) in "WF" else 1
        for character in text
    )


def padded(text: str, width: int, *, right: bool = False) -> str:
    """`text` filled with spaces to `width` display columns (str.ljust/rjust count characters)."""
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def aligned(rows: list[list[str]], numeric: list[bool]) -> list[str]:
    # An empty row stands for a rule (dashes as wide as the column).
    widths = [max(display_width(cell) for cell in cells) for cells in zip(*(row for row in rows if row), strict=True)]

    def line(cells: list[str]) -> str:
        filled = [
            padded(cell, size, right=is_number) for cell, size, is_number in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(filled).rstrip()

    return [line(cells) if cells else "  ".join("-" * size for size in widths) for cells in rows]


def with_id(label: str, record_id: object) -> str:
    """A group's name told apart from another record's of the same name: `Website (#30013)`."""
    return f"{label} (#{record_id})"


def truncate(text: str, size: int) -> str:
    text = " ".join(text.split())  # a name with a line break would break the text table
    return text if len(text) <= size else text[: size - 1] + "…"


def breakable(text: str, longest: int = 12) -> str:
    """Escape `text` for HTML and let words longer than `longest` break (`<wbr>`), so one long name cannot
    widen the table past a phone's screen."""
    words = []
    for word in text.split(" "):
        pieces = [word[start : start + longest] for start in range(0, len(word), longest)] or [""]
        words.append("<wbr>".join(html.escape(piece) for piece in pieces))
    return " ".join(words)
