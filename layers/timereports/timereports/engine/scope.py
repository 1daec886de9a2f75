"""What a report's figures include, in words: its filters and its incurred basis, for the email and the workbook to
print beside the figures (a total of approved billable time must not read as all the time logged)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from timereports.engine.attributes import ATTRIBUTES, record_ids_by_name
from timereports.models.definition import ReportDefinition
from timereports.models.filters import FilterSpec
from timereports.models.intervals import ReferenceData
from timereports.models.report import ReportTable
from timereports.models.vocabulary import FilterValue

# A filter listing more values than this names the first ones and says how many more.
NAMED_VALUES = 5


def scoped(table: ReportTable, definition: ReportDefinition, reference: ReferenceData) -> ReportTable:
    """`table` and each of its slices with the lines that say what their figures include. A slice's lines leave out
    the filters whose values could name another slice's records (see `CLIENT_RECORDS`), and say that they do."""
    whole = replace(table, scope=scope_lines(definition, reference))
    split = definition.delivery.split if definition.delivery is not None else None
    if split is None:
        return whole
    mine = scope_lines(definition, reference, slice_of=split.by)
    return replace(whole, slices={name: replace(part, scope=mine) for name, part in table.slices.items()})


# The records that belong to a client (its projects, their tasks and milestones): a slice's recipient may not read
# their names, which could be another client's; work types, modules and people are the account's own.
CLIENT_RECORDS = frozenset({"client", "project_id", "task", "phase_name"})


def scope_lines(
    definition: ReportDefinition, reference: ReferenceData, *, slice_of: str | None = None
) -> tuple[str, ...]:
    """`Time on approved timesheets only` and `Filters: Billable is yes; Client is not No client`, when they apply.
    For a slice of a split by `slice_of`, the filters on client records and on the split's own attribute are left
    out (their values could name another slice's) and counted instead: `...; 2 more not shown here`."""
    lines: list[str] = []
    if definition.calc_incurred_using == "approved":
        lines.append("Time on approved timesheets only")
    hidden = {*CLIENT_RECORDS, slice_of} if slice_of is not None else set()
    shown = [
        _filter_phrase(attribute, spec, reference)
        for attribute, spec in definition.filters.items()
        if attribute not in hidden
    ]
    left_out = sum(1 for attribute in definition.filters if attribute in hidden)
    if left_out:
        shown.append(f"{left_out} more not shown here")
    if shown:
        lines.append("Filters: " + "; ".join(shown))
    return tuple(lines)


def _filter_phrase(attribute: str, spec: FilterSpec, reference: ReferenceData) -> str:
    names = _names_by_id(attribute, reference)
    values = [_value_text(value, names) for value in spec.values]
    if len(values) > NAMED_VALUES:
        values = [*values[:NAMED_VALUES], f"{len(values) - NAMED_VALUES} more"]
    listed = ", ".join(values)
    heading = ATTRIBUTES[attribute].heading
    if len(spec.values) == 1:
        return f"{heading} is {listed}" if spec.operation == "inclusion" else f"{heading} is not {listed}"
    return f"{heading} is one of {listed}" if spec.operation == "inclusion" else f"{heading} is none of {listed}"


def _names_by_id(attribute: str, reference: ReferenceData) -> dict[int, str]:
    """Id -> name of the attribute's records (its "none" group included), to show an id filter by name."""
    described = ATTRIBUTES[attribute]
    names = {record_id: name for name, ids in record_ids_by_name(attribute, reference).items() for record_id in ids}
    if described.none_id is not None and described.none_label:
        names.setdefault(described.none_id, described.none_label)
    return names


def _value_text(value: FilterValue, names: dict[int, str]) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return names.get(value, f"#{value}")
    if isinstance(value, date):
        return value.isoformat()
    if value.isdigit() and int(value) in names:  # an id given as text ("11"), as filters take them
        return names[int(value)]
    return value
