"""The run use case as the handlers and the command line call it: turn a parsed event into a run of the right
report, with the scheduled-run bookkeeping around it (pauses, parking on spent quota, failure counts and notices).

`RunService` receives every adapter it uses; `bootstrap.runs.build_run_service` builds one per warm container.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from timereports.clock import utc_now
from timereports.errors import QuotaExhaustedError, TimereportsError, one_line
from timereports.logic.failures import FailurePolicy
from timereports.logic.ports import DeferredRuns, RemainingTime, ReportStates, RunHistory
from timereports.logic.runner import ReportRunner, RunRequest
from timereports.models.catalogue import Catalogue, parse_definition
from timereports.models.events import DirectRunEvent, RunMessage
from timereports.models.report import Period
from timereports.models.run_record import RunRecord


class RunnerFactory(Protocol):
    """A ReportRunner for one Intervals account; `deadline` (a Lambda context) bounds how long its pulls may take."""

    def __call__(self, account: str, deadline: RemainingTime | None = None) -> ReportRunner: ...


class RunService:
    """Runs catalogue and inline reports, direct or queued, with the adapters it is given."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        runners: RunnerFactory,
        report_states: ReportStates,
        history: RunHistory,
        deferred: DeferredRuns,
        failures: FailurePolicy,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.catalogue = catalogue
        self._runners = runners
        self._report_states = report_states
        self._history = history
        self._deferred = deferred
        self._failures = failures
        self._clock = clock

    def run_direct(self, event: DirectRunEvent, deadline: RemainingTime | None = None) -> RunRecord:
        """A direct invoke: an inline definition or a catalogue id, as of `today` (default: today in its zone)."""
        if event.definition is not None:
            definition = parse_definition(event.definition)
        else:
            definition = self.catalogue.get(str(event.report_id))
        runner = self._runners(definition.account, deadline)
        request = RunRequest(
            definition=definition, today=event.today, scheduled_at=event.scheduled_at, force=event.force
        )
        if event.scheduled_at is None:
            return runner.run(request).record  # a one-off: its caller sees the error; no failure bookkeeping
        period = runner.resolve_period(definition, event.today, event.scheduled_at)
        if not event.force:
            skipped = self._skipped_if_paused(definition.id, event.scheduled_at, period)
            if skipped is not None:
                return skipped
        try:
            return self._run_scheduled(runner, request)
        except QuotaExhaustedError as exc:
            if event.report_id is None:
                raise  # an inline definition cannot be re-run from the catalogue: the Scheduler retries, then DLQ
            # A catalogue report scheduled directly is parked like a queued run, over the period it was due for.
            message = RunMessage.for_run(definition.id, event.scheduled_at, definition.account, period)
            return self._defer(message, exc)

    def run_message(self, message: RunMessage, deadline: RemainingTime | None = None) -> RunRecord:
        """A queued run from the dispatcher: the catalogue report over the period fixed when it was due.

        A run that finds the account's daily quota spent is parked until the reset (the dispatcher re-enqueues it
        then) and counts as handled, so SQS neither loses it nor retries it in a loop.
        """
        definition = self.catalogue.get(message.report_id)
        period = Period(message.period_from, message.period_to)
        if not message.force:
            skipped = self._skipped_if_paused(definition.id, message.scheduled_at, period)
            if skipped is not None:
                return skipped
        runner = self._runners(definition.account, deadline)
        request = RunRequest(
            definition=definition, scheduled_at=message.scheduled_at, period=period, force=message.force
        )
        try:
            return self._run_scheduled(runner, request)
        except QuotaExhaustedError as exc:
            return self._defer(message, exc)

    def _skipped_if_paused(self, report_id: str, scheduled_at: datetime, period: Period) -> RunRecord | None:
        """A paused report's scheduled run is dropped (and says so in the history), not run and not retried into a
        dead-letter queue; None when the report is not paused."""
        if not self._report_states.is_paused(report_id):
            return None
        skipped = RunRecord(
            report_id=report_id,
            status="skipped_paused",
            scheduled_at=scheduled_at.isoformat(),
            period_from=period.start.isoformat(),
            period_to=period.end.isoformat(),
            finished_at=self._clock().isoformat(),
        )
        self._history.record(skipped)
        return skipped

    def _defer(self, message: RunMessage, exc: QuotaExhaustedError) -> RunRecord:
        """Park a run until the account's reset; the dispatcher re-enqueues it then. Nothing was sent."""
        self._deferred.defer(message, until=exc.resets_at)
        return RunRecord(
            report_id=message.report_id,
            status="deferred",
            scheduled_at=message.scheduled_at.isoformat(),
            period_from=message.period_from.isoformat(),
            period_to=message.period_to.isoformat(),
            error=one_line(exc),
            retry_after=exc.resets_at.isoformat(),
        )

    def _run_scheduled(self, runner: ReportRunner, request: RunRequest) -> RunRecord:
        """Run a scheduled report, keeping its failure count, owner notices and pause state."""
        assert request.scheduled_at is not None  # only scheduled runs come here
        try:
            record = runner.run(request).record
        except QuotaExhaustedError:
            raise  # not the report's fault: deferred to the reset, not counted
        except TimereportsError as exc:
            self._failures.failed(request.definition, request.scheduled_at.isoformat(), exc)
            raise
        self._failures.succeeded(request.definition)
        return record
