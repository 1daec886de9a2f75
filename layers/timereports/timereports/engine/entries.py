"""The `time_entries` view: one row per entry (what was worked on, not only how long), sorted by group_by then date.

Ids and names come from the same attributes as the grouped views' columns, so `user_name` or `client_name` reads
the same in both. Amounts follow the grouped views' rule: a billable entry's hours x rate, rounded to the cent.
Unlike the grouped views this keeps every row in memory: the listing is the report.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from timereports.engine.attributes import (
    Attribute,
    AttributeResolver,
    EntryLike,
    EntryPredicate,
    slice_labels,
    slice_record_ids,
    slice_targets,
)
from timereports.engine.sections import build_sections
from timereports.engine.views import ENTRY_METRIC_COLUMNS, ZERO, entry_amount
from timereports.models.definition import ReportDefinition, slice_slug
from timereports.models.report import Cell, Period, ReportTable

# The attributes whose id and name columns each entry row has, in column order.
ENTRY_ATTRIBUTES = ("user_id", "client", "project_id", "task", "worktype")
ENTRY_COLUMNS: tuple[str, ...] = (
    "entry_id",
    "date",
    "user_id",
    "user_name",
    "client_id",
    "client_name",
    "project_id",
    "project_name",
    "task_id",
    "task_name",
    "worktype_id",
    "worktype_name",
    "description",
    "hours",
    "billable",
    "amount",
)
# The email's headings of the entry view's own columns (the attributes' and metrics' come from their tables).
ENTRY_HEADINGS: dict[str, str] = {"entry_id": "Entry", "description": "Description"}


class ListedEntry(EntryLike, Protocol):
    """What the entry view reads besides what the grouped views read."""

    @property
    def id(self) -> int: ...
    @property
    def description(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Listed:
    order: tuple[object, ...]
    first_level: tuple[Hashable, str]
    split: tuple[Hashable, str] | None
    row: dict[str, Cell]


def list_entries(
    entries: Iterable[tuple[ListedEntry, bool | None]],
    definition: ReportDefinition,
    resolver: AttributeResolver,
    period: Period,
    keep: EntryPredicate | None,
) -> ReportTable:
    """The entry rows of `period` that `keep` keeps, sorted by group_by, date and id, with sections per first-level
    group; with `delivery.split`, each listed slice's own table in `slices`."""
    group_attributes = [resolver.attribute(name) for name in definition.group_by]
    columns_of = [resolver.attribute(name) for name in ENTRY_ATTRIBUTES]
    split = definition.delivery.split if definition.delivery is not None else None
    split_attribute = resolver.attribute(split.by) if split is not None else None
    listed: list[_Listed] = []
    for entry, approval in entries:
        if entry.date < period.start or entry.date > period.end:
            continue
        if keep is not None and not keep(entry, approval):
            continue
        listed.append(_listed(entry, approval, group_attributes, columns_of, split_attribute))
    listed.sort(key=lambda item: item.order)
    whole = _table(definition, period, listed)
    if split is None:
        return whole
    slices: dict[str, ReportTable] = {}
    targets = slice_targets(split.by, split.to, resolver.reference)
    labels = slice_labels(split.by, targets, resolver.reference)
    for name in split.to:
        keys = targets[name]
        mine = [item for item in listed if item.split is not None and item.split[0] in keys]
        table = _table(definition, period, mine, slice_label=labels[name], slug=slice_slug(name))
        slices[name] = replace(table, slice_records=slice_record_ids(keys))
    return replace(whole, slices=slices)


def _listed(
    entry: ListedEntry,
    approval: bool | None,
    group_attributes: list[Attribute],
    columns_of: list[Attribute],
    split_attribute: Attribute | None,
) -> _Listed:
    hours = entry.time
    rate = entry.hourlyrate
    amount = entry_amount(hours, rate, entry.billable)
    row: dict[str, Cell] = {"entry_id": entry.id, "date": entry.date}
    for attribute in columns_of:
        key, label = attribute.value(entry, approval)
        row.update(zip(attribute.columns, attribute.cells(key, label), strict=True))
    row |= {"description": entry.description, "hours": hours, "billable": entry.billable, "amount": amount}
    levels = [attribute.value(entry, approval) for attribute in group_attributes]
    order = (
        *(attribute.sort_key(key, label) for attribute, (key, label) in zip(group_attributes, levels, strict=True)),
    )
    split = split_attribute.value(entry, approval) if split_attribute is not None else None
    return _Listed(order=(*order, entry.date, entry.id), first_level=levels[0], split=split, row=row)


def _table(
    definition: ReportDefinition,
    period: Period,
    listed: list[_Listed],
    *,
    slice_label: str | None = None,
    slug: str | None = None,
) -> ReportTable:
    rows = [item.row for item in listed]
    totals: dict[str, Decimal | int] = {
        "hours": sum((_decimal(row["hours"]) for row in rows), ZERO),
        "amount": sum((_decimal(row["amount"]) for row in rows), ZERO),
    }
    sections = build_sections(rows, [item.first_level for item in listed], ENTRY_METRIC_COLUMNS, totals, "hours")
    return ReportTable(
        report_id=definition.id,
        title=definition.title,
        view=definition.view,
        period=period,
        group_by=tuple(definition.group_by),
        columns=ENTRY_COLUMNS,
        metric_columns=ENTRY_METRIC_COLUMNS,
        rows=rows,
        totals=totals,
        entries=len(rows),
        timezone=definition.timezone,
        week_start=definition.week_start,
        sections=sections,
        share_metric="hours",
        slice_label=slice_label,
        slice_slug=slug,
    )


def _decimal(value: Cell) -> Decimal:
    return value if isinstance(value, Decimal) else ZERO
