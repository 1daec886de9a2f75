"""The dispatcher: on each tick, one queued run per report that fell due, sent once, plus the deferred runs now due.

EventBridge Scheduler invokes the dispatch function every few minutes. Each scheduled report of the catalogue keeps a
cursor in DynamoDB, the last tick that handled it; a tick sends a `RunMessage` for every fire time of the report's cron
in (cursor, tick] and moves the cursor to the tick. Runs that found the account's quota spent wait in DynamoDB until
the reset (`DeferredRuns`) and a tick re-enqueues them once they are due.

Delivery guarantees, and where each is enforced:
- The cursor moves first, with a compare-and-set from the value the tick read to the tick's instant, and only the tick
  whose write won sends that window's messages. Two overlapping ticks (a Scheduler retry, a person running
  `timereports dispatch` by hand) therefore never both send a window: the loser sees a newer cursor and either has
  nothing left to send or claims only the part after the winner's instant.
- If sending fails after the claim, the cursor is moved back (again compare-and-set, so only if no later tick has
  claimed past it) and the error raised, so that the next tick or the Scheduler's retry sends the window again. The
  queue is a standard SQS queue, which may deliver a message twice anyway; exactly-once delivery of a report is the
  run_report side's job: its idempotency key is report_id + scheduled_at, and every message for one run carries the
  same (deterministic) body. A FIFO queue also gets a MessageDeduplicationId derived from that pair.
- A report seen for the first time starts at that tick: nothing from before it is sent. After an outage, missed fire
  times are caught up, but only those within `max_catch_up` of the tick and at most `max_runs_per_report` of them (the
  latest); older ones are dropped and logged, never sent, so a week-long outage does not flood inboxes.
- A paused report's window is claimed and its runs dropped (logged): resuming it does not replay what was skipped.

`CursorStore`, `RunQueue`, `DeferredRuns` and `ReportStates` are ports; the DynamoDB/SQS adapters and in-memory
versions (for unit tests and one process) live here too. `build_dispatcher` and `build_deferred_runs` wire the real
ones from settings.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import zoneinfo
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .aws_errors import aws_error, is_condition_failure
from .clock import as_utc
from .config import Settings
from .errors import TimereportsError
from .events import RunMessage
from .schedule import iter_fire_times
from .spec import ReportDefinition, load_catalogue
from .timeframes import resolve_time_frame, today_in

# A dispatcher down for longer than this (an outage, a disabled schedule) does not send the runs it missed before it:
# a daily report from last week is noise, and a burst of them would spend the day's API quota at once.
DEFAULT_MAX_CATCH_UP = timedelta(days=2)
# At most this many runs of one report per tick (the latest): two days of an hourly report.
DEFAULT_MAX_RUNS_PER_REPORT = 48
# Compare-and-set attempts per report and tick; each failure means another tick moved the cursor meanwhile, so a
# few suffice, and a bound keeps a pathological race from spinning.
MAX_CLAIM_ATTEMPTS = 5
# Deferred runs re-enqueued per tick; the rest wait for the next tick (a tick must finish well inside its timeout).
MAX_DEFERRED_PER_TICK = 200
# How many dropped fire times a tick counts for its log line before it stops counting.
MAX_COUNTED_DROPS = 10_000

CURSOR_PARTITION = "cursor#dispatch"
DEFERRED_PARTITION = "deferred"
REPORT_STATE_SORT_KEY = "state"
# A deferred run outlives its due time by this long before the table's TTL may delete it: far longer than any outage
# the dispatcher should catch up from, and as long as run_report remembers a run's identity.
DEFERRED_RETENTION = timedelta(days=35)

SQS_BATCH_SIZE = 10  # the SendMessageBatch maximum
SEND_ATTEMPTS = 4
SEND_BACKOFF_SECONDS = 0.2

_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_instant(moment: datetime) -> str:
    """A fixed-width UTC timestamp (microseconds, `Z`): stored values that sort as text in time order."""
    return as_utc(moment, "moment").strftime(_ISO_FORMAT)


def parse_instant(text: str) -> datetime:
    """The aware UTC instant of a `format_instant` string."""
    return datetime.strptime(text, _ISO_FORMAT).replace(tzinfo=UTC)


def run_key(message: RunMessage) -> str:
    """A run's identity, `report_id#scheduled_at`: what run_report's idempotency and FIFO deduplication key on."""
    return f"{message.report_id}#{format_instant(message.scheduled_at)}"


class RunQueueError(TimereportsError):
    """Some run messages could not be queued after retries; `unsent` lists them. Retryable: nothing was lost yet."""

    exit_code = 6
    retryable = True

    def __init__(self, message: str, *, unsent: Sequence[RunMessage]) -> None:
        super().__init__(message)
        self.unsent = list(unsent)


def _aws_error(what: str, exc: Exception) -> TimereportsError:
    return aws_error(f"dispatch: {what}", exc)


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


@dataclass(frozen=True)
class DeferredRun:
    """A run that found its account's quota spent, parked until `until` (the next quota reset)."""

    message: RunMessage
    until: datetime


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


