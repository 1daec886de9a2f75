"""Building a report's table from a source of time entries: the one path every use case takes (a scheduled run, the
Reports API, a revision check, the previous period of a comparison), whatever the source behind the port (the API
directly, or the entry mirror).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from timereports.engine.aggregate import aggregate
from timereports.engine.attributes import EntryLike
from timereports.engine.plan import plan_queries, reference_needs, unknown_names
from timereports.logic.ports import TimeSource
from timereports.models.definition import ReportDefinition
from timereports.models.report import Period, ReportTable


def build_table(
    source: TimeSource,
    definition: ReportDefinition,
    period: Period,
    *,
    seen: Callable[[EntryLike], None] | None = None,
) -> ReportTable:
    """The rows and totals of `definition` over `period`: learn the quota, fetch the reference data the report
    needs, plan the pulls (filters pushed down), and aggregate the entries as they stream in. `seen` is shown each
    entry the report counts, as it is counted (a revision counts the entries changed since a delivery), without a
    second read."""
    source.sync_quota()
    needs = set(reference_needs(definition))
    reference = source.reference_data(needs)
    missing = unknown_names(definition, reference)
    if missing:
        # Cached reference data (an hour in the process, a day in the bucket) may predate a record added or renamed
        # since: the names are looked up once more, uncached, before the plan refuses them (not again for the same
        # names within minutes: a client retrying a misspelling must not spend the quota each time).
        reference = source.reference_data(needs, missing=missing)
    plan = plan_queries(definition, period, reference)

    def tagged_entries() -> Iterator[tuple[EntryLike, bool | None]]:
        # Each pull's entries carry the approval that pull asked for (None when approval was not asked). The
        # source reserves the pages of all pulls at once, so a run without enough quota stops before spending.
        for index, entry in source.iter_time_many(plan.queries):
            yield entry, plan.queries[index].approved

    return aggregate(tagged_entries(), definition, reference, period, seen=seen)
