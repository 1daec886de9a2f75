"""What the Lambda handlers call: turn a parsed event into a run of the right report, and its outcome.

Kept apart from the handlers so that they stay adapters (parse, call, shape) and so that tests can
call the same code in-process with moto and the simulator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from timereports.config import Settings, get_settings
from timereports.errors import DefinitionError, QuotaExhaustedError, TimereportsError
from timereports.models.catalogue import load_catalogue, parse_definition
from timereports.models.definition import ReportDefinition
from timereports.models.events import DirectRunEvent, RunMessage
from timereports.models.report import Period
from timereports.models.run_record import RunRecord


@lru_cache(maxsize=4)
def _catalogue(directory: str) -> dict[str, ReportDefinition]:
    # Read once per warm container: the catalogue ships with the deployment and cannot change under it.
    return {definition.id: definition for definition in load_catalogue(Path(directory))}


def catalogue_definition(report_id: str, settings: Settings) -> ReportDefinition:
    """The catalogue's definition of `report_id`, or a DefinitionError naming the known ids."""
    reports = _catalogue(settings.catalogue_dir)
    if report_id not in reports:
        known = ", ".join(sorted(reports)) or "none"
        raise DefinitionError(f"report_id: {report_id!r} is not in the catalogue; known reports: {known}")
    return reports[report_id]


def run_direct(event: DirectRunEvent, *, settings: Settings | None = None, lambda_context: Any = None) -> RunRecord:
    """A direct invoke: an inline definition or a catalogue id, as of `today` (default: today in its zone)."""
    from timereports.bootstrap import build_runner
    from timereports.logic.runner import RunRequest

    settings = settings or get_settings()
    if event.definition is not None:
        definition = parse_definition(event.definition)
    else:
        definition = catalogue_definition(str(event.report_id), settings)
    runner = build_runner(settings, definition.account, lambda_context=lambda_context)
    request = RunRequest(definition=definition, today=event.today, scheduled_at=event.scheduled_at, force=event.force)
    if event.scheduled_at is None:
        return runner.run(request).record  # a one-off: its caller sees the error; no failure bookkeeping
    if not event.force:
        period = runner.resolve_period(definition, event.today, event.scheduled_at)
        skipped = _skipped_if_paused(definition.id, event.scheduled_at, period, settings)
        if skipped is not None:
            return skipped
    try:
        return _run_scheduled(runner, request, settings)
    except QuotaExhaustedError as exc:
        if event.report_id is None:
            raise  # an inline definition cannot be re-run from the catalogue: the Scheduler retries, then DLQ
        # A catalogue report scheduled directly is parked like a queued run, over the period it was due for.
        period = runner.resolve_period(definition, event.today, event.scheduled_at)
        message = RunMessage.model_validate(
            {
                "report_id": definition.id,
                "scheduled_at": event.scheduled_at,
                "account": definition.account,
                "from": period.start,
                "to": period.end,
            }
        )
        return _defer(message, exc, settings)


def run_message(message: RunMessage, *, settings: Settings | None = None, lambda_context: Any = None) -> RunRecord:
    """A queued run from the dispatcher: the catalogue report over the period fixed when it was due.

    A run that finds the account's daily quota spent is parked until the reset (the dispatcher
    re-enqueues it then) and counts as handled, so SQS neither loses it nor retries it in a loop.
    """
    from timereports.bootstrap import build_runner
    from timereports.logic.runner import RunRequest

    settings = settings or get_settings()
    definition = catalogue_definition(message.report_id, settings)
    if not message.force:
        period = Period(message.period_from, message.period_to)
        skipped = _skipped_if_paused(definition.id, message.scheduled_at, period, settings)
        if skipped is not None:
            return skipped
    runner = build_runner(settings, definition.account, lambda_context=lambda_context)
    request = RunRequest(
        definition=definition,
        scheduled_at=message.scheduled_at,
        period=Period(message.period_from, message.period_to),
        force=message.force,
    )
    try:
        return _run_scheduled(runner, request, settings)
    except QuotaExhaustedError as exc:
        return _defer(message, exc, settings)


def _skipped_if_paused(report_id: str, scheduled_at: datetime, period: Period, settings: Settings) -> RunRecord | None:
    """A paused report's scheduled run is dropped (and says so in the history), not run and not retried into a
    dead-letter queue; None when the report is not paused."""
    from timereports.bootstrap import build_report_states, build_run_history

    if not build_report_states(settings).is_paused(report_id):
        return None
    skipped = RunRecord(
        report_id=report_id,
        status="skipped_paused",
        scheduled_at=scheduled_at.isoformat(),
        period_from=period.start.isoformat(),
        period_to=period.end.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
    )
    build_run_history(settings).record(skipped)
    return skipped


def _defer(message: RunMessage, exc: QuotaExhaustedError, settings: Settings) -> RunRecord:
    """Park a run until the account's reset; the dispatcher re-enqueues it then. Nothing was sent."""
    from timereports.bootstrap import build_deferred_runs

    build_deferred_runs(settings).defer(message, until=exc.resets_at)
    return RunRecord(
        report_id=message.report_id,
        status="deferred",
        scheduled_at=message.scheduled_at.isoformat(),
        period_from=message.period_from.isoformat(),
        period_to=message.period_to.isoformat(),
        error=str(exc),
        retry_after=exc.resets_at.isoformat(),
    )


def _run_scheduled(runner: Any, request: Any, settings: Settings) -> RunRecord:
    """Run a scheduled report, keeping its failure count, owner notices and pause state."""
    from timereports.bootstrap import build_failure_policy

    policy = build_failure_policy(settings)
    try:
        record: RunRecord = runner.run(request).record
    except QuotaExhaustedError:
        raise  # not the report's fault: deferred to the reset, not counted
    except TimereportsError as exc:
        policy.failed(request.definition, request.scheduled_at.isoformat(), exc)
        raise
    policy.succeeded(request.definition)
    return record
