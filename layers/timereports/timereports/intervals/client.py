"""The Intervals REST API client: paging, retries, pacing, quota and reference data.

Why it is built this way:
- Every request to a counted endpoint first reserves one unit in the quota ledger, retries included, so that
  concurrent runs together never pass the account's daily allowance. That is why the attempt loop is ours and
  urllib3 makes no attempt of its own (`Retry(total=0)` on the adapter).
- Errors are classified by type (see `intervals/errors.py`): auth and request errors fail at once; code 12 slows the
  pacer and retries; code 11 marks the ledger exhausted and stops; 5xx, 429, resets, timeouts and unreadable bodies
  are retried with capped exponential backoff and full jitter, bounded in attempts *and* in total time.
- /time/ is paged with a one-row overlap (`offset` steps of `page_size - 1`, sorted by id), so that each page must
  start at or before the last id already seen. Offset paging shifts when entries are deleted mid-pull; the overlap
  detects the shift and a bounded number of repair requests fills the gap, so no untouched entry is lost or repeated.
  Without edits a pull of N entries costs max(1, ceil((N - 1) / (page_size - 1))) requests, which is the lower bound
  ceil(N / page_size) plus at most one request for N <= page_size * (page_size - 1) (999,000 rows at 1,000 a page).
- After the first page tells `listcount`, the remaining pages are reserved at once and fetched by a small thread
  pool (`max_in_flight`), paced by a sliding-window limiter; unused reservations are refunded.

Defaults (all keyword arguments of `IntervalsClient`): pages of 1,000 rows, 90 requests a minute, 4 in flight,
(5 s connect, 30 s read) timeouts, 5 attempts per request within 60 s of retrying, backoff 0.5 s doubling to 8 s.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from timereports.clock import utc_now
from timereports.engine.quota_rules import quota_day
from timereports.errors import (
    IntervalsError,
    IntervalsRateLimitError,
    IntervalsRequestError,
    IntervalsUnavailableError,
    QuotaExhaustedError,
    RunTooLongError,
)
from timereports.intervals.errors import backoff_delay, error_for_reply, gave_up, keep_body, retry_after_seconds
from timereports.intervals.pacing import RequestPacer, duration_text
from timereports.intervals.paging import OpenPull, Page, PrepaidUnits, PullCancelled, stream_pages
from timereports.intervals.reference import (
    DEFAULT_LOOKED_FOR,
    DEFAULT_REFERENCE_CACHE,
    build_reference_data,
    cache_key,
    resolve_needs,
)
from timereports.models.intervals import ApiQuota, ReferenceData, TimeEntry, TimeQuery, parse_record

if TYPE_CHECKING:
    from timereports.logic.ports import QuotaLedger, ReferenceRecordsCache


logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 1000
DEFAULT_TIMEOUT = (5.0, 30.0)
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_RETRY_SECONDS = 60.0
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 8.0
# The daily allowance of an ordinary account: no legitimate pull needs more pages than a day's requests.
DEFAULT_MAX_PAGES = 6000
# Resources that do not count against the daily quota (and so reserve nothing).
UNCOUNTED_PATHS = frozenset({"/quota/"})


# Reference resources whose documented filters include sortfield=id (the others have no sort parameter).
SORTABLE_BY_ID = frozenset({"client", "project", "task", "milestone"})


class IntervalsClient:
    """A typed, paced, quota-aware client of one Intervals account's API.

    `ledger` is the quota port (`logic.ports.QuotaLedger`); `session` may be shared, else one is created with
    a connection pool of at least `max_in_flight` connections. `sleep` and `clock` (monotonic seconds) are injectable
    so that tests need not wait; `utc_clock` dates quota resets. The token never appears in logs, errors or reprs.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ledger: QuotaLedger,
        page_size: int = DEFAULT_PAGE_SIZE,
        requests_per_minute: int = 90,
        max_in_flight: int = 4,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        max_pages: int = DEFAULT_MAX_PAGES,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        utc_clock: Callable[[], datetime] = utc_now,
        reference_cache: ReferenceRecordsCache | None = None,
        rng: Callable[[], float] = random.random,
        pacer: RequestPacer | None = None,
        deadline: float | None = None,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        if page_size < 2:
            raise ValueError(f"page_size must be at least 2 (pages overlap by one row), got {page_size}")
        if max_in_flight < 1 or max_attempts < 1 or max_pages < 1:
            raise ValueError("max_in_flight, max_attempts and max_pages must be at least 1")
        if max_retry_seconds < 0 or backoff_base < 0 or backoff_cap < 0:
            raise ValueError("max_retry_seconds, backoff_base and backoff_cap must not be negative")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_pages = max_pages
        self.ledger = ledger
        self.pacer = pacer or RequestPacer(requests_per_minute, clock=clock, sleep=sleep)
        # When the run must be over (on `clock`; a Lambda's timeout less a margin), or None: no limit.
        self.deadline = deadline
        self._auth = requests.auth.HTTPBasicAuth(token, "X")
        self._headers = {"Accept": "application/json"}
        self._cache_key = cache_key(self.base_url, token)
        self._reference_cache: ReferenceRecordsCache = (
            reference_cache if reference_cache is not None else DEFAULT_REFERENCE_CACHE
        )
        self._looked_for = DEFAULT_LOOKED_FOR
        self._session = session if session is not None else self._new_session(max_in_flight)
        self._sleep = sleep
        self._clock = clock
        self._utc_clock = utc_clock
        self._slowest_page = 0.0
        self._rng = rng
        self._arrivals = itertools.count(1)
        self._counter_lock = threading.Lock()
        self._requests_sent = 0
        self._requests_counted = 0

    @staticmethod
    def _new_session(max_in_flight: int) -> requests.Session:
        session = requests.Session()
        # One pool per host, large enough that concurrent page fetches never wait for (or discard) a connection.
        # total=0: urllib3 never resends on its own, since every attempt must first reserve quota.
        adapter = HTTPAdapter(
            pool_connections=2, pool_maxsize=max(4, max_in_flight + 1), max_retries=Retry(0, read=False)
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def __repr__(self) -> str:
        return f"IntervalsClient(base_url={self.base_url!r}, page_size={self.page_size}, pacer={self.pacer!r})"

    def close(self) -> None:
        """Close the HTTP session's connections."""
        self._session.close()

    def __enter__(self) -> IntervalsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- counters -------------------------------------------------------------------------------------------------

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (all attempts, /quota/ included)."""
        return self._requests_sent

    @property
    def waited_seconds(self) -> float:
        """Wall-clock time requests of this process spent waiting for the pacer (the per-minute limit's cost)."""
        return self.pacer.held_back_seconds

    @property
    def requests_counted(self) -> int:
        """Requests sent to endpoints that count against the daily quota (each reserved one unit)."""
        return self._requests_counted

    def source_facts(self) -> dict[str, Any]:
        """Every entry of a run through this client came straight from the API (see `logic/mirror.py` for the other)."""
        return {"source": "direct"}

    # -- time entries ---------------------------------------------------------------------------------------------

    def iter_time(self, query: TimeQuery | None = None) -> Iterator[TimeEntry]:
        """The time entries matching `query`, typed, in id order, each exactly once."""
        for row in self.iter_time_raw(query):
            yield parse_record(TimeEntry, row, "time")

    def iter_time_raw(self, query: TimeQuery | None = None) -> Iterator[dict[str, Any]]:
        """The /time/ rows matching `query` as the API sent them (decoded JSON), in id order, each exactly once."""
        params = {**(query or TimeQuery()).to_params(), "sortfield": "id", "sortdir": "ASC"}
        return self._iter_collection("time", params, ordered_by_id=True)

    def iter_modified_raw(self, since: datetime, query: TimeQuery | None = None) -> Iterator[dict[str, Any]]:
        """The /time/ rows modified at or after `since`, by id, pages overlapping by one row.

        By id, not by datemodified: the API does not say how it orders rows that share a `datemodified` second (a
        bulk edit), and paging needs an order that is the same on every page. An entry edited again during the pull
        keeps its place; its newer version is within the next sync's overlap, which asks from before this one's
        newest `datemodified`."""
        modified = (query or TimeQuery()).model_copy(update={"datemodifiedbegin": since})
        params = {**modified.to_params(), "sortfield": "id", "sortdir": "ASC"}
        return self._iter_collection("time", params, ordered_by_id=True)

    def count_time(self, query: TimeQuery) -> int:
        """How many /time/ entries match `query`: the `listcount` of one `limit=1` request (one quota unit)."""
        page = self._fetch_page("time", query.to_params(), 0, None, limit=1)
        return page.listcount

    # -- reference data and quota ---------------------------------------------------------------------------------

    def reference_data(self, needs: set[str], *, missing: Sequence[str] = ()) -> ReferenceData:
        """The reference records named in `needs` (resources such as "person", or ReferenceData fields such as
        "people"), fetched whole and cached per account for an hour; only the resources asked for are requested.

        A role that may not read a resource fails with IntervalsAuthError naming it (HTTP 403, code 10). `missing`
        (names the cached records lack) fetches them again whatever the cache holds, and caches the new records: a
        record may have been added or renamed since. Not when the same names were looked for moments ago
        (`LookedFor`): a misspelling sent again is refused from the cache.
        """
        looked_for = frozenset(missing)
        fresh = bool(looked_for) and not self._looked_for.recently(self._cache_key, looked_for)
        records: dict[str, list[dict[str, Any]]] = {}
        for resource in sorted(resolve_needs(needs)):
            cached = None if fresh else self._reference_cache.get(self._cache_key, resource)
            if cached is None:
                if resource == "me":
                    # One record, and /me/ takes no parameters at all (not even paging).
                    me = self._request("/me/", {}).get("me")
                    cached = me if isinstance(me, list) else [me] if isinstance(me, dict) else []
                elif resource in SORTABLE_BY_ID:
                    # A stable id order lets the overlap check catch records deleted while paging.
                    params = {"sortfield": "id", "sortdir": "ASC"}
                    cached = list(self._iter_collection(resource, params, ordered_by_id=True))
                else:
                    cached = list(self._iter_collection(resource, {}, ordered_by_id=False))
                self._reference_cache.put(self._cache_key, resource, cached)
            records[resource] = cached
        if fresh:
            # Only once the look-up succeeded: one that failed (Intervals down, the quota spent) is tried again.
            self._looked_for.note(self._cache_key, looked_for)
        return build_reference_data(records)

    def sync_quota(self) -> ApiQuota:
        """GET /quota/ (free: it does not count) and teach the ledger the account's real usage."""
        payload = self._request("/quota/", {})
        quota = parse_record(ApiQuota, payload.get("quota") or {}, "quota")
        self.ledger.observe(quota)
        return quota

    # -- paging ---------------------------------------------------------------------------------------------------

    def _iter_collection(
        self, resource: str, params: dict[str, str], *, ordered_by_id: bool
    ) -> Iterator[dict[str, Any]]:
        """Every record of a collection, the first page alone, the rest reserved at once and fetched in parallel.

        With `ordered_by_id` (the request sorts by id ascending) pages overlap by one row and each must join the
        rows already yielded; a page that does not (entries were deleted before it while paging) is joined by
        repair requests. Otherwise pages are contiguous and records are de-duplicated by id.
        """
        pull = self._open(resource, params, ordered_by_id)
        (prepaid,) = self._prepay([pull])
        yield from self._stream(pull, prepaid)

    def iter_time_many(self, queries: Sequence[TimeQuery]) -> Iterator[tuple[int, TimeEntry]]:
        """The entries of several /time/ queries (one run's pulls), each tagged with its query's index.

        The first page of every query is fetched before any other, and then all the remaining pages of all the
        queries are reserved in ONE ledger call: a run that cannot finish stops before it spends the rest, so
        that concurrent runs do not each half-finish and all fail.
        """
        pulls = [
            self._open("time", {**query.to_params(), "sortfield": "id", "sortdir": "ASC"}, True) for query in queries
        ]
        prepaid = self._prepay(pulls)
        try:
            for index, (pull, units) in enumerate(zip(pulls, prepaid, strict=True)):
                for row in self._stream(pull, units):
                    yield index, parse_record(TimeEntry, row, "time")
        finally:
            for units in prepaid:  # pulls never streamed (an earlier one failed) give their units back
                unused = units.take_rest()
                if unused:
                    self.ledger.refund(unused, day=units.day)

    def _open(self, resource: str, params: dict[str, str], ordered_by_id: bool) -> OpenPull:
        """Fetch a collection's first page and plan the offsets of the pages still needed."""
        size = self.page_size
        step = size - 1 if ordered_by_id else size
        started = self._clock()
        first = self._fetch_page(resource, params, 0, None, None)
        # How long the API takes for a page: the rest of the pull is planned with it (`_check_time_for`).
        self._slowest_page = max(self._slowest_page, self._clock() - started)
        # Page k (k >= 1) starts at k * step; it is needed while the page before it ends short of listcount.
        offsets = [] if first.reaches_end else list(range(step, first.listcount - (size - step), step))
        if 1 + len(offsets) > self.max_pages:
            raise IntervalsRequestError(
                f"GET /{resource}/ matches {first.listcount} records: {1 + len(offsets)} pages of {size} exceed the "
                f"guard of {self.max_pages} pages; narrow the query or raise the page size"
            )
        return OpenPull(resource, params, ordered_by_id, first, offsets)

    def _prepay(self, pulls: Sequence[OpenPull]) -> list[PrepaidUnits]:
        """Reserve the remaining pages of all `pulls` in one ledger call (before anything is yielded)."""
        needed = sum(len(pull.offsets) for pull in pulls)
        self._check_time_for(needed)
        day = getattr(self.ledger.reserve(needed), "day", None) if needed else None
        return [PrepaidUnits(len(pull.offsets), day, threading.Lock()) for pull in pulls]

    def _check_time_for(self, requests_needed: int) -> None:
        """Refuse a pull that cannot finish before the deadline at the current pace, before it spends anything:
        a Lambda killed by its timeout would leave no record and be retried, spending the quota again."""
        if self.deadline is None or requests_needed == 0:
            return
        rate = self.pacer.requests_per_minute
        # When the last of them could start, the requests this process sent in the last minute counted.
        paced = self.pacer.wait_before(requests_needed)
        # And each page takes as long as the API answers: `max_in_flight` at a time, as slow as the slowest first page.
        answered = requests_needed * self._slowest_page / self.max_in_flight
        seconds_needed = max(paced, answered)
        seconds_left = self.deadline - self._clock()
        alone = max(self.pacer.wait_before(requests_needed, counting_taken=False), answered)
        if seconds_needed > seconds_left >= alone:
            # Only the requests of the last minute stand in the way: worth trying again once they are out of it.
            self.pacer.refuse_a_start_after(seconds_left, requests_needed)
        if seconds_needed > seconds_left:
            needed = (
                f"{requests_needed} more requests to Intervals: at {rate} a minute and {self._slowest_page:.1f} s a "
                f"page that is about {duration_text(seconds_needed)}, more than the "
                f"{duration_text(max(seconds_left, 0))} left"
            )
            raise RunTooLongError(
                f"this report needs {needed}; raise INTERVALS_PAGE_SIZE (the stack's PageSize) or narrow the report's "
                "time frame or filters",
                needed=needed,
            )

    def _check_pace_before_deadline(self) -> None:
        """Refuse a request whose start slot the pace puts past the deadline, before it is reserved: a Lambda would
        otherwise sleep out its timeout (API Gateway's 29 s first) with the quota already spent."""
        if self.deadline is not None:
            self.pacer.refuse_a_start_after(self.deadline - self._clock())

    def _stream(self, pull: OpenPull, prepaid: PrepaidUnits) -> Iterator[dict[str, Any]]:
        """Yield an opened pull's records (intervals/paging.py pages them); unused prepaid units are refunded."""
        try:
            yield from stream_pages(
                pull,
                lambda offset, cancelled: self._fetch_page(pull.resource, pull.params, offset, prepaid, cancelled),
                page_size=self.page_size,
                max_in_flight=self.max_in_flight,
                max_pages=self.max_pages,
            )
        finally:
            unused = prepaid.take_rest()
            if unused:
                self.ledger.refund(unused, day=prepaid.day)

    def _fetch_page(
        self,
        resource: str,
        params: dict[str, str],
        offset: int,
        prepaid: PrepaidUnits | None,
        cancelled: threading.Event | None = None,
        limit: int | None = None,
    ) -> Page:
        limit = limit or self.page_size
        payload = self._request(
            f"/{resource}/", {**params, "limit": str(limit), "offset": str(offset)}, prepaid, cancelled
        )
        seq = next(self._arrivals)
        rows = payload.get(resource)
        if not isinstance(rows, list) or not all(isinstance(row, dict) and "id" in row for row in rows):
            raise keep_body(
                IntervalsUnavailableError(f"GET /{resource}/ replied without a list of {resource} records"),
                json.dumps(payload)[:2000],
            )
        try:
            ids = [int(row["id"]) for row in rows]
            listcount = int(payload.get("listcount", len(rows) + offset))
        except (TypeError, ValueError) as exc:
            raise IntervalsUnavailableError(f"GET /{resource}/ replied with a non-numeric id or listcount") from exc
        return Page(offset=offset, limit=limit, rows=rows, ids=ids, listcount=listcount, seq=seq)

    # -- one request, with retries --------------------------------------------------------------------------------

    def _request(
        self,
        path: str,
        params: dict[str, str],
        prepaid: PrepaidUnits | None = None,
        cancelled: threading.Event | None = None,
    ) -> dict[str, Any]:
        """GET `path` until it succeeds or a bound is reached; each attempt reserves quota (unless uncounted)."""
        counted = path not in UNCOUNTED_PATHS
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            if cancelled is not None and cancelled.is_set():
                raise PullCancelled
            self._check_pace_before_deadline()
            if counted and not (prepaid is not None and prepaid.take(quota_day(self._utc_clock()))):
                self.ledger.reserve(1)
            self.pacer.acquire()
            try:
                return self._send(path, params, counted)
            except QuotaExhaustedError as exc:
                self.ledger.mark_exhausted(exc.resets_at)
                raise
            except IntervalsError as error:
                if not error.retryable:
                    raise
                if isinstance(error, IntervalsRateLimitError):
                    self.pacer.slow_down()
                delay = max(
                    backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap, rng=self._rng),
                    getattr(error, "retry_after", 0.0),
                )
                elapsed = self._clock() - started
                if attempt >= self.max_attempts or elapsed + delay > self.max_retry_seconds:
                    raise gave_up(error, attempt, elapsed) from error
                logger.warning(
                    "intervals request failed; retrying",
                    extra={
                        "path": path,
                        "attempt": attempt,
                        "delay_seconds": round(delay, 3),
                        "error": type(error).__name__,
                        "status": error.status,
                        "api_code": error.code,
                    },
                )
                self._sleep(delay)

    def _send(self, path: str, params: dict[str, str], counted: bool) -> dict[str, Any]:
        """One HTTP attempt: the decoded JSON object of a 2xx reply, or the typed error of anything else."""
        with self._counter_lock:
            self._requests_sent += 1
            self._requests_counted += counted
        try:
            response = self._session.get(
                self.base_url + path, params=params, auth=self._auth, headers=self._headers, timeout=self.timeout
            )
            body = response.content.decode("utf-8", errors="replace")
        except requests.Timeout as exc:
            raise IntervalsUnavailableError(f"GET {path}: no reply within the timeout {self.timeout}") from exc
        except requests.RequestException as exc:
            # Resets, refused connections and bodies cut short of their Content-Length all land here.
            raise IntervalsUnavailableError(f"GET {path}: connection failed ({type(exc).__name__})") from exc
        if not 200 <= response.status_code < 300:
            error = error_for_reply("GET", path, response.status_code, body, now=self._utc_clock())
            if isinstance(error, IntervalsError):
                error.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            raise error
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise keep_body(
                IntervalsUnavailableError(
                    f"GET {path}: unreadable reply (truncated or not JSON)", status=response.status_code
                ),
                body,
            ) from exc
        if not isinstance(payload, dict):
            raise keep_body(
                IntervalsUnavailableError(f"GET {path}: reply is not a JSON object", status=response.status_code), body
            )
        return payload
