"""The email's body: the plain-text and HTML parts of a report message (phone-first inline CSS), their labels and
sentences. Pure: a ReportTable in, text out.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from timereports.engine.attributes import ATTRIBUTES
from timereports.engine.entries import ENTRY_HEADINGS
from timereports.engine.views import METRICS
from timereports.models.report import Cell, Change, ReportTable, Section
from timereports.models.run_record import AttachmentMode
from timereports.render.csv import format_cell
from timereports.render.facts import (
    bar_width,
    fact_lines,
    percent_text,
    period_line,
)

SUMMARY_ROW_LIMIT = 20
# In a sectioned summary, each first-level group shows this many of its rows (entries in the entry view); its
# subtotal always counts all of them.
ROWS_PER_SECTION = 5
ENTRIES_PER_SECTION = 5
# Drawn bars are this many characters wide in the plain-text part.
TEXT_BAR_WIDTH = 20


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
    if table.slice_slug:
        report_id += f"--{table.slice_slug}"
    name = f"{report_id or 'report'}_{table.period.start.isoformat()}_{table.period.end.isoformat()}.csv"
    return name + ".gz" if gzipped else name


def workbook_filename(table: ReportTable) -> str:
    """The workbook's name: the CSV's, ending in `.xlsx`."""
    return attachment_filename(table).removesuffix(".csv") + ".xlsx"


# Short labels keep the summary table narrow on a phone; other columns get a label made from their name.
COLUMN_LABELS: dict[str, str] = {
    **{spec.columns[-1]: spec.heading for spec in ATTRIBUTES.values()},
    **{metric.name: metric.heading for metric in METRICS.values()},
    **ENTRY_HEADINGS,
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


def is_sectioned(table: ReportTable) -> bool:
    """Whether the summary is shown as a section per first-level group: with two or more group levels, and always
    in the entry view (each group's first entries)."""
    return bool(table.sections) and (len(table.group_by) >= 2 or table.view == "time_entries")


def _section_limit(table: ReportTable) -> int:
    return ENTRIES_PER_SECTION if table.view == "time_entries" else ROWS_PER_SECTION


def _shown_count(table: ReportTable, summary_rows: int) -> int:
    if is_sectioned(table):
        return sum(min(section.size, _section_limit(table)) for section in table.sections)
    return min(len(table.rows), max(summary_rows, 0))


def _inner_columns(table: ReportTable, columns: list[str]) -> list[str]:
    """The group columns a sectioned table shows in its rows: the first level is its section's heading already."""
    first = set(ATTRIBUTES[table.group_by[0]].columns) if table.group_by else set()
    if table.view == "time_entries":
        wanted = ("date", "user_name", "project_name", "task_name", "description")
        return [column for column in wanted if column not in first]
    return [column for column in columns if column not in first and column not in table.metric_columns]


def _row_word(table: ReportTable, count: int) -> str:
    if table.view == "time_entries":
        return _count(count, "entry", "entries")
    return _count(count, "row", "rows")


def _more_in_section_sentence(table: ReportTable, section: Section, filename: str) -> str | None:
    hidden = section.size - min(section.size, _section_limit(table))
    if hidden <= 0:
        return None
    where = "the attachments" if filename.endswith(".xlsx") else "the attachment"
    return f"{_row_word(table, hidden)} more of {section.label} in {where}"


def _change_text(change: Change, column: str) -> str:
    """`+12.25 (+7.7%)`, or `+12.25 (new)` when there was nothing before."""
    sign = "+" if change.delta >= 0 else "\u2212"
    magnitude: Decimal | int = -change.delta if change.delta < 0 else change.delta
    delta = _display_value(column, magnitude)
    if change.percent is None:
        return f"{sign}{delta} (new)" if change.current else f"{sign}{delta}"
    percent = percent_text(abs(change.percent) / 100)
    return f"{sign}{delta} ({sign}{percent})"


def _comparison_sentence(table: ReportTable) -> str | None:
    comparison = table.comparison
    if comparison is None:
        return None
    metric = comparison.metric
    label = _total_label(metric).lower()
    before = _display_value(metric, comparison.totals.previous)
    return (
        f"Previous period, {comparison.period.start.isoformat()} to {comparison.period.end.isoformat()}: {label} "
        f"{before}; change {_change_text(comparison.totals, metric)}."
    )


def _bar_sections(table: ReportTable) -> tuple[Section, ...]:
    """The groups that get a bar: every first-level group, when there are at least two."""
    return table.sections if len(table.sections) >= 2 and table.share_metric else ()


def render_text(
    table: ReportTable,
    *,
    mode: AttachmentMode = "attachment",
    filename: str | None = None,
    link: CsvLink | None = None,
    summary_rows: int = SUMMARY_ROW_LIMIT,
) -> str:
    """The plain-text part: the same facts as the HTML part (totals, comparison, shares, sections), aligned."""
    filename = filename or attachment_filename(table, gzipped=mode == "gzip")
    lines = [table.title, *fact_lines(table), "", "Totals"]
    width = max((len(_total_label(column)) for column in table.metric_columns), default=0)
    for column in table.metric_columns:
        value = _display_value(column, table.totals.get(column))
        lines.append(f"  {_total_label(column).ljust(width)}  {value}")
    comparison = _comparison_sentence(table)
    lines += ["", *([comparison, ""] if comparison else []), _facts_sentence(table), ""]
    lines += _bars_text(table)
    if is_sectioned(table):
        lines += _sections_text(table, filename)
        shown = _shown_count(table, summary_rows)
    else:
        shown_rows = table.rows[: max(summary_rows, 0)]
        lines += _flat_text(table, shown_rows)
        shown = len(shown_rows)
    lines.append(_more_rows_sentence(table, mode, filename, shown))
    if mode == "link" and link is not None:
        lines += ["", f"Download the CSV: {link.url}"]
        if link.expires_at is not None:
            lines.append(_expiry_sentence(link))
    lines += ["", footer_text(table), ""]
    return "\n".join(lines)


def _bars_text(table: ReportTable) -> list[str]:
    sections = _bar_sections(table)
    if not sections or table.share_metric is None:
        return []
    metric = table.share_metric
    groups = table.comparison.groups if table.comparison else {}
    all_names = section_names(table)
    order = sorted(range(len(sections)), key=lambda index: -sections[index].share)
    names = [_truncate(all_names[index], 28) for index in order]
    values = [_display_value(metric, sections[index].totals.get(metric)) for index in order]
    name_width, value_width = max(len(name) for name in names), max(len(value) for value in values)
    lines = [f"Share of {_total_label(metric).lower()}"]
    for index, name, value in zip(order, names, values, strict=True):
        section = sections[index]
        filled = int((bar_width(section.share) * TEXT_BAR_WIDTH / 100).to_integral_value())
        bar = "#" * filled + "." * (TEXT_BAR_WIDTH - filled)
        line = f"  {name.ljust(name_width)}  {value.rjust(value_width)}  {percent_text(section.share).rjust(6)}  {bar}"
        if section.key in groups:
            line += f"  {_change_text(groups[section.key], metric)}"
        lines.append(line)
    return [*lines, ""]


def _aligned(rows: list[list[str]], numeric: list[bool]) -> list[str]:
    # An empty row stands for a rule (dashes as wide as the column).
    widths = [max(len(cell) for cell in cells) for cells in zip(*(row for row in rows if row), strict=True)]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(size) if is_number else cell.ljust(size)
            for cell, size, is_number in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    return [line(cells) if cells else "  ".join("-" * size for size in widths) for cells in rows]


def _flat_text(table: ReportTable, shown_rows: list[dict[str, Cell]]) -> list[str]:
    columns = display_columns(table)
    header = [column_label(column) for column in columns]
    body = [[_truncate(_display_value(column, row.get(column)), 32) for column in columns] for row in shown_rows]
    totals = [
        _display_value(column, table.totals.get(column)) if column in table.metric_columns else "" for column in columns
    ]
    totals[0] = _totals_row_label(table, len(shown_rows))
    numeric = [column in table.metric_columns for column in columns]
    return [*_aligned([header, [], *body, [], totals], numeric), ""]


def _sections_text(table: ReportTable, filename: str) -> list[str]:
    """Each section: its heading with subtotals, its first rows indented, and how many more the attachment has."""
    columns = display_columns(table)
    metrics = [column for column in columns if column in table.metric_columns]
    inner = _inner_columns(table, columns)
    header = [" / ".join(column_label(column) for column in inner) or "Group", *map(column_label, metrics)]
    rows: list[list[str]] = [header, []]
    notes: dict[int, str] = {}
    names = section_names(table)
    for position, section in enumerate(table.sections):
        rows.append([_truncate(names[position], 40), *(_display_value(m, section.totals.get(m)) for m in metrics)])
        for row in table.rows[section.start : section.start + min(section.size, _section_limit(table))]:
            label = " · ".join(_display_value(column, row.get(column)) for column in inner)
            rows.append(["  " + _truncate(label, 48), *(_display_value(m, row.get(m)) for m in metrics)])
        more = _more_in_section_sentence(table, section, filename)
        if more:
            notes[len(rows)] = f"  ({more})"
    rows += [
        [],
        [_totals_row_label(table, len(table.rows)), *(_display_value(m, table.totals.get(m)) for m in metrics)],
    ]
    numeric = [False, *([True] * len(metrics))]
    lines: list[str] = []
    for index, line in enumerate(_aligned(rows, numeric)):
        if index in notes:
            lines.append(notes[index])
        lines.append(line)
    return [*lines, ""]


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
    """The HTML part: title and context, totals first (with the previous period), a bar per first-level group,
    then a section per first-level group with its subtotal (or the first rows), and where the full data is."""
    filename = filename or attachment_filename(table, gzipped=mode == "gzip")
    esc = html.escape
    totals_rows = "".join(
        f'<tr><td style="padding:4px 12px 4px 0;color:{_MUTED};font-size:14px;">{esc(_total_label(column))}</td>'
        f'<td style="padding:4px 0;text-align:right;font-size:16px;font-weight:bold;white-space:nowrap;" '
        f'data-total="{esc(column)}">{esc(_display_value(column, table.totals.get(column)))}</td></tr>'
        for column in table.metric_columns
    )
    inner = title_html(table)
    inner += (
        '<table role="presentation" cellpadding="0" cellspacing="0" '
        f'style="border-collapse:collapse;margin:0 0 8px;">{totals_rows}</table>'
    )
    comparison = _comparison_sentence(table)
    if comparison:
        inner += (
            f'<p style="margin:0 0 8px;font-size:14px;color:{_INK};" data-comparison="totals">{esc(comparison)}</p>'
        )
    inner += f'<p style="margin:0 0 16px;font-size:14px;color:{_MUTED};">{esc(_facts_sentence(table))}</p>'
    if mode == "link" and link is not None:
        inner += _link_html(link)
    inner += _bars_html(table)
    if is_sectioned(table):
        inner += _sections_table_html(table, filename)
        shown = _shown_count(table, summary_rows)
    else:
        shown_rows = table.rows[: max(summary_rows, 0)]
        inner += _rows_table_html(table, shown_rows)
        shown = len(shown_rows)
    inner += (
        f'<p style="margin:12px 0 16px;font-size:14px;color:{_MUTED};">'
        f"{esc(_more_rows_sentence(table, mode, filename, shown))}</p>"
    )
    inner += footer_html(table)
    preheader = " · ".join(
        f"{_total_label(column)} {_display_value(column, table.totals.get(column))}"
        for column in table.metric_columns[:2]
    )
    return page_html(table, inner, preheader=f"{period_line(table)}: {preheader}")


def section_names(table: ReportTable) -> dict[int, str]:
    """Each section's display name, by position: its label, with its id added when two groups share a label (two
    clients' projects both called "Website")."""
    counts: dict[str, int] = {}
    for section in table.sections:
        counts[section.label] = counts.get(section.label, 0) + 1
    return {
        index: f"{section.label} (#{section.key})"
        if counts[section.label] > 1 and section.key is not None
        else section.label
        for index, section in enumerate(table.sections)
    }


def _bars_html(table: ReportTable) -> str:
    """A horizontal bar per first-level group, its width the group's share of the total, largest first: two table
    cells with background colours (no image, script or SVG), which Gmail, Outlook's Word engine and Apple Mail all
    draw."""
    sections = _bar_sections(table)
    if not sections or table.share_metric is None:
        return ""
    esc = html.escape
    metric = table.share_metric
    names = section_names(table)
    groups = table.comparison.groups if table.comparison else {}
    cell = "font-size:0;line-height:0;height:10px;"
    rows = []
    order = sorted(range(len(sections)), key=lambda index: -sections[index].share)
    for index in order:
        section = sections[index]
        width = bar_width(section.share)
        filled = (
            f'<td width="{width}%" style="width:{width}%;background:{_ACCENT};{cell}" data-bar="{width}">&nbsp;</td>'
            if width > 0
            else ""
        )
        rest = f'<td style="background:{_LINE};{cell}">&nbsp;</td>' if width < 100 else ""
        change = (
            f'<br><span style="color:{_MUTED};">{esc(_change_text(groups[section.key], metric))}</span>'
            if section.key in groups
            else ""
        )
        rows.append(
            f'\n<tr data-group="{esc(names[index], quote=True)}"><td style="padding:4px 8px 4px 0;">'
            f"{_breakable(names[index])}"
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="margin-top:3px;">'
            f"<tr>{filled}{rest}</tr></table></td>"
            f'<td align="right" valign="top" nowrap style="padding:4px 0;">'
            f"<strong>{esc(_display_value(metric, section.totals.get(metric)))}</strong>"
            f"<br>{esc(percent_text(section.share))}{change}</td></tr>"
        )
    return (
        f'<h2 style="margin:8px 0 4px;font-size:16px;color:{_INK};">Share of {esc(_total_label(metric).lower())}</h2>'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="width:100%;margin:0 0 16px;font-family:{_FONT};font-size:14px;line-height:1.4;color:{_INK};" '
        f'data-bars="{esc(metric)}">{"".join(rows)}</table>'
    )


def _sections_table_html(table: ReportTable, filename: str) -> str:
    """One table: per first-level group a heading row with its subtotals, its first rows, and a line saying how
    many more rows the attachment holds; the report's total last. Styles stay short (padding from `cellpadding`,
    alignment from attributes): a 30-group report must stay under the 102 KB at which Gmail clips a message."""
    esc = html.escape
    columns = display_columns(table)
    metrics = [column for column in columns if column in table.metric_columns]
    inner = _inner_columns(table, columns)
    names = section_names(table)
    head_style = f"color:{_MUTED};background:#f9fafb;border-bottom:1px solid {_LINE};"
    section_style = f"background:#eef2ff;border-top:2px solid {_ACCENT};"
    first_label = column_label(ATTRIBUTES[table.group_by[0]].columns[-1])
    head = (
        f'<th align="left" valign="bottom" style="{head_style}">{esc(first_label)}'
        + (f"<br>{esc(' / '.join(column_label(c) for c in inner))}" if inner else "")
        + "</th>"
    )
    head += "".join(
        f'<th align="right" valign="bottom" style="{head_style}">{esc(column_label(m))}</th>' for m in metrics
    )
    body = []
    limit = _section_limit(table)
    for index, section in enumerate(table.sections):
        subtotals = "".join(
            f'<td align="right" nowrap style="{section_style}">{esc(_display_value(m, section.totals.get(m)))}</td>'
            for m in metrics
        )
        body.append(
            f'\n<tr data-section="{esc(names[index], quote=True)}" data-rows="{section.size}" '
            'style="font-weight:bold;">'
            f'<td style="{section_style}">{_breakable(names[index])}</td>{subtotals}</tr>'
        )
        for row in table.rows[section.start : section.start + min(section.size, limit)]:
            body.append(_section_row_html(row, inner, metrics))
        more = _more_in_section_sentence(table, section, filename)
        if more:
            body.append(
                f'\n<tr><td colspan="{1 + len(metrics)}" style="padding-left:12px;color:{_MUTED};font-style:italic;">'
                f"{esc(more)}</td></tr>"
            )
    total_style = f"border-top:2px solid {_INK};"
    totals = "".join(
        f'<td align="right" nowrap style="{total_style}">{esc(_display_value(m, table.totals.get(m)))}</td>'
        for m in metrics
    )
    return (
        '<div style="overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;">'
        '<table cellpadding="4" cellspacing="0" '
        f'style="border-collapse:collapse;width:100%;font-family:{_FONT};font-size:14px;line-height:1.4;color:{_INK};">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        f'\n<tr style="font-weight:bold;"><td style="{total_style}">'
        f"{esc(_totals_row_label(table, len(table.rows)))}</td>"
        f"{totals}</tr></tbody></table></div>"
    )


def _section_row_html(row: dict[str, Cell], inner: list[str], metrics: list[str]) -> str:
    parts = []
    for index, column in enumerate(inner):
        value = _display_value(column, row.get(column))
        if column == "description":
            lines = _truncate_lines(value, 160)
            parts.append("<br>" + "<br>".join(_breakable(line) for line in lines))
        elif index == 0:
            parts.append(_breakable(value))
        else:
            parts.append(f'<br><span style="color:{_MUTED};">{_breakable(value)}</span>')
    numbers = "".join(
        f'<td align="right" valign="top" nowrap>{html.escape(_display_value(m, row.get(m)))}</td>' for m in metrics
    )
    return f'\n<tr data-row="1"><td valign="top" style="padding-left:12px;">{"".join(parts)}</td>{numbers}</tr>'


def _truncate_lines(text: str, size: int) -> list[str]:
    """A description's lines (at most three), cut at `size` characters in all."""
    lines = [line for line in text.split("\n") if line.strip()][:3]
    kept, room = [], size
    for line in lines:
        if room <= 0:
            break
        kept.append(line if len(line) <= room else line[: max(room - 1, 0)] + "…")
        room -= len(line)
    return kept or [""]


def title_html(table: ReportTable) -> str:
    facts = "<br>".join(html.escape(line) for line in fact_lines(table))
    return (
        f'<h1 style="margin:0 0 4px;font-size:20px;line-height:1.3;color:{_INK};">{html.escape(table.title)}</h1>'
        f'<p style="margin:0 0 16px;font-size:14px;color:{_MUTED};">{facts}</p>'
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
