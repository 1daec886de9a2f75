"""The email's body: the plain-text and HTML parts of a report message (phone-first inline CSS), their labels and
sentences. Pure: a ReportTable in, text out.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime

from timereports.engine.attributes import ATTRIBUTES
from timereports.engine.views import METRICS
from timereports.models.report import Cell, ReportTable
from timereports.models.run_record import AttachmentMode
from timereports.render.csv import format_cell

SUMMARY_ROW_LIMIT = 20


@dataclass(frozen=True)
class CsvLink:
    """Where the CSV can be downloaded when it is not attached (a presigned URL), and until when."""

    url: str
    expires_at: datetime | None = None


def attachment_filename(table: ReportTable, *, gzipped: bool = False) -> str:
    """`<report-id>_<from>_<to>.csv` (or `.csv.gz`): sorts by report and period in a download folder."""
    report_id = "".join(
        char if char.isascii() and (char.isalnum() or char in "-_") else "-" for char in table.report_id
    )
    name = f"{report_id or 'report'}_{table.period.start.isoformat()}_{table.period.end.isoformat()}.csv"
    return name + ".gz" if gzipped else name


# Short labels keep the summary table narrow on a phone; other columns get a label made from their name.
COLUMN_LABELS: dict[str, str] = {
    **{spec.columns[-1]: spec.heading for spec in ATTRIBUTES.values()},
    **{metric.name: metric.heading for metric in METRICS.values()},
}
# The long form, for the totals block where there is room.
TOTAL_LABELS: dict[str, str] = {metric.name: metric.total_label for metric in METRICS.values()}

_FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_INK = "#111827"
_MUTED = "#4b5563"
_LINE = "#e5e7eb"
_ACCENT = "#1d4ed8"


# --- bodies ------------------------------------------------------------------------------------------------------


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


def _total_label(column: str) -> str:
    return TOTAL_LABELS.get(column) or column_label(column)


def _display_value(column: str, value: Cell) -> str:
    if value is None:
        return "\u2013"  # an en dash: visibly "nothing" in a table cell
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format_cell(column, value)


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


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number:,} {singular if number == 1 else plural}"


def _facts_sentence(table: ReportTable) -> str:
    return f"{_count(len(table.rows), 'row', 'rows')} from {_count(table.entries, 'time entry', 'time entries')}."


def _more_rows_sentence(table: ReportTable, mode: AttachmentMode, filename: str, shown: int) -> str:
    total = len(table.rows)
    where = "the CSV at the link below" if mode == "link" else f"the attached CSV, {filename}"
    if shown >= total:
        return f"All {_count(total, 'row', 'rows')} are in {where}." if total != 1 else f"The row is in {where}."
    return f"Showing the first {shown} of {total:,} rows; all of them are in {where}."


def _totals_row_label(table: ReportTable, shown: int) -> str:
    """'Total', or 'Total of all N rows' when the summary shows fewer rows than the total counts."""
    return "Total" if shown >= len(table.rows) else f"Total of all {len(table.rows)} rows"


def _expiry_sentence(link: CsvLink) -> str:
    if link.expires_at is None:
        return ""
    # The link is signed with the sending function's temporary credentials, which may lapse before the time asked.
    return (
        f"The link works for a few hours, until {link.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC at the latest; "
        "after that, ask the report's owner for the archived CSV."
    )


def footer_text(table: ReportTable) -> str:
    return f"Sent automatically by timereports (report {table.report_id})."


def render_text(
    table: ReportTable,
    *,
    mode: AttachmentMode = "attachment",
    filename: str | None = None,
    link: CsvLink | None = None,
    summary_rows: int = SUMMARY_ROW_LIMIT,
) -> str:
    """The plain-text part: the same facts as the HTML part, as an aligned table."""
    filename = filename or attachment_filename(table, gzipped=mode == "gzip")
    shown_rows = table.rows[: max(summary_rows, 0)]
    lines = [table.title, period_line(table), "", "Totals"]
    width = max((len(_total_label(column)) for column in table.metric_columns), default=0)
    for column in table.metric_columns:
        value = _display_value(column, table.totals.get(column))
        lines.append(f"  {_total_label(column).ljust(width)}  {value}")
    lines += ["", _facts_sentence(table), ""]
    columns = display_columns(table)
    header = [column_label(column) for column in columns]
    body = [[_truncate(_display_value(column, row.get(column)), 32) for column in columns] for row in shown_rows]
    totals = [
        _display_value(column, table.totals.get(column)) if column in table.metric_columns else "" for column in columns
    ]
    totals[0] = _totals_row_label(table, len(shown_rows))
    widths = [max(len(cell) for cell in cells) for cells in zip(header, *body, totals, strict=True)]
    numeric = [column in table.metric_columns for column in columns]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(size) if is_number else cell.ljust(size)
            for cell, size, is_number in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * size for size in widths)
    lines += [line(header), rule, *(line(cells) for cells in body), rule, line(totals), ""]
    lines.append(_more_rows_sentence(table, mode, filename, len(shown_rows)))
    if mode == "link" and link is not None:
        lines += ["", f"Download the CSV: {link.url}"]
        if link.expires_at is not None:
            lines.append(_expiry_sentence(link))
    lines += ["", footer_text(table), ""]
    return "\n".join(lines)


def _truncate(text: str, size: int) -> str:
    text = " ".join(text.split())  # a name with a line break would break the text table
    return text if len(text) <= size else text[: size - 1] + "…"


def render_html(
    table: ReportTable,
    *,
    mode: AttachmentMode = "attachment",
    filename: str | None = None,
    link: CsvLink | None = None,
    summary_rows: int = SUMMARY_ROW_LIMIT,
) -> str:
    """The HTML part: title, period, totals, the first rows as a table, and where the full CSV is."""
    filename = filename or attachment_filename(table, gzipped=mode == "gzip")
    shown_rows = table.rows[: max(summary_rows, 0)]
    esc = html.escape
    totals_rows = "".join(
        f'<tr><td style="padding:4px 12px 4px 0;color:{_MUTED};font-size:14px;">{esc(_total_label(column))}</td>'
        f'<td style="padding:4px 0;text-align:right;font-size:16px;font-weight:bold;white-space:nowrap;">'
        f"{esc(_display_value(column, table.totals.get(column)))}</td></tr>"
        for column in table.metric_columns
    )
    inner = title_html(table)
    inner += (
        '<table role="presentation" cellpadding="0" cellspacing="0" '
        f'style="border-collapse:collapse;margin:0 0 8px;">{totals_rows}</table>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{_MUTED};">{esc(_facts_sentence(table))}</p>'
    )
    if mode == "link" and link is not None:
        inner += _link_html(link)
    inner += _rows_table_html(table, shown_rows)
    inner += (
        f'<p style="margin:12px 0 16px;font-size:14px;color:{_MUTED};">'
        f"{esc(_more_rows_sentence(table, mode, filename, len(shown_rows)))}</p>"
    )
    inner += footer_html(table)
    preheader = " · ".join(
        f"{_total_label(column)} {_display_value(column, table.totals.get(column))}"
        for column in table.metric_columns[:2]
    )
    return page_html(table, inner, preheader=f"{period_line(table)}: {preheader}")


def title_html(table: ReportTable) -> str:
    return (
        f'<h1 style="margin:0 0 4px;font-size:20px;line-height:1.3;color:{_INK};">{html.escape(table.title)}</h1>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{_MUTED};">{html.escape(period_line(table))}</p>'
    )


def _link_html(link: CsvLink) -> str:
    url = html.escape(link.url, quote=True)
    return (
        '<p style="margin:0 0 16px;">'
        f'<a href="{url}" style="display:inline-block;padding:10px 16px;background:{_ACCENT};color:#ffffff;'
        'text-decoration:none;font-size:16px;font-weight:bold;border-radius:4px;">Download the CSV</a></p>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{_MUTED};">{html.escape(_expiry_sentence(link))} '
        f'If the button does not work, copy this address: <span style="word-break:break-all;">{url}</span></p>'
    )


def _rows_table_html(table: ReportTable, rows: list[dict[str, Cell]]) -> str:
    # One cell holds all group levels (first level bold, the others under it) and each metric has its own
    # right-aligned column: on a 375 px screen the names get one readable column instead of several slivers.
    esc = html.escape
    columns = display_columns(table)
    group_columns = [column for column in columns if column not in table.metric_columns]
    metric_columns = [column for column in columns if column in table.metric_columns]
    cell = f"padding:6px 4px;border-bottom:1px solid {_LINE};font-size:14px;line-height:1.4;vertical-align:top;"
    group_style = cell + "text-align:left;overflow-wrap:break-word;"
    number_style = cell + "text-align:right;white-space:nowrap;"
    head_style = f"font-weight:bold;color:{_MUTED};background:#f9fafb;vertical-align:bottom;"
    # Headers may wrap ("Billable h" over two lines) so that the number columns stay as narrow as their values.
    head = f'<th style="{group_style}{head_style}">{esc(" / ".join(column_label(c) for c in group_columns))}</th>'
    head += "".join(
        f'<th style="{cell}text-align:right;{head_style}">{esc(column_label(column))}</th>' for column in metric_columns
    )
    body = []
    for row in rows:
        levels = [_breakable(_display_value(column, row.get(column))) for column in group_columns]
        group_html = f"<strong>{levels[0]}</strong>" if levels else ""
        group_html += "".join(f'<br><span style="color:{_MUTED};">{level}</span>' for level in levels[1:])
        numbers = "".join(
            f'<td style="{number_style}">{esc(_display_value(column, row.get(column)))}</td>'
            for column in metric_columns
        )
        body.append(f'\n<tr><td style="{group_style}">{group_html}</td>{numbers}</tr>')
    total_style = f"font-weight:bold;border-top:2px solid {_INK};"
    totals = "".join(
        f'<td style="{number_style}{total_style}">{esc(_display_value(column, table.totals.get(column)))}</td>'
        for column in metric_columns
    )
    return (
        # The wrapper scrolls sideways where a client allows it, when many columns do not fit a phone.
        '<div style="overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;">'
        '<table cellpadding="0" cellspacing="0" '
        f'style="border-collapse:collapse;width:100%;font-family:{_FONT};color:{_INK};">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        f'\n<tr><td style="{group_style}{total_style}">{esc(_totals_row_label(table, len(rows)))}</td>{totals}</tr>'
        "</tbody></table></div>"
    )


def _breakable(text: str, longest: int = 12) -> str:
    """Escape `text` for HTML and let words longer than `longest` break (`<wbr>`), so one long name cannot
    widen the table past a phone's screen."""
    words = []
    for word in text.split(" "):
        pieces = [word[start : start + longest] for start in range(0, len(word), longest)] or [""]
        words.append("<wbr>".join(html.escape(piece) for piece in pieces))
    return " ".join(words)


