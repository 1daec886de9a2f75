"""The report engine: stream time entries into grouped, sorted rows with exact totals.

`aggregate` reads each entry once and keeps only one small accumulator per group, so a report over a
million entries needs the memory of its rows, not of its entries: the entries can come straight from the
API's page generator. Sums are `Decimal` (no float ever touches an hour or an amount); rounding is left to
the renderers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from operator import attrgetter
from typing import Any, cast

from timereports.engine.attributes import (
    Attribute,
    AttributeResolver,
    EntryLike,
    EntryPredicate,
    compile_filter,
    slice_labels,
    slice_record_ids,
    slice_targets,
)
from timereports.engine.entries import list_entries
from timereports.engine.scope import scoped
from timereports.engine.sections import build_sections
from timereports.engine.views import DAY_METRICS, ZERO, GroupSums, entry_amount, view_for
from timereports.models.definition import ReportDefinition, Split, slice_slug
from timereports.models.intervals import ReferenceData
from timereports.models.report import Cell, Period, ReportTable

GroupKey = tuple[Hashable, ...]


class Accumulator:
    """A group's running sums, mutated in place (slots: the cheapest attribute updates Python has)."""

    __slots__ = ("billable_amount", "billable_hours", "entries", "nonbillable_hours")

    def __init__(self) -> None:
        self.billable_hours = ZERO
        self.nonbillable_hours = ZERO
        self.entries = 0
        self.billable_amount = ZERO


def aggregate(
    entries: Iterable[tuple[EntryLike, bool | None]],
    definition: ReportDefinition,
    reference: ReferenceData,
    period: Period,
    *,
    seen: Callable[[EntryLike], None] | None = None,
) -> ReportTable:
    """Group and sum `(entry, approved)` pairs into the report's rows and totals.

    `approved` tags each entry with its timesheet's approval as the pull that fetched it knew it (None: not
    asked). Every filter of the definition is applied here, including those the query plan also pushed
    down to the API: re-checking them costs one memoised dict look-up per entry and keeps the result
    independent of what the API honoured. Entries outside `period`, and with `calc_incurred_using:
    approved` entries not known to be approved, are left out.

    With `delivery.split` the same single pass also fills each listed slice's table (`ReportTable.slices`): the
    split attribute leads every group key, and the whole report's groups are the slices' exact sums merged.
    The `time_entries` view lists the entries instead of grouping them (engine/entries.py).

    `seen` is shown each entry the report counts (in the period, through every filter), as it is counted.
    """
    resolver = AttributeResolver(reference, definition.week_start_index)
    view = view_for(definition.view)
    keep = _entry_filter(definition, resolver)
    if seen is not None:
        keep = _showing_kept(keep, seen)
    if view.per_entry:
        listed = list_entries(entries, definition, resolver, period, keep)  # type: ignore[arg-type]
        return scoped(listed, definition, reference)
    attributes = [resolver.attribute(name) for name in definition.group_by]
    split = definition.delivery.split if definition.delivery is not None else None
    keyed = [resolver.attribute(split.by), *attributes] if split is not None else attributes
    groups, labels = _accumulate(
        entries,
        key_reader=_group_key_reader(keyed),
        keep=keep,
        attributes=keyed,
        period=period,
        with_amounts=view.with_amounts,
    )
    if split is None:
        return scoped(_table(definition, period, attributes, groups, labels), definition, reference)
    whole = _split_tables(definition, period, attributes, split, groups, labels, reference)
    return scoped(whole, definition, reference)


