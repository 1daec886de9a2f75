"""The email's body: the plain-text and HTML parts of a report message (phone-first inline CSS), their labels and
sentences. Pure: a ReportTable in, text out.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime

from timereports.models.report import Cell, ReportTable
from timereports.models.run_record import AttachmentMode
from timereports.render.email_cells import (
    ACCENT,
    FONT,
    INK,
    LINE,
    MUTED,
    aligned,
    breakable,
    column_label,
    count,
    display_columns,
    display_value,
    total_label,
    totals_row_label,
    truncate,
)
from timereports.render.email_sections import (
    HTML_BUDGET_BYTES,
    SECTION_ROW_STEPS,
    bars_html,
    bars_text,
    comparison_sentence,
    is_sectioned,
    largest_rows,
    section_limit,
    sections_table_html,
    sections_text,
    shown_count,
)
from timereports.render.facts import fact_lines, period_line

SUMMARY_ROW_LIMIT = 20


@dataclass(frozen=True)
class CsvLink:
    """Where the CSV, and the workbook when the report has one, can be downloaded when they are not attached
    (presigned URLs), and until when."""

    url: str
    expires_at: datetime | None = None
    workbook_url: str | None = None

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, self.workbook_url) if self.workbook_url else (self.url,)


def attachment_filename(table: ReportTable, *, gzipped: bool = False) -> str:
    """`<report-id>_<from>_<to>.csv` (or `.csv.gz`; a revision's `...<to>.rev<n>.csv`, as archived): sorts by report
    and period in a download folder."""
    report_id = "".join(
        char if char.isascii() and (char.isalnum() or char in "-_") else "-" for char in table.report_id
    )
    if table.slice_slug:
        report_id += f"--{table.slice_slug}"
    name = f"{report_id or 'report'}_{table.period.start.isoformat()}_{table.period.end.isoformat()}"
    if table.revision is not None:
        name += f".rev{table.revision}"
    return name + (".csv.gz" if gzipped else ".csv")


def workbook_filename(table: ReportTable) -> str:
    """The workbook's name: the CSV's, ending in `.xlsx`."""
    return attachment_filename(table).removesuffix(".csv") + ".xlsx"


def _facts_sentence(table: ReportTable) -> str:
    return f"{count(len(table.rows), 'row', 'rows')} from {count(table.entries, 'time entry', 'time entries')}."


def _more_rows_sentence(table: ReportTable, mode: AttachmentMode, filename: str, shown: int) -> str:
    total = len(table.rows)
    where = "the CSV at the link below" if mode == "link" else f"the attached CSV, {filename}"
    if shown >= total:
        return f"All {count(total, 'row', 'rows')} are in {where}." if total != 1 else f"The row is in {where}."
    return f"Showing the first {shown} of {total:,} rows; all of them are in {where}."


def expiry_sentence(link: CsvLink) -> str:
    if link.expires_at is None:
        return ""
    # The link is signed with the sending function's temporary credentials, which may lapse before the time asked.
    return (
        f"The link works for a few hours, until {link.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC at the latest; "
        "after that, ask the report's owner for the archived CSV."
    )


def link_text(link: CsvLink, csv_name: str = "the CSV") -> list[str]:
    """The plain-text download lines: the CSV, the workbook when there is one, and until when they work."""
    lines = [f"Download {csv_name}: {link.url}"]
    if link.workbook_url:
        lines.append(f"Download the workbook (Excel): {link.workbook_url}")
    if link.expires_at is not None:
        lines.append(expiry_sentence(link))
    return lines


def footer_text(table: ReportTable) -> str:
    return f"Sent automatically by timereports (report {table.report_id})."


def render_text(
    table: ReportTable,
    *,
    mode: AttachmentMode = "attachment",
    filename: str | None = None,
    link: CsvLink | None = None,
    summary_rows: int = SUMMARY_ROW_LIMIT,
    rows_per_section: int | None = None,
) -> str:
    """The plain-text part: the same facts as the HTML part (totals, comparison, shares, sections), aligned."""
    filename = filename or attachment_filename(table, gzipped=mode == "gzip")
    lines = [table.title, *fact_lines(table), "", "Totals"]
    width = max((len(total_label(column)) for column in table.metric_columns), default=0)
    for column in table.metric_columns:
        value = display_value(column, table.totals.get(column))
        lines.append(f"  {total_label(column).ljust(width)}  {value}")
    comparison = comparison_sentence(table)
    lines += ["", *([comparison, ""] if comparison else []), _facts_sentence(table), ""]
    lines += bars_text(table)
    if is_sectioned(table):
        limit = section_limit(table) if rows_per_section is None else rows_per_section
        lines += sections_text(table, filename, limit)
        shown = shown_count(table, summary_rows, limit)
    else:
        shown_rows = largest_rows(table, table.rows, summary_rows, table.group_by)
        lines += _flat_text(table, shown_rows)
        shown = len(shown_rows)
    lines.append(_more_rows_sentence(table, mode, filename, shown))
    if mode == "link" and link is not None:
        lines += ["", *link_text(link)]
    lines += ["", footer_text(table), ""]
    return "\n".join(lines)


def _flat_text(table: ReportTable, shown_rows: list[dict[str, Cell]]) -> list[str]:
    columns = display_columns(table)
    header = [column_label(column) for column in columns]
    body = [[truncate(display_value(column, row.get(column)), 32) for column in columns] for row in shown_rows]
    totals = [
        display_value(column, table.totals.get(column)) if column in table.metric_columns else "" for column in columns
    ]
    totals[0] = totals_row_label(table, len(shown_rows))
    numeric = [column in table.metric_columns for column in columns]
    return [*aligned([header, [], *body, [], totals], numeric), ""]


def fitting_rows_per_section(
    table: ReportTable,
    *,
    mode: AttachmentMode = "attachment",
    filename: str | None = None,
    link: CsvLink | None = None,
) -> int:
    """The most rows per section (up to the view's default) that keep the HTML part within HTML_BUDGET_BYTES, so that
    Gmail does not clip a report with many groups; both parts then show the same rows."""
    steps = [step for step in SECTION_ROW_STEPS if step <= section_limit(table)]
    if not is_sectioned(table):
        return steps[0]
    for step in steps:
        page = render_html(table, mode=mode, filename=filename, link=link, rows_per_section=step)
        if len(page.encode("utf-8")) <= HTML_BUDGET_BYTES:
            return step
    return steps[-1]


def render_html(
    table: ReportTable,
    *,
    mode: AttachmentMode = "attachment",
    filename: str | None = None,
    link: CsvLink | None = None,
    summary_rows: int = SUMMARY_ROW_LIMIT,
    rows_per_section: int | None = None,
) -> str:
    """The HTML part: title and context, totals first (with the previous period), a bar per first-level group,
    then a section per first-level group with its subtotal (or the first rows), and where the full data is."""
    filename = filename or attachment_filename(table, gzipped=mode == "gzip")
    esc = html.escape
    totals_rows = "".join(
        f'<tr><td style="padding:4px 12px 4px 0;color:{MUTED};font-size:14px;">{esc(total_label(column))}</td>'
        f'<td style="padding:4px 0;text-align:right;font-size:16px;font-weight:bold;white-space:nowrap;" '
        f'data-total="{esc(column)}">{esc(display_value(column, table.totals.get(column)))}</td></tr>'
        for column in table.metric_columns
    )
    inner = title_html(table)
    inner += (
        '<table role="presentation" cellpadding="0" cellspacing="0" '
        f'style="border-collapse:collapse;margin:0 0 8px;">{totals_rows}</table>'
    )
    comparison = comparison_sentence(table)
    if comparison:
        inner += f'<p style="margin:0 0 8px;font-size:14px;color:{INK};" data-comparison="totals">{esc(comparison)}</p>'
    inner += f'<p style="margin:0 0 16px;font-size:14px;color:{MUTED};">{esc(_facts_sentence(table))}</p>'
    if mode == "link" and link is not None:
        inner += link_html(link)
    inner += bars_html(table)
    if is_sectioned(table):
        limit = section_limit(table) if rows_per_section is None else rows_per_section
        inner += sections_table_html(table, filename, limit)
        shown = shown_count(table, summary_rows, limit)
    else:
        shown_rows = largest_rows(table, table.rows, summary_rows, table.group_by)
        inner += _rows_table_html(table, shown_rows)
        shown = len(shown_rows)
    inner += (
        f'<p style="margin:12px 0 16px;font-size:14px;color:{MUTED};">'
        f"{esc(_more_rows_sentence(table, mode, filename, shown))}</p>"
    )
    inner += footer_html(table)
    preheader = " · ".join(
        f"{total_label(column)} {display_value(column, table.totals.get(column))}"
        for column in table.metric_columns[:2]
    )
    return page_html(table, inner, preheader=f"{period_line(table)}: {preheader}")


def title_html(table: ReportTable) -> str:
    facts = "<br>".join(html.escape(line) for line in fact_lines(table))
    return (
        f'<h1 style="margin:0 0 4px;font-size:20px;line-height:1.3;color:{INK};">{html.escape(table.title)}</h1>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{MUTED};">{facts}</p>'
    )


def link_html(link: CsvLink, csv_name: str = "the CSV") -> str:
    """The download buttons (the CSV, and the workbook when there is one), with their addresses spelled out."""
    buttons = [(link.url, f"Download {csv_name}")]
    if link.workbook_url:
        buttons.append((link.workbook_url, "Download the workbook"))
    style = (
        f"display:inline-block;margin:0 8px 8px 0;padding:10px 16px;background:{ACCENT};color:#ffffff;"
        "text-decoration:none;font-size:16px;font-weight:bold;border-radius:4px;"
    )
    anchors = "".join(
        f'<a href="{html.escape(url, quote=True)}" style="{style}">{html.escape(label)}</a>' for url, label in buttons
    )
    addresses = " ".join(
        f'<span style="word-break:break-all;">{html.escape(url, quote=True)}</span>' for url, _ in buttons
    )
    which = "this address" if len(buttons) == 1 else "these addresses"
    return (
        f'<p style="margin:0 0 8px;">{anchors}</p>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{MUTED};">{html.escape(expiry_sentence(link))} '
        f"If a button does not work, copy {which}: {addresses}</p>"
    )


def _rows_table_html(table: ReportTable, rows: list[dict[str, Cell]]) -> str:
    # One cell holds all group levels (first level bold, the others under it) and each metric has its own
    # right-aligned column: on a 375 px screen the names get one readable column instead of several slivers.
    esc = html.escape
    columns = display_columns(table)
    group_columns = [column for column in columns if column not in table.metric_columns]
    metric_columns = [column for column in columns if column in table.metric_columns]
    cell = f"padding:6px 4px;border-bottom:1px solid {LINE};font-size:14px;line-height:1.4;vertical-align:top;"
    group_style = cell + "text-align:left;overflow-wrap:break-word;"
    number_style = cell + "text-align:right;white-space:nowrap;"
    head_style = f"font-weight:bold;color:{MUTED};background:#f9fafb;vertical-align:bottom;"
    # Headers may wrap ("Billable h" over two lines) so that the number columns stay as narrow as their values.
    head = f'<th style="{group_style}{head_style}">{esc(" / ".join(column_label(c) for c in group_columns))}</th>'
    head += "".join(
        f'<th style="{cell}text-align:right;{head_style}">{esc(column_label(column))}</th>' for column in metric_columns
    )
    body = []
    for row in rows:
        levels = [breakable(display_value(column, row.get(column))) for column in group_columns]
        group_html = f"<strong>{levels[0]}</strong>" if levels else ""
        group_html += "".join(f'<br><span style="color:{MUTED};">{level}</span>' for level in levels[1:])
        numbers = "".join(
            f'<td style="{number_style}">{esc(display_value(column, row.get(column)))}</td>'
            for column in metric_columns
        )
        body.append(f'\n<tr><td style="{group_style}">{group_html}</td>{numbers}</tr>')
    total_style = f"font-weight:bold;border-top:2px solid {INK};"
    totals = "".join(
        f'<td style="{number_style}{total_style}">{esc(display_value(column, table.totals.get(column)))}</td>'
        for column in metric_columns
    )
    return (
        # The wrapper scrolls sideways where a client allows it, when many columns do not fit a phone.
        '<div style="overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;">'
        '<table cellpadding="0" cellspacing="0" '
        f'style="border-collapse:collapse;width:100%;font-family:{FONT};color:{INK};">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        f'\n<tr><td style="{group_style}{total_style}">{esc(totals_row_label(table, len(rows)))}</td>{totals}</tr>'
        "</tbody></table></div>"
    )


def footer_html(table: ReportTable) -> str:
    return (
        f'<p style="margin:16px 0 0;padding-top:12px;border-top:1px solid {LINE};font-size:14px;color:{MUTED};">'
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
        f'style="max-width:680px;border-collapse:collapse;background:#ffffff;border:1px solid {LINE};'
        'table-layout:fixed;">'
        f'<tr><td style="padding:16px 10px;font-family:{FONT};font-size:16px;line-height:1.5;color:{INK};'
        'text-align:left;">'
        f"{inner}</td></tr></table></td></tr></table></body></html>"
    )
