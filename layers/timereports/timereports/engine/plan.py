"""The query plan: which GET /time/ pulls a report makes, and which filters the API can apply for us.

Every entry the API filters out is a row we do not pay for: a report filtered to one client over a busy
account may need a tenth of the requests. So inclusion filters on attributes that `/time/` can filter
(person, project, client, work type, module, task, milestone, billable, approved) are pushed into the
`TimeQuery`; names become ids through the reference data. Whatever cannot be pushed (exclusions, names
the reference data does not know, dates, months) stays a local predicate. The engine re-checks every
filter anyway, so a pushed filter only ever saves requests, it never decides a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from timereports.engine.attributes import ATTRIBUTES, AttributeSpec, record_ids_by_name
from timereports.errors import DefinitionError
from timereports.models.definition import ReportDefinition
from timereports.models.filters import FilterSpec
from timereports.models.intervals import ReferenceData, TimeQuery
from timereports.models.report import Period
from timereports.models.vocabulary import ATTRIBUTE_KINDS

# Longer id lists stay local: the query string has a practical length limit, and a long list saves little.
MAX_PUSHED_IDS = 100


@dataclass(frozen=True)
class QueryPlan:
    """The pulls of one run, and where each filter is applied.

    `queries` are made one after the other; the entries of each are tagged with its `approved` value (None:
    approval not asked). No query at all means the filters exclude everything (an empty report, no request).
    `needs` lists the reference resources (`person`, `project`, `client`, `task`, `milestone`,
    `projectworktype`, `projectmodule`) the report needs for its filters and groups.
    """

    queries: tuple[TimeQuery, ...]
    pushed_filters: Mapping[str, FilterSpec] = field(default_factory=dict)
    local_filters: Mapping[str, FilterSpec] = field(default_factory=dict)
    needs: frozenset[str] = frozenset()


def reference_needs(definition: ReportDefinition) -> frozenset[str]:
    """The reference resources a report needs: to name phases, and to turn filter and slice names into ids (and
    filter ids into names).

    Known before any request, so that a runner can fetch them (cached) before planning the pulls.
    """
    needs: set[str] = set()
    for grouped in {*definition.group_by, *definition.filters}:
        needs |= ATTRIBUTES[grouped].needs
    # Names are turned into ids, and ids into names for the email's "Filters:" line; a slice's name or id is checked
    # against the account's records either way (one cached fetch of the resource).
    for attribute, _values, _one_record in _named_records(definition):
        source = ATTRIBUTES[attribute].name_source
        if source:
            needs.add(source)
    return frozenset(needs)


def _named_records(definition: ReportDefinition) -> list[tuple[str, list[tuple[str, object]], bool]]:
    """The values that name an Intervals record, each with where the definition says it: a record attribute's filter
    values (`filters.client.values[0]`), and the slices of a split (`delivery.split.to['Mango Inc.']`), which must
    each name one record (the flag)."""
    named: list[tuple[str, list[tuple[str, object]], bool]] = [
        (attribute, [(f"filters.{attribute}.values[{index}]", value) for index, value in enumerate(spec.values)], False)
        for attribute, spec in definition.filters.items()
        if ATTRIBUTE_KINDS[attribute] == "record"
    ]
    split = definition.delivery.split if definition.delivery else None
    if split is not None:
        named.append((split.by, [(f"delivery.split.to[{name!r}]", name) for name in split.to], True))
    return named


def _is_name(value: object) -> bool:
    return isinstance(value, str) and not value.isdigit()


# How many of the account's names an unknown one is shown beside.
CLOSEST_NAMES = 3


def unknown_names(definition: ReportDefinition, reference: ReferenceData) -> list[str]:
    """Each filter value or split slice that names no record of the account (in the reference data `reference_needs`
    asked for), said as the definition's field, with the account's closest names; and each slice whose name is more
    than one record's (a filter keeps them all, but a slice goes to its own recipients: it must name one)."""
    problems: list[str] = []
    for attribute, values, one_record in _named_records(definition):
        described = ATTRIBUTES[attribute]
        record = described.heading.lower()
        known = record_ids_by_name(attribute, reference)
        for where, value in values:
            if one_record:
                problems += _slice_problems(where, str(value), described, known)
            elif _is_name(value) and value not in (described.none_label, str(described.none_id)) and value not in known:
                problems.append(f"{where}: {value!r} names no {record} of the account{_closest(str(value), known)}")
    return problems


