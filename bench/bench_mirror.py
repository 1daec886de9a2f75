"""The entry mirror: a 150,000-entry report end to end on a warm mirror, against a minimal sequential client that
pulls the same period, both at 150 ms of latency a request (a distant API), in one run.

The simulator (with the latency) and local AWS (moto) run in processes of their own. The baseline is the least a
direct pull can cost: one `GET /time/` after the other, pages of 1,000 rows, no pacing, no parsing beyond JSON. The
mirror is pre-filled with `timereports sync` first; then `timereports run` is timed as a process (start, imports,
/quota/, the sync page, the count probe, reading and decoding the months from S3, aggregation, the CSV to S3, the
email through SES) with its peak resident memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from timereports_dev.dataset import ADMIN_TOKEN

from bench.bench_end_to_end import LOCAL_AWS, REPORT_PROCESS, _serve, local_environment

# A year of entries; the report covers January to October (entries of past days only: a seeded entry's datemodified
# is its date, and a future one would come back in every sync).
ENTRIES = 180_000
PERIOD = ("2026-01-01", "2026-10-31")
LATENCY = 0.150
REPORT = f"""\
id: bench-mirror
title: Hours and amounts by project and person
view: time_fees_hours_and_amounts
time_frame: {{from: {PERIOD[0]}, to: {PERIOD[1]}}}
timezone: Europe/Berlin
group_by: [project_id, user_id]
delivery:
  to: [finance@example.com]
"""
TOKEN = ADMIN_TOKEN


def minimal_sequential_pull(api_url: str) -> tuple[float, int, int]:
    """Seconds, requests and entries of the simplest correct pull: page after page until listcount is reached."""
    session = requests.Session()
    started = time.perf_counter()
    offset, requests_sent, entries, listcount = 0, 0, 0, None
    while listcount is None or offset < listcount:
        reply = session.get(
            f"{api_url}/time/",
            params={
                "datebegin": PERIOD[0],
                "dateend": PERIOD[1],
                "sortfield": "id",
                "limit": "1000",
                "offset": str(offset),
            },
            auth=(TOKEN, "X"),
            headers={"Accept": "application/json"},
            timeout=60,
        )
        reply.raise_for_status()
        payload = reply.json()
        requests_sent += 1
        listcount = int(payload["listcount"])
        entries += len(payload["time"])
        offset += 1000
    return time.perf_counter() - started, requests_sent, entries


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", REPORT_PROCESS, *args],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return time.perf_counter() - started, int(finished.stderr.strip().splitlines()[-1])


def main() -> None:
    simulator, api_url = _serve(
        ["-m", "timereports_dev.simulator", "--port", "0", "--entries", str(ENTRIES), "--latency", str(LATENCY),
         "--per-minute-limit", "100000"]
    )  # fmt: skip
    local_aws, endpoint = _serve(["-c", LOCAL_AWS])
    try:
        baseline, baseline_requests, entries = minimal_sequential_pull(api_url)
        print(
            f"{entries:,} entries, minimal sequential client, {LATENCY * 1000:.0f} ms a request: {baseline:.1f} s, "
            f"{baseline_requests} requests"
        )
        with tempfile.TemporaryDirectory() as scratch:
            spec = Path(scratch) / "bench.yaml"
            spec.write_text(REPORT, encoding="utf-8")
            env = local_environment(endpoint, api_url, TOKEN, STATE_TABLE="bench-mirror", REPORTS_BUCKET="bench-mirror")
            # Pre-fill (large pages and the API's full pace: a one-off, not what is measured).
            fill_env = env | {"INTERVALS_PAGE_SIZE": "5000", "INTERVALS_REQUESTS_PER_MINUTE": "100"}
            filled, _ = _cli(
                ["sync", "--from", PERIOD[0], "--to", PERIOD[1], "--local", "--api-url", api_url], fill_env
            )
            print(f"pre-fill: timereports sync {PERIOD[0]}..{PERIOD[1]} in {filled:.1f} s (pages of 5,000)")
            out = Path(scratch) / "out"
            seconds, peak_kib = _cli(
                ["run", str(spec), "--today", "2026-11-02", "--local", "--api-url", api_url, "--out", str(out)], env
            )
            summary = json.loads((out / "run.json").read_text())
            print(
                f"{summary['entries']:,} entries, warm mirror, end to end: {seconds:.2f} s wall "
                f"({seconds / baseline:.3f}x the minimal client; target at most 0.15x), peak RSS "
                f"{peak_kib / 1024:.0f} MiB (target < 300), {summary['api_requests']} API requests "
                f"({summary.get('count_probes')} count probe, {summary.get('changes_synced')} changes synced), "
                f"source {summary.get('source')}, {summary['rows']} rows"
            )
    finally:
        for process in (simulator, local_aws):
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
