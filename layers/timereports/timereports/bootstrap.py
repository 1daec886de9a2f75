"""The composition root: the one place that builds real adapters (boto3, HTTP) from settings.

Everything else receives its collaborators as arguments, so tests can hand in the simulator's URL,
moto-backed clients or in-memory fakes without patching anything.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from timereports.config import AccountSettings, Settings
from timereports.dal.archive import S3Archive
from timereports.dal.dispatch_state import DynamoDBCursorStore, DynamoDBDeferredRuns, DynamoDBReportStates
from timereports.dal.failure_claims import DynamoDBFailureClaims
from timereports.dal.mailer import SesMailer
from timereports.dal.message_claims import DynamoDBMessageClaims
from timereports.dal.mirror_store import S3MirrorStore, S3ReferenceCache
from timereports.dal.quota_ledger import DynamoDBQuotaLedger
from timereports.dal.revision_marks import DynamoDBRevisionMarks
from timereports.dal.run_history import DynamoDBRunHistory
from timereports.dal.run_once import IdempotentRuns
from timereports.dal.run_queue import SqsRunQueue
from timereports.errors import ConfigurationError
from timereports.intervals.client import IntervalsClient
from timereports.intervals.pacing import shared_pacer
from timereports.logic.dispatch import Dispatcher, DispatchLogger
from timereports.logic.failures import FailurePolicy
from timereports.logic.mirror import EntryMirror, ProgressCallback
from timereports.logic.mirror_sync import MirrorSyncService
from timereports.logic.mirrored_source import MirroredTimeSource, reference_names
from timereports.logic.ports import QuotaLedger, ReferenceRecordsCache, RemainingTime, TimeSource
from timereports.logic.reports_api import ReportsApiService
from timereports.logic.revisions import RevisionCheck
from timereports.logic.runner import DeliveryOptions, ReportRunner
from timereports.logic.runs import RunService
from timereports.models.catalogue import Catalogue, load_catalogue

if TYPE_CHECKING:
    from botocore.client import BaseClient

# Secrets Manager reads are cached this long in a warm Lambda: a rotated token is picked up within minutes
# while a busy schedule does not pay a Secrets Manager call per run.
TOKEN_CACHE_SECONDS = 300
# Time kept after the last page for archiving, emailing and recording, when a Lambda's deadline bounds a run.
DELIVERY_MARGIN_SECONDS = 60


def aws_client(service: str) -> BaseClient:
    """A boto3 client honouring AWS_ENDPOINT_URL (local AWS); S3's signs SigV4 links on the bucket's regional host.

    One client per service and endpoint for the life of the process: a warm Lambda reuses them across
    invocations instead of paying tens of milliseconds per client on every run (boto3 clients are thread-safe).
    """
    environment = tuple(os.environ.get(name) for name in _CLIENT_ENVIRONMENT)
    return _cached_client(service, environment)


# What a client is bound to when created: a change (tests pointing at another local AWS) gets a new client.
_CLIENT_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
)


@lru_cache(maxsize=32)
def _cached_client(service: str, environment: tuple[str | None, ...]) -> BaseClient:
    # Deferred to the first client: boto3 and botocore cost ~200 ms to import; a warm container pays it once.
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    config = Config(retries={"mode": "standard", "max_attempts": 5})
    if service == "s3":
        # Real S3 only accepts SigV4 for KMS-encrypted objects; moto would accept the old form and hide the bug.
        config = config.merge(Config(signature_version="s3v4"))
        bound_to = dict(zip(_CLIENT_ENVIRONMENT, environment, strict=True))
        if not (bound_to["AWS_ENDPOINT_URL"] or bound_to["AWS_ENDPOINT_URL_S3"]):
            # Links on the bucket's regional host (bucket.s3.<region>.amazonaws.com). Left to itself botocore signs
            # for the global endpoint, which new regions refuse (SignatureDoesNotMatch) and which answers a new
            # bucket with 307 redirects for up to a day. A local endpoint (moto) keeps path style: it has no
            # per-bucket host names.
            config = config.merge(Config(s3={"addressing_style": "virtual"}))
    try:
        return boto3.client(service, config=config)  # type: ignore[call-overload]
    except NoRegionError:
        raise ConfigurationError(
            "no AWS region: set AWS_DEFAULT_REGION (and credentials) for your account, or use --local for local AWS"
        ) from None


def resolve_token(account: AccountSettings) -> str:
    """The account's API token: from the environment locally, from Secrets Manager when deployed."""
    if account.api_token is not None:
        return account.api_token.get_secret_value()
    if account.token_secret:
        # Deferred: only deployed runs read a secret (locally the token comes from the environment).
        from aws_lambda_powertools.utilities import parameters

        try:
            secret = parameters.get_secret(account.token_secret, max_age=TOKEN_CACHE_SECONDS)
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigurationError(
                f"could not read the Intervals token of account {account.name!r} from Secrets Manager "
                f"secret {account.token_secret!r}"
            ) from exc
        token = str(secret).strip()
        if token.startswith("{"):
            # A secret stored as JSON ({"token": "..."}) from the console's key/value editor.
            token = str(json.loads(token).get("token", "")).strip()
        if not token:
            raise ConfigurationError(f"Secrets Manager secret {account.token_secret!r} holds no token")
        return token
    raise ConfigurationError(
        f"no Intervals API token for account {account.name!r}: set INTERVALS_API_TOKEN locally "
        "(or INTERVALS_TOKEN_SECRET to a Secrets Manager secret name when deployed)"
    )