# ------------------------------------------------------------------------------------------------------ use case


@dataclass
class _Claim:
    """A window (previous, at] of one report that this tick won, and the runs it holds."""

    report: ReportDefinition
    previous: datetime
    at: datetime
    messages: list[RunMessage] = field(default_factory=list)
    stale: int = 0  # fire times dropped for being older than the catch-up bound (counted up to MAX_COUNTED_DROPS)
    excess: int = 0  # fire times dropped beyond the per-report bound


class Dispatcher:
    """One tick: due runs of every scheduled report and due deferred runs, onto the run queue, each window once."""

    def __init__(
        self,
        catalogue: Sequence[ReportDefinition],
        cursors: CursorStore,
        queue: RunQueue,
        deferred: DeferredRuns,
        state: ReportStates | None = None,
        *,
        max_catch_up: timedelta = DEFAULT_MAX_CATCH_UP,
        max_runs_per_report: int = DEFAULT_MAX_RUNS_PER_REPORT,
        logger: Any = None,
    ) -> None:
        if max_catch_up <= timedelta(0) or max_runs_per_report < 1:
            raise ValueError(
                f"max_catch_up must be positive and max_runs_per_report at least 1, got {max_catch_up} and "
                f"{max_runs_per_report}"
            )
        self.catalogue = {report.id: report for report in catalogue}
        self._scheduled = [report for report in catalogue if report.schedule is not None]
        self._cursors = cursors
        self._queue = queue
        self._deferred = deferred
        self._state = state
        self.max_catch_up = max_catch_up
        self.max_runs_per_report = max_runs_per_report
        # A Powertools Logger in the Lambda (structured keys from `extra`), the standard library's elsewhere.
        self._log = logger or logging.getLogger(__name__)

    def tick(self, at: datetime) -> list[RunMessage]:
        """Queue the runs due in (each report's cursor, `at`] and the deferred runs due by `at`; return them.

        Raises RunQueueError when some could not be queued; their windows and deferred runs are put back first, so
        the next tick (or a retry of this one) sends them.
        """
        now = as_utc(at, "at")
        cursors = self._cursors.all()
        claims = [claim for report in self._scheduled if (claim := self._claim(report, cursors.get(report.id), now))]
        taken: list[DeferredRun] = []
        try:
            for claim in claims:
                if claim.messages and self._paused(claim.report.id):
                    self._log.info(
                        "report paused: due runs skipped",
                        extra={"report_id": claim.report.id, "skipped": len(claim.messages)},
                    )
                    claim.messages = []
            self._take_deferred(now, taken)
            outgoing = [message for claim in claims for message in claim.messages] + [run.message for run in taken]
            self._queue.send(outgoing)
        except RunQueueError as exc:
            self._put_back(exc.unsent, claims, taken)
            raise
        except Exception:
            # Whatever failed after the claims (a DynamoDB read, a bug), nothing claimed may be lost: put it all back.
            claimed = [message for claim in claims for message in claim.messages] + [run.message for run in taken]
            self._put_back(claimed, claims, taken)
            raise
        return outgoing

    def describe(self, message: RunMessage) -> dict[str, Any]:
        """A run as the CLI and the handler print it: the message plus `scheduled_local` in the schedule's zone."""
        report = self.catalogue.get(message.report_id)
        zone = report.schedule_timezone if report is not None else "UTC"
        local = message.scheduled_at.astimezone(zoneinfo.ZoneInfo(zone))
        fields = message.model_dump(mode="json", by_alias=True)
        return {
            "report_id": message.report_id,
            "scheduled_at": fields["scheduled_at"],
            "scheduled_local": local.isoformat(),
            "from": fields["from"],
            "to": fields["to"],
            "account": message.account,
        }

    def message_for(self, report: ReportDefinition, fired: datetime) -> RunMessage:
        """The run of `report` due at `fired`: its period is the time frame as of that instant's date in the REPORT's
        zone (a Monday 07:00 Berlin run covers Berlin's last week, whatever the schedule's zone)."""
        period = resolve_time_frame(report.time_frame, today_in(report.timezone, fired), report.week_start_index)
        return RunMessage.model_validate(
            {
                "report_id": report.id,
                "scheduled_at": fired,
                "account": report.account,
                "from": period.start,
                "to": period.end,
            }
        )

    def _claim(self, report: ReportDefinition, previous: datetime | None, now: datetime) -> _Claim | None:
        """Move the report's cursor to `now` if no other tick has; the window's runs if this tick won it.

        Claiming before sending is what keeps two overlapping ticks from both sending: the compare-and-set from the
        value read succeeds for exactly one of them. A tick that loses re-reads and claims what is left, if anything.
        The runs are worked out before the claim, so that nothing can fail between winning a window and sending it.
        """
        for _ in range(MAX_CLAIM_ATTEMPTS):
            if previous is None:
                # First sight of the report: it starts here, so adding a report never replays its past schedule.
                if self._cursors.compare_and_set(report.id, None, now):
                    self._log.info("new scheduled report: runs due from now on", extra={"report_id": report.id})
                    return None
            elif previous >= now:
                return None  # a tick at or after this instant already handled the report: the cursor never goes back
            else:
                claim = self._plan(report, previous, now)
                if self._cursors.compare_and_set(report.id, previous, now):
                    self._log_dropped(claim)
                    return claim
            previous = self._cursors.get(report.id)
        self._log.warning("cursor kept moving under this tick; the next tick will send", extra={"report_id": report.id})
        return None

    def _plan(self, report: ReportDefinition, previous: datetime, now: datetime) -> _Claim:
        """The runs of the window (previous, now], bounded: fire times older than `max_catch_up`, and all but the
        latest `max_runs_per_report`, are dropped (and counted for the log)."""
        assert report.schedule is not None
        cron, zone = report.schedule.cron, report.schedule_timezone
        claim = _Claim(report=report, previous=previous, at=now)
        start = previous
        oldest_kept = now - self.max_catch_up
        if start < oldest_kept:
            claim.stale = sum(1 for _ in islice(iter_fire_times(cron, zone, start, oldest_kept), MAX_COUNTED_DROPS))
            start = oldest_kept
        due: deque[datetime] = deque(maxlen=self.max_runs_per_report)
        count = 0
        for fired in iter_fire_times(cron, zone, start, now):
            due.append(fired)
            count += 1
        claim.excess = count - len(due)
        claim.messages = [self.message_for(report, fired) for fired in due]
        return claim

    def _log_dropped(self, claim: _Claim) -> None:
        if claim.stale:
            self._log.warning(
                "missed runs older than the catch-up bound dropped",
                extra={
                    "report_id": claim.report.id,
                    "dropped": claim.stale,
                    "missed_since": claim.previous.isoformat(),
                    "oldest_kept": (claim.at - self.max_catch_up).isoformat(),
                },
            )
        if claim.excess:
            self._log.warning(
                "missed runs beyond the per-report bound dropped (the latest are sent)",
                extra={"report_id": claim.report.id, "dropped": claim.excess, "sent": len(claim.messages)},
            )

    def _paused(self, report_id: str) -> bool:
        return self._state is not None and self._state.is_paused(report_id)

    def _take_deferred(self, now: datetime, taken: list[DeferredRun]) -> None:
        """Add to `taken` the deferred runs due by `now` that this tick removed: removal is the claim, as with
        cursors. `taken` grows as it goes, so that a failure half-way still knows which runs to put back."""
        for run in self._deferred.due(now):
            report_id = run.message.report_id
            if report_id not in self.catalogue:
                # run_report would refuse it (and retry it into the dead-letter queue): the report was deleted.
                if self._deferred.remove(run):
                    self._log.warning(
                        "deferred run of a report no longer in the catalogue dropped",
                        extra={"report_id": report_id, "scheduled_at": run.message.scheduled_at.isoformat()},
                    )
                continue
            if self._paused(report_id):
                # Dropped, as the paused report's due runs are (and not left at the head of the parked runs, where
                # it would hold back everyone else's): resuming a report starts it afresh.
                if self._deferred.remove(run):
                    self._log.warning(
                        "deferred run of a paused report dropped",
                        extra={"report_id": report_id, "scheduled_at": run.message.scheduled_at.isoformat()},
                    )
                continue
            if self._deferred.remove(run):
                taken.append(run)

    def _put_back(self, unsent: Sequence[RunMessage], claims: list[_Claim], taken: list[DeferredRun]) -> None:
        """Undo the claims whose messages did not all go out, so that the next tick sends them again.

        A window goes back only if its cursor is still this tick's (compare-and-set): if a later tick has already
        claimed past it, moving the cursor back would make that later window be sent twice. Messages of the window
        that did go out will be sent again; run_report's idempotency (report_id + scheduled_at) absorbs them.
        """
        unsent_keys = {run_key(message) for message in unsent}
        for claim in claims:
            window_unsent = any(run_key(message) in unsent_keys for message in claim.messages)
            if window_unsent and not self._cursors.compare_and_set(claim.report.id, claim.at, claim.previous):
                self._log.error(
                    "runs not queued and their window already claimed by a later tick",
                    extra={"report_id": claim.report.id, "window_start": claim.previous.isoformat()},
                )
        for run in taken:
            if run_key(run.message) in unsent_keys:
                self._deferred.defer(run.message, run.until)


