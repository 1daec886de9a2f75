"""The Reports API use case: rows or totals for a query, or for a catalogue report as of today.

Built on the same table-building path as scheduled runs (`logic.tables`): plan the pulls, read the account's time
source (the Intervals client, or the entry mirror where the composition root chooses it), aggregate. Nothing is
archived or sent; an answer costs only what its time source spends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from timereports.clock import utc_now
from timereports.engine.timeframes import resolve_time_frame, today_in
from timereports.errors import ConfigurationError, DefinitionError, UnknownReportError
from timereports.logic.ports import RemainingTime, TimeSources
from timereports.logic.tables import build_table
from timereports.models.catalogue import Catalogue
from timereports.models.definition import ReportDefinition, ReportQuery
from timereports.models.report import Period, ReportTable
from timereports.models.reports_api import ReportsQuery

# How an API query is named where the engine asks (the table's report id and title).
QUERY_REPORT_ID = "reports-api"
QUERY_REPORT_TITLE = "Reports API query"
# The account of a POSTed query (RM has no account parameter); a catalogue report uses its own.
QUERY_ACCOUNT = "default"


@dataclass(frozen=True)
class ReportAnswer:
    """A query with every default filled (`today` included), the period it covers, and its table."""

    query: ReportsQuery
    today: date
    period: Period
    table: ReportTable


class ReportsApiService:
    """Answers rows and totals queries against the account's time source."""

    def __init__(self, *, catalogue: Catalogue, sources: TimeSources, clock: Callable[[], datetime] = utc_now) -> None:
        self._catalogue = catalogue
        self._sources = sources
        self._clock = clock

    def answer(self, query: ReportsQuery, deadline: RemainingTime | None = None) -> ReportAnswer:
        """The table of a POSTed query, on the default account; `deadline` is the invocation's (the time source is
        built per answer, so its request counts and deadline belong to that answer)."""
        return self._answer(query, _as_definition(query), QUERY_ACCOUNT, deadline)

    def answer_report(self, report_id: str, deadline: RemainingTime | None = None) -> ReportAnswer:
        """A catalogue report's table as of today (in its own time zone), on its own account.

        Raises UnknownReportError for an id the catalogue does not have, before any request.
        """
        try:
            definition = self._catalogue.get(report_id)
        except UnknownReportError:
            raise
        except DefinitionError as exc:
            # The deployment's catalogue is broken: the operator's problem, and its message names files.
            raise ConfigurationError("the report catalogue cannot be read") from exc
        query = ReportsQuery.model_construct(**{name: getattr(definition, name) for name in ReportQuery.model_fields})
        # The report's rows and totals: whom it is sent to, and its slices, are not the API's.
        rows_only = definition.model_copy(update={"delivery": None, "schedule": None})
        try:
            return self._answer(query, rows_only, definition.account, deadline)
        except DefinitionError as exc:
            # The catalogue report names what the account lacks (a client since renamed): the operator's to fix.
            raise ConfigurationError(f"catalogue report {report_id!r}: {exc}") from exc

    def _answer(
        self, query: ReportsQuery, definition: ReportDefinition, account: str, deadline: RemainingTime | None
    ) -> ReportAnswer:
        today = query.today or today_in(query.timezone, self._clock())
        period = resolve_time_frame(query.time_frame, today, query.week_start_index)
        table = build_table(self._sources(account, deadline), definition, period)
        return ReportAnswer(query=query.model_copy(update={"today": today}), today=today, period=period, table=table)


def _as_definition(query: ReportQuery) -> ReportDefinition:
    """The engine's view of an API query: a definition with the query's (already validated) fields, no delivery."""
    fields = {name: getattr(query, name) for name in ReportQuery.model_fields}
    return ReportDefinition.model_construct(id=QUERY_REPORT_ID, title=QUERY_REPORT_TITLE, **fields)
