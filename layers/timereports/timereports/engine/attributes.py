"""Group attributes: what `user_id`, `client`, `week` ... mean for one Intervals time entry.

Each attribute gives an entry a *key* (the group's id: an int, a date, a bool, or None for "no such
record") and a *label* (its display name, also what a filter's name values are compared with). The key
runs once per entry, so it is a plain attribute read or a dict look-up; the label runs once per group.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Protocol

from timereports.models.intervals import ReferenceData
from timereports.models.report import Cell
from timereports.models.vocabulary import GROUP_ATTRIBUTES


class EntryLike(Protocol):
    """What the engine reads of a time entry (`TimeEntry` has it all; the benchmark uses a lighter class)."""

    @property
    def date(self) -> date: ...
    @property
    def time(self) -> Decimal: ...
    @property
    def billable(self) -> bool: ...
    @property
    def personid(self) -> int | None: ...
    @property
    def projectid(self) -> int | None: ...
    @property
    def moduleid(self) -> int | None: ...
    @property
    def taskid(self) -> int | None: ...
    @property
    def worktypeid(self) -> int | None: ...
    @property
    def clientid(self) -> int | None: ...
    @property
    def person_name(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def module(self) -> str: ...
    @property
    def worktype(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def client(self) -> str: ...
    @property
    def hourlyrate(self) -> Decimal | None: ...


# The CSV columns of each attribute, in order (Resource Management names where the concept exists).
COLUMNS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "user_name"),
    "project_id": ("project_id", "project_name"),
    "client": ("client_id", "client_name"),
    "phase_name": ("phase_id", "phase_name"),
    "worktype": ("worktype_id", "worktype_name"),
    "module": ("module_id", "module_name"),
    "task": ("task_id", "task_name"),
    "date": ("date",),
    "week": ("week",),
    "month": ("month",),
    "billable": ("billable",),
    "approval_status": ("approval_status",),
}
# The label of the group of entries that have no such record (an id-less group sorts last).
NONE_LABELS: dict[str, str] = {
    "user_id": "Unknown person",
    "project_id": "No project",
    "client": "No client",
    "phase_name": "No phase",
    "worktype": "No work type",
    "module": "No module",
    "task": "No task",
    "approval_status": "unknown",
}
APPROVAL_LABELS: dict[bool | None, str] = {True: "approved", False: "unapproved", None: "unknown"}

KeyFunction = Callable[[EntryLike, bool | None], Hashable]
LabelFunction = Callable[[EntryLike, Hashable], str]


@dataclass(frozen=True, slots=True)
class Attribute:
    """One group attribute, bound to a report's reference data and week start.

    `field` names the entry attribute that *is* the key when there is one, so that the engine can read
    several keys with one `operator.attrgetter` call.
    """

    name: str
    columns: tuple[str, ...]
    key: KeyFunction
    label: LabelFunction
    field: str | None = None

    def value(self, entry: EntryLike, approval: bool | None) -> tuple[Hashable, str]:
        """The entry's (id, name) for this attribute."""
        key = self.key(entry, approval)
        return key, self.label(entry, key)

    def cells(self, key: Hashable, label: str) -> tuple[Cell, ...]:
        """The values of `columns` for a group (ids and names, or the one value of a date or flag)."""
        if len(self.columns) == 2:
            return (key, label)  # type: ignore[return-value]
        if self.name in ("date", "week"):
            return (key,)  # type: ignore[return-value]
        return (label,)

    def sort_key(self, key: Hashable, label: str) -> tuple[object, ...]:
        """Ids numerically, dates chronologically, the label as tiebreak; groups without a record last."""
        if self.name == "approval_status":
            return (key is None, key is not True, label)
        return (key is None, 0 if key is None else key, label)


def _fixed(field: str) -> KeyFunction:
    getter = attrgetter(field)
    return lambda entry, _approval: getter(entry)


