"""The mirror's entries and their object format: one compressed, columnar JSON document per account and month.

Why columnar JSON under zlib: a month of a big account is ~30,000 entries; `json.loads` of twenty lists decodes in
tens of milliseconds (C code, no per-row dict), names repeat and compress tenfold, and the format needs no
dependency and can be read by any tool (`python -c 'import zlib,json,...'`). Values are stored as the engine
needs them (ids as ints, hours and rates as decimal text, dates as ISO text), and decoded with per-distinct-value
caches, so that reading a month costs about a microsecond an entry. No pickle: the bucket's objects are data.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from timereports.errors import TimereportsError
from timereports.models.intervals import ReferenceData, TimeEntry, parse_record
from timereports.models.vocabulary import DIRECTION_CONTROLS, plain_name

FORMAT = "timereports-mirror/1"
COMPRESSION_LEVEL = 6


class MirroredEntry(NamedTuple):
    """One mirrored time entry: what the engine reads (`EntryLike`), plus description, datemodified and approval.

    `approved` is the entry's timesheet approval as last verified (None: not known yet; `/time/` rows do not say).
    """

    id: int
    date: date
    time: Decimal
    billable: bool
    personid: int | None
    projectid: int | None
    moduleid: int | None
    taskid: int | None
    worktypeid: int | None
    clientid: int | None
    person: str
    project: str
    module: str
    worktype: str
    task: str
    client: str
    hourlyrate: Decimal | None
    description: str
    datemodified: str | None
    approved: bool | None

    @property
    def person_name(self) -> str:
        return self.person


COLUMNS = MirroredEntry._fields
# Text columns whose values repeat across entries (names, and often descriptions and modification times).
SHARED_TEXT = ("person", "project", "module", "worktype", "task", "client", "description", "datemodified")


def entry_from_row(row: Mapping[str, Any], approved: bool | None = None) -> MirroredEntry:
    """A `/time/` row as the API sent it, typed by the client's model, as a mirrored entry."""
    entry = parse_record(TimeEntry, row, "time")
    return MirroredEntry(
        entry.id,
        entry.date,
        entry.time,
        entry.billable,
        entry.personid,
        entry.projectid,
        entry.moduleid,
        entry.taskid,
        entry.worktypeid,
        entry.clientid,
        entry.person_name,
        entry.project,
        entry.module,
        entry.worktype,
        entry.task,
        entry.client,
        entry.hourlyrate,
        entry.description,
        entry.datemodified,
        approved,
    )


def encode_month(month: str, entries: Iterable[MirroredEntry]) -> bytes:
    """The object body of one month (entries in id order, so that the bytes of equal months are equal)."""
    rows = sorted(entries, key=lambda entry: entry.id)
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for entry in rows:
        for name, value in zip(COLUMNS, entry, strict=True):
            if isinstance(value, Decimal | date):
                value = str(value) if isinstance(value, Decimal) else value.isoformat()
            columns[name].append(value)
    document = {"format": FORMAT, "month": month, "count": len(rows), "columns": columns}
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"), COMPRESSION_LEVEL)


class MirrorFormatError(TimereportsError):
    """A mirror object that this version cannot read (the month is pulled again instead)."""


