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
- A report seen for the first time starts at that tick: nothing from before it is sent; so does a report back in the
  catalogue (or its schedule) after ticks without it, whose cursor is older than the last tick's (`LAST_TICK`, which
  only the deployed function's ticks, over the catalogue it ships, move).
- After an outage, missed fire times are caught up, but only those within `max_catch_up` of the tick and at most
  `max_runs_per_report` of them (the latest); older ones are dropped and logged, never sent, so a week-long outage
  does not flood inboxes. Missed runs over the same period are one run, the latest: an hourly `today` report back
  from a night's outage sends today's report once, not once per missed hour.
- A paused report's window is claimed and its runs dropped (logged): resuming it does not replay what was skipped.

`CursorStore`, `RunQueue`, `DeferredRuns` and `ReportStates` are ports; the DynamoDB/SQS adapters and in-memory
versions (for unit tests and one process) live here too. `build_dispatcher` and `build_deferred_runs` wire the real
ones from settings.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from timereports.clock import as_utc, utc_now
from timereports.engine.schedule import iter_fire_times
from timereports.engine.timeframes import resolve_time_frame, today_in
from timereports.errors import DefinitionError, RunQueueError
from timereports.logic.ports import (
    CursorStore,
    DeferredRun,
    DeferredRuns,
    DispatchLogger,
    ReportStates,
    RunQueue,
)
from timereports.models.definition import ReportDefinition
from timereports.models.events import RunMessage, run_key

# A dispatcher down for longer than this (an outage, a disabled schedule) does not send the runs it missed before it:
# a daily report from last week is noise, and a burst of them would spend the day's API quota at once.
DEFAULT_MAX_CATCH_UP = timedelta(days=2)
# At most this many runs of one report per tick (the latest): two days of an hourly report.
DEFAULT_MAX_RUNS_PER_REPORT = 48
# The cursor of the latest tick that saw the whole catalogue (not a report id: those start with a letter or digit).
LAST_TICK = "#last-tick"
# How far ahead of the clock a tick may be: the Scheduler's scheduled time, and a clock a little off.
MAX_TICK_AHEAD = timedelta(minutes=5)
# Compare-and-set attempts per report and tick; each failure means another tick moved the cursor meanwhile, so a
# few suffice, and a bound keeps a pathological race from spinning.
MAX_CLAIM_ATTEMPTS = 5
# How many dropped fire times a tick counts for its log line before it stops counting.
MAX_COUNTED_DROPS = 10_000


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
    superseded: int = 0  # missed fire times dropped because a later one of the window covers the same period


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
        clock: Callable[[], datetime] = utc_now,
        keeps_last_tick: bool = False,
        logger: DispatchLogger | None = None,
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
        self._clock = clock
        # Only ticks over the deployed catalogue may say which reports were gone: a tick over another folder (the
        # command line's) would make every report it lacks look removed, and its next due run dropped.
        self._keeps_last_tick = keeps_last_tick
        # A Powertools Logger in the Lambda (structured keys from `extra`), the standard library's elsewhere.
        self._log: DispatchLogger = logger or logging.getLogger(__name__)

    def tick(self, at: datetime) -> list[RunMessage]:
        """Queue the runs due in (each report's cursor, `at`] and the deferred runs due by `at`; return them.

        Raises RunQueueError when some could not be queued; their windows and deferred runs are put back first, so
        the next tick (or a retry of this one) sends them.
        """
        now = as_utc(at, "at")
        if now > self._clock() + MAX_TICK_AHEAD:
            # Its cursors would move ahead of the clock: runs sent early over periods not ended, the real ticks idle.
            raise DefinitionError(
                f"at: {now.isoformat()} is ahead of the clock ({self._clock().isoformat(timespec='seconds')}); a tick "
                "may be as of now or the past (a replay), not the future"
            )
        cursors = self._cursors.all()
        last_tick = cursors.get(LAST_TICK)
        claims = [
            claim
            for report in self._scheduled
            if (claim := self._claim(report, cursors.get(report.id), now, last_tick))
        ]
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
        if self._keeps_last_tick:
            self._note_tick(last_tick, now)
        return outgoing

    def _note_tick(self, last_tick: datetime | None, now: datetime) -> None:
        """Remember the latest tick that handled every scheduled report: a cursor behind it belongs to a report
        that was not in the catalogue (or had no schedule) at that tick. Only forward: a late tick leaves it."""
        for _ in range(MAX_CLAIM_ATTEMPTS):
            if (last_tick is not None and last_tick >= now) or self._cursors.compare_and_set(LAST_TICK, last_tick, now):
                return
            last_tick = self._cursors.get(LAST_TICK)

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
        return RunMessage.for_run(report.id, fired, report.account, period)

    def _claim(
        self, report: ReportDefinition, previous: datetime | None, now: datetime, last_tick: datetime | None
    ) -> _Claim | None:
        """Move the report's cursor to `now` if no other tick has; the window's runs if this tick won it.

        Claiming before sending is what keeps two overlapping ticks from both sending: the compare-and-set from the
        value read succeeds for exactly one of them. A tick that loses re-reads and claims what is left, if anything.
        The runs are worked out before the claim, so that nothing can fail between winning a window and sending it.
        """
        for _ in range(MAX_CLAIM_ATTEMPTS):
            if previous is None or (last_tick is not None and previous < last_tick):
                # First sight of the report, or first since it came back (removed from the catalogue, or its
                # schedule, while ticks went by): it starts here, so adding a report never replays its past schedule.
                if self._cursors.compare_and_set(report.id, previous, now):
                    self._log.info(
                        "new scheduled report: runs due from now on"
                        if previous is None
                        else "scheduled report back in the catalogue: runs due from now on",
                        extra={"report_id": report.id},
                    )
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
        # Missed runs over the same period (an hourly `today` report after an outage, last week's sent every morning)
        # would send the same report again and again: only the latest of each period goes, with the most time in it.
        latest: dict[tuple[date, date], RunMessage] = {}
        for fired in due:
            message = self.message_for(report, fired)
            latest.pop((message.period_from, message.period_to), None)
            latest[(message.period_from, message.period_to)] = message
        claim.messages = list(latest.values())
        claim.superseded = len(due) - len(claim.messages)
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
        if claim.superseded:
            self._log.info(
                "missed runs over a period a later missed run covers dropped (the latest of each period is sent)",
                extra={"report_id": claim.report.id, "dropped": claim.superseded, "sent": len(claim.messages)},
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