# -------------------------------------------------------------------------------------------- in-memory adapters


class InMemoryCursorStore:
    """Cursors in a dict (unit tests, one process); compare-and-set under a lock like DynamoDB's conditions."""

    def __init__(self, cursors: dict[str, datetime] | None = None) -> None:
        self.cursors: dict[str, datetime] = dict(cursors or {})
        self._lock = threading.Lock()

    def all(self) -> dict[str, datetime]:
        with self._lock:
            return dict(self.cursors)

    def get(self, report_id: str) -> datetime | None:
        with self._lock:
            return self.cursors.get(report_id)

    def compare_and_set(self, report_id: str, expected: datetime | None, new: datetime) -> bool:
        with self._lock:
            if self.cursors.get(report_id) != expected:
                return False
            self.cursors[report_id] = as_utc(new)
            return True


class InMemoryRunQueue:
    """Collects sent messages; `refuse` (a predicate) makes chosen messages fail, to test the undo path."""

    def __init__(self, refuse: Callable[[RunMessage], bool] | None = None) -> None:
        self.sent: list[RunMessage] = []
        self.refuse = refuse

    def send(self, messages: Sequence[RunMessage]) -> None:
        refused = [message for message in messages if self.refuse is not None and self.refuse(message)]
        self.sent.extend(message for message in messages if message not in refused)
        if refused:
            raise RunQueueError(f"{len(refused)} run messages refused", unsent=refused)


