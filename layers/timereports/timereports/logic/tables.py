"""Building a report's table from a time source: the one path from a query to rows, shared by scheduled runs and the
Reports API, so that an emailed report and an API answer over the same period cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator

from timereports.engine.aggregate import aggregate
from timereports.engine.plan import plan_queries, reference_needs
from timereports.logic.ports import TimeSource
from timereports.models.definition import ReportDefinition
from timereports.models.intervals import TimeEntry
from timereports.models.report import Period, ReportTable


def build_table(source: TimeSource, definition: ReportDefinition, period: Period) -> ReportTable:
    """Plan the pulls (filters pushed down where the API can apply them), stream the entries and aggregate them.

    The account's real usage is learnt first (free), so that the pulls reserve against what is really left.
    """
    source.sync_quota()
    reference = source.reference_data(set(reference_needs(definition)))
    plan = plan_queries(definition, period, reference)

    def tagged_entries() -> Iterator[tuple[TimeEntry, bool | None]]:
        # Each pull's entries carry the approval that pull asked for (None when approval was not asked). The
        # source reserves the pages of all pulls at once, so a query without enough quota stops before spending.
        for index, entry in source.iter_time_many(plan.queries):
            yield entry, plan.queries[index].approved

    return aggregate(tagged_entries(), definition, reference, period)
