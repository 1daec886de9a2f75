"""The `sync` use case: pre-fill or refresh an account's entry mirror over a range, month by month.

Locally (`timereports sync`) the months run one after the other in the process, each published on its own, so an
interrupted sync keeps the months it finished. Deployed, a range longer than a month is split into month jobs on the
run queue (the run_report function takes them), so that no Lambda run passes its time limit: the scale-out is SQS and
Lambda's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from timereports.engine.mirror import DayRange, split_by_month
from timereports.logic.mirrored_source import MirroredTimeSource
from timereports.logic.ports import RemainingTime, SyncJobQueue
from timereports.models.events import SyncMessage

MirrorFactory = Callable[[str, RemainingTime | None], MirroredTimeSource]


@dataclass
class SyncOutcome:
    """What a sync did: months, entries mirrored in the range, changes synced, count probes, requests, time."""

    account: str
    period_from: str
    period_to: str
    months: int = 0
    entries: int = 0
    changes_synced: int = 0
    pulled: int = 0
    count_probes: int = 0
    api_requests: int = 0
    seconds: float = 0.0
    queued_jobs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        if self.queued_jobs:
            return (
                f"queued {self.queued_jobs} month sync jobs for account {self.account} "
                f"({self.period_from} to {self.period_to})"
            )
        return (
            f"mirrored {self.entries} entries of account {self.account} dated {self.period_from} to {self.period_to} "
            f"({self.months} months): {self.pulled} pulled, {self.changes_synced} changes synced, "
            f"{self.count_probes} count probes, {self.api_requests} API requests in {self.seconds:.1f}s"
        )


class MirrorSyncService:
    """Syncs ranges of an account's mirror (`sources` builds the account's mirrored source for one job)."""

    def __init__(self, sources: MirrorFactory, queue: SyncJobQueue | None = None) -> None:
        self._sources = sources
        self._queue = queue

    def sync(
        self,
        job: SyncMessage,
        deadline: RemainingTime | None = None,
        *,
        on_month: Callable[[DayRange, SyncOutcome], None] | None = None,
    ) -> SyncOutcome:
        """Sync the job's range here, a month at a time (each month published before the next starts)."""
        started = time.monotonic()
        source = self._sources(job.account, deadline)
        source.sync_quota()
        outcome = SyncOutcome(job.account, job.period_from.isoformat(), job.period_to.isoformat())
        for month in split_by_month(DayRange(job.period_from, job.period_to)):
            entries = source.mirror.sync(month)
            outcome.months += 1
            outcome.entries += len(entries)
            stats = source.mirror.stats
            outcome.changes_synced, outcome.pulled, outcome.count_probes = stats.changes, stats.pulled, stats.probes
            outcome.api_requests = source.requests_sent
            outcome.seconds = time.monotonic() - started
            if on_month is not None:
                on_month(month, outcome)
        return outcome

    def sync_or_queue(self, job: SyncMessage, deadline: RemainingTime | None = None) -> SyncOutcome:
        """Deployed: a range within one month is synced in this invocation; a longer one becomes month jobs."""
        months = split_by_month(DayRange(job.period_from, job.period_to))
        if len(months) == 1 or self._queue is None:
            return self.sync(job, deadline)
        jobs = [
            SyncMessage.model_validate({"account": job.account, "from": month.start, "to": month.end})
            for month in months
        ]
        self._queue.send_sync(jobs)
        return SyncOutcome(job.account, job.period_from.isoformat(), job.period_to.isoformat(), queued_jobs=len(jobs))