class InMemoryDeferredRuns:
    """Deferred runs in a dict keyed like the DynamoDB items."""

    def __init__(self) -> None:
        self.runs: dict[str, DeferredRun] = {}
        self._lock = threading.Lock()

    def defer(self, message: RunMessage, until: datetime) -> None:
        run = DeferredRun(message=message, until=as_utc(until, "until"))
        with self._lock:
            self.runs[_deferred_sort_key(run)] = run

    def due(self, at: datetime, limit: int = MAX_DEFERRED_PER_TICK) -> list[DeferredRun]:
        moment = as_utc(at, "at")
        with self._lock:
            return [self.runs[key] for key in sorted(self.runs) if self.runs[key].until <= moment][:limit]

    def remove(self, run: DeferredRun) -> bool:
        with self._lock:
            return self.runs.pop(_deferred_sort_key(run), None) is not None


class InMemoryReportStates:
    """Report states in a dict."""

    def __init__(self) -> None:
        self.states: dict[str, ReportState] = {}
        self._lock = threading.Lock()

    def get(self, report_id: str) -> ReportState:
        with self._lock:
            return self.states.get(report_id, ReportState())

    def record_success(self, report_id: str) -> None:
        with self._lock:
            state = self.states.get(report_id, ReportState())
            self.states[report_id] = ReportState(0, state.paused, state.paused_reason)

    def record_failure(self, report_id: str) -> int:
        with self._lock:
            state = self.states.get(report_id, ReportState())
            self.states[report_id] = ReportState(state.consecutive_failures + 1, state.paused, state.paused_reason)
            return state.consecutive_failures + 1

    def pause(self, report_id: str, reason: str) -> None:
        with self._lock:
            state = self.states.get(report_id, ReportState())
            self.states[report_id] = ReportState(state.consecutive_failures, True, reason)

    def is_paused(self, report_id: str) -> bool:
        return self.get(report_id).paused

    def resume(self, report_id: str) -> None:
        with self._lock:
            self.states[report_id] = ReportState()


