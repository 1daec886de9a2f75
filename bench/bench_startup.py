"""Cold start: importing and initialising each Lambda handler, as a ratio to the floor every such handler pays.

The floor is what no Python Lambda on boto3 and pydantic escapes: importing both and creating one client. A handler's
figure is importing its module and building what its first invocation builds (the run service, the dispatcher), in a
fresh interpreter each time; the ratio is the handler's median over the floor's median, measured in the same run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

RUNS = 7
ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import boto3, pydantic; boto3.client('dynamodb')"
HANDLERS = {
    "run_report": "import functions.run_report.app as app; app.run_service()",
    "dispatch": "import functions.dispatch.app as app; app.dispatcher()",
    "reports_api": "import functions.reports_api.app as app; app.reports_service()",
}
PROBE = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
# The environment the template gives the functions (names only matter; nothing is called).
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "STATE_TABLE": "timereports-state",
    "REPORTS_BUCKET": "timereports-reports",
    "SENDER_EMAIL": "reports@example.com",
    "REPORT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/timereports-runs",
    "CATALOGUE_DIR": str(ROOT / "reports"),
    "INTERVALS_TOKEN_SECRET": "timereports/intervals-token",
    "POWERTOOLS_SERVICE_NAME": "timereports",
    "POWERTOOLS_METRICS_NAMESPACE": "Timereports",
}


def median_seconds(code: str) -> float:
    env = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"} | ENVIRONMENT
    seconds = []
    for _ in range(RUNS):
        reply = subprocess.run(
            [sys.executable, "-c", PROBE.format(code=code)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=ROOT,
        )
        seconds.append(float(reply.stdout.strip().splitlines()[-1]))
    return statistics.median(seconds)


def main() -> None:
    floor = median_seconds(FLOOR)
    print(f"floor (import boto3 + pydantic, one client): median {floor * 1000:.0f} ms ({RUNS} fresh interpreters)")
    for name, code in HANDLERS.items():
        handler = median_seconds(code)
        print(f"{name}: import + init median {handler * 1000:.0f} ms = {handler / floor:.2f}x the floor")
