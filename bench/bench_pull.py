"""Benchmark: pull 100,000 time entries from the local simulator with the default settings.

It shows what a big pull costs: requests used against the lower bound ceil(N / page size), throughput, peak memory
(tracemalloc; the in-process simulator's allocations are included, so the client's own share is smaller) and the
price of pacing: at the default 90 requests a minute, a pull of about 100 pages spends most of a minute waiting for
the per-minute window, which the printout separates from the time spent on HTTP.

Run: `.venv/bin/python -m bench.bench_pull` (about 70 seconds, most of it the pacer's wait).
"""

from __future__ import annotations

import math
import os
import time
import tracemalloc
from datetime import date

from timereports.config import Settings
from timereports.intervals.client import IntervalsClient
from timereports.intervals.dataset import ADMIN_TOKEN, build_dataset
from timereports.intervals.simulator import IntervalsSimulator
from timereports.pull import pull_entries
from timereports.quota import InMemoryQuotaLedger

ENTRIES = 100_000


def main() -> None:
    """Build a 100,000-entry simulator, pull everything with the default settings, print the figures."""
    settings = Settings()
    account = settings.account("default")
    built = time.perf_counter()
    dataset = build_dataset(ENTRIES)
    print(f"data set: {ENTRIES:,} entries built in {time.perf_counter() - built:.1f}s")
    with IntervalsSimulator(dataset) as simulator:
        ledger = InMemoryQuotaLedger(account.name, daily_limit=account.daily_quota, reserve=account.quota_reserve)
        client = IntervalsClient.from_settings(
            account.model_copy(update={"api_url": simulator.url}), settings, ledger, ADMIN_TOKEN
        )
        tracemalloc.start()
        with open(os.devnull, "w", encoding="utf-8") as sink:
            summary = pull_entries(client, date(2000, 1, 1), date(2099, 12, 31), sink)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    page = client.page_size
    lower_bound = math.ceil(summary.entries / page)
    waited = client.pacer.held_back_seconds
    print(f"entries pulled:      {summary.entries:,} (ids {summary.first_id}..{summary.last_id})")
    print(
        f"requests used:       {summary.requests} (lower bound ceil({summary.entries:,} / {page}) = {lower_bound}; "
        f"+{summary.requests - lower_bound} for the one-row page overlap that detects shifted pages)"
    )
    print(f"ledger count:        {ledger.status().used} (one unit per request sent)")
    print(f"wall time:           {summary.seconds:.1f}s")
    print(
        f"pacer wait:          {waited:.1f}s of wall time with a request held back ({client.pacer.waited_seconds:.1f}s "
        f"summed over requests): at {settings.intervals_requests_per_minute} a minute, requests past the "
        f"{settings.intervals_requests_per_minute}th wait for the 60-second window"
    )
    working = max(summary.seconds - waited, 1e-9)
    print(
        f"throughput:          {summary.entries / summary.seconds:,.0f} entries/s overall, "
        f"{summary.entries / working:,.0f} entries/s excluding the pacer's wait"
    )
    print(f"peak memory:         {peak / 1_000_000:.1f} MB (tracemalloc, simulator included)")


if __name__ == "__main__":
    main()