def _split_tables(
    definition: ReportDefinition,
    period: Period,
    attributes: list[Attribute],
    split: Split,
    groups: dict[GroupKey, Accumulator],
    labels: dict[GroupKey, tuple[str, ...]],
    reference: ReferenceData,
) -> ReportTable:
    """The whole report and each listed slice, from groups keyed by (slice, *group_by)."""
    whole: dict[GroupKey, Accumulator] = {}
    whole_labels: dict[GroupKey, tuple[str, ...]] = {}
    for key, sums in groups.items():
        _merge_into(whole, key[1:], sums)
        whole_labels.setdefault(key[1:], labels[key][1:])
    slices: dict[str, ReportTable] = {}
    # A slice is named by id or by name, and matched by the id of the one record it names.
    targets = slice_targets(split.by, split.to, reference)
    shown = slice_labels(split.by, targets, reference)
    for name in split.to:
        keys = targets[name]
        mine: dict[GroupKey, Accumulator] = {}
        mine_labels: dict[GroupKey, tuple[str, ...]] = {}
        for key, sums in groups.items():
            if key[0] in keys:
                _merge_into(mine, key[1:], sums)
                mine_labels.setdefault(key[1:], labels[key][1:])
        table = _table(definition, period, attributes, mine, mine_labels)
        slices[name] = replace(
            table, slice_label=shown[name], slice_slug=slice_slug(name), slice_records=slice_record_ids(keys)
        )
    return replace(_table(definition, period, attributes, whole, whole_labels), slices=slices)


def _merge_into(groups: dict[GroupKey, Accumulator], key: GroupKey, sums: Accumulator) -> None:
    """Add `sums` to the group `key` (exact: the accumulators hold unrounded hours and cent-rounded amounts)."""
    merged = groups.get(key)
    if merged is None:
        merged = groups[key] = Accumulator()
    merged.billable_hours += sums.billable_hours
    merged.nonbillable_hours += sums.nonbillable_hours
    merged.entries += sums.entries
    merged.billable_amount += sums.billable_amount


@dataclass(frozen=True, slots=True)
class _KeyReader:
    """How the hot loop reads a group key: `read(entry)` when no level needs the approval tag, else
    `read(entry, approval)`; a single plain field comes back bare (not in a 1-tuple) and is wrapped later."""

    read: Callable[..., Any]
    takes_approval: bool
    bare: bool


def _group_key_reader(attributes: list[Attribute]) -> _KeyReader:
    """The cheapest key reader: an `attrgetter` when every level is a plain entry field (the common case)."""
    fields = [attribute.field for attribute in attributes]
    if all(fields):
        return _KeyReader(attrgetter(*fields), takes_approval=False, bare=len(fields) == 1)  # type: ignore[arg-type]
    keys = [attribute.key for attribute in attributes]
    read: Callable[[EntryLike, bool | None], GroupKey]
    if len(keys) == 1:
        (first,) = keys
        read = lambda entry, approval: (first(entry, approval),)  # noqa: E731
    elif len(keys) == 2:
        first, second = keys
        read = lambda entry, approval: (first(entry, approval), second(entry, approval))  # noqa: E731
    else:
        read = lambda entry, approval: tuple([key(entry, approval) for key in keys])  # noqa: E731
    return _KeyReader(read, takes_approval=True, bare=False)


def _accumulate(
    entries: Iterable[tuple[EntryLike, bool | None]],
    *,
    key_reader: _KeyReader,
    keep: EntryPredicate | None,
    attributes: list[Attribute],
    period: Period,
    with_amounts: bool,
) -> tuple[dict[GroupKey, Accumulator], dict[GroupKey, tuple[str, ...]]]:
    """The hot loop: one pass; per entry one key read, one dict look-up and two or three Decimal operations.

    Billable and non-billable hours are summed apart (incurred is their sum, taken once per group at the
    end), so each entry costs one hour addition whatever its flag.
    """
    groups: dict[Any, Accumulator] = {}
    labels: dict[Any, tuple[str, ...]] = {}  # named by the entry that opens the group (no entry is kept)
    bare = key_reader.bare
    first_day, last_day = period.start, period.end
    read_key, takes_approval = key_reader.read, key_reader.takes_approval
    for entry, approval in entries:
        day = entry.date
        if day < first_day or day > last_day:
            continue
        if keep is not None and not keep(entry, approval):
            continue
        key = read_key(entry, approval) if takes_approval else read_key(entry)
        sums = groups.get(key)
        if sums is None:
            sums = groups[key] = Accumulator()
            parts = (key,) if bare else key
            labels[key] = tuple(attribute.label(entry, part) for attribute, part in zip(attributes, parts, strict=True))
        hours = entry.time
        sums.entries += 1
        if entry.billable:
            sums.billable_hours += hours
            if with_amounts:
                sums.billable_amount += entry_amount(hours, entry.hourlyrate, billable=True)
        else:
            sums.nonbillable_hours += hours
    if bare:
        groups = {(key,): sums for key, sums in groups.items()}
        labels = {(key,): names for key, names in labels.items()}
    return groups, labels


