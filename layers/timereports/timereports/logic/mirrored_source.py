"""The entry mirror as a `TimeSource`: a run's queries answered from the account's mirror, synced first.

The runner, the Reports API, revisions and the previous-period comparison read time through `TimeSource`; this one
syncs the mirror over the queries' dates (`logic/mirror.py`) and applies each query's filters locally, as the API
would (the engine re-checks every filter anyway), so that they get the mirror by wiring alone (`bootstrap/sources.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from timereports.engine.attributes import EntryLike
from timereports.engine.mirror import DayRange, query_predicate
from timereports.engine.mirror_format import MirroredEntry
from timereports.errors import IntervalsAuthError, RunTooLongError
from timereports.logic.mirror import NAME_RESOURCES, EntryMirror
from timereports.logic.ports import MirrorApi
from timereports.models.intervals import ReferenceData, TimeQuery


class MirroredTimeSource:
    """A `TimeSource` that syncs the account's mirror for a run's period and answers its queries from it.

    The runner, the Reports API and the previous-period comparison get the mirror by wiring alone: the queries are
    the plan's, their filters applied locally as the API would (the engine re-checks them anyway). Queries with
    filters over a period the mirror cannot fill in the invocation's time are pulled directly instead.
    """

    def __init__(self, api: MirrorApi, mirror: EntryMirror) -> None:
        self._api = api
        self.mirror = mirror
        self._reference = ReferenceData()
        self._pulled_directly = False

    def sync_quota(self) -> Any:
        return self._api.sync_quota()

    def reference_data(self, needs: set[str], *, missing: Sequence[str] = ()) -> ReferenceData:
        self._reference = self._api.reference_data(needs, missing=missing)
        return self._reference

    def iter_time_many(self, queries: Sequence[TimeQuery]) -> Iterator[tuple[int, EntryLike]]:
        if not queries:
            return iter(())
        span = _span_of(queries)
        try:
            entries = self.mirror.sync(span, approval=any(query.approved is not None for query in queries))
        except RunTooLongError:
            # The period is not in the mirror yet and filling it whole would take longer than the invocation has
            # (the gaps it did fill are kept). Queries with filters pushed down may be much smaller: they are
            # pulled directly, and refused the same way if they too are too long. Unfiltered ones would be the
            # same pull again.
            if not any(_filtered(query) for query in queries):
                raise
            self._pulled_directly = True
            return self._api.iter_time_many(queries)
        milestones: dict[int | None, int | None] = {
            task_id: task.milestoneid for task_id, task in self._reference.tasks.items()
        }
        return _answer(queries, entries, milestones.get if milestones else None)

    @property
    def requests_sent(self) -> int:
        return self._api.requests_sent

    def source_facts(self) -> dict[str, Any]:
        stats = self.mirror.stats
        source = "direct" if self._pulled_directly else "mirror"
        return {"source": source, "changes_synced": stats.changes, "count_probes": stats.probes}


def reference_names(api: MirrorApi) -> ReferenceData:
    """The reference records whose names the mirror lays over stored entries; a resource the token's role may not
    read leaves the entries' own names for it."""
    fields: dict[str, Any] = {}
    for resource in NAME_RESOURCES:
        with contextlib.suppress(IntervalsAuthError):
            for name, value in api.reference_data({resource}):
                if value:
                    fields[name] = value
    return ReferenceData(**fields)


# What narrows a pull to less than its period's time (approved=t/f only splits it in two).
_UNFILTERED = frozenset({"datebegin", "dateend", "approved"})


def _filtered(query: TimeQuery) -> bool:
    """Whether the API would send fewer entries for `query` than its dates hold."""
    return bool(set(query.model_dump(exclude_none=True)) - _UNFILTERED)


def _span_of(queries: Iterable[TimeQuery]) -> DayRange:
    starts = [query.datebegin for query in queries]
    ends = [query.dateend for query in queries]
    if any(day is None for day in (*starts, *ends)):
        raise ValueError("a mirrored query needs datebegin and dateend")
    return DayRange(min(day for day in starts if day), max(day for day in ends if day))


def _answer(
    queries: Sequence[TimeQuery],
    entries: list[MirroredEntry],
    milestone_of: Callable[[int | None], int | None] | None,
) -> Iterator[tuple[int, MirroredEntry]]:
    for index, query in enumerate(queries):
        keep = query_predicate(query, milestone_of)
        for entry in entries:
            if keep(entry):
                yield index, entry
