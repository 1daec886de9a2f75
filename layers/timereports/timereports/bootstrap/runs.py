"""The run_report handler's report runs: exactly-once delivery and the failure policy (the daily revision check is
wired in bootstrap/revisions.py, which a report run never loads).
"""

from __future__ import annotations

from timereports.bootstrap.aws import aws_client
from timereports.bootstrap.history import build_run_history
from timereports.bootstrap.scheduling import build_deferred_runs, build_report_states
from timereports.bootstrap.sources import build_ledger, build_time_source
from timereports.config import Settings
from timereports.dal.archive import S3Archive
from timereports.dal.failure_claims import DynamoDBFailureClaims
from timereports.dal.mailer import SesMailer
from timereports.dal.message_claims import DynamoDBMessageClaims
from timereports.dal.run_once import IdempotentRuns
from timereports.logic.failures import FailurePolicy
from timereports.logic.ports import ProgressCallback, RemainingTime
from timereports.logic.runner import DeliveryOptions, ReportRunner
from timereports.logic.runs import RunService
from timereports.models.catalogue import Catalogue


def build_mailer(settings: Settings) -> SesMailer:
    """SES, sending with the stack's configuration set (its bounces and complaints reach the run history)."""
    return SesMailer(aws_client("sesv2"), configuration_set=settings.ses_configuration_set)


def build_once(settings: Settings, deadline: RemainingTime | None = None) -> IdempotentRuns:
    """Exactly-once delivery per run identity, in the state table."""
    return IdempotentRuns(settings.state_table, aws_client("dynamodb"), deadline)


def build_runner(
    settings: Settings,
    account_name: str = "default",
    *,
    api_url: str | None = None,
    token: str | None = None,
    deadline: RemainingTime | None = None,
    progress: ProgressCallback | None = None,
) -> ReportRunner:
    """A ReportRunner wired to DynamoDB, S3, SES and the account's Intervals client."""
    account = settings.account(account_name, api_url=api_url)
    ledger = build_ledger(settings, account)
    return ReportRunner(
        client=build_time_source(settings, account, ledger, token=token, deadline=deadline, progress=progress),
        ledger=ledger,
        archive=S3Archive(settings.reports_bucket, aws_client("s3")),
        mailer=build_mailer(settings),
        history=build_run_history(settings),
        options=DeliveryOptions(
            sender=settings.sender_email,
            attachment_limit_bytes=settings.attachment_limit_bytes,
            link_expiry_seconds=settings.link_expiry_seconds,
        ),
        once=build_once(settings, deadline),
        claims=DynamoDBMessageClaims(settings.state_table, aws_client("dynamodb")),
    )


def build_failure_policy(settings: Settings) -> FailurePolicy:
    """Failure counting, owner notices (SES) and pausing for scheduled runs."""
    return FailurePolicy(
        states=build_report_states(settings),
        claims=DynamoDBFailureClaims(settings.state_table, aws_client("dynamodb")),
        mailer=build_mailer(settings),
        sender=settings.sender_email,
        default_owner=settings.owner_email,
        pause_after=settings.failures_before_pause,
    )


def build_run_service(settings: Settings) -> RunService:
    """What the run_report handler calls, built once per warm container: the catalogue is read on first use, a
    runner is built per run (its Intervals client is bounded by that invocation's deadline)."""

    def runners(account: str, deadline: RemainingTime | None = None) -> ReportRunner:
        return build_runner(settings, account, deadline=deadline)

    return RunService(
        catalogue=Catalogue(settings.catalogue_dir),
        runners=runners,
        report_states=build_report_states(settings),
        history=build_run_history(settings),
        deferred=build_deferred_runs(settings),
        failures=build_failure_policy(settings),
    )
