"""The report as an Excel workbook (XlsxWriter): what finance opens, with the CSV's values and working totals.

Why each choice:
- Numbers are numbers (exact hours and amounts, shown with `0.00`), dates are dates (`yyyy-mm-dd`), so sorting,
  filtering and sums work without an import dialog.
- The TOTAL row holds live `SUM` formulas over the rows (with the engine's total cached as the formula's value),
  so a row someone edits or deletes is reflected, and the unedited file equals the CSV's TOTAL.
- Text goes through `write_string` (never `write`, which would turn `=...` into a formula) and is neutralised as
  the CSV neutralises it, so the two files hold the same text and a later CSV export cannot run it either.
- Title, period, time zone, week start and "as of" sit above the table, and the header row is bold, frozen and
  carries an autofilter.
Pure: a ReportTable in, bytes out (the workbook is built in memory).
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from timereports.models.report import Cell, ReportTable
from timereports.render.csv import TOTAL_LABEL, format_cell, is_decimal_column, starts_like_a_formula
from timereports.render.facts import fact_lines

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_NAME = "Report"
# Excel's limit on a cell's text, and what a longer text (a very long description) ends with instead.
CELL_LIMIT = 32_767
CUT_NOTE = " […] (cut at the workbook's cell limit; the CSV has the whole text)"
MIN_WIDTH, MAX_WIDTH, TEXT_WIDTH = 8, 60, 48
# A fixed creation time: the same report gives the same bytes (XlsxWriter would stamp the current time).
FIXED_CREATED = datetime(2000, 1, 1)


def render_xlsx(table: ReportTable) -> bytes:
    """The whole workbook as bytes: what is archived beside the CSV and attached to the email."""
    # Deferred: XlsxWriter costs ~10 ms to import; only reports asking for a workbook (`formats: [csv, xlsx]`) use it.
    import xlsxwriter
    from xlsxwriter.utility import xl_rowcol_to_cell

    buffer = io.BytesIO()
    options = {
        "in_memory": True,
        # Belt and braces: nothing here writes through `write()`, but if it did, text would stay text.
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    }
    workbook = xlsxwriter.Workbook(buffer, options)
    workbook.set_properties({"title": table.title, "created": table.as_of or FIXED_CREATED})
    sheet = workbook.add_worksheet(SHEET_NAME)
    formats = _formats(workbook)

    lines = fact_lines(table)
    _write_text(sheet, 0, 0, table.title, formats, "title")
    for offset, line in enumerate(lines, start=1):
        sheet.write_string(offset, 0, line, formats["muted"])
    header_row = len(lines) + 2
    first_row = header_row + 1

    widths = [max(MIN_WIDTH, len(column) + 2) for column in table.columns]
    for col, column in enumerate(table.columns):
        sheet.write_string(header_row, col, column, formats["header"])
    for offset, row in enumerate(table.rows):
        for col, column in enumerate(table.columns):
            text = _write_cell(sheet, first_row + offset, col, column, row.get(column), formats)
            longest = max((len(part) for part in text.split("\n")), default=0)
            widths[col] = max(widths[col], min(longest + 2, MAX_WIDTH))

    total_row = first_row + len(table.rows)
    sheet.write_string(total_row, 0, TOTAL_LABEL, formats["total_label"])
    for col, column in enumerate(table.columns[1:], start=1):
        if column not in table.metric_columns:
            sheet.write_blank(total_row, col, None, formats["total_label"])
            continue
        value = table.totals.get(column, 0)
        if table.rows:
            span = f"{xl_rowcol_to_cell(first_row, col)}:{xl_rowcol_to_cell(total_row - 1, col)}"
            number_format = formats["total_decimal"] if is_decimal_column(column) else formats["total_integer"]
            sheet.write_formula(total_row, col, f"=SUM({span})", number_format, float(value))
        else:
            sheet.write_number(total_row, col, 0, formats["total_integer"])

    for col, column in enumerate(table.columns):
        if column == "description":
            sheet.set_column(col, col, TEXT_WIDTH, formats["wrap"])
        else:
            sheet.set_column(col, col, widths[col])
    sheet.freeze_panes(first_row, 0)
    sheet.autofilter(header_row, 0, max(header_row, total_row - 1), len(table.columns) - 1)
    # The printed page says what it is too (`&&` is a literal ampersand in a header).
    sheet.set_header(f"&L{_header_text(table.title)}&R{_header_text(lines[0])}")
    sheet.repeat_rows(header_row)
    # Printed, the names stay beside their figures: landscape, every column on one page's width, as many pages down
    # as the rows need.
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    workbook.close()
    return buffer.getvalue()


def _write_cell(sheet: Any, row: int, col: int, column: str, value: Cell, formats: dict[str, Any]) -> str:
    """Write one value in its spreadsheet type; return the text it shows (for the column's width)."""
    if value is None:
        sheet.write_blank(row, col, None)
        return ""
    if isinstance(value, bool):  # before int: as the CSV prints it
        text = format_cell(column, value)
        sheet.write_string(row, col, text)
        return text
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        number_format = formats["decimal"] if is_decimal_column(column) or isinstance(value, Decimal) else None
        sheet.write_number(row, col, float(value), number_format)
        return format_cell(column, value)
    if isinstance(value, date):  # a day's or a week's group, an entry's date
        sheet.write_datetime(row, col, datetime(value.year, value.month, value.day), formats["date"])
        return value.isoformat()
    text = format_cell(column, value)
    if len(text) > CELL_LIMIT:
        # A spreadsheet cell holds at most 32,767 characters (XlsxWriter would cut the text without a word).
        text = text[: CELL_LIMIT - len(CUT_NOTE)] + CUT_NOTE
    _write_text(sheet, row, col, text, formats, "wrap" if column == "description" else "text")
    return text


def _write_text(sheet: Any, row: int, col: int, text: str, formats: dict[str, Any], style: str) -> None:
    """A string cell, which no spreadsheet evaluates; one that starts like a formula also carries Excel's quote
    prefix, so that editing the cell keeps it text. The text itself stays the name (a lookup or pivot by it
    matches), unlike the CSV's, where only a leading apostrophe keeps it inert."""
    quoted = starts_like_a_formula(text)
    cell_format = formats[f"{style}_quoted"] if quoted else formats.get(style)
    sheet.write_string(row, col, text, cell_format)


def _formats(workbook: Any) -> dict[str, Any]:
    total = {"bold": True, "top": 2}
    title = {"bold": True, "font_size": 14}
    wrap = {"text_wrap": True, "valign": "top"}
    return {
        "title": workbook.add_format(title),
        "title_quoted": workbook.add_format({**title, "quote_prefix": True}),
        "text_quoted": workbook.add_format({"quote_prefix": True}),
        "wrap_quoted": workbook.add_format({**wrap, "quote_prefix": True}),
        "muted": workbook.add_format({"font_color": "#4b5563"}),
        "header": workbook.add_format({"bold": True, "bottom": 1, "bg_color": "#f3f4f6"}),
        "decimal": workbook.add_format({"num_format": "0.00"}),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        "wrap": workbook.add_format(wrap),
        "total_label": workbook.add_format(total),
        "total_decimal": workbook.add_format({**total, "num_format": "0.00"}),
        "total_integer": workbook.add_format({**total, "num_format": "0"}),
    }


def _header_text(text: str) -> str:
    return text.replace("&", "&&")[:100]