def decode_month(body: bytes, names: NameOverlay | None = None) -> list[MirroredEntry]:
    """The entries of a month object, with the names of `names` laid over the stored ones."""
    try:
        document = json.loads(zlib.decompress(body))
        if document.get("format") != FORMAT:
            raise MirrorFormatError(f"mirror object format {document.get('format')!r}, expected {FORMAT!r}")
        columns = document["columns"]
        if names is not None:
            names.apply(columns)
        dates = _cached(date.fromisoformat, columns["date"])
        hours = _cached(Decimal, columns["time"])
        rates = _cached(lambda text: None if text is None else Decimal(text), columns["hourlyrate"])
        for name in SHARED_TEXT:
            # One string object per distinct name: a million entries share a few hundred names, and a str each would
            # be most of the memory a year of entries takes. Each as the API's rows are read now (months stored by an
            # earlier release kept line breaks and direction controls): once per distinct value.
            columns[name] = _cached(_SHOWN_AS[name], columns[name])
        ordered = [columns[name] for name in COLUMNS]
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise MirrorFormatError(f"unreadable mirror object ({type(exc).__name__})") from exc
    ordered[COLUMNS.index("date")] = dates
    ordered[COLUMNS.index("time")] = hours
    ordered[COLUMNS.index("hourlyrate")] = rates
    make = MirroredEntry._make
    return [make(values) for values in zip(*ordered, strict=True)]


def _as_is(value: Any) -> Any:
    return value


def _as_name(value: Any) -> Any:
    return plain_name(value) if isinstance(value, str) else value


def _as_description(value: Any) -> Any:
    return value.translate(DIRECTION_CONTROLS) if isinstance(value, str) else value


# How each shared text column is read: names on one line without direction controls, descriptions keeping their
# lines (models.intervals reads the API's rows the same way).
_SHOWN_AS = {name: _as_name for name in SHARED_TEXT} | {"description": _as_description, "datemodified": _as_is}


def _cached(convert: Any, values: list[Any]) -> list[Any]:
    """`convert` each value once per distinct value (a month has a few dozen dates and hour figures)."""
    seen: dict[Any, Any] = {}
    out = []
    for value in values:
        converted = seen.get(value)
        if converted is None and value not in seen:
            converted = seen[value] = convert(value)
        out.append(converted)
    return out


@dataclass(frozen=True)
class NameOverlay:
    """The reference data's names by id, laid over a month's columns as it is decoded.

    A rename (of a person, project, client, task, work type or module) and a project moved to another client do not
    touch the entries' `datemodified`, so the mirror's copy of a name may be old; the reference data is refreshed on
    its own schedule, and a column-wise overlay costs a dict look-up per entry and name.
    """

    person: Mapping[int, str]
    project: Mapping[int, str]
    project_client: Mapping[int, int | None]
    client: Mapping[int, str]
    task: Mapping[int, str]
    worktype: Mapping[int, str]
    module: Mapping[int, str]

    @classmethod
    def from_reference(cls, reference: ReferenceData) -> NameOverlay:
        return cls(
            person={key: person.name for key, person in reference.people.items() if person.name},
            project={key: project.name for key, project in reference.projects.items() if project.name},
            project_client={
                key: project.clientid
                for key, project in reference.projects.items()
                if project.clientid is None or project.clientid in reference.clients
            },
            client={key: client.name for key, client in reference.clients.items()},
            task={key: task.title for key, task in reference.tasks.items() if task.title},
            worktype={row.worktypeid: row.worktype for row in reference.project_worktypes.values() if row.worktypeid},
            module={row.moduleid: row.module for row in reference.project_modules.values() if row.moduleid},
        )

    def apply(self, columns: dict[str, list[Any]]) -> None:
        """Replace the name columns (and `clientid`) in place."""

        def lay(names: Mapping[Any, Any], ids: list[Any], stored: list[Any]) -> list[Any]:
            if not names:
                return stored
            get = names.get
            return [get(key, old) for key, old in zip(ids, stored, strict=True)]

        columns["person"] = lay(self.person, columns["personid"], columns["person"])
        columns["project"] = lay(self.project, columns["projectid"], columns["project"])
        columns["clientid"] = lay(self.project_client, columns["projectid"], columns["clientid"])
        columns["client"] = lay(self.client, columns["clientid"], columns["client"])
        columns["task"] = lay(self.task, columns["taskid"], columns["task"])
        columns["worktype"] = lay(self.worktype, columns["worktypeid"], columns["worktype"])
        columns["module"] = lay(self.module, columns["moduleid"], columns["module"])
