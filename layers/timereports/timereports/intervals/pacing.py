"""Pacing: keep the client under the Intervals API's per-minute limit, across threads.

The API allows 100 requests a minute per IP and answers more with HTTP 400, API code 12 ("Requests too fast").
Whether its window is fixed or rolling is not documented, so the pacer keeps the stricter of the two: never more than
`requests_per_minute` request starts in *any* 60 seconds (a sliding window over the start times). A code-12 reply
means someone else on the same IP spends the limit too, so `slow_down()` halves our rate and spaces requests evenly.

The clock and the sleep are injectable, so unit tests run instantly against a fake clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from timereports.config import API_REQUESTS_PER_MINUTE_LIMIT
from timereports.errors import PaceExceedsDeadlineError

logger = logging.getLogger(__name__)
# A wait for the pace shorter than this is not logged (the spacing of requests within a minute).
LOGGED_WAIT_SECONDS = 1.0
WINDOW_SECONDS = 60.0
# After repeated code-12 replies the rate never drops below this: slow, but a run still finishes.
MIN_REQUESTS_PER_MINUTE = 6


def duration_text(seconds: float) -> str:
    """`45 s`, or `12 minutes` from two minutes on: what a person reads in a refusal."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


class RequestPacer:
    """A thread-safe sliding-window limiter: at most `requests_per_minute` starts in any `window_seconds`.

    Each caller is given a start slot under the lock and sleeps outside it, so waiting threads neither hold the lock
    nor overtake each other: slots are handed out in order and never bunch up past the limit.
    """

    def __init__(
        self,
        requests_per_minute: int = 90,
        *,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= requests_per_minute <= API_REQUESTS_PER_MINUTE_LIMIT:
            raise ValueError(
                f"requests_per_minute must be between 1 and {API_REQUESTS_PER_MINUTE_LIMIT} (the API's limit per IP), "
                f"got {requests_per_minute}"
            )
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be positive, got {window_seconds}")
        self._limit = requests_per_minute
        self.configured_requests_per_minute = requests_per_minute
        self._window = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Start slots handed out, oldest first; only the last `limit` ones can matter to the next slot.
        self._slots: deque[float] = deque(maxlen=requests_per_minute)
        # 0 until a code-12 reply: then requests are also spread evenly, window / rate apart.
        self._min_interval = 0.0
        self._not_before = float("-inf")
        self._waited = 0.0
        self._held_back = 0.0
        self._held_back_until = float("-inf")
        self._slowdowns = 0

    @property
    def requests_per_minute(self) -> int:
        """The current rate (lower than configured after code-12 replies)."""
        return self._limit

    @property
    def waited_seconds(self) -> float:
        """Total time callers were told to wait, summed over all threads (for benchmarks and logs)."""
        return self._waited

    @property
    def held_back_seconds(self) -> float:
        """Wall-clock time during which at least one request was waiting for its slot (the pacing's cost to a run)."""
        return self._held_back

    @property
    def slowdowns(self) -> int:
        """How many times `slow_down()` was called."""
        return self._slowdowns

    def _next_slot(self, slots: deque[float] | list[float], now: float) -> float:
        """The start slot after `slots` (the ones handed out, oldest first) for a request asked for at `now`."""
        slot = max(now, self._not_before)
        if len(slots) >= self._limit:
            # The limit-th most recent start must be a full window before the new one.
            slot = max(slot, slots[-self._limit] + self._window)
        if slots:
            # Slots stay in order, which is what makes `slots[-limit]` the right one to look at.
            slot = max(slot, slots[-1] + self._min_interval)
        return slot

    def wait_before(self, requests: int = 1, *, counting_taken: bool = True) -> float:
        """Seconds from now until the `requests`-th next request could start, the slots already handed out in the
        window counted (or, `counting_taken` False, as if none were); takes none (a caller that cannot wait that
        long refuses before it spends anything)."""
        with self._lock:
            now = self._clock()
            slots = list(self._slots) if counting_taken else []
            slot = now
            for _ in range(requests):
                slot = self._next_slot(slots, now)
                slots.append(slot)
            return max(0.0, slot - now)

    def refuse_a_start_after(self, seconds_left: float, requests: int = 1) -> None:
        """Raise PaceExceedsDeadlineError when the `requests`-th next request could start only after `seconds_left`
        (the caller's deadline): refused before any is reserved, rather than a Lambda sleeping out its timeout with
        the quota spent."""
        wait = self.wait_before(requests)
        if wait > seconds_left:
            what = "the next request" if requests == 1 else f"the last of the next {requests} requests"
            raise PaceExceedsDeadlineError(
                f"{what} to Intervals may start only in {duration_text(wait)} ({self._limit} a minute, spent by the "
                f"requests before), after the {duration_text(max(seconds_left, 0))} left; try again then",
                retry_after=wait,
            )

    def reserve_slot(self) -> float:
        """Take the next start slot and return how long to wait for it (0.0 when it is now). Does not sleep."""
        with self._lock:
            now = self._clock()
            slot = self._next_slot(self._slots, now)
            self._slots.append(slot)
            wait = slot - now
            self._waited += wait
            if slot > self._held_back_until:
                # Slots only move forward, so the union of the waiting intervals grows at its end.
                self._held_back += slot - max(now, self._held_back_until)
                self._held_back_until = slot
            return wait

    def acquire(self) -> float:
        """Block until a request may start; return the seconds waited."""
        wait = self.reserve_slot()
        if wait > 0:
            if wait >= LOGGED_WAIT_SECONDS:
                logger.info(
                    "waiting for the per-minute pace",
                    extra={"wait_seconds": round(wait, 1), "requests_per_minute": self._limit},
                )
            self._sleep(wait)
        return wait

    def slow_down(self) -> None:
        """React to a code-12 ("Requests too fast") reply: halve the rate, space requests evenly, pause one interval.

        The rate is not raised again during the client's life (one run): finishing a little slower is cheaper than
        another refusal, which also counts against the daily quota.
        """
        with self._lock:
            self._slowdowns += 1
            self._limit = max(min(MIN_REQUESTS_PER_MINUTE, self._limit), self._limit // 2)
            self._min_interval = self._window / self._limit
            self._not_before = max(self._not_before, self._clock() + self._min_interval)
        logger.warning(
            "Intervals said requests were too fast: slowing down", extra={"requests_per_minute": self._limit}
        )

    def __repr__(self) -> str:
        return f"RequestPacer(requests_per_minute={self._limit}, window_seconds={self._window})"


_shared_lock = threading.Lock()
_shared: dict[str, RequestPacer] = {}


def shared_pacer(api_host: str, requests_per_minute: int) -> RequestPacer:
    """The process's one pacer for an API host: the limit is per IP, so every client in a warm Lambda (one run
    after another, or several accounts) must draw on the same window, not each start a fresh one."""
    with _shared_lock:
        pacer = _shared.get(api_host)
        if pacer is None or pacer.configured_requests_per_minute != requests_per_minute:
            pacer = _shared[api_host] = RequestPacer(requests_per_minute)
        return pacer
