"""Benchmark: pull 100,000 time entries from the local simulator with the default settings.

It shows what a big pull costs: requests used against the lower bound ceil(N / page size), throughput, peak memory
(tracemalloc, in the client's process: the simulator runs in a process of its own) and the
price of pacing: at the default 90 requests a minute, a pull of about 100 pages spends most of a minute waiting for
the per-minute window, which the printout separates from the time spent on HTTP.

Run: `.venv/bin/python -m bench.bench_pull` (about 70 seconds, most of it the pacer's wait).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
import tracemalloc
from datetime import date

from timereports_dev.dataset import ADMIN_TOKEN
from timereports_dev.fakes import InMemoryQuotaLedger
from timereports_dev.local_aws import LOCAL_DEFAULTS
from timereports_dev.pull import pull_entries

from timereports.bootstrap.sources import build_client
from timereports.config import Settings

ENTRIES = 100_000


def start_simulator(entries: int) -> tuple[subprocess.Popen[str], str]:
    """Serve the simulator in its own process, so that its memory and CPU do not blur the client's figures."""
    process = subprocess.Popen(
        [sys.executable, "-m", "timereports_dev.simulator", "--port", "0", "--entries", str(entries)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    match = re.search(r"(http://\S+)", first_line)
    if match is None:
        process.terminate()
        raise RuntimeError(f"the simulator did not start: {first_line!r}")
    return process, match.group(1)


def main() -> None:
    """Serve a 100,000-entry simulator, pull everything with the default settings, print the figures."""
    settings = Settings.from_environ({}, LOCAL_DEFAULTS)
    account = settings.account("default")
    started = time.perf_counter()
    simulator, url = start_simulator(ENTRIES)
    print(f"simulator: {ENTRIES:,} entries served at {url} after {time.perf_counter() - started:.1f}s")
    try:
        ledger = InMemoryQuotaLedger(account.name, daily_limit=account.daily_quota, reserve=account.quota_reserve)
        client = build_client(settings, account.model_copy(update={"api_url": url}), ledger, token=ADMIN_TOKEN)
        tracemalloc.start()
        with open(os.devnull, "w", encoding="utf-8") as sink:
            summary = pull_entries(client, date(2000, 1, 1), date(2099, 12, 31), sink)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    page = client.page_size
    lower_bound = math.ceil(summary.entries / page)
    held_back = client.pacer.held_back_seconds
    rate = settings.intervals_requests_per_minute
    print(f"entries pulled:  {summary.entries:,} (ids {summary.first_id}..{summary.last_id}), page size {page}")
    print(
        f"requests used:   {summary.requests} (lower bound ceil({summary.entries:,} / {page}) = {lower_bound}; "
        f"+{summary.requests - lower_bound} for the one-row page overlap that detects shifted pages)"
    )
    print(f"ledger count:    {ledger.status().used} (one unit reserved per request sent)")
    print(f"wall time:       {summary.seconds:.1f}s")
    print(
        f"pacer wait:      {held_back:.1f}s of the wall time had a request held back by the pacer "
        f"({client.pacer.waited_seconds:.1f}s summed over requests): at {rate} requests a minute, the requests past "
        f"the {rate}th wait for the 60-second window, so a pull of more than {rate} pages takes over a minute"
    )
    working = max(summary.seconds - held_back, 1e-9)
    print(
        f"throughput:      {summary.entries / summary.seconds:,.0f} entries/s overall, "
        f"{summary.entries / working:,.0f} entries/s while not held back (tracemalloc slows the client's parsing)"
    )
    print(f"peak memory:     {peak / 1_000_000:.1f} MB traced in the client process (pages stream; few in memory)")


if __name__ == "__main__":
    main()
