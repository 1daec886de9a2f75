"""The one clock the tests move by hand. Every component takes an injectable clock (the ledger and runner an aware UTC
datetime, the simulator seconds since the epoch, the pacer monotonic seconds); a test hands each the matching view
of one FakeClock, so that no test depends on the wall date. The few that check a deployed handler's own use of the
real clock (the Reports API's default `today`) read it around the call, and `make test-clock` runs them a year ahead."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# Monotonic readings start here (any origin works for a monotonic clock; a round one makes assertions readable).
MONOTONIC_ORIGIN = 1000.0


class FakeClock:
    """A clock that moves only when the test moves it (`advance`, `set`) or a component sleeps on it (`sleep`).

    Time is kept as float seconds since `start`, so the pacer's window arithmetic is exact (a datetime would round
    every sleep to a microsecond).
    """

    def __init__(self, start: datetime = START) -> None:
        self._origin = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._elapsed = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    @property
    def now(self) -> datetime:
        return self._origin + timedelta(seconds=self._elapsed)

    def __call__(self) -> datetime:
        """The current instant, aware UTC (ledgers, runner, history)."""
        return self.now

    def epoch(self) -> float:
        """Seconds since the epoch (the simulator's rate-limit windows and quota day)."""
        return self._origin.timestamp() + self._elapsed

    def monotonic(self) -> float:
        """Seconds since the clock was made, from MONOTONIC_ORIGIN (the pacer)."""
        return MONOTONIC_ORIGIN + self._elapsed

    def sleep(self, seconds: float) -> None:
        """What a component calls instead of time.sleep: the clock moves on, and the sleep is recorded."""
        with self._lock:
            self.sleeps.append(seconds)
            self._elapsed += seconds

    def advance(self, seconds: float) -> None:
        self._elapsed += seconds

    def set(self, moment: datetime) -> None:
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        self._elapsed = (moment - self._origin).total_seconds()
