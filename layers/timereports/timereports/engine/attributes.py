"""Group attributes: what `user_id`, `client`, `week` ... mean for one Intervals time entry.

Each attribute gives an entry a *key* (the group's id: an int, a date, a bool, or None for "no such
record") and a *label* (its display name, also what a filter's name values are compared with). The key
runs once per entry, so it is a plain attribute read or a dict look-up; the label runs once per group.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any, Literal, Protocol

from timereports.models.intervals import ReferenceData
from timereports.models.report import Cell
from timereports.models.vocabulary import ATTRIBUTE_KINDS, GROUP_ATTRIBUTES, RECORD_ATTRIBUTES


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


APPROVAL_LABELS: dict[bool | None, str] = {True: "approved", False: "unapproved", None: "unknown"}

KeyFunction = Callable[[EntryLike, bool | None], Hashable]
LabelFunction = Callable[[EntryLike, Hashable], str]
# How an attribute's group fills its columns: (id, name), the key itself (a date), or the label (a flag, a month).
CellShape = Literal["id_and_name", "key", "label"]
NameIndex = Callable[[ReferenceData], Iterable[tuple[str, int | None]]]


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
    shape: CellShape = "id_and_name"
    approval_order: bool = False

    def value(self, entry: EntryLike, approval: bool | None) -> tuple[Hashable, str]:
        """The entry's (id, name) for this attribute."""
        key = self.key(entry, approval)
        return key, self.label(entry, key)

    def cells(self, key: Hashable, label: str) -> tuple[Cell, ...]:
        """The values of `columns` for a group (ids and names, or the one value of a date or flag)."""
        if self.shape == "id_and_name":
            return (key, label)  # type: ignore[return-value]
        if self.shape == "key":
            return (key,)  # type: ignore[return-value]
        return (label,)

    def sort_key(self, key: Hashable, label: str) -> tuple[object, ...]:
        """Ids numerically, dates chronologically, the label as tiebreak; groups without a record last."""
        if self.approval_order:
            return (key is None, key is not True, label)
        return (key is None, 0 if key is None else key, label)


@dataclass(frozen=True)
class AttributeSpec:
    """Everything the product knows about one group attribute, in one place: its CSV columns and email heading, how
    an entry is read (`bind`), how a filter on it is pushed down to GET /time/, and which reference data it needs.

    Adding an attribute is one entry in `ATTRIBUTES`, and its name and kind in `models.vocabulary` (`GroupAttribute`
    and `ATTRIBUTE_KINDS`: what definitions are validated against, below the engine). Nothing else names attributes.
    """

    name: str
    columns: tuple[str, ...]
    heading: str  # the email's column heading for the attribute's display column
    bind: Callable[[AttributeResolver], Attribute]
    query_filter: str | None = None  # the /time/ filter that selects it: by id (a record), or t/f (a flag)
    names: NameIndex | None = None  # (name, id) pairs of its records, to turn filter names into ids
    name_source: str | None = None  # the reference resource those names come from
    none_label: str | None = None  # the group of entries without such a record
    none_id: int | None = None  # the API's id for "none" (projects without a client, entries without a milestone)
    needs: frozenset[str] = frozenset()  # reference resources needed whenever it is grouped or filtered by


class AttributeResolver:
    """Binds the attributes of one report: key and label functions closed over the reference data.

    Look-ups that the API does not put on a time entry (a task's milestone, a date's week) are
    precomputed or memoised here, so that the per-entry cost stays one dict access.
    """

    def __init__(self, reference: ReferenceData, week_start: int = 0) -> None:
        self.reference = reference
        self.week_start = week_start
        self.task_milestone = {task_id: task.milestoneid for task_id, task in reference.tasks.items()}
        self.project_client = {project_id: project.clientid for project_id, project in reference.projects.items()}
        self._cache: dict[str, Attribute] = {}

    def attribute(self, name: str) -> Attribute:
        """The bound attribute `name` (one of `ATTRIBUTES`)."""
        found = self._cache.get(name)
        if found is None:
            spec = ATTRIBUTES.get(name)
            if spec is None:
                raise ValueError(f"unknown attribute {name!r}; allowed: {', '.join(ATTRIBUTES)}")
            found = self._cache[name] = spec.bind(self)
        return found

    def value(self, name: str, entry: EntryLike, approval: bool | None) -> tuple[Hashable, str]:
        """An entry's (id, name) for attribute `name` (convenient; the engine uses `attribute()` once instead)."""
        return self.attribute(name).value(entry, approval)