def _slice_problems(where: str, name: str, described: AttributeSpec, known: Mapping[str, list[int]]) -> list[str]:
    """Why a slice does not name exactly one group of the account (its recipients get that group's time only)."""
    record = described.heading.lower()
    shared = sorted(known.get(name, ()))
    listed = ", ".join(f"#{record_id}" for record_id in shared)
    if name == described.none_label:
        if shared:
            return [f"{where}: {name!r} is the group of time without a {record}, and the name of {record} {listed}; "
                    f"rename that {record}, or list it by its id"]  # fmt: skip
        return []
    if name.isdigit():
        ids = {record_id for record_ids in known.values() for record_id in record_ids}
        if int(name) not in ids:
            return [f"{where}: {name!r} is the id of no {record} of the account"]
        if set(shared) - {int(name)}:
            return [f"{where}: {name!r} is the id of {record} #{name} and the name of {record} {listed}; "
                    f"rename that {record}, or list the slice by its name"]  # fmt: skip
        return []
    if not shared:
        return [f"{where}: {name!r} names no {record} of the account{_closest(name, known)}"]
    if len(shared) > 1:
        return [f"{where}: {name!r} is the name of {len(shared)} {record}s of the account ({listed}); "
                f"list the slice by the id of the one it is for"]  # fmt: skip
    return []


def _closest(name: str, known: Mapping[str, object]) -> str:
    """`; closest: A, B` from the account's names (ignoring case), or nothing when none is close."""
    # Deferred: only a refused name needs difflib, never a run that goes ahead.
    import difflib

    by_folded = {candidate.casefold(): candidate for candidate in known}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=CLOSEST_NAMES, cutoff=0.6)
    return f"; closest: {', '.join(by_folded[match] for match in close)}" if close else ""


def plan_queries(definition: ReportDefinition, period: Period, reference: ReferenceData) -> QueryPlan:
    """The pulls for `definition` over `period`, with every filter the API can apply pushed down.

    A filter value or a slice that names no record of the account is refused first, before any time is pulled: a typo
    would otherwise keep nothing (an inclusion, a slice: a "no time logged" email) or drop nothing (an exclusion), and
    stop the filter being pushed down.
    """
    problems = unknown_names(definition, reference)
    if problems:
        raise DefinitionError("; ".join(problems))
    pushed: dict[str, FilterSpec] = {}
    local: dict[str, FilterSpec] = {}
    parameters: dict[str, object] = {}
    for attribute, spec in definition.filters.items():
        kind = ATTRIBUTE_KINDS[attribute]
        if kind == "approval":
            pushed[attribute] = spec  # decided by which approved=t/f pulls are made, below
            continue
        if kind == "flag":
            wanted = _wanted_flags(spec, {value is True for value in spec.values})
            if wanted is None:
                return QueryPlan(queries=(), pushed_filters={attribute: spec}, needs=reference_needs(definition))
            if len(wanted) == 1:
                parameters[str(ATTRIBUTES[attribute].query_filter)] = next(iter(wanted))
            pushed[attribute] = spec
            continue
        ids = _pushable_ids(attribute, spec, reference)
        if ids is None:
            local[attribute] = spec
        else:
            parameters[str(ATTRIBUTES[attribute].query_filter)] = ids
            pushed[attribute] = spec
    approvals = _approval_pulls(definition)
    queries = tuple(
        TimeQuery(datebegin=period.start, dateend=period.end, approved=approved, **parameters)  # type: ignore[arg-type]
        for approved in approvals
    )
    return QueryPlan(queries=queries, pushed_filters=pushed, local_filters=local, needs=reference_needs(definition))


def _wanted_flags(spec: FilterSpec, named: set[bool]) -> set[bool] | None:
    """The flag values a boolean filter keeps (an exclusion of one is an inclusion of the other); None: none."""
    wanted = named if spec.operation == "inclusion" else {True, False} - named
    return wanted or None


def _approval_pulls(definition: ReportDefinition) -> tuple[bool | None, ...]:
    """approved=t and/or approved=f pulls when approval matters to the report, else one untagged pull."""
    approval_filter = definition.filters.get("approval_status")
    approved_only = definition.calc_incurred_using == "approved"
    if not (approved_only or approval_filter or "approval_status" in definition.group_by):
        return (None,)
    allowed = {True} if approved_only else {True, False}
    if approval_filter is not None:
        allowed &= _wanted_flags(approval_filter, {value == "approved" for value in approval_filter.values}) or set()
    return tuple(sorted(allowed, reverse=True))  # approved first


def _pushable_ids(attribute: str, spec: FilterSpec, reference: ReferenceData) -> tuple[int, ...] | None:
    """The ids an inclusion filter selects, or None when it must stay local (an exclusion, an unknown name)."""
    described = ATTRIBUTES[attribute]
    if spec.operation != "inclusion" or described.query_filter is None:
        return None
    names = record_ids_by_name(attribute, reference)
    ids: set[int] = set()
    for value in spec.values:
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
            continue
        text = str(value)
        if described.none_id is not None and text in (described.none_label, str(described.none_id)):
            ids.add(described.none_id)
            continue
        matches = set(names.get(text, ()))
        if text.isdigit():
            matches.add(int(text))
        if not matches:
            return None  # a name no record has (refused before planning, unless a test plans directly)
        ids |= matches
    if len(ids) > MAX_PUSHED_IDS:
        return None
    return tuple(sorted(ids))
