"""Cold start: importing and initialising each Lambda handler, as a ratio to the floor every such handler pays.

The floor is what no Python Lambda on boto3 and pydantic escapes: importing both and creating one client. A handler's
figure is importing its module and building what its first invocation builds (the run service, the dispatcher), in a
fresh interpreter each time; the ratio is the handler's median over the floor's median, the probes interleaved in the
same run so that a slow moment of the machine weighs on all of them alike.

Every probe runs with bytecode cached (a scratch PYTHONPYCACHEPREFIX, one warm-up run), as the floor's boto3 and
pydantic are (pip compiles site-packages): the figure compares imports, not compilation. Lambda's /opt and /var/task
are read-only, so there a module Python finds no bytecode for is compiled at every cold start: the build ships 3.13
bytecode for the layer and the functions (sam.mk). The last figures show what it saves: the same starts with every
module the layer and the functions ship compiled at import (only the runtime's boto3 and botocore keep bytecode).

The same starts are measured again on the runtime's own Python 3.13 (the one the build compiles with, with the layer's
libraries installed beside it for this machine), where `make bench` could install it; the figures above are this
machine's Python's, the development one. What the handlers defer to the path that needs it is measured too, as the
extra a first use of that path pays.

In Lambda the handlers keep the garbage collector off until they are built (bootstrap/cold_start.py); the bench runs
them as Lambda does (AWS_LAMBDA_FUNCTION_NAME set), and prints the same starts with the collector on, and the floor
with it off, so that what the collector saves is not mistaken for a smaller handler.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from timereports_dev.ship_catalogue import ship_catalogue

RUNS = 11
ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import boto3, pydantic; boto3.client('dynamodb')"
HANDLERS = {
    "run_report": "import functions.run_report.app as app; app.run_service()",
    "dispatch": "import functions.dispatch.app as app; app.dispatcher()",
    "reports_api": "import functions.reports_api.app as app; app.reports_service()",
    "email_feedback": "import functions.email_feedback.app as app; app.feedback_log()",
}
# Paths a handler's start leaves out, and what their first use costs: (name, what the handler has done, the first use).
DEFERRED = {
    "run_report, first workbook (XlsxWriter)": (HANDLERS["run_report"], "import xlsxwriter"),
    "reports_api, first OpenAPI document": (
        HANDLERS["reports_api"],
        "from timereports.api.resolver import openapi_json; openapi_json(app.app)",
    ),
}
# What bootstrap/cold_start.py does in Lambda, for the floor: no collection during the start, then freeze and collect.
COLLECTOR_OFF = "import gc; gc.disable()"
COLLECTOR_ON = "gc.freeze(); gc.enable()"
# A handler's start with the collector on throughout, as before bootstrap/cold_start.py (outside the timing).
COLLECTING = "import os; os.environ.pop('AWS_LAMBDA_FUNCTION_NAME'); "
# The libraries run_report's start uses, and nothing of ours: a first pydantic model, requests, Powertools Logger,
# Metrics and Idempotency, one client.
LIBRARIES = (
    "import boto3, pydantic, requests; from aws_lambda_powertools import Logger, Metrics; "
    "import aws_lambda_powertools.utilities.idempotency; Logger(); Metrics(namespace='probe'); "
    "pydantic.create_model('Probe', x=(int, 1)); boto3.client('dynamodb')"
)
# What no run_report start on these libraries escapes, with none of our code: the libraries above and the clients its
# start creates (DynamoDB and SES v2), with the collector off as the handler has it. Its ratio to the floor is the
# least run_report's headline figure can be.
LIBRARIES_AND_CLIENTS = f"{COLLECTOR_OFF}; {LIBRARIES}; boto3.client('sesv2'); {COLLECTOR_ON}"
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
    "INTERVALS_TOKEN_SECRET": "timereports/intervals-token",
    "POWERTOOLS_SERVICE_NAME": "timereports",
    "POWERTOOLS_METRICS_NAMESPACE": "Timereports",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    # Lambda sets it in every function's environment; bootstrap/cold_start.py reads it.
    "AWS_LAMBDA_FUNCTION_NAME": "timereports-bench",
}


def shipped_catalogue(directory: Path) -> dict[str, str]:
    """CATALOGUE_DIR naming the catalogue as the build ships it (JSON, validated) written into `directory`."""
    ship_catalogue(ROOT / "reports", directory)
    return {"CATALOGUE_DIR": str(directory)}


# What the Lambda runtime provides, with its bytecode (sam.mk's SAM_RUNTIME_PROVIDED); everything else a handler imports
# from site-packages ships in the layer.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "dateutil", "six"})


def _drop_shipped_bytecode(pycache: Path) -> None:
    """Remove from the bytecode cache what the layer and the functions ship: as if they had none, like on Lambda."""
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    for entry in (pycache / site.relative_to(site.anchor)).iterdir():
        if entry.name.split(".")[0] not in RUNTIME_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for shipped in (ROOT / "layers", ROOT / "functions"):
        shutil.rmtree(pycache / shipped.relative_to(shipped.anchor), ignore_errors=True)


def _environment(pycache: str) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in ("AWS_ENDPOINT_URL", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    return inherited | ENVIRONMENT | {"PYTHONPYCACHEPREFIX": pycache}


def _seconds(probe: str, env: dict[str, str], python: str) -> float:
    reply = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    return float(reply.stdout.strip().splitlines()[-1])


def medians(probes: dict[str, str], env: dict[str, str], python: str = sys.executable) -> dict[str, float]:
    """Each probe's median seconds over RUNS fresh interpreters of `python`, the probes taking turns."""
    for probe in probes.values():
        _seconds(probe, env, python)  # warm-up: writes the bytecode cache
    seconds: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(RUNS):
        for name, probe in probes.items():
            seconds[name].append(_seconds(probe, env, python))
    return {name: statistics.median(values) for name, values in seconds.items()}


