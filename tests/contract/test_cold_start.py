"""What a handler's cold start leaves out: modules its common path never uses, which `make bench` found costly.

Each handler is imported and initialised in a fresh interpreter, exactly as bench/bench_startup.py measures it, and
the modules it loaded are compared with the ones that must wait for the path that needs them (a workbook, the OpenAPI
document, a traced deployment) or that no handler needs at all (Powertools Batch and its event models).
"""

from __future__ import annotations

import ast
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
NOT_FOR_DISPATCH = (
    "requests",
    "timereports.intervals.client",
    "timereports.render.email",
    "timereports.logic.runner",
    "timereports.dal.run_history",
    "timereports.models.run_record",
)
# A report run's start leaves out the daily revision check: its use case, its renderer and its marks.
NOT_FOR_REPORT_RUNS = (
    "timereports.bootstrap.revisions",
    "timereports.logic.revisions",
    "timereports.render.revision",
    "timereports.dal.revision_marks",
)


def function_environment(catalogue: Path) -> dict[str, str]:
    """The functions' environment (the bench's), with the catalogue as the build ships it written into `catalogue`."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return inherited | ENVIRONMENT | shipped_catalogue(catalogue)


def loaded_modules(code: str, catalogue: Path) -> set[str]:
    """The modules in sys.modules after `code` ran in a fresh interpreter with the functions' environment and the
    catalogue as the build ships it."""
    env = function_environment(catalogue)
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


def test_a_report_run_starts_without_the_revision_check_which_its_own_event_loads(tmp_path: Path) -> None:
    # Given run_report started for a report run
    modules = loaded_modules(HANDLERS["run_report"], tmp_path)
    assert "timereports.logic.runner" in modules
    # Then the revision check is not loaded
    assert loaded_under(modules, NOT_FOR_REPORT_RUNS) == []
    # And the daily check's builder loads it when that event comes
    checked = loaded_modules("import functions.run_report.app as app; app.revision_check()", tmp_path)
    assert loaded_under(checked, NOT_FOR_REPORT_RUNS) == list(sorted(NOT_FOR_REPORT_RUNS))


def _collector_after(
    code: str, catalogue: Path, *, in_lambda: bool, unset: str = "", handler: str = "dispatch"
) -> dict[str, object]:
    """gc's state after `code` ran as a handler's start, in Lambda (AWS_LAMBDA_FUNCTION_NAME set) or not."""
    env = function_environment(catalogue)
    if not in_lambda:
        env.pop("AWS_LAMBDA_FUNCTION_NAME")
    env.pop(unset, None)
    probe = (
        "import gc, json\n"
        # What the handler's first import does (the AST test checks it is first); compiling app.py comes before it.
        "import timereports.bootstrap.cold_start\n"
        "before = sum(generation['collections'] for generation in gc.get_stats())\n"
        f"import functions.{handler}.app as app\n"
        "imported = gc.isenabled()\n"
        "during = sum(generation['collections'] for generation in gc.get_stats()) - before\n"
        f"{code}\n"
        "print(json.dumps({'after_import': imported, 'collections_during_import': during,\n"
        "    'after_build': gc.isenabled(), 'frozen': gc.get_freeze_count()}))"
    )
    command = [sys.executable, "-c", probe]
    reply = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert reply.returncode == 0, reply.stderr
    state: dict[str, object] = json.loads(reply.stdout.strip().splitlines()[-1])
    return state


def test_every_handler_imports_the_cold_start_before_anything_else() -> None:
    # Given each handler module / Then its first import (after __future__) is bootstrap.cold_start, so that the
    # collector is off before boto3, pydantic or Powertools load (an import sorter would move it otherwise)
    for handler in sorted(HANDLERS):
        tree = ast.parse((ROOT / "functions" / handler / "app.py").read_text(encoding="utf-8"))
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        first = next(node for node in imports if not (isinstance(node, ast.ImportFrom) and node.module == "__future__"))
        assert isinstance(first, ast.ImportFrom), handler
        assert first.module == "timereports.bootstrap.cold_start", handler


@pytest.mark.parametrize("handler", sorted(HANDLERS))
def test_in_lambda_the_collector_waits_for_the_handler_then_skips_what_the_start_built(
    handler: str, tmp_path: Path
) -> None:
    # Given a handler started as Lambda starts it / When it is imported and then built
    build = HANDLERS[handler].split(";", 1)[1].strip()
    state = _collector_after(build, tmp_path, in_lambda=True, handler=handler)
    # Then no collection ran during the import; once built, the collector is on and leaves the start's objects alone
    assert state["after_import"] is False
    assert state["collections_during_import"] == 0
    assert state["after_build"] is True
    assert isinstance(state["frozen"], int)
    assert state["frozen"] > 10_000


def test_a_failed_build_still_turns_the_collector_back_on(tmp_path: Path) -> None:
    # Given a deployment without SENDER_EMAIL / When the first invocation's build fails on it
    code = (
        "\ntry:\n    app.dispatcher()\nexcept Exception as exc:\n    assert 'SENDER_EMAIL' in str(exc), exc\n"
        "else:\n    raise AssertionError('the build did not fail')"
    )
    state = _collector_after(code, tmp_path, in_lambda=True, unset="SENDER_EMAIL")
    # Then the container collects garbage again while it answers with the error
    assert state["after_build"] is True


def test_outside_lambda_the_collector_is_left_alone(tmp_path: Path) -> None:
    state = _collector_after("app.dispatcher()", tmp_path, in_lambda=False)
    assert (state["after_import"], state["after_build"], state["frozen"]) == (True, True, 0)


def test_an_invocation_that_builds_nothing_ends_the_start_too(tmp_path: Path) -> None:
    # Given run_report started as in Lambda / When its first invocation is an event it refuses before building anything
    code = (
        "from tests.support.lambda_context import FakeLambdaContext\n"
        "try:\n"
        "    app.lambda_handler({'check': 'everything'}, FakeLambdaContext())\n"
        "except Exception as exc:\n"
        "    assert 'revisions' in str(exc), exc\n"
        "built = [app.revision_check, app.run_service, app.sync_service, app.retry_queue]\n"
        "assert [builder.cache_info().currsize for builder in built] == [0, 0, 0, 0]"
    )
    state = _collector_after(code, tmp_path, in_lambda=True, handler="run_report")
    # Then the collector is on again for the rest of the container's life
    assert state["after_build"] is True
