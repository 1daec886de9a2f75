"""The scheduling state the dispatcher and run_report share: the run queue, runs parked until the quota resets, and
each report's failure count and pause (the state table)."""

from __future__ import annotations

from functools import partial

from timereports.bootstrap.aws import aws_client
from timereports.config import Settings
from timereports.dal.dispatch_state import DynamoDBDeferredRuns, DynamoDBReportStates
from timereports.dal.run_queue import SqsRunQueue
from timereports.errors import ConfigurationError


def build_run_queue(settings: Settings) -> SqsRunQueue:
    """The SQS run queue named by REPORT_QUEUE_URL (the template sets it; `--local` sets it to the queue it made)."""
    if not settings.report_queue_url:
        raise ConfigurationError("REPORT_QUEUE_URL: not set; the deployment must name the run queue")
    return SqsRunQueue(settings.report_queue_url, partial(aws_client, "sqs"))


def build_deferred_runs(settings: Settings) -> DynamoDBDeferredRuns:
    """Where runs that found the quota spent wait for the reset (the state table)."""
    return DynamoDBDeferredRuns(settings.state_table, aws_client("dynamodb"))


def build_report_states(settings: Settings) -> DynamoDBReportStates:
    """Per-report failure counts and pauses (the state table)."""
    return DynamoDBReportStates(settings.state_table, aws_client("dynamodb"))
