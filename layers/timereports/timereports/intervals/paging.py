"""The paging and repair machinery of collection pulls: pages as received, prepaid quota units, the stitcher that
joins overlapping pages in id order and finds the gaps left by rows deleted mid-pull, and the driver that fetches a
pull's pages a few at a time and repairs its gaps (`stream_pages`; the client fetches each page).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from timereports.errors import IntervalsUnavailableError

logger = logging.getLogger(__name__)


@dataclass
class PrepaidUnits:
    """Units reserved in advance for a pull's remaining pages; attempts draw on them before reserving anew."""

    units: int
    day: date | None
    lock: threading.Lock

    def take(self, today: date) -> bool:
        """Use one prepaid unit, unless none is left or they were reserved on an earlier UTC day (the allowance
        they came from has been lifted: a request sent now spends today's, so it must reserve today)."""
        with self.lock:
            if self.units > 0 and (self.day is None or self.day == today):
                self.units -= 1
                return True
            return False

    def take_rest(self) -> int:
        with self.lock:
            rest, self.units = self.units, 0
            return rest


@dataclass
class Page:
    """One page of a collection as received: where it was asked for, what came, and when (sequence of arrival)."""

    offset: int
    limit: int
    rows: list[dict[str, Any]]
    ids: list[int]
    listcount: int
    seq: int

    @property
    def reaches_end(self) -> bool:
        """The page held the last matching row when it was served."""
        return len(self.rows) < self.limit or self.offset + len(self.rows) >= self.listcount


@dataclass(frozen=True)
class OpenPull:
    """A collection pull whose first page has arrived: what to ask, and the offsets of the pages still needed."""

    resource: str
    params: dict[str, str]
    ordered_by_id: bool
    first: Page
    offsets: list[int]


class PullCancelled(Exception):
    """A pull was abandoned (its consumer stopped or another page failed): pending page fetches stop."""


class Stitcher:
    """Joins pages into one stream in id order, each id once, and says where a gap needs a repair request.

    Invariant (ordered mode): every row that existed throughout the pull with an id <= `frontier` has been yielded.
    A page served at one moment is a contiguous slice of the list sorted by id, so a page whose first id is <= the
    frontier (or that starts at offset 0) extends that coverage to its last id; a page that starts above the frontier
    leaves a gap, which a page fetched at a better offset closes:
    - if the freshest page above the gap was served after the frontier row was last seen, fetch the page that ends
      at its first row (its position is the fresher truth; repeated, this walks down past a mass delete);
    - otherwise fetch the page that starts at the frontier's row (the overlap must match again).
    Pages that do not join yet are kept (sorted by first id) until the gap below them closes.
    """

    def __init__(self, ordered_by_id: bool) -> None:
        self.ordered_by_id = ordered_by_id
        self.done = False
        self.frontier: int | None = None
        self._frontier_position = 0
        self._frontier_seq = 0
        self._end_seen: Page | None = None  # the freshest empty page (no rows at or after its offset then)
        self._waiting: list[Page] = []
        self._seen: set[int] = set()

    def absorb(self, page: Page) -> Iterator[dict[str, Any]]:
        """Yield the rows of `page` (and of waiting pages it unblocks) that extend the stream."""
        if self.done:
            return
        if not self.ordered_by_id:
            for record_id, row in zip(page.ids, page.rows, strict=True):
                if record_id not in self._seen:
                    self._seen.add(record_id)
                    yield row
            return
        if any(later <= earlier for earlier, later in itertools.pairwise(page.ids)):
            raise IntervalsUnavailableError(f"a page at offset {page.offset} is not sorted by id; cannot page safely")
        if not page.rows:
            if page.offset == 0 or (self.frontier is not None and page.reaches_end and self._joins(page)):
                self.done = True
            elif self._end_seen is None or page.seq > self._end_seen.seq:
                self._end_seen = page
            return
        self._waiting.append(page)
        self._waiting.sort(key=lambda waiting: waiting.ids[0])
        while self._waiting and not self.done and self._joins(self._waiting[0]):
            joined = self._waiting.pop(0)
            yield from self._extend(joined)

    def _joins(self, page: Page) -> bool:
        if page.offset == 0:
            return True
        if not page.rows:
            return False
        return self.frontier is not None and page.ids[0] <= self.frontier

    def _extend(self, page: Page) -> Iterator[dict[str, Any]]:
        frontier = self.frontier
        for position, (record_id, row) in enumerate(zip(page.ids, page.rows, strict=True)):
            if frontier is None or record_id > frontier:
                yield row
                self.frontier = record_id
                self._frontier_position = page.offset + position
                self._frontier_seq = page.seq
            elif record_id == frontier and page.seq > self._frontier_seq:
                # The same row seen again, later: its position now is the better anchor for the next repair.
                self._frontier_position = page.offset + position
                self._frontier_seq = page.seq
        if page.reaches_end:
            self.done = True

    @property
    def has_gap(self) -> bool:
        """A received page waits above a gap that only a repair request can close."""
        return not self.done and bool(self._waiting)

    def repair_offset(self, size: int) -> int:
        """Where to fetch the page that closes the gap above the frontier (or finds the end of the list)."""
        # The freshest page above the gap, if it was served after the frontier row was last seen, is the best word on
        # where rows are now: ask for the page that ends at its first row (walking down, page by page, if a mass
        # delete moved rows further). Nothing fresher: ask for the page that starts at the frontier row.
        above = [page for page in (*self._waiting, self._end_seen) if page is not None]
        freshest = max(above, key=lambda page: page.seq, default=None)
        if freshest is not None and freshest.seq > self._frontier_seq:
            return max(0, freshest.offset - (size - 1))
        return self._frontier_position


