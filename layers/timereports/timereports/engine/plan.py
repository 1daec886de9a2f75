"""The query plan: which GET /time/ pulls a report makes, and which filters the API can apply for us.

Every entry the API filters out is a row we do not pay for: a report filtered to one client over a busy
account may need a tenth of the requests. So inclusion filters on attributes that `/time/` can filter
(person, project, client, work type, module, task, milestone, billable, approved) are pushed into the
`TimeQuery`; names become ids through the reference data. Whatever cannot be pushed (exclusions, names
the reference data does not know, dates, months) stays a local predicate. The engine re-checks every
filter anyway, so a pushed filter only ever saves requests, it never decides a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from timereports.engine.attributes import NONE_LABELS
from timereports.models.definition import FilterSpec, ReportDefinition
from timereports.models.intervals import ReferenceData, TimeQuery
from timereports.models.report import Period

# Group attribute -> the /time/ filter that selects it.
QUERY_FILTERS: dict[str, str] = {
    "user_id": "personid",
    "project_id": "projectid",
    "client": "clientid",
    "worktype": "worktypeid",
    "module": "moduleid",
    "task": "taskid",
    "phase_name": "milestoneid",
}
# Group attribute -> the reference resource whose names give its ids.
NAME_SOURCES: dict[str, str] = {
    "user_id": "person",
    "project_id": "project",
    "client": "client",
    "worktype": "projectworktype",
    "module": "projectmodule",
    "task": "task",
    "phase_name": "milestone",
}
# The API's id for "none" (projects without a client, entries without a milestone).
NONE_IDS: dict[str, int] = {"client": -1, "phase_name": -1}
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
    """The reference resources a report needs: to name phases, and to turn filter names into ids.

    Known before any request, so that a runner can fetch them (cached) before planning the pulls.
    """
    needs: set[str] = set()
    if "phase_name" in definition.group_by or "phase_name" in definition.filters:
        needs |= {"task", "milestone"}  # an entry's phase is its task's milestone
    for attribute, spec in definition.filters.items():
        source = NAME_SOURCES.get(attribute)
        if source and any(isinstance(value, str) and not value.isdigit() for value in spec.values):
            needs.add(source)
    return frozenset(needs)


def plan_queries(definition: ReportDefinition, period: Period, reference: ReferenceData) -> QueryPlan:
    """The pulls for `definition` over `period`, with every filter the API can apply pushed down."""
    pushed: dict[str, FilterSpec] = {}
    local: dict[str, FilterSpec] = {}
    parameters: dict[str, object] = {}
    for attribute, spec in definition.filters.items():
        if attribute == "approval_status":
            pushed[attribute] = spec  # decided by which approved=t/f pulls are made, below
            continue
        if attribute == "billable":
            wanted = _wanted_flags(spec, {value is True for value in spec.values})
            if wanted is None:
                return QueryPlan(queries=(), pushed_filters={attribute: spec}, needs=reference_needs(definition))
            if len(wanted) == 1:
                parameters["billable"] = next(iter(wanted))
            pushed[attribute] = spec
            continue
        ids = _pushable_ids(attribute, spec, reference)
        if ids is None:
            local[attribute] = spec
        else:
            parameters[QUERY_FILTERS[attribute]] = ids
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
    if spec.operation != "inclusion" or attribute not in QUERY_FILTERS:
        return None
    names = _names_to_ids(attribute, reference)
    ids: set[int] = set()
    for value in spec.values:
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
            continue
        text = str(value)
        if text == NONE_LABELS.get(attribute) and attribute in NONE_IDS:
            ids.add(NONE_IDS[attribute])
            continue
        matches = set(names.get(text, ()))
        if text.isdigit():
            matches.add(int(text))
        if not matches:
            return None  # an unknown name: only the engine can still match it, against the entries' own names
        ids |= matches
    if len(ids) > MAX_PUSHED_IDS:
        return None
    return tuple(sorted(ids))


def _names_to_ids(attribute: str, reference: ReferenceData) -> dict[str, list[int]]:
    """Name -> ids (two records may share a name) from the reference resource of `attribute`."""
    sources: dict[str, Callable[[], Iterable[tuple[str, int | None]]]] = {
        "user_id": lambda: ((person.name, person.id) for person in reference.people.values()),
        "project_id": lambda: ((project.name, project.id) for project in reference.projects.values()),
        "client": lambda: ((client.name, client.id) for client in reference.clients.values()),
        "worktype": lambda: ((row.worktype, row.worktypeid) for row in reference.project_worktypes.values()),
        "module": lambda: ((row.module, row.moduleid) for row in reference.project_modules.values()),
        "task": lambda: ((task.title, task.id) for task in reference.tasks.values()),
        "phase_name": lambda: ((milestone.title, milestone.id) for milestone in reference.milestones.values()),
    }
    index: dict[str, list[int]] = {}
    for name, record_id in sources[attribute]():
        if name and record_id is not None and record_id not in index.setdefault(name, []):
            index[name].append(record_id)
    return index