def _fixed(field: str) -> KeyFunction:
    getter = attrgetter(field)
    return lambda entry, _approval: getter(entry)


def _record(
    name: str, field: str, entry_label: str, fallback: Callable[[AttributeResolver], Callable[[int], str | None]]
) -> Callable[[AttributeResolver], Attribute]:
    """An attribute whose key is an id field of the entry and whose label is the entry's own name for it, else the
    reference record's, else `#id`."""

    def bind(resolver: AttributeResolver) -> Attribute:
        spec = ATTRIBUTES[name]
        entry_name = attrgetter(entry_label)
        lookup = fallback(resolver)
        none = spec.none_label or ""

        def label(entry: EntryLike, key: Hashable) -> str:
            if key is None:
                return none
            return entry_name(entry) or lookup(key) or f"#{key}"  # type: ignore[arg-type]

        return Attribute(name, spec.columns, _fixed(field), label, field)

    return bind


def _record_name(records: Callable[[ReferenceData], Mapping[int, Any]], name: str) -> Callable[..., Any]:
    """A fallback label from a reference mapping: `records(reference)[id].<name>`."""

    def fallback(resolver: AttributeResolver) -> Callable[[int], str | None]:
        mapping = records(resolver.reference)

        def lookup(key: int) -> str | None:
            record = mapping.get(key)
            return getattr(record, name) if record is not None else None

        return lookup

    return fallback


def _default_names(rows: Callable[[ReferenceData], Iterable[Any]], id_field: str, name_field: str) -> Any:
    """A fallback label from the project-level rows that name a default record (work types, modules)."""

    def fallback(resolver: AttributeResolver) -> Callable[[int], str | None]:
        names = {getattr(row, id_field): getattr(row, name_field) for row in rows(resolver.reference)}
        return {key: name for key, name in names.items() if key}.get

    return fallback


def _bind_client(resolver: AttributeResolver) -> Attribute:
    project_client = resolver.project_client
    clients = resolver.reference.clients
    none = ATTRIBUTES["client"].none_label or ""

    def key(entry: EntryLike, _approval: bool | None) -> Hashable:
        client_id = entry.clientid
        if client_id is None:  # older replies leave it out; the project knows its client
            return project_client.get(entry.projectid)  # type: ignore[arg-type]
        return client_id

    def label(entry: EntryLike, key: Hashable) -> str:
        if key is None:
            return none
        client = clients.get(key)  # type: ignore[call-overload]
        if client is not None:
            return client.name  # type: ignore[no-any-return]
        return entry.client if entry.clientid == key and entry.client else f"#{key}"

    return Attribute("client", ATTRIBUTES["client"].columns, key, label)


def _bind_phase(resolver: AttributeResolver) -> Attribute:
    task_milestone = resolver.task_milestone
    milestones = resolver.reference.milestones
    none = ATTRIBUTES["phase_name"].none_label or ""

    def key(entry: EntryLike, _approval: bool | None) -> Hashable:
        return task_milestone.get(entry.taskid)  # type: ignore[arg-type]

    def label(_entry: EntryLike, key: Hashable) -> str:
        if key is None:
            return none
        milestone = milestones.get(key)  # type: ignore[call-overload]
        return milestone.title if milestone is not None and milestone.title else f"#{key}"

    return Attribute("phase_name", ATTRIBUTES["phase_name"].columns, key, label)


def _bind_week(resolver: AttributeResolver) -> Attribute:
    weeks: dict[date, date] = {}
    week_start = resolver.week_start

    def key(entry: EntryLike, _approval: bool | None) -> Hashable:
        day = entry.date
        first = weeks.get(day)
        if first is None:
            first = weeks[day] = day - timedelta(days=(day.weekday() - week_start) % 7)
        return first

    return Attribute("week", ("week",), key, _iso_label, shape="key")