# Fetches the page at an offset; stops early (PullCancelled) once the event is set.
PageFetcher = Callable[[int, threading.Event], Page]


def stream_pages(
    pull: OpenPull, fetch: PageFetcher, *, page_size: int, max_in_flight: int, max_pages: int
) -> Iterator[dict[str, Any]]:
    """Yield an opened pull's records: its first page, then the planned pages fetched `max_in_flight` at a time, in
    order, each shifted boundary repaired by a request at the offset the stitcher gives (within a budget)."""
    resource, offsets = pull.resource, pull.offsets
    stitcher = Stitcher(pull.ordered_by_id)
    if not offsets:
        yield from stitcher.absorb(pull.first)
        return
    cancelled = threading.Event()
    pending: deque[Future[Page]] = deque()
    remaining = iter(offsets)
    repairs = 0
    # Each shifted boundary needs a repair or two; beyond that the data is changing faster than we can page.
    repair_budget = 4 + 2 * len(offsets)
    executor = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix=f"intervals-{resource}")

    def submit_next() -> None:
        offset = next(remaining, None)
        if offset is not None:
            pending.append(executor.submit(fetch, offset, cancelled))

    def repair() -> Iterator[dict[str, Any]]:
        nonlocal repairs
        repairs += 1
        if repairs > repair_budget or 1 + len(offsets) + repairs > max_pages:
            raise IntervalsUnavailableError(
                f"GET /{resource}/: the records kept changing while paging ({repairs - 1} repair requests did "
                "not close the gap); try again"
            )
        offset = stitcher.repair_offset(page_size)
        logger.info("intervals page shifted; repairing", extra={"resource": resource, "repair_offset": offset})
        yield from stitcher.absorb(fetch(offset, cancelled))

    try:
        yield from stitcher.absorb(pull.first)
        for _ in range(max_in_flight):
            submit_next()
        while pending and not stitcher.done:
            page = pending.popleft().result()
            submit_next()
            yield from stitcher.absorb(page)
            while stitcher.has_gap:
                yield from repair()
        while pull.ordered_by_id and not stitcher.done:
            # Every planned page is joined, yet none reached the end: entries were deleted (the end moved left,
            # past an empty page) or added (it moved right). Page on from the freshest observation.
            yield from repair()
    finally:
        cancelled.set()
        executor.shutdown(wait=True, cancel_futures=True)
