"""Sections, shares and the previous period: what a reader sees above the rows, computed here and not in a renderer.

A section is a first-level group (a project of "hours by project and person"): its subtotals are the exact sums
of its rows' metrics. That follows the rows' own rounding rules (views.py): hours and amounts are exact, and days
are rounded per row with their total the sum of the rows, so every subtotal is the sum of the rows it heads and
the subtotals add up to the TOTAL row.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from timereports.engine.views import ZERO
from timereports.models.report import Cell, Change, Comparison, Metrics, ReportTable, Section
from timereports.models.vocabulary import TIMELINE_ATTRIBUTES


def build_sections(
    rows: Sequence[dict[str, Cell]],
    first_levels: Sequence[tuple[Hashable, str]],
    metric_columns: Sequence[str],
    totals: Metrics,
    share_metric: str,
) -> tuple[Section, ...]:
    """One section per run of rows with the same first-level key (rows are sorted by group_by, so each first-level
    group is one run); `first_levels[i]` is row i's first-level (key, label)."""
    sections: list[Section] = []
    total = totals.get(share_metric, 0)
    start = 0
    while start < len(rows):
        key, label = first_levels[start]
        stop = start + 1
        while stop < len(rows) and first_levels[stop][0] == key:
            stop += 1
        subtotals: Metrics = {
            column: sum((metric_value(rows[index].get(column)) for index in range(start, stop)), ZERO)
            if column != "entries"
            else sum(int(metric_value(rows[index].get(column))) for index in range(start, stop))
            for column in metric_columns
        }
        share = Decimal(subtotals.get(share_metric, 0)) / Decimal(total) if total else ZERO
        sections.append(Section(key=key, label=label, start=start, stop=stop, totals=subtotals, share=share))
        start = stop
    return tuple(sections)


def metric_value(value: Cell) -> Decimal | int:
    """A row's cell as the number it sums as: a count or an exact figure; anything else (a label, none) is 0."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return 0
    return value


def change(current: Decimal | int, previous: Decimal | int) -> Change:
    """The difference, and the percentage of the previous figure (None when it was 0: no percentage of nothing)."""
    delta = current - previous
    percent = Decimal(delta) * 100 / Decimal(previous) if previous else None
    return Change(current=current, previous=previous, delta=delta, percent=percent)


def compare_with_previous(current: ReportTable, previous: ReportTable) -> ReportTable:
    """`current` with its comparison against `previous` (the same definition over the period just before), for the
    totals and each first-level group; each slice is compared with the same slice of `previous`. A timeline's groups
    (dates, weeks, months) never recur in the period before: only its totals are compared, rather than every group
    shown as new."""
    metric = current.share_metric or current.metric_columns[0]
    before = {section.key: section.totals.get(metric, 0) for section in previous.sections}
    timeline = bool(current.group_by) and current.group_by[0] in TIMELINE_ATTRIBUTES
    comparison = Comparison(
        period=previous.period,
        metric=metric,
        totals=change(current.totals.get(metric, 0), previous.totals.get(metric, 0)),
        groups={}
        if timeline
        else {
            section.key: change(section.totals.get(metric, 0), before.get(section.key, 0))
            for section in current.sections
        },
    )
    slices = {
        name: compare_with_previous(table, previous.slices.get(name) or _empty_like(table, previous))
        for name, table in current.slices.items()
    }
    return replace(current, comparison=comparison, slices=slices)


def _empty_like(table: ReportTable, previous: ReportTable) -> ReportTable:
    return replace(table, period=previous.period, rows=[], totals=dict.fromkeys(table.metric_columns, 0), sections=())


def stamped(table: ReportTable, as_of: datetime) -> ReportTable:
    """The table (and its slices) saying when its data was read."""
    return replace(table, as_of=as_of, slices={name: stamped(part, as_of) for name, part in table.slices.items()})
