"""The ports: the small protocols the use cases depend on, and the data they exchange.

Adapters in `timereports.dal` (and the Intervals client) implement them; `timereports_dev.fakes` has in-memory
versions for tests. Use cases import from here, never from an adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from timereports.clock import format_instant

if TYPE_CHECKING:
    # Only named in annotations: a handler that uses a few ports does not import the models of all of them.
    from timereports.engine.attributes import EntryLike
    from timereports.engine.quota_rules import QuotaStatus
    from timereports.models.events import RunMessage, SyncMessage
    from timereports.models.feedback import FeedbackKind
    from timereports.models.intervals import ApiQuota, ReferenceData, TimeQuery
    from timereports.models.mirror import MirrorManifest
    from timereports.models.run_record import RunOutcome, RunRecord

# Deferred runs re-enqueued per tick; the rest wait for the next tick (a tick must finish well inside its timeout).
MAX_DEFERRED_PER_TICK = 200


class RemainingTime(Protocol):
    """What a run reads of a Lambda context: how long the invocation may still take (bounds pulls and claims)."""

    def get_remaining_time_in_millis(self) -> int: ...


class RunOnce(Protocol):
    """Delivers a run at most once per identity (`run_key`: report id + scheduled time): a second call for a delivered
    run answers with the first call's outcome, and a call while another is in progress raises RunInProgressError."""

    def __call__(self, deliver: Callable[[], RunOutcome], run_key: dict[str, str]) -> RunOutcome: ...


class QuotaLedger(Protocol):
    """The port: reserve before each request, learn from the API, give back what was not sent."""

    def reserve(self, requests: int = 1) -> QuotaStatus:
        """Reserve `requests` units atomically, or raise QuotaExhaustedError having reserved none."""
        ...

    def refund(self, requests: int, *, day: date | None = None) -> None:
        """Give back reserved units that a run did not send (never below zero).

        `day` is the UTC day they were reserved on (`QuotaStatus.day` of the reservation); a refund for a day that
        has ended is dropped, because that allowance is gone and today's count must not shrink for it.
        """
        ...

    def observe(self, quota: ApiQuota) -> QuotaStatus:
        """Learn the account's real usage and limit from GET /quota/ (usage is raised, never lowered)."""
        ...

    def mark_exhausted(self, resets_at: datetime | None = None) -> None:
        """Record that the API refused a request with code 11: nothing more is reserved until the reset."""
        ...

    def status(self) -> QuotaStatus:
        """Today's count, limit and flag, without reserving anything."""
        ...


class RunHistory(Protocol):
    def record(self, run: RunRecord) -> None: ...
    def last_runs(self, report_id: str, limit: int = 10) -> list[RunRecord]: ...

    def last_slices(self, report_id: str) -> dict[str, list[int]]:
        """The record ids each slice was for (`RunRecord.slice_records`) as the report's last run that sent its
        slices recorded them, however many runs have failed since; {} before any did."""
        ...


class FailureClaims(Protocol):
    def claim(self, report_id: str, run_id: str) -> bool: ...


class Archive(Protocol):
    def put(self, key: str, body: bytes, metadata: dict[str, str], *, content_type: str = ...) -> str: ...
    def get(self, key: str) -> bytes: ...
    def link(self, key: str, expires_in: int) -> str: ...


@dataclass(frozen=True)
class RevisionMark:
    """The last revision sent for one delivered period (or slice of it): its number, where its CSV is, and when it
    went out (a delivery of the period after it is what the recipients have now)."""

    number: int
    s3_key: str
    sent_at: str = ""  # ISO instant; "" for a mark given back, which nobody has


class RevisionMarks(Protocol):
    """Per delivered period, the revision its recipients last got; moving it is how a check claims the next one."""

    def current(self, report_id: str, watch: str) -> RevisionMark | None: ...

    def advance(self, report_id: str, watch: str, expected: int, mark: RevisionMark) -> bool:
        """Set `mark` if the watch's revision number is still `expected` (0: none yet); False if another check
        won. `watch` names the period (and slice) watched."""
        ...


