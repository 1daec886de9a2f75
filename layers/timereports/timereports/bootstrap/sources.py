"""Where an account's time entries come from: the Intervals client (behind the account's quota ledger), or the entry
mirror in front of it, chosen per account; and the mirror's own sync service.
"""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

from timereports.bootstrap.aws import aws_client, resolve_token
from timereports.bootstrap.scheduling import build_run_queue
from timereports.config import AccountSettings, Settings
from timereports.dal.mirror_store import S3MirrorStore, S3ReferenceCache
from timereports.dal.quota_ledger import DynamoDBQuotaLedger
from timereports.intervals.client import IntervalsClient
from timereports.intervals.pacing import shared_pacer
from timereports.logic.mirror import EntryMirror
from timereports.logic.mirror_sync import MirrorSyncService
from timereports.logic.mirrored_source import MirroredTimeSource, reference_names
from timereports.logic.ports import (
    ProgressCallback,
    QuotaLedger,
    ReferenceRecordsCache,
    RemainingTime,
    TimeSource,
    TimeSources,
)

# Time kept after the last page, when a Lambda's deadline bounds the pull: a report run archives, emails and records
# (its function has 15 minutes); the Reports API only renders its JSON, within API Gateway's 30 seconds.
DELIVERY_MARGIN_SECONDS = 60
ANSWER_MARGIN_SECONDS = 3


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
    margin_seconds: float = DELIVERY_MARGIN_SECONDS,
    reference_cache: ReferenceRecordsCache | None = None,
) -> IntervalsClient:
    """An Intervals client for the account, paced (one pacer per API host and process: the API's limit is per
    IP) and reserving quota in `ledger`; in a Lambda (`deadline`) it refuses work that cannot finish
    `margin_seconds` before the invocation's end."""
    stop_by = None
    if deadline is not None:
        stop_by = time.monotonic() + deadline.get_remaining_time_in_millis() / 1000 - margin_seconds
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
    margin_seconds: float = DELIVERY_MARGIN_SECONDS,
    progress: ProgressCallback | None = None,
) -> TimeSource:
    """Where the account's time entries are read from, for reports and for the Reports API alike: the account's entry
    mirror (synced through the client, kept in the bucket and the state table), or with `mirror: false` the
    Intervals client directly."""
    if not account.mirror:
        return build_client(settings, account, ledger, token=token, deadline=deadline, margin_seconds=margin_seconds)
    return build_mirrored_source(
        settings, account, ledger, token=token, deadline=deadline, margin_seconds=margin_seconds, progress=progress
    )


def build_mirrored_source(
    settings: Settings,
    account: AccountSettings,
    ledger: QuotaLedger,
    *,
    token: str | None = None,
    deadline: RemainingTime | None = None,
    margin_seconds: float = DELIVERY_MARGIN_SECONDS,
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
    client = build_client(
        settings, account, ledger, token=token, deadline=deadline, margin_seconds=margin_seconds, reference_cache=cache
    )
    return MirroredTimeSource(client, build_mirror(settings, account, client, progress=progress))


def build_mirror_store(settings: Settings, account_name: str) -> S3MirrorStore:
    """Where the account's mirror lives: month objects in the reports bucket, the manifest in the state table."""
    return S3MirrorStore(
        account_name,
        bucket=settings.reports_bucket,
        table_name=settings.state_table,
        s3=aws_client("s3"),
        dynamodb=aws_client("dynamodb"),
    )


def build_mirror(
    settings: Settings,
    account: AccountSettings,
    client: IntervalsClient,
    *,
    progress: ProgressCallback | None = None,
) -> EntryMirror:
    """The account's entry mirror (month objects in the bucket, the manifest in the state table), synced through
    `client`; names of stored entries come from the reference data (`client`'s cache)."""
    return EntryMirror(
        client,
        build_mirror_store(settings, account.name),
        full_repull_days=settings.mirror_full_repull_days,
        progress=progress,
        names=lambda: reference_names(client),
        names_max_age=timedelta(hours=settings.mirror_reference_hours),
    )


def account_sources(
    settings: Settings,
    *,
    api_url: str | None = None,
    token: str | None = None,
    margin_seconds: float = DELIVERY_MARGIN_SECONDS,
) -> TimeSources:
    """A new time source of a named account, over its ledger, each time it is called; `deadline` (the invocation's
    Lambda context) makes its pulls refuse work that cannot finish `margin_seconds` before the invocation ends,
    before reserving quota for it."""

    def sources(account: str, deadline: RemainingTime | None = None) -> TimeSource:
        named = settings.account(account, api_url=api_url)
        ledger = build_ledger(settings, named)
        return build_time_source(settings, named, ledger, token=token, deadline=deadline, margin_seconds=margin_seconds)

    return sources


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
        account = settings.account(account_name, api_url=api_url)
        ledger = build_ledger(settings, account)
        return build_mirrored_source(settings, account, ledger, token=token, deadline=deadline, progress=progress)

    return MirrorSyncService(sources, build_run_queue(settings) if queue else None)