def _bind_month(_resolver: AttributeResolver) -> Attribute:
    months: dict[date, str] = {}

    def key(entry: EntryLike, _approval: bool | None) -> Hashable:
        day = entry.date
        month = months.get(day)
        if month is None:
            month = months[day] = day.strftime("%Y-%m")
        return month

    return Attribute("month", ("month",), key, lambda _entry, key: str(key), shape="label")


def _iso_label(_entry: EntryLike, key: Hashable) -> str:
    return key.isoformat()  # type: ignore[attr-defined,no-any-return]


ATTRIBUTES: dict[str, AttributeSpec] = {
    spec.name: spec
    for spec in (
        AttributeSpec(
            "user_id",
            ("user_id", "user_name"),
            "Person",
            _record("user_id", "personid", "person_name", _record_name(lambda ref: ref.people, "name")),
            query_filter="personid",
            names=lambda ref: ((person.name, person.id) for person in ref.people.values()),
            name_source="person",
            none_label="Unknown person",
        ),
        AttributeSpec(
            "project_id",
            ("project_id", "project_name"),
            "Project",
            _record("project_id", "projectid", "project", _record_name(lambda ref: ref.projects, "name")),
            query_filter="projectid",
            names=lambda ref: ((project.name, project.id) for project in ref.projects.values()),
            name_source="project",
            none_label="No project",
        ),
        AttributeSpec(
            "client",
            ("client_id", "client_name"),
            "Client",
            _bind_client,
            query_filter="clientid",
            names=lambda ref: ((client.name, client.id) for client in ref.clients.values()),
            name_source="client",
            none_label="No client",
            none_id=-1,
        ),
        AttributeSpec(
            "phase_name",
            ("phase_id", "phase_name"),
            "Milestone",
            _bind_phase,
            query_filter="milestoneid",
            names=lambda ref: ((milestone.title, milestone.id) for milestone in ref.milestones.values()),
            name_source="milestone",
            none_label="No phase",
            none_id=-1,
            needs=frozenset({"task", "milestone"}),  # an entry's phase is its task's milestone
        ),
        AttributeSpec(
            "worktype",
            ("worktype_id", "worktype_name"),
            "Work type",
            _record(
                "worktype",
                "worktypeid",
                "worktype",
                _default_names(lambda ref: ref.project_worktypes.values(), "worktypeid", "worktype"),
            ),
            query_filter="worktypeid",
            names=lambda ref: ((row.worktype, row.worktypeid) for row in ref.project_worktypes.values()),
            name_source="projectworktype",
            none_label="No work type",
        ),
        AttributeSpec(
            "module",
            ("module_id", "module_name"),
            "Module",
            _record(
                "module",
                "moduleid",
                "module",
                _default_names(lambda ref: ref.project_modules.values(), "moduleid", "module"),
            ),
            query_filter="moduleid",
            names=lambda ref: ((row.module, row.moduleid) for row in ref.project_modules.values()),
            name_source="projectmodule",
            none_label="No module",
        ),
        AttributeSpec(
            "task",
            ("task_id", "task_name"),
            "Task",
            _record("task", "taskid", "task", _record_name(lambda ref: ref.tasks, "title")),
            query_filter="taskid",
            names=lambda ref: ((task.title, task.id) for task in ref.tasks.values()),
            name_source="task",
            none_label="No task",
        ),
        AttributeSpec(
            "date",
            ("date",),
            "Date",
            lambda _resolver: Attribute("date", ("date",), _fixed("date"), _iso_label, "date", shape="key"),
        ),
        AttributeSpec("week", ("week",), "Week of", _bind_week),
        AttributeSpec("month", ("month",), "Month", _bind_month),
        AttributeSpec(
            "billable",
            ("billable",),
            "Billable",
            query_filter="billable",
            bind=lambda _resolver: Attribute(
                "billable",
                ("billable",),
                _fixed("billable"),
                lambda _entry, key: "true" if key else "false",
                "billable",
                shape="label",
            ),
        ),
        AttributeSpec(
            "approval_status",
            ("approval_status",),
            "Approval",
            lambda _resolver: Attribute(
                "approval_status",
                ("approval_status",),
                lambda _entry, approval: approval,
                lambda _entry, key: APPROVAL_LABELS[key],  # type: ignore[index]
                shape="label",
                approval_order=True,
            ),
            none_label="unknown",
        ),
    )
}
if set(ATTRIBUTES) != set(GROUP_ATTRIBUTES) or {name for name, spec in ATTRIBUTES.items() if spec.names} != set(
    RECORD_ATTRIBUTES
):
    raise RuntimeError("engine.attributes.ATTRIBUTES and models.vocabulary disagree on the attributes")


