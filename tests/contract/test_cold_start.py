"""What a handler's cold start leaves out: modules its common path never uses, which `make bench` found costly.

Each handler is imported and initialised in a fresh interpreter, exactly as bench/bench_startup.py measures it, and
the modules it loaded are compared with the ones that must wait for the path that needs them (a workbook, the OpenAPI
document, a traced deployment) or that no handler needs at all (Powertools Batch and its event models).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bench_startup import ENVIRONMENT, HANDLERS, ROOT, shipped_catalogue

# Loaded by no handler's import or initialisation.
NEVER_AT_START = (
    "aws_lambda_powertools.utilities.batch",  # our ten-line SQS loop instead: its import loads every event model
    "aws_lambda_powertools.utilities.parser",  # its envelopes and models of every event source: ours are small
    "aws_xray_sdk",  # tracing is off unless the deployment turns it on, and then built on the first invocation
    "email_validator",  # models.address is the rule SES applies, without compiling Unicode tables
    "xlsxwriter",  # only a report that asks for a workbook
    "aws_lambda_powertools.event_handler.openapi.models",  # only the Reports API's OpenAPI document
    "yaml",  # the build ships the catalogue as JSON
)
# The dispatcher enqueues runs: it neither calls Intervals nor renders a report.
NOT_FOR_DISPATCH = ("requests", "timereports.intervals.client", "timereports.render.email", "timereports.logic.runner")


def loaded_modules(code: str, catalogue: Path) -> set[str]:
    """The modules in sys.modules after `code` ran in a fresh interpreter with the functions' environment and the
    catalogue as the build ships it."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env = inherited | ENVIRONMENT | shipped_catalogue(catalogue)
    reply = subprocess.run(
        [sys.executable, "-c", f"{code}; import json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return set(json.loads(reply.stdout.strip().splitlines()[-1]))


def loaded_under(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(name for name in names if any(m == name or m.startswith(f"{name}.") for m in modules))


@pytest.mark.parametrize("handler", sorted(HANDLERS))
def test_a_handler_starts_without_what_its_runs_do_not_use(handler: str, tmp_path: Path) -> None:
    # Given a handler imported and initialised as a cold Lambda does
    modules = loaded_modules(HANDLERS[handler], tmp_path)
    # Then it really started (its use case is built) and left the deferred modules out
    assert "timereports.config" in modules
    assert loaded_under(modules, NEVER_AT_START) == []


def test_the_dispatcher_loads_no_intervals_client_and_no_renderer(tmp_path: Path) -> None:
    modules = loaded_modules(HANDLERS["dispatch"], tmp_path)
    assert "timereports.logic.dispatch" in modules
    assert loaded_under(modules, NOT_FOR_DISPATCH) == []