def _labelled(
    field_label: Callable[[EntryLike], str], fallback: Callable[[int], str | None], none: str
) -> LabelFunction:
    def label(entry: EntryLike, key: Hashable) -> str:
        if key is None:
            return none
        return field_label(entry) or fallback(key) or f"#{key}"  # type: ignore[arg-type]

    return label


class AttributeResolver:
    """Builds the attributes of one report: key and label functions closed over the reference data.

    Look-ups that the API does not put on a time entry (a task's milestone, a date's week) are
    precomputed or memoised here, so that the per-entry cost stays one dict access.
    """

    def __init__(self, reference: ReferenceData, week_start: int = 0) -> None:
        self.reference = reference
        self.week_start = week_start
        self._task_milestone = {task_id: task.milestoneid for task_id, task in reference.tasks.items()}
        self._project_client = {project_id: project.clientid for project_id, project in reference.projects.items()}
        self._weeks: dict[date, date] = {}
        self._months: dict[date, str] = {}
        self._cache: dict[str, Attribute] = {}

    def attribute(self, name: str) -> Attribute:
        """The bound attribute `name` (one of `spec.GROUP_ATTRIBUTES`)."""
        found = self._cache.get(name)
        if found is None:
            if name not in GROUP_ATTRIBUTES:
                raise ValueError(f"unknown attribute {name!r}; allowed: {', '.join(GROUP_ATTRIBUTES)}")
            found = self._cache[name] = getattr(self, f"_build_{name}")()
        return found

    def value(self, name: str, entry: EntryLike, approval: bool | None) -> tuple[Hashable, str]:
        """An entry's (id, name) for attribute `name` (convenient; the engine uses `attribute()` once instead)."""
        return self.attribute(name).value(entry, approval)

    # --- one builder per attribute ---

    def _build_user_id(self) -> Attribute:
        people = self.reference.people

        def fallback(key: int) -> str | None:
            person = people.get(key)
            return person.name if person else None

        label = _labelled(attrgetter("person_name"), fallback, NONE_LABELS["user_id"])
        return Attribute("user_id", COLUMNS["user_id"], _fixed("personid"), label, "personid")

    def _build_project_id(self) -> Attribute:
        projects = self.reference.projects

        def fallback(key: int) -> str | None:
            project = projects.get(key)
            return project.name if project else None

        label = _labelled(attrgetter("project"), fallback, NONE_LABELS["project_id"])
        return Attribute("project_id", COLUMNS["project_id"], _fixed("projectid"), label, "projectid")

    def _build_client(self) -> Attribute:
        project_client = self._project_client
        clients = self.reference.clients

        def key(entry: EntryLike, _approval: bool | None) -> Hashable:
            client_id = entry.clientid
            if client_id is None:  # older replies leave it out; the project knows its client
                return project_client.get(entry.projectid)  # type: ignore[arg-type]
            return client_id

        def label(entry: EntryLike, key: Hashable) -> str:
            if key is None:
                return NONE_LABELS["client"]
            client = clients.get(key)  # type: ignore[call-overload]
            if client is not None:
                return client.name  # type: ignore[no-any-return]
            return entry.client if entry.clientid == key and entry.client else f"#{key}"

        return Attribute("client", COLUMNS["client"], key, label)

    def _build_phase_name(self) -> Attribute:
        task_milestone = self._task_milestone
        milestones = self.reference.milestones

        def key(entry: EntryLike, _approval: bool | None) -> Hashable:
            return task_milestone.get(entry.taskid)  # type: ignore[arg-type]

        def label(_entry: EntryLike, key: Hashable) -> str:
            if key is None:
                return NONE_LABELS["phase_name"]
            milestone = milestones.get(key)  # type: ignore[call-overload]
            return milestone.title if milestone is not None and milestone.title else f"#{key}"

        return Attribute("phase_name", COLUMNS["phase_name"], key, label)

    def _build_worktype(self) -> Attribute:
        names = {row.worktypeid: row.worktype for row in self.reference.project_worktypes.values() if row.worktypeid}
        label = _labelled(attrgetter("worktype"), names.get, NONE_LABELS["worktype"])
        return Attribute("worktype", COLUMNS["worktype"], _fixed("worktypeid"), label, "worktypeid")

    def _build_module(self) -> Attribute:
        names = {row.moduleid: row.module for row in self.reference.project_modules.values() if row.moduleid}
        label = _labelled(attrgetter("module"), names.get, NONE_LABELS["module"])
        return Attribute("module", COLUMNS["module"], _fixed("moduleid"), label, "moduleid")

    def _build_task(self) -> Attribute:
        tasks = self.reference.tasks

        def fallback(key: int) -> str | None:
            task = tasks.get(key)
            return task.title if task else None

        label = _labelled(attrgetter("task"), fallback, NONE_LABELS["task"])
        return Attribute("task", COLUMNS["task"], _fixed("taskid"), label, "taskid")

    def _build_date(self) -> Attribute:
        return Attribute("date", COLUMNS["date"], _fixed("date"), _iso_label, "date")

    def _build_week(self) -> Attribute:
        weeks = self._weeks
        week_start = self.week_start

        def key(entry: EntryLike, _approval: bool | None) -> Hashable:
            day = entry.date
            first = weeks.get(day)
            if first is None:
                first = weeks[day] = day - timedelta(days=(day.weekday() - week_start) % 7)
            return first

        return Attribute("week", COLUMNS["week"], key, _iso_label)

    def _build_month(self) -> Attribute:
        months = self._months

        def key(entry: EntryLike, _approval: bool | None) -> Hashable:
            day = entry.date
            month = months.get(day)
            if month is None:
                month = months[day] = day.strftime("%Y-%m")
            return month

        return Attribute("month", COLUMNS["month"], key, lambda _entry, key: str(key))

    def _build_billable(self) -> Attribute:
        return Attribute(
            "billable",
            COLUMNS["billable"],
            _fixed("billable"),
            lambda _entry, key: "true" if key else "false",
            "billable",
        )

    def _build_approval_status(self) -> Attribute:
        return Attribute(
            "approval_status",
            COLUMNS["approval_status"],
            lambda _entry, approval: approval,
            lambda _entry, key: APPROVAL_LABELS[key],  # type: ignore[index]
        )


