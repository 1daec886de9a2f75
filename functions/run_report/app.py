"""run_report Lambda: one report run per SQS record (from the dispatcher) or per direct invoke; also the entry
mirror's sync jobs (a queued month, or a direct `{"sync": {...}}` invoke that queues a long range as months).

A thin adapter: validate the event against its model, call the run service (built once per warm container by the
composition root), publish metrics, shape the reply. A queued run that fails is reported in `batchItemFailures`
(Lambda's partial batch response), counted in the `RunsFailed` metric (Lambda records no error for it:
RunsFailedAlarm watches the metric) and brought back after minutes rather than the queue's visibility timeout
(logic/retries.py); SQS dead-letters it after its third receive. A direct invoke raises.

The batch loop is ours, not Powertools Batch: with one record per batch (the template's BatchSize) it is ten lines,
and Powertools Batch's import loads Powertools Parser's models of every event source (Kinesis, DynamoDB streams,
Kafka, ...), about a quarter of this function's cold start (`make bench`).
"""

from __future__ import annotations

# First: the garbage collector waits until this handler is built (bootstrap/cold_start.py says why).
from timereports.bootstrap.cold_start import ends_cold_start

# isort: split
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from timereports.bootstrap.runs import build_run_service
from timereports.bootstrap.scheduling import build_run_queue
from timereports.bootstrap.sources import build_sync_service
from timereports.clock import utc_now
from timereports.config import get_settings
from timereports.errors import QuotaExhaustedError, TimereportsError, one_line
from timereports.logic import retries
from timereports.logic.mirror_sync import MirrorSyncService, SyncOutcome
from timereports.logic.ports import WaitingQueue
from timereports.logic.runs import RunService
from timereports.models.events import (
    DirectRunEvent,
    DirectSyncEvent,
    QueuedBatch,
    QueuedRecord,
    RevisionCheckEvent,
    RunMessage,
    SyncMessage,
)
from timereports.models.run_record import RunRecord
from timereports.tracing import traced

if TYPE_CHECKING:
    from timereports.logic.revisions import RevisionCheck

logger = Logger()
# Explicit: the same namespace and service dimension (RunsFailedAlarm names both) wherever the module is imported.
metrics = Metrics(namespace="Timereports", service="timereports")


@lru_cache(maxsize=1)
@ends_cold_start
def revision_check() -> RevisionCheck:
    """This container's revision check (the daily schedule's)."""
    # Deferred: a report run never loads the check, its renderer or its marks; only the daily check event does.
    from timereports.bootstrap.revisions import build_revision_check

    return build_revision_check(get_settings())


@lru_cache(maxsize=1)
@ends_cold_start
def run_service() -> RunService:
    """This container's run service; a missing deployed setting fails the first invocation, naming the variable
    (the run queue's too: a failed run comes back through it, and a long sync queues its months on it)."""
    service = build_run_service(get_settings())
    retry_queue()  # after the build: it ends the cold start too (bootstrap/cold_start.py)
    return service


def _publish(record: RunRecord) -> None:
    """One log line and the run's metrics; never the token, the recipients or the email body."""
    logger.info(
        "report run finished",
        report_id=record.report_id,
        status=record.status,
        scheduled_at=record.scheduled_at,
        period_from=record.period_from,
        period_to=record.period_to,
        rows=record.rows,
        api_requests=record.api_requests,
        quota_remaining=record.quota_remaining,
        s3_key=record.s3_key,
        duration_ms=record.duration_ms,
    )
    metrics.add_metadata(key="report_id", value=record.report_id)
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=record.api_requests)
    metrics.add_metric(name="ReportRows", unit=MetricUnit.Count, value=record.rows)
    metrics.add_metric(name="RunDuration", unit=MetricUnit.Milliseconds, value=record.duration_ms)
    metrics.add_metric(name="EmailsSent", unit=MetricUnit.Count, value=len(record.message_ids))
    if record.quota_remaining is not None:
        metrics.add_metric(name="QuotaRemaining", unit=MetricUnit.Count, value=record.quota_remaining)
    if record.status == "deferred":
        metrics.add_metric(name="RunsDeferred", unit=MetricUnit.Count, value=1)


@lru_cache(maxsize=1)
@ends_cold_start
def sync_service() -> MirrorSyncService:
    """This container's mirror sync service (month jobs go back on the run queue)."""
    return build_sync_service(get_settings())


