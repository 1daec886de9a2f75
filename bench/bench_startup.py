"""Cold start: how long importing and initialising each Lambda handler takes (a fresh interpreter each time)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

HANDLERS = ["functions.run_report.app", "functions.dispatch.app", "functions.reports_api.app"]
RUNS = 5
PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def main() -> None:
    env = os.environ | {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "timereports",
        "POWERTOOLS_METRICS_NAMESPACE": "Timereports",
    }
    for module in HANDLERS:
        seconds = []
        for _ in range(RUNS):
            reply = subprocess.run(
                [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, env=env, check=True
            )
            seconds.append(float(reply.stdout.strip().splitlines()[-1]))
        print(
            f"{module}: import + init median {statistics.median(seconds) * 1000:.0f} ms "
            f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f}, {RUNS} fresh interpreters)"
        )
