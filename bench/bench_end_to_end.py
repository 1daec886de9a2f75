"""End to end: one report over 150,000 time entries, as `timereports run` runs it.

The simulator and local AWS (moto) run in processes of their own, so the figures are those of the
report process alone: wall time and peak resident memory (the same code a Lambda runs). The API's
pacing (90 requests a minute by default) is part of the real cost, so it is measured with the
default page size and, for comparison, with pages of 5,000 rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENTRIES = 150_000
REPORT = """\
id: bench-yearly-hours
title: Hours and amounts by project and person, 2026
view: time_fees_hours_and_amounts
time_frame: {from: 2026-01-01, to: 2026-12-31}
timezone: Europe/Berlin
group_by: [project_id, user_id]
delivery:
  to: [finance@example.com]
"""
LOCAL_AWS = (
    "import threading; from timereports_dev.local_aws import LocalAwsServer; "
    "print(LocalAwsServer('127.0.0.1', 0).start(), flush=True); threading.Event().wait()"
)


def _serve(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start a server process and read the URL it prints first."""
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    url = next(word for word in line.split() if word.startswith("http://"))
    return process, url


# Runs the CLI and then prints the process's own peak RSS in KiB. VmHWM, not ru_maxrss: Linux carries ru_maxrss
# across exec from the forking parent (this benchmark, which may just have held pandas' million rows).
REPORT_PROCESS = (
    "import re, sys; from timereports_dev.cli import main; code = main(sys.argv[1:]); "
    "status = open('/proc/self/status').read(); "
    "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr); sys.exit(code)"
)


def _run_report(spec: Path, out: Path, env: dict[str, str]) -> tuple[float, int, dict[str, object]]:
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", REPORT_PROCESS, "run", str(spec), "--today", "2027-01-04", "--local",
         "--api-url", env["INTERVALS_API_URL"], "--out", str(out)],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    peak_kib = int(finished.stderr.strip().splitlines()[-1])
    summary = json.loads((out / "run.json").read_text())
    return seconds, peak_kib, summary


def local_environment(endpoint: str, api_url: str, token: str, **extra: str) -> dict[str, str]:
    """A report process's environment against the benchmark's local AWS and simulator (no reserve kept)."""
    return os.environ | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "INTERVALS_API_URL": api_url,
        "INTERVALS_API_TOKEN": token,
        "INTERVALS_QUOTA_RESERVE": "0",
        **extra,
    }


def main() -> None:
    simulator, api_url = _serve(["-m", "timereports_dev.cli", "simulator", "--port", "0", "--entries", str(ENTRIES)])
    local_aws, endpoint = _serve(["-c", LOCAL_AWS])
    try:
        with tempfile.TemporaryDirectory() as scratch:
            spec = Path(scratch) / "bench.yaml"
            spec.write_text(REPORT, encoding="utf-8")
            # The cold path this measures: every page pulled (bench_mirror measures the mirror).
            base = local_environment(endpoint, api_url, "Adm1nT0ken1", MIRROR_ENABLED="false")
            for label, page_size in (("default page size 1000", "1000"), ("page size 5000", "5000")):
                out = Path(scratch) / page_size
                env = base | {"INTERVALS_PAGE_SIZE": page_size, "STATE_TABLE": f"bench-{page_size}"}
                seconds, peak_kib, summary = _run_report(spec, out, env)
                print(
                    f"{ENTRIES:,} entries, {label}: {seconds:.1f} s wall, peak RSS {peak_kib / 1024:.0f} MiB "
                    f"(report process), {summary['api_requests']} API requests, {summary['rows']} rows, "
                    f"CSV {(out / 'bench-yearly-hours.csv').stat().st_size:,} bytes; pacing 90 requests/minute"
                )
    finally:
        for process in (simulator, local_aws):
            process.terminate()
            process.wait(timeout=10)