# ---------------------------------------------------------------------------------------- DynamoDB/SQS adapters


def _deferred_sort_key(run: DeferredRun) -> str:
    # Due time first, so that "due by t" is one key-range query: sk < "<t>$" ('$' sorts right after '#').
    return f"{format_instant(run.until)}#{run.message.report_id}#{format_instant(run.message.scheduled_at)}"


class DynamoDBCursorStore:
    """Cursors in the state table: pk `cursor#dispatch`, sk = report id, `cursor` = the last tick's instant."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._client = client

    def all(self) -> dict[str, datetime]:
        cursors: dict[str, datetime] = {}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": CURSOR_PARTITION}},
            # Strongly consistent: a cursor a previous tick just wrote must be seen, or its window is re-claimed
            # (harmlessly, since the compare-and-set would then fail, but at the cost of a retry).
            "ConsistentRead": True,
        }
        while True:
            try:
                reply = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise _aws_error(f"reading cursors from {self.table_name!r}", exc) from exc
            for item in reply.get("Items", []):
                cursors[item["sk"]["S"]] = parse_instant(item["cursor"]["S"])
            if "LastEvaluatedKey" not in reply:
                return cursors
            request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def get(self, report_id: str) -> datetime | None:
        try:
            reply = self._client.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": CURSOR_PARTITION}, "sk": {"S": report_id}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(f"reading the cursor of {report_id!r}", exc) from exc
        item = reply.get("Item")
        return parse_instant(item["cursor"]["S"]) if item else None

    def compare_and_set(self, report_id: str, expected: datetime | None, new: datetime) -> bool:
        condition: dict[str, Any]
        if expected is None:
            # Only the first tick to see a new report starts its cursor; a second one must not reset it.
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            # Exactly the value this tick read: the write that wins is the one tick that sends the window.
            condition = {
                "ConditionExpression": "#cursor = :expected",
                "ExpressionAttributeNames": {"#cursor": "cursor"},
                "ExpressionAttributeValues": {":expected": {"S": format_instant(expected)}},
            }
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": CURSOR_PARTITION},
                    "sk": {"S": report_id},
                    "cursor": {"S": format_instant(new)},
                },
                **condition,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise _aws_error(f"moving the cursor of {report_id!r}", exc) from exc
        except BotoCoreError as exc:
            raise _aws_error(f"moving the cursor of {report_id!r}", exc) from exc
        return True


class SqsRunQueue:
    """The run queue: SendMessageBatch in batches of 10; entries that fail are retried with backoff, then raised."""

    def __init__(
        self,
        queue_url: str,
        client: Any,
        *,
        attempts: int = SEND_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue_url = queue_url
        self._client = client
        self._attempts = attempts
        self._sleep = sleep
        self._fifo = queue_url.endswith(".fifo")

    def send(self, messages: Sequence[RunMessage]) -> None:
        batches = [list(messages[start : start + SQS_BATCH_SIZE]) for start in range(0, len(messages), SQS_BATCH_SIZE)]
        for index, batch in enumerate(batches):
            unsent = self._send_batch(batch)
            if unsent:
                later = [message for rest in batches[index + 1 :] for message in rest]
                raise RunQueueError(
                    f"dispatch: {len(unsent)} run messages could not be queued on {self.queue_url} "
                    f"after {self._attempts} attempts",
                    unsent=unsent + later,
                )

    def _send_batch(self, batch: list[RunMessage]) -> list[RunMessage]:
        """Send one batch; the messages still unsent after the attempts (empty when all went)."""
        pending = {str(position): message for position, message in enumerate(batch)}
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(SEND_BACKOFF_SECONDS * 2 ** (attempt - 1) * (1 + random.random()))
            try:
                reply = self._client.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[self._entry(key, message) for key, message in pending.items()]
                )
            except (ClientError, BotoCoreError) as exc:
                error = _aws_error(f"SendMessageBatch to {self.queue_url}", exc)
                if not error.retryable:
                    raise RunQueueError(str(error), unsent=list(pending.values())) from exc
                continue
            failed = reply.get("Failed", [])
            pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
            # A sender fault (a malformed entry) fails the same way every time; retrying it only delays the error.
            if not pending or any(entry.get("SenderFault") for entry in failed):
                break
        return list(pending.values())

    def _entry(self, entry_id: str, message: RunMessage) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message.to_json()}
        if self._fifo:
            # FIFO only: SQS drops a copy of the same run sent within its 5-minute window. On the standard queue we
            # use, duplicates are absorbed by run_report's idempotency on the same key.
            entry["MessageGroupId"] = message.report_id
            entry["MessageDeduplicationId"] = hashlib.sha256(run_key(message).encode()).hexdigest()
        return entry


class DynamoDBDeferredRuns:
    """Deferred runs in the state table: pk `deferred`, sk `<until>#<report_id>#<scheduled_at>`, the message JSON."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._client = client

    def defer(self, message: RunMessage, until: datetime) -> None:
        run = DeferredRun(message=message, until=as_utc(until, "until"))
        item = {
            "pk": {"S": DEFERRED_PARTITION},
            "sk": {"S": _deferred_sort_key(run)},
            "report_id": {"S": message.report_id},
            "until": {"S": format_instant(run.until)},
            "message": {"S": message.to_json()},
            "expires_at": {"N": str(int((run.until + DEFERRED_RETENTION).timestamp()))},
        }
        try:
            # Unconditional: parking the same run twice (a retried invocation) stores the same item.
            self._client.put_item(TableName=self.table_name, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(f"deferring {run_key(message)!r}", exc) from exc

    def due(self, at: datetime, limit: int = MAX_DEFERRED_PER_TICK) -> list[DeferredRun]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk < :after_due",
            "ExpressionAttributeValues": {
                ":pk": {"S": DEFERRED_PARTITION},
                ":after_due": {"S": f"{format_instant(at)}$"},
            },
            "ConsistentRead": True,
        }
        runs: list[DeferredRun] = []
        while len(runs) < limit:
            try:
                reply = self._client.query(**request, Limit=limit - len(runs))
            except (ClientError, BotoCoreError) as exc:
                raise _aws_error("reading deferred runs", exc) from exc
            for item in reply.get("Items", []):
                message = RunMessage.model_validate_json(item["message"]["S"])
                runs.append(DeferredRun(message=message, until=parse_instant(item["until"]["S"])))
            if "LastEvaluatedKey" not in reply:
                break
            request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
        return runs

    def remove(self, run: DeferredRun) -> bool:
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key={"pk": {"S": DEFERRED_PARTITION}, "sk": {"S": _deferred_sort_key(run)}},
                # The delete that finds the item is the one tick that re-enqueues the run.
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise _aws_error(f"removing deferred run {run_key(run.message)!r}", exc) from exc
        except BotoCoreError as exc:
            raise _aws_error(f"removing deferred run {run_key(run.message)!r}", exc) from exc
        return True


