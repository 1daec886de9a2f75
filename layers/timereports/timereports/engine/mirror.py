"""The entry mirror's arithmetic: month partition, covered date ranges, the bisection of a count mismatch, the sync
window, and the local reading of a `/time/` query's filters.

Pure: no I/O. The use case (`logic/mirror.py`) asks these functions what to pull and what to probe, so that the
bounds (how many probes, when to give up bisecting and re-pull) can be read and tested in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from timereports.models.intervals import TimeQuery

ONE_DAY = timedelta(days=1)
# The API says neither which zone `datemodifiedbegin` is read in nor how far its clock is from ours. Read in a zone
# ahead of UTC the filter asks from earlier than meant (entries seen twice are harmless: upserts are idempotent);
# read in a zone behind UTC it asks from later, by as much as the zone is behind. So a sync asks from the cursor
# less the furthest any zone is behind UTC (UTC-12) and a skew margin: none modified after the cursor is missed
# whatever zone the account is in.
ZONE_OVERLAP = timedelta(hours=12)
CLOCK_SKEW = timedelta(minutes=10)
# A range this short is re-pulled rather than bisected further: one pull of a few days costs one or two requests,
# the same as the probes that would narrow it.
MIN_BISECT_DAYS = 1


@dataclass(frozen=True, order=True)
class DayRange:
    """An inclusive range of dates."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"range starts {self.start} after it ends {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def halves(self) -> tuple[DayRange, DayRange]:
        middle = self.start + timedelta(days=(self.days - 1) // 2)
        return DayRange(self.start, middle), DayRange(middle + ONE_DAY, self.end)

    def as_text(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def month_key(day: date) -> str:
    """The mirror object a day's entries live in: `YYYY-MM`."""
    return f"{day.year:04d}-{day.month:02d}"


def month_range(key: str) -> DayRange:
    year, month = (int(part) for part in key.split("-"))
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return DayRange(first, following - ONE_DAY)


def months_of(span: DayRange) -> list[str]:
    """The month keys a range touches, in order."""
    keys: list[str] = []
    day = span.start.replace(day=1)
    while day <= span.end:
        keys.append(month_key(day))
        day = month_range(keys[-1]).end + ONE_DAY
    return keys


def split_by_month(span: DayRange) -> list[DayRange]:
    """The range cut at month boundaries (one sync job per piece, deployed)."""
    pieces: list[DayRange] = []
    for key in months_of(span):
        month = month_range(key)
        pieces.append(DayRange(max(span.start, month.start), min(span.end, month.end)))
    return pieces


def normalise(ranges: Iterable[DayRange]) -> list[DayRange]:
    """Sorted, with overlapping and adjacent ranges merged."""
    merged: list[DayRange] = []
    for span in sorted(ranges):
        if merged and span.start <= merged[-1].end + ONE_DAY:
            if span.end > merged[-1].end:
                merged[-1] = DayRange(merged[-1].start, span.end)
        else:
            merged.append(span)
    return merged


def ranges_of(pairs: Iterable[tuple[date, date]]) -> list[DayRange]:
    """A manifest's covered (start, end) pairs as normalised ranges."""
    return normalise(DayRange(start, end) for start, end in pairs)


def as_pairs(ranges: Iterable[DayRange]) -> list[tuple[date, date]]:
    return [(piece.start, piece.end) for piece in normalise(ranges)]


def add_coverage(covered: Sequence[DayRange], span: DayRange) -> list[DayRange]:
    return normalise([*covered, span])


def remove_coverage(covered: Sequence[DayRange], span: DayRange) -> list[DayRange]:
    """`covered` without the days of `span` (a month object that is gone is no longer covered)."""
    kept: list[DayRange] = []
    for piece in covered:
        if piece.end < span.start or piece.start > span.end:
            kept.append(piece)
            continue
        if piece.start < span.start:
            kept.append(DayRange(piece.start, span.start - ONE_DAY))
        if piece.end > span.end:
            kept.append(DayRange(span.end + ONE_DAY, piece.end))
    return normalise(kept)


def uncovered(covered: Sequence[DayRange], span: DayRange) -> list[DayRange]:
    """The parts of `span` that no covered range holds (pulled as before, then covered)."""
    gaps: list[DayRange] = []
    cursor = span.start
    for piece in normalise(covered):
        if piece.end < cursor or piece.start > span.end:
            continue
        if piece.start > cursor:
            gaps.append(DayRange(cursor, piece.start - ONE_DAY))
        cursor = max(cursor, piece.end + ONE_DAY)
        if cursor > span.end:
            break
    if cursor <= span.end:
        gaps.append(DayRange(cursor, span.end))
    return gaps


def covered_within(covered: Sequence[DayRange], span: DayRange) -> list[DayRange]:
    """The covered days of `span`, as ranges clipped to it."""
    return [
        DayRange(max(piece.start, span.start), min(piece.end, span.end))
        for piece in covered
        if piece.start <= span.end and piece.end >= span.start
    ]


def is_covered(covered: Sequence[DayRange], day: date) -> bool:
    return any(day in piece for piece in covered)


def sync_since(cursor: datetime) -> datetime:
    """The `datemodifiedbegin` a sync asks for: the cursor less the zone overlap and the skew margin."""
    return cursor - ZONE_OVERLAP - CLOCK_SKEW


@dataclass(frozen=True)
class BisectionResult:
    """Where a count mismatch was narrowed to, and what it cost."""

    differing: list[DayRange]
    probes: int
    gave_up: bool = False


def bisect_mismatch(
    span: DayRange,
    api_count: Callable[[DayRange], int],
    mirror_count: Callable[[DayRange], int],
    *,
    known_api_count: int | None = None,
    max_probes: int | None = None,
    pull_at_most: int = 0,
) -> BisectionResult:
    """The day ranges inside `span` whose API count differs from the mirror's, narrowed by halving.

    `api_count` is one request (a `limit=1` probe); `mirror_count` is local. A range with equal counts is taken as
    equal (a deletion always leaves the mirror with more entries than the API for its day, because every insertion
    the API saw is synced by `datemodified`). Bounded: each probe halves a range, a range of `MIN_BISECT_DAYS` is
    re-pulled as is, so is a range of at most `pull_at_most` entries on both sides (one page: its pull costs what one
    more probe would), and past `max_probes` (default: the days plus one, the cost of probing every day) the ranges
    still open are returned whole: the worst case is a re-pull of `span`.
    """
    budget = max_probes if max_probes is not None else span.days + 1
    probes = 0
    first = known_api_count
    if first is None:
        first = api_count(span)
        probes += 1
    if first == mirror_count(span):
        return BisectionResult([], probes)
    differing: list[DayRange] = []
    # The API count of each open range is known (its parent's less its sibling's): one probe per split, not two.
    open_ranges: list[tuple[DayRange, int]] = [(span, first)]
    while open_ranges:
        current, current_api = open_ranges.pop()
        if current.days <= MIN_BISECT_DAYS or max(current_api, mirror_count(current)) <= pull_at_most:
            differing.append(current)
            continue
        if probes + 1 > budget:
            differing.extend([current, *(piece for piece, _ in open_ranges)])
            return BisectionResult(normalise(differing), probes, gave_up=True)
        left, right = current.halves()
        left_api = api_count(left)
        probes += 1
        right_api = current_api - left_api
        if left_api != mirror_count(left):
            open_ranges.append((left, left_api))
        if right_api != mirror_count(right):
            open_ranges.append((right, right_api))
    return BisectionResult(normalise(differing), probes)


class EntryFields(Protocol):
    """What the local filter reads of a mirrored entry."""

    @property
    def date(self) -> date: ...
    @property
    def billable(self) -> bool: ...
    @property
    def approved(self) -> bool | None: ...
    @property
    def personid(self) -> int | None: ...
    @property
    def projectid(self) -> int | None: ...
    @property
    def clientid(self) -> int | None: ...
    @property
    def worktypeid(self) -> int | None: ...
    @property
    def moduleid(self) -> int | None: ...
    @property
    def taskid(self) -> int | None: ...


def query_predicate(
    query: TimeQuery, milestone_of: Callable[[int | None], int | None] | None = None
) -> Callable[[EntryFields], bool]:
    """The filters of a `/time/` query as the API applies them, over mirrored entries.

    `clientid` and `milestoneid` take -1 for "none", as the API does. `milestone_of` maps a task to its milestone
    (entries carry no milestone); without it a milestone filter keeps everything (the engine re-checks it anyway).
    `activeonly` and the `datemodified` filters are not applied: reports never push them down.
    """
    checks: list[Callable[[EntryFields], bool]] = []
    if query.datebegin is not None:
        first = query.datebegin
        checks.append(lambda entry: entry.date >= first)
    if query.dateend is not None:
        last = query.dateend
        checks.append(lambda entry: entry.date <= last)
    for name in ("personid", "projectid", "worktypeid", "moduleid", "taskid", "clientid"):
        ids = getattr(query, name)
        if ids is not None:
            wanted: set[int | None] = set(ids)
            if name == "clientid" and -1 in wanted:
                wanted.add(None)
            checks.append(_membership(name, frozenset(wanted)))
    if query.milestoneid is not None and milestone_of is not None:
        milestones: set[int | None] = set(query.milestoneid)
        if -1 in milestones:
            milestones.add(None)
        lookup = milestone_of
        checks.append(lambda entry: lookup(entry.taskid) in milestones)
    if query.billable is not None:
        flag = query.billable
        checks.append(lambda entry: entry.billable is flag)
    if query.approved is not None:
        approved = query.approved
        checks.append(lambda entry: entry.approved is approved)
    if not checks:
        return lambda _entry: True
    return lambda entry: all(check(entry) for check in checks)


def _membership(name: str, wanted: frozenset[int | None]) -> Callable[[EntryFields], bool]:
    def check(entry: EntryFields) -> bool:
        return getattr(entry, name) in wanted

    return check
