"""The run history in the state table: run_report writes it, email_feedback and the command line read it (the
dispatcher does not, so it loads no run records)."""

from __future__ import annotations

from timereports.bootstrap.aws import aws_client
from timereports.config import Settings
from timereports.dal.run_history import DynamoDBRunHistory


def build_run_history(settings: Settings) -> DynamoDBRunHistory:
    """The run history in the state table."""
    return DynamoDBRunHistory(settings.state_table, aws_client("dynamodb"))