class DynamoDBReportStates:
    """Report states in the state table: pk `report#<id>`, sk `state`."""

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], datetime] | None = None) -> None:
        self.table_name = table_name
        self._client = client
        self._clock = clock or (lambda: datetime.now(UTC))

    def _key(self, report_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"report#{report_id}"}, "sk": {"S": REPORT_STATE_SORT_KEY}}

    def _update(self, report_id: str, what: str, **request: Any) -> dict[str, Any]:
        try:
            reply: dict[str, Any] = self._client.update_item(
                TableName=self.table_name, Key=self._key(report_id), **request
            )
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(f"{what} of report {report_id!r}", exc) from exc
        return reply

    def get(self, report_id: str) -> ReportState:
        try:
            reply = self._client.get_item(TableName=self.table_name, Key=self._key(report_id), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(f"reading the state of report {report_id!r}", exc) from exc
        item = reply.get("Item", {})
        return ReportState(
            consecutive_failures=int(item.get("consecutive_failures", {}).get("N", "0")),
            paused=bool(item.get("paused", {}).get("BOOL", False)),
            paused_reason=item.get("paused_reason", {}).get("S"),
        )

    def record_success(self, report_id: str) -> None:
        self._update(
            report_id,
            "recording a success",
            UpdateExpression="SET consecutive_failures = :zero",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )

    def record_failure(self, report_id: str) -> int:
        # ADD is atomic: two runs failing at once count two failures, not one.
        reply = self._update(
            report_id,
            "recording a failure",
            UpdateExpression="ADD consecutive_failures :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(reply["Attributes"]["consecutive_failures"]["N"])

    def pause(self, report_id: str, reason: str) -> None:
        self._update(
            report_id,
            "pausing",
            UpdateExpression="SET paused = :true, paused_reason = :reason, paused_at = :at",
            ExpressionAttributeValues={
                ":true": {"BOOL": True},
                ":reason": {"S": reason},
                ":at": {"S": format_instant(self._clock())},
            },
        )

    def is_paused(self, report_id: str) -> bool:
        return self.get(report_id).paused

    def resume(self, report_id: str) -> None:
        self._update(
            report_id,
            "resuming",
            UpdateExpression="SET paused = :false, consecutive_failures = :zero REMOVE paused_reason, paused_at",
            ExpressionAttributeValues={":false": {"BOOL": False}, ":zero": {"N": "0"}},
        )


# ------------------------------------------------------------------------------------------------------- wiring


def build_run_queue(settings: Settings) -> SqsRunQueue:
    """The SQS run queue: REPORT_QUEUE_URL, or (locally, where moto picks the URL) the default queue's URL by name."""
    from .bootstrap import aws_client
    from .local_aws import run_queue_name

    sqs = aws_client("sqs")
    queue_url = settings.report_queue_url
    if not queue_url:
        try:
            queue_url = str(sqs.get_queue_url(QueueName=run_queue_name(settings))["QueueUrl"])
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error("finding the run queue (set REPORT_QUEUE_URL)", exc) from exc
    return SqsRunQueue(queue_url, sqs)


def build_deferred_runs(settings: Settings) -> DynamoDBDeferredRuns:
    """Where runs that found the quota spent wait for the reset (the state table)."""
    from .bootstrap import aws_client

    return DynamoDBDeferredRuns(settings.state_table, aws_client("dynamodb"))


def build_report_states(settings: Settings) -> DynamoDBReportStates:
    """Per-report failure counts and pauses (the state table)."""
    from .bootstrap import aws_client

    return DynamoDBReportStates(settings.state_table, aws_client("dynamodb"))


def build_dispatcher(settings: Settings, catalogue_dir: str | Path | None = None, *, logger: Any = None) -> Dispatcher:
    """The dispatcher over the catalogue (`catalogue_dir`, else CATALOGUE_DIR), with its DynamoDB stores and the
    SQS run queue. An invalid catalogue raises DefinitionError before anything is claimed or sent."""
    from .bootstrap import aws_client

    catalogue = load_catalogue(Path(catalogue_dir) if catalogue_dir is not None else Path(settings.catalogue_dir))
    dynamodb = aws_client("dynamodb")
    return Dispatcher(
        catalogue,
        cursors=DynamoDBCursorStore(settings.state_table, dynamodb),
        queue=build_run_queue(settings),
        deferred=DynamoDBDeferredRuns(settings.state_table, dynamodb),
        state=DynamoDBReportStates(settings.state_table, dynamodb),
        logger=logger,
    )