def build_ledger(settings: Settings, account: AccountSettings) -> DynamoDBQuotaLedger:
    """The account's DynamoDB quota ledger in the state table."""
    return DynamoDBQuotaLedger(
        settings.state_table,
        account.name,
        daily_limit=account.daily_quota,
        reserve=account.quota_reserve,
        client=aws_client("dynamodb"),
    )


def build_client(
    settings: Settings,
    account: AccountSettings,
    ledger: QuotaLedger,
    *,
    token: str | None = None,
    deadline: RemainingTime | None = None,
    reference_cache: ReferenceRecordsCache | None = None,
) -> IntervalsClient:
    """An Intervals client for the account, paced (one pacer per API host and process: the API's limit is per
    IP) and reserving quota in `ledger`; in a Lambda (`deadline`) it refuses work that cannot finish in time."""
    stop_by = None
    if deadline is not None:
        # A minute kept for archiving, emailing and recording after the last page.
        stop_by = time.monotonic() + deadline.get_remaining_time_in_millis() / 1000 - DELIVERY_MARGIN_SECONDS
    return IntervalsClient(
        account.api_url,
        token if token is not None else resolve_token(account),
        ledger=ledger,
        page_size=settings.intervals_page_size,
        requests_per_minute=settings.intervals_requests_per_minute,
        max_in_flight=settings.intervals_max_in_flight,
        max_retry_seconds=settings.intervals_max_retry_seconds,
        pacer=shared_pacer(urlsplit(account.api_url).netloc, settings.intervals_requests_per_minute),
        deadline=stop_by,
        reference_cache=reference_cache,
    )


def build_time_source(
    settings: Settings,
    account: AccountSettings,
    ledger: QuotaLedger,
    *,
    token: str | None = None,
    deadline: RemainingTime | None = None,
    progress: ProgressCallback | None = None,
) -> TimeSource:
    """Where the account's time entries are read from, for reports and for the Reports API alike: the account's entry
    mirror (synced through the client, kept in the bucket and the state table), or with `mirror: false` the
    Intervals client directly."""
    if not account.mirror:
        return build_client(settings, account, ledger, token=token, deadline=deadline)
    return build_mirrored_source(settings, account, ledger, token=token, deadline=deadline, progress=progress)


def build_mirrored_source(
    settings: Settings,
    account: AccountSettings,
    ledger: QuotaLedger,
    *,
    token: str | None = None,
    deadline: RemainingTime | None = None,
    progress: ProgressCallback | None = None,
) -> MirroredTimeSource:
    """The account's mirror as a time source, whatever the account's `mirror` setting says (sync jobs use it)."""
    # Reference data kept in the bucket across runs (names for the mirror's entries), not only in the process.
    cache = S3ReferenceCache(
        account.name,
        bucket=settings.reports_bucket,
        s3=aws_client("s3"),
        ttl_seconds=settings.mirror_reference_hours * 3600,
    )
    client = build_client(settings, account, ledger, token=token, deadline=deadline, reference_cache=cache)
    return MirroredTimeSource(client, build_mirror(settings, account, client, progress=progress))


def build_mirror(
    settings: Settings,
    account: AccountSettings,
    client: IntervalsClient,
    *,
    progress: ProgressCallback | None = None,
) -> EntryMirror:
    """The account's entry mirror (month objects in the bucket, the manifest in the state table), synced through
    `client`; names of stored entries come from the reference data (`client`'s cache)."""
    store = S3MirrorStore(
        account.name,
        bucket=settings.reports_bucket,
        table_name=settings.state_table,
        s3=aws_client("s3"),
        dynamodb=aws_client("dynamodb"),
    )
    return EntryMirror(
        client,
        store,
        full_repull_days=settings.mirror_full_repull_days,
        progress=progress,
        names=lambda: reference_names(client),
        names_max_age=timedelta(hours=settings.mirror_reference_hours),
    )


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
    account = settings.account(account_name)
    if api_url:
        account = account.model_copy(update={"api_url": api_url})
    ledger = build_ledger(settings, account)
    return ReportRunner(
        client=build_time_source(settings, account, ledger, token=token, deadline=deadline, progress=progress),
        ledger=ledger,
        archive=S3Archive(settings.reports_bucket, aws_client("s3")),
        mailer=SesMailer(aws_client("sesv2"), configuration_set=settings.ses_configuration_set),
        history=build_run_history(settings),
        options=DeliveryOptions(
            sender=settings.sender_email,
            attachment_limit_bytes=settings.attachment_limit_bytes,
            link_expiry_seconds=settings.link_expiry_seconds,
        ),
        once=build_once(settings, deadline),
        claims=DynamoDBMessageClaims(settings.state_table, aws_client("dynamodb")),
    )