class MessageClaims(Protocol):
    """One claim per message of a run (the whole report's batches, each slice's): a retried run sends none twice."""

    def claim(self, run_id: str, message_key: str) -> bool:
        """True for the first attempt to send this message of this run; False when an earlier attempt claimed it."""
        ...

    def sent(self, run_id: str, message_key: str, message_id: str) -> None:
        """Record that the claimed message was accepted by the mailer (its message id)."""
        ...

    def release(self, run_id: str, message_key: str) -> None:
        """Give a claim back: the mailer refused the message, so a retry may send it."""
        ...


class Mailer(Protocol):
    def send(self, raw_message: bytes, *, sender: str, destinations: list[str]) -> str: ...


class TimeSource(Protocol):
    """What the runner needs of the Intervals client (direct) or of the entry mirror (`logic/mirrored_source.py`)."""

    def sync_quota(self) -> Any: ...
    def reference_data(self, needs: set[str], *, missing: Sequence[str] = ()) -> ReferenceData: ...
    def iter_time_many(self, queries: Sequence[TimeQuery]) -> Iterator[tuple[int, EntryLike]]: ...

    @property
    def requests_sent(self) -> int: ...

    def source_facts(self) -> dict[str, Any]:
        """Where the entries came from, for run.json and the history: `source` (mirror | direct) and, from the
        mirror, `changes_synced` and `count_probes`."""
        ...


class MirrorApi(Protocol):
    """What the entry mirror needs of the Intervals client."""

    page_size: int

    def sync_quota(self) -> Any: ...
    def reference_data(self, needs: set[str], *, missing: Sequence[str] = ()) -> ReferenceData: ...
    def iter_time_raw(self, query: TimeQuery | None = None) -> Iterator[dict[str, Any]]: ...
    def iter_modified_raw(self, since: datetime, query: TimeQuery | None = None) -> Iterator[dict[str, Any]]: ...
    def count_time(self, query: TimeQuery) -> int: ...
    def iter_time_many(self, queries: Sequence[TimeQuery]) -> Iterator[tuple[int, EntryLike]]: ...

    @property
    def requests_sent(self) -> int: ...

    @property
    def waited_seconds(self) -> float: ...


