"""The email's picture of a report: a bar per first-level group (its share of the total), the previous period, and
a section per first-level group with its subtotal and first rows, in HTML and in plain text. The figures are the
engine's (`ReportTable.sections`, `.comparison`); this module only lays them out. Pure."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from timereports.engine.attributes import ATTRIBUTES
from timereports.engine.sections import metric_value
from timereports.models.report import Cell, Change, ReportTable, Section
from timereports.models.vocabulary import TIMELINE_ATTRIBUTES
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
    display_width,
    padded,
    total_label,
    totals_row_label,
    truncate,
    with_id,
)
from timereports.render.facts import bar_width, percent_text

# In a sectioned summary, each first-level group shows this many of its rows (entries in the entry view); its
# subtotal always counts all of them.
ROWS_PER_SECTION = 5


ENTRIES_PER_SECTION = 5


# Drawn bars are this many characters wide in the plain-text part.
TEXT_BAR_WIDTH = 20


def is_sectioned(table: ReportTable) -> bool:
    """Whether the summary is shown as a section per first-level group: with two or more group levels, and always
    in the entry view (each group's first entries)."""
    return bool(table.sections) and (len(table.group_by) >= 2 or table.view == "time_entries")


def section_limit(table: ReportTable) -> int:
    """How many rows (entries) each section shows at most; fewer when the message would grow too big."""
    return ENTRIES_PER_SECTION if table.view == "time_entries" else ROWS_PER_SECTION


# Gmail clips an HTML part over 102 KB ("[Message clipped]"), hiding the rest behind a link; quoted-printable adds
# about a tenth to our HTML. A summary over this budget shows fewer rows per section (down to the subtotals alone).
HTML_BUDGET_BYTES = 85_000
SECTION_ROW_STEPS = (5, 3, 1, 0)


def _by_size(table: ReportTable, levels: Sequence[str]) -> bool:
    """Whether groups of these levels are shown largest first: records and flags are, but a timeline (a date, a week,
    a month) keeps its order, and so does the entry view's list."""
    chronological = any(level in TIMELINE_ATTRIBUTES for level in levels)
    return table.view != "time_entries" and table.share_metric is not None and not chronological


def email_order(table: ReportTable) -> list[tuple[int, Section]]:
    """The sections (with their positions) in the order the email shows them: the largest share first, as the bars
    are, so that a reader meets the biggest groups first (a timeline keeps its order). The attachments keep the
    report's order."""
    numbered = list(enumerate(table.sections))
    if not _by_size(table, table.group_by[:1]):
        return numbered
    return sorted(numbered, key=lambda item: -item[1].share)


def largest_rows(
    table: ReportTable, rows: list[dict[str, Cell]], limit: int, levels: Sequence[str]
) -> list[dict[str, Cell]]:
    """The first `limit` of `rows` the email shows: the largest by the headline figure when their `levels` are not a
    timeline, so that "N rows more" are the smallest."""
    metric = table.share_metric
    if metric is not None and _by_size(table, levels):
        rows = sorted(rows, key=lambda row: -metric_value(row.get(metric)))
    return rows[: max(limit, 0)]


def shown_rows(table: ReportTable, section: Section, limit: int) -> list[dict[str, Cell]]:
    """The rows of `section` the email shows (its largest, unless its inner levels are a timeline)."""
    return largest_rows(table, table.rows[section.start : section.stop], limit, table.group_by[1:])


def shown_count(table: ReportTable, summary_rows: int, limit: int) -> int:
    if is_sectioned(table):
        return sum(min(section.size, limit) for section in table.sections)
    return min(len(table.rows), max(summary_rows, 0))


def inner_columns(table: ReportTable, columns: list[str]) -> list[str]:
    """The group columns a sectioned table shows in its rows: the first level is its section's heading already."""
    first = set(ATTRIBUTES[table.group_by[0]].columns) if table.group_by else set()
    if table.view == "time_entries":
        wanted = ("date", "user_name", "project_name", "task_name", "description")
        return [column for column in wanted if column not in first]
    return [column for column in columns if column not in first and column not in table.metric_columns]


def row_word(table: ReportTable, number: int) -> str:
    if table.view == "time_entries":
        return count(number, "entry", "entries")
    return count(number, "row", "rows")


def more_in_section_sentence(table: ReportTable, section: Section, name: str, filename: str, limit: int) -> str | None:
    """How many of the section's rows only the attachment has, naming the section as its heading does (`name`)."""
    hidden = section.size - min(section.size, limit)
    if hidden <= 0:
        return None
    where = "the attachments" if filename.endswith(".xlsx") else "the attachment"
    return f"{row_word(table, hidden)} more of {name} in {where}"


def first_level_label(table: ReportTable) -> str:
    """The heading of the sections' column: what the first-level groups are (Project, Client, ...)."""
    return column_label(ATTRIBUTES[table.group_by[0]].columns[-1])


def change_text(change: Change, column: str) -> str:
    """`+12.25 (+7.7%)`, or `+12.25 (new)` when there was nothing before."""
    sign = "+" if change.delta >= 0 else "\u2212"
    magnitude: Decimal | int = -change.delta if change.delta < 0 else change.delta
    delta = display_value(column, magnitude)
    if change.percent is None:
        return f"{sign}{delta} (new)" if change.current else f"{sign}{delta}"
    percent = percent_text(abs(change.percent) / 100)
    return f"{sign}{delta} ({sign}{percent})"


def comparison_sentence(table: ReportTable) -> str | None:
    comparison = table.comparison
    if comparison is None:
        return None
    metric = comparison.metric
    label = total_label(metric).lower()
    before = display_value(metric, comparison.totals.previous)
    return (
        f"Previous period, {comparison.period.start.isoformat()} to {comparison.period.end.isoformat()}: {label} "
        f"{before}; change {change_text(comparison.totals, metric)}."
    )


def bar_sections(table: ReportTable) -> tuple[Section, ...]:
    """The groups that get a bar: every first-level group, when there are at least two."""
    return table.sections if len(table.sections) >= 2 and table.share_metric else ()


# More bars than this say nothing on a phone and cost the message its room: the smallest groups share one bar.
MAX_BARS = 30


@dataclass(frozen=True)
class Bar:
    """One bar: a first-level group (or the smallest groups together), its figure, share and change."""

    name: str
    value: Decimal | int
    share: Decimal
    change: Change | None
    merged: bool = False  # the groups past MAX_BARS together


def bars(table: ReportTable) -> list[Bar]:
    """The bars, largest share first (a timeline's in its order): one per first-level group; past MAX_BARS the
    smallest together last, or, for a timeline, the earliest together first (the latest periods are the ones read)."""
    sections = bar_sections(table)
    metric = table.share_metric
    if not sections or metric is None:
        return []
    groups = table.comparison.groups if table.comparison else {}
    names = section_names(table)
    shown = [
        Bar(names[index], section.totals.get(metric, 0), section.share, groups.get(section.key))
        for index, section in email_order(table)  # the sections' order: a timeline's bars keep theirs
    ]
    if len(shown) <= MAX_BARS:
        return shown

    def together(rest: list[Bar], name: str) -> Bar:
        value = sum((bar.value for bar in rest), Decimal(0))
        return Bar(name, value, sum((bar.share for bar in rest), Decimal(0)), None, merged=True)

    if not _by_size(table, table.group_by[:1]):
        earliest, kept = shown[: len(shown) - MAX_BARS + 1], shown[len(shown) - MAX_BARS + 1 :]
        return [together(earliest, f"{len(earliest)} earlier, before {kept[0].name}"), *kept]
    kept, rest = shown[: MAX_BARS - 1], shown[MAX_BARS - 1 :]
    return [*kept, together(rest, f"{len(rest)} other groups")]


def drawn_widths(items: list[Bar]) -> list[Decimal]:
    """Each bar's drawn length in percent of its track: its share relative to the largest group's, so that the
    largest fills the track and thirty groups of a few percent each are still told apart on a phone (the share itself
    is printed beside each bar). The groups drawn together are not a group: at most a full track, never the scale."""
    largest = max((item.share for item in items if not item.merged), default=Decimal(0))
    return [bar_width(min(item.share / largest, Decimal(1))) if largest > 0 else Decimal(0) for item in items]


def bars_text(table: ReportTable) -> list[str]:
    items = bars(table)
    if not items or table.share_metric is None:
        return []
    metric = table.share_metric
    names = [truncate(item.name, 28) for item in items]
    values = [display_value(metric, item.value) for item in items]
    name_width, value_width = max(display_width(name) for name in names), max(len(value) for value in values)
    lines = [f"Share of {total_label(metric).lower()}"]
    for item, name, value, drawn in zip(items, names, values, drawn_widths(items), strict=True):
        filled = int((drawn * TEXT_BAR_WIDTH / 100).to_integral_value())
        bar = "#" * filled + "." * (TEXT_BAR_WIDTH - filled)
        line = f"  {padded(name, name_width)}  {value.rjust(value_width)}  {percent_text(item.share).rjust(6)}  {bar}"
        if item.change is not None:
            line += f"  {change_text(item.change, metric)}"
        lines.append(line)
    return [*lines, ""]


def sections_text(table: ReportTable, filename: str, limit: int) -> list[str]:
    """Each section: its heading with subtotals, its first rows indented, and how many more the attachment has."""
    columns = display_columns(table)
    metrics = [column for column in columns if column in table.metric_columns]
    inner = inner_columns(table, columns)
    header = [" / ".join([first_level_label(table), *map(column_label, inner)]), *map(column_label, metrics)]
    rows: list[list[str]] = [header, []]
    notes: dict[int, str] = {}
    names = section_names(table)
    for position, section in email_order(table):
        rows.append([truncate(names[position], 40), *(display_value(m, section.totals.get(m)) for m in metrics)])
        for row in shown_rows(table, section, limit):
            # An empty cell (an entry without a description) adds no dangling separator.
            label = " · ".join(filter(None, (display_value(column, row.get(column)) for column in inner)))
            rows.append(["  " + truncate(label, 48), *(display_value(m, row.get(m)) for m in metrics)])
        more = more_in_section_sentence(table, section, names[position], filename, limit)
        if more:
            notes[len(rows)] = f"  ({more})"
    rows += [
        [],
        [totals_row_label(table, len(table.rows)), *(display_value(m, table.totals.get(m)) for m in metrics)],
    ]
    numeric = [False, *([True] * len(metrics))]
    lines: list[str] = []
    for index, line in enumerate(aligned(rows, numeric)):
        if index in notes:
            lines.append(notes[index])
        lines.append(line)
    return [*lines, ""]


def section_names(table: ReportTable) -> dict[int, str]:
    """Each section's display name, by position: its label, with its id added when two groups share a label (two
    clients' projects both called "Website")."""
    counts: dict[str, int] = {}
    for section in table.sections:
        counts[section.label] = counts.get(section.label, 0) + 1
    return {
        index: with_id(section.label, section.key)
        if counts[section.label] > 1 and section.key is not None
        else section.label
        for index, section in enumerate(table.sections)
    }


def bars_html(table: ReportTable) -> str:
    """A horizontal bar per first-level group, largest first, its length the group's share relative to the largest's
    (`data-bar` holds the share itself): two table cells with background colours (no image, script or SVG), which
    Gmail, Outlook's Word engine and Apple Mail all draw."""
    items = bars(table)
    if not items or table.share_metric is None:
        return ""
    esc = html.escape
    metric = table.share_metric
    cell = "font-size:0;line-height:0;height:10px;"
    rows = []
    for item, width in zip(items, drawn_widths(items), strict=True):
        share = bar_width(item.share)
        filled = (
            f'<td width="{width}%" style="width:{width}%;background:{ACCENT};{cell}" data-bar="{share}">&nbsp;</td>'
            if width > 0
            else ""
        )
        rest = f'<td style="background:{LINE};{cell}">&nbsp;</td>' if width < 100 else ""
        change = (
            f'<br><span style="color:{MUTED};">{esc(change_text(item.change, metric))}</span>' if item.change else ""
        )
        rows.append(
            f'\n<tr data-group="{esc(item.name, quote=True)}"><td style="padding:4px 8px 4px 0;">'
            f"{breakable(item.name)}"
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="margin-top:3px;">'
            f"<tr>{filled}{rest}</tr></table></td>"
            f'<td align="right" valign="top" nowrap style="padding:4px 0;">'
            f"<strong>{esc(display_value(metric, item.value))}</strong>"
            f"<br>{esc(percent_text(item.share))}{change}</td></tr>"
        )
    return (
        f'<h2 style="margin:8px 0 4px;font-size:16px;color:{INK};">Share of {esc(total_label(metric).lower())}</h2>'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="width:100%;margin:0 0 16px;font-family:{FONT};font-size:14px;line-height:1.4;color:{INK};" '
        f'data-bars="{esc(metric)}">{"".join(rows)}</table>'
    )


def sections_table_html(table: ReportTable, filename: str, limit: int) -> str:
    """One table: per first-level group a heading row with its subtotals, its first rows, and a line saying how
    many more rows the attachment holds; the report's total last. Styles stay short (padding from `cellpadding`,
    alignment from attributes): a 30-group report must stay under the 102 KB at which Gmail clips a message."""
    esc = html.escape
    columns = display_columns(table)
    metrics = [column for column in columns if column in table.metric_columns]
    inner = inner_columns(table, columns)
    names = section_names(table)
    head_style = f"color:{MUTED};background:#f9fafb;border-bottom:1px solid {LINE};"
    section_style = f"background:#eef2ff;border-top:2px solid {ACCENT};"
    head = (
        f'<th align="left" valign="bottom" style="{head_style}">{esc(first_level_label(table))}'
        + (f"<br>{esc(' / '.join(column_label(c) for c in inner))}" if inner else "")
        + "</th>"
    )
    head += "".join(
        f'<th align="right" valign="bottom" style="{head_style}">{esc(column_label(m))}</th>' for m in metrics
    )
    body = []
    for index, section in email_order(table):
        subtotals = "".join(
            f'<td align="right" nowrap style="{section_style}">{esc(display_value(m, section.totals.get(m)))}</td>'
            for m in metrics
        )
        body.append(
            f'\n<tr data-section="{esc(names[index], quote=True)}" data-rows="{section.size}" '
            'style="font-weight:bold;">'
            f'<td style="{section_style}">{breakable(names[index])}</td>{subtotals}</tr>'
        )
        for row in shown_rows(table, section, limit):
            body.append(_section_row_html(row, inner, metrics))
        more = more_in_section_sentence(table, section, names[index], filename, limit)
        if more:
            body.append(
                f'\n<tr><td colspan="{1 + len(metrics)}" style="padding-left:12px;color:{MUTED};font-style:italic;">'
                f"{breakable(more)}</td></tr>"
            )
    total_style = f"border-top:2px solid {INK};"
    totals = "".join(
        f'<td align="right" nowrap style="{total_style}">{esc(display_value(m, table.totals.get(m)))}</td>'
        for m in metrics
    )
    return (
        '<div style="overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;">'
        '<table cellpadding="4" cellspacing="0" '
        f'style="border-collapse:collapse;width:100%;font-family:{FONT};font-size:14px;line-height:1.4;color:{INK};">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        f'\n<tr style="font-weight:bold;"><td style="{total_style}">'
        f"{esc(totals_row_label(table, len(table.rows)))}</td>"
        f"{totals}</tr></tbody></table></div>"
    )


def _section_row_html(row: dict[str, Cell], inner: list[str], metrics: list[str]) -> str:
    parts = []
    for index, column in enumerate(inner):
        value = display_value(column, row.get(column))
        if column == "description":
            lines = _truncate_lines(value, 160)
            parts.append("<br>" + "<br>".join(breakable(line) for line in lines))
        elif index == 0:
            parts.append(breakable(value))
        else:
            parts.append(f'<br><span style="color:{MUTED};">{breakable(value)}</span>')
    numbers = "".join(
        f'<td align="right" valign="top" nowrap>{html.escape(display_value(m, row.get(m)))}</td>' for m in metrics
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
