"""An Intervals client for tests: short timeouts, near-instant backoff and a fresh ledger and cache each time."""

from __future__ import annotations

from typing import Any

from timereports_dev.dataset import ADMIN_TOKEN
from timereports_dev.fakes import InMemoryQuotaLedger
from timereports_dev.simulator import IntervalsSimulator

from timereports.intervals.client import IntervalsClient
from timereports.intervals.reference import ReferenceCache


def make_test_client(url: str, *, token: str = ADMIN_TOKEN, **options: Any) -> IntervalsClient:
    """A client of `url` that keeps tests fast; `options` override any constructor argument."""
    settings: dict[str, Any] = {
        "ledger": InMemoryQuotaLedger(daily_limit=6000),
        "requests_per_minute": 100,
        "timeout": (1.0, 2.0),
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "max_retry_seconds": 5.0,
        "reference_cache": ReferenceCache(),
        **options,
    }
    return IntervalsClient(url, token, **settings)


def time_requests(simulator: IntervalsSimulator) -> list[Any]:
    """The simulator's log of GET /time/ requests."""
    return [record for record in simulator.request_log if record.path == "/time/"]