def build_run_history(settings: Settings) -> DynamoDBRunHistory:
    """The run history in the state table."""
    return DynamoDBRunHistory(settings.state_table, aws_client("dynamodb"))


def build_failure_policy(settings: Settings) -> FailurePolicy:
    """Failure counting, owner notices (SES) and pausing for scheduled runs."""
    return FailurePolicy(
        states=build_report_states(settings),
        claims=DynamoDBFailureClaims(settings.state_table, aws_client("dynamodb")),
        mailer=SesMailer(aws_client("sesv2"), configuration_set=settings.ses_configuration_set),
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


def build_reports_api_service(
    settings: Settings, *, api_url: str | None = None, token: str | None = None
) -> ReportsApiService:
    """What the Reports API answers from: the catalogue, and per answer the account's time source over its ledger
    (built per answer: its request count and pacing belong to that answer's pulls)."""
    sources = account_sources(settings, api_url=api_url, token=token)
    return ReportsApiService(catalogue=Catalogue(settings.catalogue_dir), sources=sources)


def account_sources(
    settings: Settings, *, api_url: str | None = None, token: str | None = None
) -> Callable[[str], TimeSource]:
    """A new time source of a named account, over its ledger, each time it is called."""

    def sources(account_name: str) -> TimeSource:
        account = settings.account(account_name)
        if api_url:
            account = account.model_copy(update={"api_url": api_url})
        return build_time_source(settings, account, build_ledger(settings, account), token=token)

    return sources


def build_revision_check(
    settings: Settings,
    catalogue_dir: str | Path | None = None,
    *,
    api_url: str | None = None,
    token: str | None = None,
) -> RevisionCheck:
    """The revision check over the catalogue: history, archive, mailer and revision marks in the stack's resources."""
    return RevisionCheck(
        catalogue=Catalogue(catalogue_dir if catalogue_dir is not None else settings.catalogue_dir),
        history=build_run_history(settings),
        archive=S3Archive(settings.reports_bucket, aws_client("s3")),
        mailer=SesMailer(aws_client("sesv2"), configuration_set=settings.ses_configuration_set),
        marks=DynamoDBRevisionMarks(settings.state_table, aws_client("dynamodb")),
        sources=account_sources(settings, api_url=api_url, token=token),
        sender=settings.sender_email,
    )


def build_sync_service(
    settings: Settings,
    *,
    api_url: str | None = None,
    token: str | None = None,
    progress: ProgressCallback | None = None,
    queue: bool = True,
) -> MirrorSyncService:
    """Mirror syncs of a range: in the process, month by month, or (deployed) as month jobs on the run queue."""

    def sources(account_name: str, deadline: RemainingTime | None) -> MirroredTimeSource:
        account = settings.account(account_name)
        if api_url:
            account = account.model_copy(update={"api_url": api_url})
        ledger = build_ledger(settings, account)
        return build_mirrored_source(settings, account, ledger, token=token, deadline=deadline, progress=progress)

    return MirrorSyncService(sources, build_run_queue(settings) if queue else None)


def build_run_queue(settings: Settings) -> SqsRunQueue:
    """The SQS run queue named by REPORT_QUEUE_URL (the template sets it; `--local` sets it to the queue it made)."""
    if not settings.report_queue_url:
        raise ConfigurationError("REPORT_QUEUE_URL: not set; the dispatcher needs the run queue's URL")
    return SqsRunQueue(settings.report_queue_url, aws_client("sqs"))


def build_deferred_runs(settings: Settings) -> DynamoDBDeferredRuns:
    """Where runs that found the quota spent wait for the reset (the state table)."""
    return DynamoDBDeferredRuns(settings.state_table, aws_client("dynamodb"))


def build_report_states(settings: Settings) -> DynamoDBReportStates:
    """Per-report failure counts and pauses (the state table)."""
    return DynamoDBReportStates(settings.state_table, aws_client("dynamodb"))


def build_dispatcher(
    settings: Settings, catalogue_dir: str | Path | None = None, *, logger: DispatchLogger | None = None
) -> Dispatcher:
    """The dispatcher over the catalogue (`catalogue_dir`, else CATALOGUE_DIR), with its DynamoDB stores and the
    SQS run queue. An invalid catalogue raises DefinitionError before anything is claimed or sent."""
    catalogue = load_catalogue(Path(catalogue_dir) if catalogue_dir is not None else Path(settings.catalogue_dir))
    return Dispatcher(
        catalogue,
        cursors=DynamoDBCursorStore(settings.state_table, aws_client("dynamodb")),
        queue=build_run_queue(settings),
        deferred=build_deferred_runs(settings),
        state=build_report_states(settings),
        logger=logger,
    )