# The Lambda runtime's Python (dev/fetch_runtime_python.sh) with the layer's libraries and boto3 for this machine
# beside it (the Makefile's runtime site): the same starts measured on the Python the functions run.
RUNTIME_PYTHON = ROOT / ".venv-runtime" / "bin" / "python3.13"
RUNTIME_SITE = ROOT / ".venv-runtime" / "site"


def runtime_medians(probes: dict[str, str], env: dict[str, str]) -> dict[str, float] | None:
    """The probes' medians on the runtime's Python, or None (saying why) where `make bench` could not install it."""
    if not (RUNTIME_PYTHON.exists() and (RUNTIME_SITE / ".installed").exists()):
        print("the runtime's Python 3.13 or its libraries are not installed here (make bench installs them): skipped")
        return None
    # The layer's sources as /opt/python has them, the functions' from the working directory, the libraries from
    # the runtime site; none of the development .venv.
    path = os.pathsep.join([str(RUNTIME_SITE), str(ROOT / "layers" / "timereports")])
    return medians(probes, env | {"PYTHONPATH": path}, str(RUNTIME_PYTHON))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="timereports-pycache-") as pycache:
        env = _environment(pycache) | shipped_catalogue(Path(pycache) / "catalogue")
        probes = {"floor": PROBE.format(code=FLOOR)} | {
            name: PROBE.format(code=code) for name, code in HANDLERS.items()
        }
        # All in one interleaved batch: the starts with the collector on, the floor with it off as the handlers have
        # it, and the libraries alone show what the collector saves, and what the handlers add themselves.
        comparisons = {f"{name}, collecting": COLLECTING + probe for name, probe in probes.items()} | {
            "floor, quiet": PROBE.format(code=f"{COLLECTOR_OFF}; {FLOOR}; {COLLECTOR_ON}"),
            "libraries, collecting": COLLECTING + PROBE.format(code=LIBRARIES),
            "libraries and clients": PROBE.format(code=LIBRARIES_AND_CLIENTS),
        }
        figures = medians(probes | comparisons, env)
        deferred = medians(
            {name: f"{done}; {PROBE.format(code=first_use)}" for name, (done, first_use) in DEFERRED.items()}, env
        )
        # Every module has bytecode in the cache now; keep only the runtime's and write no more.
        _drop_shipped_bytecode(Path(pycache))
        uncompiled = medians(probes, env | {"PYTHONDONTWRITEBYTECODE": "1"})
    with tempfile.TemporaryDirectory(prefix="timereports-pycache-") as pycache:
        env = _environment(pycache) | shipped_catalogue(Path(pycache) / "catalogue")
        on_runtime = runtime_medians(probes, env)
    floor = figures["floor"]
    print(f"floor (import boto3 + pydantic, one client): median {floor * 1000:.0f} ms ({RUNS} fresh interpreters)")
    for name in HANDLERS:
        print(f"{name}: import + init median {figures[name] * 1000:.0f} ms = {figures[name] / floor:.2f}x the floor")
    for name in HANDLERS:
        collecting = figures[f"{name}, collecting"]
        print(
            f"{name}, collector on throughout the start: {collecting * 1000:.0f} ms = "
            f"{collecting / figures['floor, collecting']:.2f}x the floor; the collector is "
            f"{1 - figures[name] / collecting:.0%} of that start"
        )
    quiet = figures["floor, quiet"]
    print(f"floor with the collector off during its start, as the handlers have it: {quiet * 1000:.0f} ms")
    for name in HANDLERS:
        print(f"{name}: {figures[name] / quiet:.2f}x that floor")
    libraries = figures["libraries, collecting"]
    print(
        f"run_report's libraries alone (a first pydantic model, requests, Powertools Logger, Metrics, Idempotency, one "
        f"client): {libraries * 1000:.0f} ms = {libraries / figures['floor, collecting']:.2f}x the floor; run_report's "
        f"own code adds {(figures['run_report, collecting'] - libraries) * 1000:.0f} ms to them (collector on in both)"
    )
    least = figures["libraries and clients"]
    print(
        f"run_report's libraries and the clients its start creates (DynamoDB, SES v2), none of our code, collector "
        f"off as the handler has it: {least * 1000:.0f} ms = {least / floor:.2f}x the floor, the least its "
        f"{figures['run_report'] / floor:.2f}x above can be"
    )
    for name, seconds in deferred.items():
        print(f"deferred to first use, {name}: +{seconds * 1000:.0f} ms = {seconds / floor:.2f}x the floor")
    if on_runtime is not None:
        runtime_floor = on_runtime["floor"]
        print(f"on the runtime's Python 3.13, floor: median {runtime_floor * 1000:.0f} ms")
        for name in HANDLERS:
            print(
                f"on the runtime's Python 3.13, {name}: {on_runtime[name] * 1000:.0f} ms = "
                f"{on_runtime[name] / runtime_floor:.2f}x that floor"
            )
    for name in probes:
        print(
            f"{name}, shipped modules without bytecode (compiled at import): {uncompiled[name] * 1000:.0f} ms = "
            f"{uncompiled[name] / figures[name]:.2f}x the same start with the bytecode the build ships"
        )