class ReferenceRecordsCache(Protocol):
    """Raw reference records per API user (base URL, token hash) and resource, kept for a while (the client's)."""

    def get(self, key: tuple[str, str], resource: str) -> list[dict[str, Any]] | None: ...
    def put(self, key: tuple[str, str], resource: str, records: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class SyncProgress:
    """Where a mirror sync is, for a progress display: the step, entries of that step so far, requests sent, and the
    time spent waiting on the API's rate limit."""

    stage: str
    entries: int
    requests: int
    waited_seconds: float


# What a long sync tells as it goes (the command line's progress bar).
ProgressCallback = Callable[[SyncProgress], None]


class MirrorStore(Protocol):
    """Where an account's mirror lives: month objects (never overwritten) and the versioned manifest."""

    account: str

    def load_manifest(self) -> MirrorManifest: ...

    def publish(self, manifest: MirrorManifest, expected_version: int) -> bool:
        """Publish `manifest` if the published version is still `expected_version`; False if another was first."""
        ...

    def write_month(self, month: str, body: bytes) -> str:
        """Store a month's object under a new key and return the key (visible once a manifest names it)."""
        ...

    def read_object(self, key: str) -> bytes | None: ...
    def delete_objects(self, keys: Iterable[str]) -> None: ...


class TimeSources(Protocol):
    """A new time source of a named account; `deadline` bounds its pulls by an invocation's remaining time."""

    def __call__(self, account: str, deadline: RemainingTime | None = None) -> TimeSource: ...


# ---------------------------------------------------------------------------------------------------------- ports


class CursorStore(Protocol):
    """Per report, the instant of the last tick that handled it."""

    def all(self) -> dict[str, datetime]:
        """Every report's cursor (one read per tick, not one per report)."""
        ...

    def get(self, report_id: str) -> datetime | None: ...

    def compare_and_set(self, report_id: str, expected: datetime | None, new: datetime) -> bool:
        """Set the cursor to `new` only if it is `expected` (None: only if it has none); False if it was not."""
        ...


class RunQueue(Protocol):
    """Where due runs go (the run_report function's SQS queue)."""

    def send(self, messages: Sequence[RunMessage]) -> None:
        """Queue every message, or raise RunQueueError listing those that were not queued."""
        ...


class RetryQueue(Protocol):
    """The queue a failed run's message came from: it can bring the message back sooner than its visibility timeout."""

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        """Make the received message visible again in `seconds`; raises TimereportsError when SQS refuses."""
        ...


class SyncJobQueue(Protocol):
    """Where month sync jobs go (the run queue)."""

    def send_sync(self, jobs: list[SyncMessage]) -> None: ...


class WaitingQueue(RetryQueue, SyncJobQueue, Protocol):
    """The run queue as a sync job waiting for the quota uses it: its message hidden longer, or sent again afresh."""


class FeedbackLog(Protocol):
    """Where SES bounces and complaints are recorded: the history of the run that sent the message."""

    def add_feedback(self, ses_message_id: str, kind: FeedbackKind, recipients: list[str]) -> str | None:
        """Record the recipients on the run that sent the message; its report id, or None if no run did."""
        ...


@dataclass(frozen=True)
class DeferredRun:
    """A run that found its account's quota spent, parked until `until` (the next quota reset)."""

    message: RunMessage
    until: datetime

    @property
    def sort_key(self) -> str:
        """Due time first, so that "due by t" is one key-range query: sk < "<t>$" ('$' sorts right after '#')."""
        return f"{format_instant(self.until)}#{self.message.report_id}#{format_instant(self.message.scheduled_at)}"


class DeferredRuns(Protocol):
    """Runs waiting for the quota reset; the dispatcher re-enqueues them once due."""

    def defer(self, message: RunMessage, until: datetime) -> None: ...

    def due(self, at: datetime, limit: int = MAX_DEFERRED_PER_TICK) -> list[DeferredRun]:
        """The parked runs whose `until` is at or before `at`, earliest first, at most `limit`."""
        ...

    def remove(self, run: DeferredRun) -> bool:
        """Remove a parked run; False if it was already gone (another tick took it)."""
        ...


@dataclass(frozen=True)
class ReportState:
    """What the operator and the failure policy know about a report: failures in a row, and whether it is paused."""

    consecutive_failures: int = 0
    paused: bool = False
    paused_reason: str | None = None


class ReportStates(Protocol):
    """Per-report state: the run_report side counts failures and pauses a failing report; the dispatcher skips it."""

    def get(self, report_id: str) -> ReportState: ...
    def record_success(self, report_id: str) -> None: ...

    def record_failure(self, report_id: str) -> int:
        """Count one more failure in a row (atomically); return the new count."""
        ...

    def pause(self, report_id: str, reason: str) -> None: ...
    def is_paused(self, report_id: str) -> bool: ...
    def resume(self, report_id: str) -> None: ...


class DispatchLogger(Protocol):
    """What the dispatcher logs through: the standard library's logger, or a Powertools Logger in the Lambda (which
    turns `extra` into structured keys)."""

    def info(self, msg: str, *args: object, extra: Mapping[str, object] | None = None) -> None: ...
    def warning(self, msg: str, *args: object, extra: Mapping[str, object] | None = None) -> None: ...
    def error(self, msg: str, *args: object, extra: Mapping[str, object] | None = None) -> None: ...