def footer_html(table: ReportTable) -> str:
    return (
        f'<p style="margin:16px 0 0;padding-top:12px;border-top:1px solid {_LINE};font-size:14px;color:{_MUTED};">'
        f"{html.escape(footer_text(table))}</p>"
    )


def page_html(table: ReportTable, inner: str, *, preheader: str) -> str:
    # Table-based outer layout and inline styles: what Outlook's Word engine and Gmail both honour.
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(table.title)}</title></head>"
        f'<body style="margin:0;padding:0;background:#f3f4f6;">'
        '<div style="display:none;max-height:0;overflow:hidden;font-size:1px;line-height:1px;color:#f3f4f6;">'
        f"{html.escape(preheader)}</div>"
        # table-layout:fixed keeps the page at the screen's width, so a wide summary scrolls inside its own box.
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="border-collapse:collapse;background:#f3f4f6;table-layout:fixed;">'
        '<tr><td align="center" style="padding:8px 4px;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="max-width:680px;border-collapse:collapse;background:#ffffff;border:1px solid {_LINE};'
        'table-layout:fixed;">'
        f'<tr><td style="padding:16px 10px;font-family:{_FONT};font-size:16px;line-height:1.5;color:{_INK};'
        'text-align:left;">'
        f"{inner}</td></tr></table></td></tr></table></body></html>"
    )