def _iso_label(_entry: EntryLike, key: Hashable) -> str:
    return key.isoformat()  # type: ignore[attr-defined,no-any-return]


EntryPredicate = Callable[[EntryLike, bool | None], bool]


def filter_targets(attribute: str, values: tuple[object, ...]) -> tuple[frozenset[Hashable], frozenset[str]]:
    """Split filter values into the keys and the labels they match ("123" is an id as well as a name)."""
    keys: set[Hashable] = set()
    labels: set[str] = set()
    for value in values:
        if isinstance(value, str):
            labels.add(value)
            if attribute in ("month",):
                keys.add(value)
            elif value.isdigit() and attribute not in ("billable", "approval_status"):
                keys.add(int(value))
        else:
            keys.add(value)  # type: ignore[arg-type]
    return frozenset(keys), frozenset(labels)


def compile_filter(attribute: Attribute, operation: str, values: tuple[object, ...]) -> EntryPredicate:
    """A predicate keeping the entries an inclusion (or exclusion) filter keeps.

    A value matches an entry when it equals the entry's id or its name (names compared case-sensitively,
    HTML already decoded). The verdict is memoised per key, so the label is computed once per distinct id.
    """
    keys, labels = filter_targets(attribute.name, values)
    include = operation == "inclusion"
    key_of = attribute.key
    label_of = attribute.label
    verdicts: dict[Hashable, bool] = {}

    def keep(entry: EntryLike, approval: bool | None) -> bool:
        key = key_of(entry, approval)
        verdict = verdicts.get(key)
        if verdict is None:
            matched = key in keys or (bool(labels) and label_of(entry, key) in labels)
            verdict = verdicts[key] = matched == include
        return verdict

    return keep
