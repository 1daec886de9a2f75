"""In-memory implementations of the ports in `timereports.logic.ports`, for unit tests and single-process runs.

Each keeps the rules of its DynamoDB or SQS counterpart (the quota ceiling, compare-and-set cursors, due order of
parked runs) in one process's memory, behind a lock where threads share it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from timereports.clock import as_utc, utc_now
from timereports.engine.quota_rules import (
    DEFAULT_DAILY_LIMIT,
    QuotaStatus,
    check_allowance,
    check_requests,
    exhausted_error,
    next_reset,
    quota_day,
)
from timereports.errors import RunQueueError
from timereports.logic.ports import MAX_DEFERRED_PER_TICK, DeferredRun, ReportState
from timereports.models.events import RunMessage
from timereports.models.intervals import ApiQuota
from timereports.models.run_record import SENT_STATUSES, RunRecord


@dataclass
class _DayCount:
    used: int
    limit: int
    exhausted: bool = False
    resets_at: datetime | None = None


class InMemoryQuotaLedger:
    """The ledger in one process's memory: the same rules as the DynamoDB ledger, for unit tests and local runs.

    Thread-safe: one lock guards the counts, so that threads of one run share the allowance exactly.
    """

    def __init__(
        self,
        account: str = "default",
        *,
        daily_limit: int = DEFAULT_DAILY_LIMIT,
        reserve: int = 0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        check_allowance(daily_limit, reserve)
        self.account = account
        self.daily_limit = daily_limit
        self.reserve_requests = reserve
        self._clock = clock
        self._lock = threading.Lock()
        # Keyed by UTC day like the DynamoDB items, so a new day starts from zero without any clean-up.
        self._days: dict[date, _DayCount] = {}

    def _today(self) -> tuple[datetime, _DayCount]:
        now = as_utc(self._clock())
        count = self._days.setdefault(quota_day(now), _DayCount(used=0, limit=self.daily_limit))
        return now, count

    def _status(self, now: datetime, count: _DayCount) -> QuotaStatus:
        resets_at = next_reset(now)
        if count.exhausted and count.resets_at is not None and count.resets_at > now:
            resets_at = count.resets_at
        return QuotaStatus(
            account=self.account,
            day=quota_day(now),
            used=count.used,
            limit=count.limit,
            reserve=self.reserve_requests,
            exhausted=count.exhausted,
            resets_at=resets_at,
        )

    def reserve(self, requests: int = 1) -> QuotaStatus:
        """Reserve `requests` units, or raise QuotaExhaustedError having reserved none."""
        check_requests(requests)
        with self._lock:
            now, count = self._today()
            before = self._status(now, count)
            if before.exhausted or count.used + requests > before.ceiling:
                raise exhausted_error(before, requests)
            count.used += requests
            return self._status(now, count)

    def refund(self, requests: int, *, day: date | None = None) -> None:
        """Give back units a run reserved and did not send (never below zero); a past day's refund is dropped."""
        check_requests(requests)
        with self._lock:
            now, count = self._today()
            if day is not None and day != quota_day(now):
                return
            count.used = max(0, count.used - requests)

    def observe(self, quota: ApiQuota) -> QuotaStatus:
        """Take the API's limit and exceeded flag; raise the count to the API's, never lower it."""
        with self._lock:
            now, count = self._today()
            count.limit = quota.quota
            count.used = max(count.used, quota.used)
            if quota.exceeded:
                count.exhausted = True
            return self._status(now, count)

    def mark_exhausted(self, resets_at: datetime | None = None) -> None:
        """Refuse every reservation for the rest of the UTC day (the API answered code 11)."""
        with self._lock:
            _, count = self._today()
            count.exhausted = True
            if resets_at is not None:
                count.resets_at = as_utc(resets_at)

    def status(self) -> QuotaStatus:
        """Today's count, limit and flag."""
        with self._lock:
            now, count = self._today()
            return self._status(now, count)


@dataclass
class InMemoryRunHistory:
    """Run history in one process's memory, for unit tests of the use cases."""

    runs: list[RunRecord]

    def __init__(self) -> None:
        self.runs = []

    def record(self, run: RunRecord) -> None:
        self.runs.append(run)

    def last_runs(self, report_id: str, limit: int = 10) -> list[RunRecord]:
        mine = [run for run in self.runs if run.report_id == report_id]
        return sorted(mine, key=lambda run: run.finished_at, reverse=True)[:limit]

    def last_slices(self, report_id: str) -> dict[str, list[int]]:
        sent = [run for run in self.runs if run.report_id == report_id and run.status in SENT_STATUSES]
        return next((run.slice_records for run in reversed(sent) if run.slice_records), {})


class InMemoryMessageClaims:
    """Per-message claims for one process: the first claim of a (run, message) wins, as the conditional put does."""

    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], str | None] = {}
        self._lock = threading.Lock()

    def claim(self, run_id: str, message_key: str) -> bool:
        with self._lock:
            if (run_id, message_key) in self.claims:
                return False
            self.claims[(run_id, message_key)] = None
            return True

    def sent(self, run_id: str, message_key: str, message_id: str) -> None:
        with self._lock:
            self.claims[(run_id, message_key)] = message_id

    def release(self, run_id: str, message_key: str) -> None:
        with self._lock:
            self.claims.pop((run_id, message_key), None)


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
            self.runs[run.sort_key] = run

    def due(self, at: datetime, limit: int = MAX_DEFERRED_PER_TICK) -> list[DeferredRun]:
        moment = as_utc(at, "at")
        with self._lock:
            return [self.runs[key] for key in sorted(self.runs) if self.runs[key].until <= moment][:limit]

    def remove(self, run: DeferredRun) -> bool:
        with self._lock:
            return self.runs.pop(run.sort_key, None) is not None


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