def _publish_sync(outcome: SyncOutcome) -> None:
    """One log line per sync: counts only, never an entry, a description or a name."""
    logger.info("mirror sync finished", **outcome.as_dict())
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=outcome.api_requests)
    metrics.add_metric(name="MirrorChangesSynced", unit=MetricUnit.Count, value=outcome.changes_synced)


@lru_cache(maxsize=1)
@ends_cold_start
def retry_queue() -> WaitingQueue:
    """The run queue the records come from (REPORT_QUEUE_URL), built once per container."""
    return build_run_queue(get_settings())


def _run_batch(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Each record's run (or sync job) in turn; the ones that failed are named in `batchItemFailures`, so SQS brings
    back only those. A batch whose every record failed is reported the same way, not raised."""
    failures: list[dict[str, str]] = []
    # An event that is not an SQS batch at all raises: Lambda retries the invocation, as for any malformed event.
    for record in QueuedBatch.model_validate(event).records:
        try:
            _run_record(record, context)
        except QuotaExhaustedError as exc:
            # Only a sync job gets here (a run parks itself until the reset): not a failure, a wait in the queue.
            if _wait_for_reset(record, exc):
                failures.append({"itemIdentifier": record.message_id})
        except TimereportsError as exc:
            # Our errors say what failed in one line; the reply of a service they carry is not logged whole.
            logger.error("queued message failed", message_id=record.message_id, error=one_line(exc))
            _retry_later(record)
            failures.append({"itemIdentifier": record.message_id})
        except Exception:
            logger.exception("queued message failed unexpectedly", message_id=record.message_id)
            _retry_later(record)
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}


def _run_record(record: QueuedRecord, context: LambdaContext) -> None:
    body = json.loads(record.body)
    if isinstance(body, dict) and body.get("kind") == "sync":
        _publish_sync(sync_service().sync(SyncMessage.model_validate(body), context))
        return
    _publish(run_service().run_message(RunMessage.model_validate(body), context))


def _wait_for_reset(record: QueuedRecord, exc: QuotaExhaustedError) -> bool:
    """A mirror sync job that found the quota spent comes back after the reset (logic/retries.py says how); whether
    the message stays on the queue (False: a fresh copy replaced it, and this one is deleted)."""
    job = SyncMessage.model_validate_json(record.body)
    receive_count = record.attributes.approximate_receive_count
    try:
        kind, delay = retries.wait_for_reset(
            retry_queue(), record.receipt_handle, receive_count, job, exc.resets_at, utc_now()
        )
    except TimereportsError as error:
        logger.warning("sync job waits for the queue's visibility timeout", error=one_line(error))
        return True
    metrics.add_metric(name="SyncJobsWaiting", unit=MetricUnit.Count, value=1)
    logger.info(
        "sync job waits for the quota reset",
        resets_at=exc.resets_at.isoformat(),
        how=kind,
        retry_in_seconds=delay,
        receive_count=receive_count,
    )
    return kind == "waiting"


def _retry_later(record: QueuedRecord) -> None:
    """Count the failure and bring the message back in minutes. Best effort: if SQS refuses, the message still
    comes back, after the queue's own visibility timeout, so the run's failure stays what is reported."""
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)
    receive_count = record.attributes.approximate_receive_count
    try:
        delay = retries.back_off(retry_queue(), record.receipt_handle, receive_count)
    except TimereportsError as exc:
        logger.warning(
            "failed run waits for the queue's visibility timeout", receive_count=receive_count, error=one_line(exc)
        )
        return
    logger.info("failed run will be retried", receive_count=receive_count, retry_in_seconds=delay)


@ends_cold_start  # also when an invocation builds nothing (an invalid event)
@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batch (partial failures reported), the daily revision check, or a direct invoke (inline definition or
    catalogue id)."""
    if "check" in event:
        check = RevisionCheckEvent.model_validate(event)
        revisions = [revision.as_dict() for revision in revision_check().check(check.at, context)]
        for revision in revisions:
            logger.info("revision sent", extra=revision)
        metrics.add_metric(name="RevisionsSent", unit=MetricUnit.Count, value=len(revisions))
        revision_check().raise_failures()
        return {"revisions": revisions}
    if "Records" in event:
        return _run_batch(event, context)
    if "sync" in event:
        outcome = sync_service().sync_or_queue(DirectSyncEvent.model_validate(event).sync, context)
        _publish_sync(outcome)
        return outcome.as_dict()
    run = run_service().run_direct(DirectRunEvent.model_validate(event), context)
    _publish(run)
    return run.model_dump(mode="json", exclude_none=True)