def _showing_kept(keep: EntryPredicate | None, seen: Callable[[EntryLike], None]) -> EntryPredicate:
    """`keep`, also showing `seen` each entry it keeps (the loops ask it only about entries of the period)."""

    def kept(entry: EntryLike, approval: bool | None) -> bool:
        if keep is not None and not keep(entry, approval):
            return False
        seen(entry)
        return True

    return kept


def _entry_filter(definition: ReportDefinition, resolver: AttributeResolver) -> EntryPredicate | None:
    """One predicate for every filter and the approved-only rule, or None when every entry counts."""
    predicates: list[EntryPredicate] = [
        compile_filter(resolver.attribute(name), spec.operation, spec.values, resolver.reference)
        for name, spec in definition.filters.items()
    ]
    if definition.calc_incurred_using == "approved":
        predicates.insert(0, lambda _entry, approval: approval is True)
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]

    def keep_all(entry: EntryLike, approval: bool | None) -> bool:
        return all(predicate(entry, approval) for predicate in predicates)

    return keep_all


def _table(
    definition: ReportDefinition,
    period: Period,
    attributes: list[Attribute],
    groups: dict[GroupKey, Accumulator],
    labels: dict[GroupKey, tuple[str, ...]],
) -> ReportTable:
    """Sorted rows with their metrics, and the totals over all of them."""
    view = view_for(definition.view)
    group_columns = tuple(column for attribute in attributes for column in attribute.columns)

    def order(key: GroupKey) -> tuple[tuple[object, ...], ...]:
        names = labels[key]
        return tuple(
            attribute.sort_key(part, name) for attribute, part, name in zip(attributes, key, names, strict=True)
        )

    rows: list[dict[str, Cell]] = []
    first_levels: list[tuple[Hashable, str]] = []
    total_hours = total_billable = total_amount = ZERO
    total_entries = 0
    for key in sorted(groups, key=order):
        first_levels.append((key[0], labels[key][0]))
        sums = groups[key]
        billable, count, amount = sums.billable_hours, sums.entries, sums.billable_amount
        incurred = billable + sums.nonbillable_hours
        total_hours += incurred
        total_billable += billable
        total_entries += count
        total_amount += amount
        row: dict[str, Cell] = {}
        for attribute, part, name in zip(attributes, key, labels[key], strict=True):
            row.update(zip(attribute.columns, attribute.cells(part, name), strict=True))
        row.update(view.metrics(GroupSums(incurred, billable, count, amount), definition.hours_per_day))
        rows.append(row)
    totals = view.metrics(GroupSums(total_hours, total_billable, total_entries, total_amount), definition.hours_per_day)
    if view.in_days:
        # Days are rounded per row (views.py); their total is the sum of what the rows show, so that a
        # spreadsheet's SUM() of a column agrees with the TOTAL row.
        for column in DAY_METRICS:
            totals[column] = sum((cast(Decimal, row[column]) for row in rows), ZERO)
    share_metric = view.headline
    return ReportTable(
        report_id=definition.id,
        title=definition.title,
        view=definition.view,
        period=period,
        group_by=tuple(definition.group_by),
        columns=group_columns + view.metric_columns,
        metric_columns=view.metric_columns,
        rows=rows,
        totals=totals,
        entries=total_entries,
        timezone=definition.timezone,
        week_start=definition.week_start,
        sections=build_sections(rows, first_levels, view.metric_columns, totals, share_metric),
        share_metric=share_metric,
        hours_per_day=definition.hours_per_day if view.in_days else None,
    )