EntryPredicate = Callable[[EntryLike, bool | None], bool]


def filter_targets(attribute: str, values: tuple[object, ...]) -> tuple[frozenset[Hashable], frozenset[str]]:
    """Split filter values into the keys and the labels they match ("123" is an id as well as a name; the API's id
    for "none", -1 for a client or a phase, is the key None of the entries without one)."""
    kind = ATTRIBUTE_KINDS[attribute]  # type: ignore[index]
    none_id = ATTRIBUTES[attribute].none_id
    keys: set[Hashable] = set()
    labels: set[str] = set()
    for value in values:
        if isinstance(value, str):
            labels.add(value)
            if kind == "month":  # a month's key is its YYYY-MM text
                keys.add(value)
            elif kind == "record" and value.isdigit():
                keys.add(int(value))
            elif none_id is not None and value == str(none_id):
                keys.add(None)
        else:
            keys.add(None if none_id is not None and value == none_id and not isinstance(value, bool) else value)  # type: ignore[arg-type]
    return frozenset(keys), frozenset(labels)


def record_ids_by_name(attribute: str, reference: ReferenceData) -> dict[str, list[int]]:
    """Name -> ids of the attribute's records (two records may share a name), from its reference resource: the one
    index that turns filter and slice names into ids and ids back into names."""
    spec = ATTRIBUTES[attribute]
    index: dict[str, list[int]] = {}
    for name, record_id in spec.names(reference) if spec.names is not None else ():
        if name and record_id is not None and record_id not in index.setdefault(name, []):
            index[name].append(record_id)
    return index


def slice_targets(attribute: str, names: Iterable[str], reference: ReferenceData) -> dict[str, frozenset[Hashable]]:
    """The group keys of the entries that belong to each slice (by its name) of a split by `attribute`: matched by id
    alone (two records may share a name, an entry carries its record's name, a deleted record's too, and a record may
    even be called "No client"), while each slice's rows go to its own recipients only. The "none" group is key None.
    """
    none_label = ATTRIBUTES[attribute].none_label
    index = record_ids_by_name(attribute, reference)
    targets: dict[str, frozenset[Hashable]] = {}
    for name in names:
        if name == none_label:
            targets[name] = frozenset({None})
        elif name.isdigit():
            targets[name] = frozenset({int(name)})
        else:
            targets[name] = frozenset(index.get(name, ()))
    return targets


def slice_record_ids(keys: Iterable[Hashable]) -> tuple[int, ...]:
    """The record ids among a slice's group keys, in order (the "none" group's key None is no record)."""
    return tuple(sorted(key for key in keys if isinstance(key, int) and not isinstance(key, bool)))


def slice_labels(
    attribute: str, targets: Mapping[str, frozenset[Hashable]], reference: ReferenceData
) -> dict[str, str]:
    """What each slice (`slice_targets`' answer) is called in its email: its record's name, also when it has no time;
    as listed where the reference data has no name for it (the none group)."""
    names_of = {record_id: name for name, ids in record_ids_by_name(attribute, reference).items() for record_id in ids}
    return {name: next((names_of[key] for key in keys if key in names_of), name) for name, keys in targets.items()}


def compile_filter(
    attribute: Attribute, operation: str, values: tuple[object, ...], reference: ReferenceData | None = None
) -> EntryPredicate:
    """A predicate keeping the entries an inclusion (or exclusion) filter keeps.

    A value matches an entry when it equals the entry's id or its name (names compared case-sensitively,
    HTML already decoded), or when it is the name `reference` gives the entry's record now: an entry keeps the name
    its record had when it was read (the entry mirror's copy, until its names are refreshed), so a record renamed
    since is still found by its new name. The verdict is memoised per key, so the label is computed once per id.
    """
    keys, labels = filter_targets(attribute.name, values)
    if labels and reference is not None and ATTRIBUTES[attribute.name].names is not None:
        current = record_ids_by_name(attribute.name, reference)
        keys = keys | {record_id for label in labels for record_id in current.get(label, ())}
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
