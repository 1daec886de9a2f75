"""The entry mirror use case: bring an account's mirrored entries up to date for a date range, then answer a
run's `/time/` queries from them.

One sync, in order (each step reserves its requests in the quota ledger, through the client):
1. read the manifest; a month whose object is gone (the lifecycle rule expired it) is no longer covered;
2. pull the entries modified since the cursor (less the zone overlap) and upsert them by id into the covered
   months they fall in (an entry whose date moved out of a covered day is dropped from it);
3. re-pull in full the covered days of any month of the range not pulled whole for `full_repull_days` (amounts:
   a rate change touches no entry's `datemodified`);
4. pull what the range does not cover yet, as a direct run would (it is covered from then on);
5. compare the range's count with the API's `listcount` (one `limit=1` probe); on a mismatch bisect with more
   probes and re-pull only the days that differ (deletions leave no trace in `datemodified`);
6. when the run depends on approval: resolve unknown approvals by pulling `approved=t` for their days, then
   compare the approved count the same way;
7. write the changed months under new keys and publish the manifest with a conditional write on its version
   (logic/mirror_publish.py); if another sync published first over other months, merge with it, else reload and
   redo (bounded), so neither loses its updates.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from timereports.clock import utc_now
from timereports.engine.mirror import (
    CLOCK_SKEW,
    DayRange,
    add_coverage,
    bisect_mismatch,
    covered_within,
    is_covered,
    month_key,
    month_range,
    months_of,
    normalise,
    ranges_of,
    remove_coverage,
    sync_since,
    uncovered,
)
from timereports.engine.mirror_format import (
    MirroredEntry,
    MirrorFormatError,
    NameOverlay,
    decode_month,
    entry_from_row,
)
from timereports.errors import MirrorConflictError, TimereportsError
from timereports.logic.mirror_publish import SyncWork, publish_work
from timereports.logic.ports import MirrorApi, MirrorStore, ProgressCallback, SyncProgress
from timereports.models.intervals import ReferenceData, TimeQuery
from timereports.models.mirror import MonthObject

logger = logging.getLogger(__name__)

# The reference resources whose names are laid over mirrored entries (renames leave `datemodified` alone).
NAME_RESOURCES = ("person", "project", "client", "task", "projectworktype", "projectmodule")
DEFAULT_FULL_REPULL_DAYS = 7
# A sync that keeps losing the publish race gives up clearly rather than spending quota forever.
MAX_PUBLISH_ATTEMPTS = 4
# A second sync by the same source within this long of its own publish skips the modified-since pull (the count
# probe of its period still runs).
RESYNC_AFTER = timedelta(seconds=60)


@dataclass
class SyncStats:
    """What a sync did and cost (summed over its attempts)."""

    changes: int = 0  # entries the modified-since pull returned (overlap included)
    pulled: int = 0  # entries of full pulls (new coverage, re-pulls, approvals)
    probes: int = 0
    repulled_days: int = 0
    months_written: int = 0
    attempts: int = 0
    version: int = 0


class _Superseded(Exception):
    """A month object the attempt's manifest names is gone because a newer manifest replaced it: start again from
    that one rather than pull the month from the API."""


class EntryMirror:
    """Syncs one account's mirror (`api`: the Intervals client; `store`: the bucket and the state table)."""

    def __init__(
        self,
        api: MirrorApi,
        store: MirrorStore,
        *,
        full_repull_days: int = DEFAULT_FULL_REPULL_DAYS,
        clock: Callable[[], datetime] = utc_now,
        progress: ProgressCallback | None = None,
        names: Callable[[], ReferenceData] | None = None,
        names_max_age: timedelta = timedelta(hours=24),
    ) -> None:
        self._api = api
        self._store = store
        self._names_source = names
        self._names_max_age = names_max_age
        self._synced: tuple[int, datetime] | None = None
        self._full_repull = timedelta(days=full_repull_days)
        self._clock = clock
        self._progress = progress
        self._names: NameOverlay | None = None
        self.stats = SyncStats()

    def _overlay_for(self, stored: MonthObject) -> NameOverlay | None:
        """Names for a stored month: none when it was written more recently than the reference data may be old
        (its own names are as fresh), else the reference data's."""
        written = stored.written_at
        if written is not None and self._clock() - written < self._names_max_age:
            return None
        return self._overlay()

    def _overlay(self) -> NameOverlay | None:
        """The reference names laid over stored months, fetched (cached across runs) the first time one is read:
        a range pulled fresh has the API's current names already and needs none."""
        if self._names is None and self._names_source is not None:
            self._names = NameOverlay.from_reference(self._names_source())
        return self._names

    # -- the use case ----------------------------------------------------------------------------------------------

    def sync(self, span: DayRange, *, approval: bool = False) -> list[MirroredEntry]:
        """Bring `span` up to date and return its entries (the mirror's copy, as just published)."""
        for _attempt in range(MAX_PUBLISH_ATTEMPTS):
            self.stats.attempts += 1
            try:
                entries = self._attempt(span, approval)
            except _Superseded:
                continue  # another sync published meanwhile (and deleted what it replaced): start from its manifest
            if entries is not None:
                return entries
        raise MirrorConflictError(
            f"the mirror of account {self._store.account!r} kept changing under {MAX_PUBLISH_ATTEMPTS} syncs; try again"
        )

    def _attempt(self, span: DayRange, approval: bool) -> list[MirroredEntry] | None:
        """One sync over the manifest as it is now: `span`'s entries once published, None if another sync published
        first (the caller tries again over that one)."""
        work = self._begin()
        for month in months_of(span):
            self._load(work, month)  # first: a month whose object is gone is found before anything is pulled
        if not self._just_synced(work):
            self._sync_modified(work)
        self._repull_stale(work, span)
        try:
            self._fill(work, span, approval)
        except TimereportsError:
            # Out of quota or time, or Intervals failing, part-way: the gaps pulled before are kept, so that the
            # retry does not pay for them again.
            self._keep_filled(work)
            raise
        # As filled: what a later step stopped half-way through (a bisect's re-pull of some days) is not kept.
        filled = work.snapshot() if work.filled else None
        try:
            self._check_counts(work, span)
            if approval:
                self._check_approvals(work, span)
        except TimereportsError:
            if filled is not None:
                self._keep_filled(filled)
            raise
        if not self._publish(work):
            logger.info("mirror manifest changed under this sync; redoing it", extra={"version": work.manifest.version})
            return None
        self._synced = (self.stats.version, self._clock())
        return self._entries_in(work, span)

    def _just_synced(self, work: SyncWork) -> bool:
        """This source published the manifest as it still is moments ago (a run reading a second period, such as the
        previous one of a comparison): the changes since are not worth another request."""
        if self._synced is None:
            return False
        version, at = self._synced
        return work.manifest.version == version and self._clock() - at < RESYNC_AFTER

    # -- steps -----------------------------------------------------------------------------------------------------

    def _begin(self) -> SyncWork:
        manifest = self._store.load_manifest()
        work = SyncWork(manifest=manifest, covered=ranges_of(manifest.covered), cursor=manifest.cursor)
        for month, stored in manifest.months.items():
            if stored.full_at is not None:
                work.full_at[month] = stored.full_at
        return work

    def _load(self, work: SyncWork, month: str) -> dict[int, MirroredEntry]:
        """A month's entries (loaded once per attempt); a month whose object is gone or unreadable is uncovered."""
        loaded = work.months.get(month)
        if loaded is not None:
            return loaded
        stored = work.manifest.months.get(month)
        entries: list[MirroredEntry] = []
        if stored is not None:
            body = self._store.read_object(stored.key)
            try:
                if body is not None:
                    overlay = self._overlay_for(stored)  # names only for a month there is to decode
                    if overlay is None and stored.written_at is not None:
                        work.names_at[month] = stored.written_at
                    entries = decode_month(body, overlay)
            except MirrorFormatError:
                body = None
            if body is None and self._store.load_manifest().version != work.manifest.version:
                raise _Superseded(month)
            if body is None:
                logger.info("mirror month missing; it will be pulled again", extra={"month": month})
                work.covered = remove_coverage(work.covered, month_range(month))
                work.full_at.pop(month, None)
                work.names_at.pop(month, None)
                work.dirty.add(month)
        loaded = work.months[month] = {entry.id: entry for entry in entries}
        return loaded

    def _sync_modified(self, work: SyncWork) -> None:
        if work.cursor is None or not work.covered:
            return
        hull = DayRange(work.covered[0].start, work.covered[-1].end)
        query = TimeQuery(datebegin=hull.start, dateend=hull.end)
        newest = work.cursor
        count = 0
        for row in self._api.iter_modified_raw(sync_since(work.cursor), query):
            count += 1
            self._note("syncing changes", count)
            existing = self._find(work, int(row["id"]))
            entry = entry_from_row(row, existing.approved if existing is not None else None)
            self._upsert(work, entry)
            modified = _parse_modified(entry.datemodified)
            if modified is not None and modified > newest:
                newest = modified
        self.stats.changes += count
        # Never ahead of now: an entry stamped in the future (a skewed API clock) must not make the next sync skip
        # the edits made before that instant.
        work.cursor = min(newest, self._clock().astimezone(UTC).replace(tzinfo=None))

    def _find(self, work: SyncWork, entry_id: int) -> MirroredEntry | None:
        for entries in work.months.values():
            found = entries.get(entry_id)
            if found is not None:
                return found
        return None

    def _upsert(self, work: SyncWork, entry: MirroredEntry) -> None:
        """Put `entry` where its date says, removing any copy of it from another loaded month (a date move)."""
        home = month_key(entry.date)
        for month, entries in work.months.items():
            if month != home and entry.id in entries:
                del entries[entry.id]
                work.dirty.add(month)
        if is_covered(work.covered, entry.date):
            entries = self._load(work, home)
            if entries.get(entry.id) != entry:
                entries[entry.id] = entry
                work.dirty.add(home)
        elif home in work.months and entry.id in work.months[home]:
            del work.months[home][entry.id]
            work.dirty.add(home)

    def _repull_stale(self, work: SyncWork, span: DayRange) -> None:
        now = self._clock()
        for month in months_of(span):
            pulled_at = work.full_at.get(month)
            if pulled_at is not None and now - pulled_at < self._full_repull:
                continue
            covered_part = covered_within(work.covered, month_range(month))
            if not covered_part:
                continue
            self._load(work, month)
            for piece in covered_part:
                # Approvals are forgotten too: the next report that depends on them pulls approved=t for these days.
                self._replace_days(work, piece, keep_approval=False)
            work.full_at[month] = now
            work.names_at.pop(month, None)  # every entry of the month is the API's now, names included

    def _fill(self, work: SyncWork, span: DayRange, approval: bool) -> None:
        """Pull the parts of `span` not covered (as a direct run would: approved=t and =f apart when it matters)."""
        gaps = uncovered(work.covered, span)
        if not gaps:
            return
        if work.cursor is None:
            # Everything modified from here on is after this instant (less the skew the overlap also absorbs).
            work.cursor = self._clock().astimezone(UTC).replace(tzinfo=None) - CLOCK_SKEW
        now = self._clock()
        for gap in gaps:
            untouched = [month for month in months_of(gap) if not covered_within(work.covered, month_range(month))]
            for month in months_of(gap):
                self._load(work, month)
            work.covered = add_coverage(work.covered, gap)
            try:
                self._replace_days(work, gap, approvals=(True, False) if approval else (None,))
            except TimereportsError:
                # Not covered after all: its days keep none of the rows pulled so far (a later fill pulls them).
                work.covered = remove_coverage(work.covered, gap)
                for month in months_of(gap):
                    entries = work.months[month]
                    for entry_id in [key for key, entry in entries.items() if entry.date in gap]:
                        del entries[entry_id]
                raise
            for month in untouched:
                work.full_at[month] = now
            work.filled += 1

    def _keep_filled(self, work: SyncWork) -> None:
        """Publish an attempt that failed while or after filling, as it was once its gaps were filled, if it filled
        one (best effort: a conflict or a failing store leaves the previous version, and the caller raises the
        failure either way)."""
        if not work.filled:
            return
        try:
            kept = self._publish(work)
        except TimereportsError as exc:
            logger.warning("mirror could not keep the gaps filled before the failure", extra={"error": str(exc)})
            return
        if kept:
            logger.info("mirror kept the gaps filled before the failure", extra={"gaps": work.filled})
        else:
            logger.info("mirror lost the gaps filled before the failure to another sync's publish")

    def _replace_days(
        self, work: SyncWork, days: DayRange, approvals: Sequence[bool | None] = (None,), *, keep_approval: bool = True
    ) -> None:
        """The API's entries of `days` in place of the mirror's (approval flags kept by id when not pulled)."""
        old: dict[int, MirroredEntry] = {}
        work.fresh = add_coverage(work.fresh, days)
        if all(approved is not None for approved in approvals):
            work.fresh_approval = add_coverage(work.fresh_approval, days)
        for month in months_of(days):
            entries = self._load(work, month)
            for entry_id in [key for key, entry in entries.items() if entry.date in days]:
                old[entry_id] = entries.pop(entry_id)
            work.dirty.add(month)
        count = 0
        for approved in approvals:
            query = TimeQuery(datebegin=days.start, dateend=days.end, approved=approved)
            for row in self._api.iter_time_raw(query):
                count += 1
                self._note(f"pulling {days.as_text()}", count)
                previous = old.get(int(row["id"]))
                flag = approved if approved is not None else (previous.approved if previous and keep_approval else None)
                self._upsert(work, entry_from_row(row, flag))
        self.stats.pulled += count
        self.stats.repulled_days += days.days

    def _check_counts(self, work: SyncWork, span: DayRange) -> None:
        for piece in uncovered(work.fresh, span):
            self._bisect_and_repull(work, piece, approved=None)

    def _check_approvals(self, work: SyncWork, span: DayRange) -> None:
        unknown = normalise(
            DayRange(entry.date, entry.date)
            for month in months_of(span)
            for entry in self._load(work, month).values()
            if entry.date in span and entry.approved is None
        )
        for days in unknown:
            for piece in uncovered(work.fresh_approval, days):
                self._mark_approved(work, piece)
        for piece in uncovered(work.fresh_approval, span):
            self._bisect_and_repull(work, piece, approved=True)

    def _bisect_and_repull(self, work: SyncWork, span: DayRange, *, approved: bool | None) -> None:
        per_day = self._day_counts(work, span, approved)

        def mirror_count(days: DayRange) -> int:
            return sum(count for day, count in per_day.items() if day in days)

        def api_count(days: DayRange) -> int:
            self.stats.probes += 1
            self._note("checking counts", self.stats.probes)
            return self._api.count_time(TimeQuery(datebegin=days.start, dateend=days.end, approved=approved))

        result = bisect_mismatch(span, api_count, mirror_count, pull_at_most=self._api.page_size)
        for days in result.differing:
            if approved is None:
                self._replace_days(work, days)
            else:
                self._mark_approved(work, days)

    def _mark_approved(self, work: SyncWork, days: DayRange) -> None:
        """Pull `approved=t` for `days`: those entries are approved, the mirror's others on those days are not."""
        work.fresh_approval = add_coverage(work.fresh_approval, days)
        approved_ids: set[int] = set()
        count = 0
        for row in self._api.iter_time_raw(TimeQuery(datebegin=days.start, dateend=days.end, approved=True)):
            count += 1
            self._note(f"checking approvals {days.as_text()}", count)
            entry = entry_from_row(row, True)
            approved_ids.add(entry.id)
            self._upsert(work, entry)
        self.stats.pulled += count
        for month in months_of(days):
            entries = self._load(work, month)
            for entry_id, entry in list(entries.items()):
                if entry.date in days and entry_id not in approved_ids and entry.approved is not False:
                    entries[entry_id] = entry._replace(approved=False)
                    work.dirty.add(month)

    def _day_counts(self, work: SyncWork, span: DayRange, approved: bool | None) -> Counter[date]:
        counts: Counter[date] = Counter()
        for month in months_of(span):
            for entry in self._load(work, month).values():
                if entry.date in span and (approved is None or entry.approved is approved):
                    counts[entry.date] += 1
        return counts

    def _publish(self, work: SyncWork) -> bool:
        """Publish the attempt (logic/mirror_publish.py) and count it; False when another sync's publish won."""
        published = publish_work(self._store, work, self._clock())
        if published is None:
            return False
        self.stats.months_written += published.months_written
        self.stats.version = published.version
        return True

    def _entries_in(self, work: SyncWork, span: DayRange) -> list[MirroredEntry]:
        return [
            entry
            for month in months_of(span)
            for entry in self._load(work, month).values()
            if span.start <= entry.date <= span.end
        ]

    def _note(self, stage: str, count: int) -> None:
        if self._progress is not None:
            self._progress(SyncProgress(stage, count, self._api.requests_sent, self._api.waited_seconds))


def _parse_modified(text: str | None) -> datetime | None:
    """An entry's `datemodified` ("YYYY-MM-DD HH:MM:SS", UTC) as a naive UTC datetime."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError:
        return None
