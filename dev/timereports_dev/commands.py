"""The use cases as the command line runs them: local AWS and the simulator when asked, files in `--out`.

`--local` points every boto3 client at moto (the endpoint in AWS_ENDPOINT_URL, or an in-process
server) and creates the resources the template would; without `--api-url` it also serves the
embedded Intervals simulator, so the whole product runs with no AWS and no Intervals account.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from timereports.config import Settings
from timereports.errors import ConfigurationError, DefinitionError
from timereports.logic.ports import ReportState
from timereports.models.run_record import RunOutcome, RunRecord
from timereports_dev.checks import listen_error, output_error, prepare_out_dir, prepare_out_file, read_catalogue
from timereports_dev.local_aws import LOCAL_DEFAULTS

# The embedded simulator's data set: a year of a 30-person agency, big enough to look real in the demo.


@dataclass
class Session:
    """What one command needs: settings, and where the API is."""

    settings: Settings
    api_url: str | None
    token: str | None


@contextlib.contextmanager
def open_session(
    *,
    local: bool,
    api_url: str | None = None,
    needs_api: bool = True,
    stack: str | None = None,
    region: str | None = None,
) -> Iterator[Session]:
    """Settings from the environment, plus local AWS and the embedded simulator when `local` asks for them.

    Without `local`, the names of the deployment's resources come from its stack (`stack`, default samconfig.toml's;
    see stack.py), unless AWS_ENDPOINT_URL points at local AWS and no stack is named.
    """
    if local:
        # Deferred: moto and its server are imported only when local AWS is asked for.
        from timereports_dev.local_aws import ensure_local_resources, use_local_aws

        use_local_aws()
    settings = Settings.from_environ(os.environ, LOCAL_DEFAULTS)
    if local:
        # The queue's URL is only known once it exists; the rest of the settings name what was created.
        settings = ensure_local_resources(settings).apply(settings)
    else:
        # Deferred: boto3's CloudFormation client only for commands that read a deployment.
        from timereports_dev.stack import reads_local_aws, use_stack

        if not reads_local_aws(stack):
            settings = use_stack(stack, region).apply(settings)
    if local and needs_api and api_url is None:
        # Deferred: the simulator and its data set only when no API URL is given.
        from timereports_dev.dataset import ADMIN_TOKEN, build_dataset
        from timereports_dev.simulator import IntervalsSimulator

        with IntervalsSimulator(build_dataset()) as simulator:
            yield Session(settings, simulator.url, ADMIN_TOKEN)
        return
    yield Session(settings, api_url, None)


def run_command(
    spec: Path,
    *,
    today: date,
    scheduled_at: datetime | None,
    force: bool,
    out_dir: Path,
    api_url: str | None,
    local: bool,
    stack: str | None = None,
    region: str | None = None,
) -> RunRecord:
    """`timereports run`: run one report and leave its CSV, raw email and run.json in `out_dir`."""
    # Deferred: each command imports only the adapters it runs.
    from timereports.bootstrap.runs import build_runner
    from timereports.logic.runner import RunRequest
    from timereports.models.catalogue import load_definition
    from timereports_dev.progress import TerminalProgress

    definition = load_definition(spec)  # refused here, before any request
    prepare_out_dir("--out", out_dir, what="the run's files")  # and so is an --out that cannot take them
    with open_session(api_url=api_url, local=local, stack=stack, region=region) as session:
        # On a terminal, the mirror's sync and pulls show their progress (nothing when stderr is not a terminal).
        progress = TerminalProgress(total=1, unit="run")
        runner = build_runner(
            session.settings, definition.account, api_url=session.api_url, token=session.token, progress=progress
        )
        request = RunRequest(definition=definition, today=today, scheduled_at=scheduled_at, force=force)
        # A failed run must not leave a previous run's files looking like this run's (its slices' files included).
        stale = [out_dir / f"{definition.id}.{extension}" for extension in ("csv", "xlsx", "eml")]
        stale += [
            *out_dir.glob(f"{definition.id}-[0-9]*.eml"),
            *out_dir.glob(f"{definition.id}--*"),
            out_dir / "run.json",
        ]
        for path in stale:
            path.unlink(missing_ok=True)
        try:
            outcome = runner.run(request)
        except Exception as exc:
            _write_failed_run(out_dir, definition.id, exc)
            raise
        finally:
            progress.month_done()
            progress.close()
        write_outcome(out_dir, definition.id, outcome)
        return outcome.record


def write_outcome(out_dir: Path, report_id: str, outcome: RunOutcome) -> None:
    """The `--out` files: `<id>.csv` (and `.xlsx`), one `.eml` per message sent (`<id>.eml` for the whole report,
    `<id>--<slice>.eml` per private slice, `-2`, `-3`... for further recipient batches), each slice's files as
    `<id>--<slice>.csv`, and run.json."""
    if outcome.csv is not None:
        (out_dir / f"{report_id}.csv").write_bytes(outcome.csv)
    if outcome.xlsx is not None:
        (out_dir / f"{report_id}.xlsx").write_bytes(outcome.xlsx)
    for slug, files in outcome.slice_files.items():
        for extension, body in files.items():
            (out_dir / f"{report_id}--{slug}.{extension}").write_bytes(body)
    counts: dict[str | None, int] = {}
    parts = outcome.email_parts or [None] * len(outcome.emails)
    for part, raw in zip(parts, outcome.emails, strict=True):
        counts[part] = counts.get(part, 0) + 1
        stem = report_id if part is None else f"{report_id}--{part}"
        suffix = "" if counts[part] == 1 else f"-{counts[part]}"
        (out_dir / f"{stem}{suffix}.eml").write_bytes(raw)
    (out_dir / "run.json").write_text(outcome.record.model_dump_json(indent=2) + "\n", encoding="utf-8")


def _write_failed_run(out_dir: Path, report_id: str, exc: BaseException) -> None:
    # Deferred with the rest of the run command's imports.
    from timereports.errors import QuotaExhaustedError, one_line

    record = getattr(exc, "run_record", None)
    if not isinstance(record, RunRecord):  # failed before the runner kept a record (e.g. local AWS set-up)
        record = RunRecord(
            report_id=report_id,
            status="deferred" if isinstance(exc, QuotaExhaustedError) else "failed",
            error=one_line(exc),
        )
    (out_dir / "run.json").write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")


def pull_command(
    start: date,
    end: date,
    *,
    out: Path | None,
    api_url: str | None,
    local: bool,
    stack: str | None = None,
    region: str | None = None,
) -> Any:
    """`timereports pull`: raw time entries as JSON lines, through the same client and ledger as a report."""
    # Deferred: each command imports only the adapters it runs.
    from timereports.bootstrap.sources import build_client, build_ledger
    from timereports.models.intervals import TimeQuery
    from timereports_dev.pull import pull_entries

    if out is not None:
        prepare_out_file("--out", out, what="the entries")
    with open_session(api_url=api_url, local=local, stack=stack, region=region) as session:
        account = session.settings.account("default", api_url=session.api_url)
        ledger = build_ledger(session.settings, account)
        client = build_client(session.settings, account, ledger, token=session.token)
        query = TimeQuery(datebegin=start, dateend=end)
        if out is None:
            return pull_entries(client, start, end, sys.stdout, query=query)
        try:
            stream = out.open("w", encoding="utf-8")
        except OSError as exc:
            raise output_error("--out", out, exc, what="the entries") from exc
        with stream:
            return pull_entries(client, start, end, stream, query=query)


def sync_command(
    start: date,
    end: date,
    *,
    account: str,
    api_url: str | None,
    local: bool,
    enqueue: bool = False,
    stack: str | None = None,
    region: str | None = None,
) -> Any:
    """`timereports sync`: bring the account's entry mirror up to date over a range, month by month (progress on a
    terminal); with `enqueue`, put the month jobs on the run queue for the deployed function instead."""
    # Deferred: each command imports only the adapters it runs.
    from timereports.bootstrap.sources import build_ledger, build_sync_service
    from timereports.engine.mirror import DayRange, split_by_month
    from timereports.models.events import SyncMessage
    from timereports_dev.progress import TerminalProgress

    job = SyncMessage.model_validate({"account": account, "from": start, "to": end})
    with open_session(api_url=api_url, local=local, needs_api=not enqueue, stack=stack, region=region) as session:
        settings = session.settings
        if enqueue:
            return build_sync_service(settings).sync_or_queue(job)
        progress = TerminalProgress(total=len(split_by_month(DayRange(start, end))))
        ledger = build_ledger(settings, settings.account(account))
        service = build_sync_service(
            settings, api_url=session.api_url, token=session.token, progress=progress, queue=False
        )
        try:
            return service.sync(job, on_month=lambda _month, _outcome: progress.month_done(lambda: _left(ledger)))
        finally:
            progress.close()


def _left(ledger: Any) -> int | None:
    """The quota the ledger has left today, for the progress bar (unknown when the ledger cannot be read)."""
    # Deferred with the rest of the sync command's imports.
    from timereports.errors import TimereportsError

    try:
        return int(ledger.status().remaining)
    except TimereportsError:
        return None


def dispatch_command(
    at: datetime, *, catalogue: Path, local: bool, stack: str | None = None, region: str | None = None
) -> list[dict[str, Any]]:
    """`timereports dispatch`: one dispatcher tick as of `at`; returns the runs it enqueued, as printed."""
    # Deferred: each command imports only the adapters it runs.
    from timereports.bootstrap.dispatch import build_dispatcher

    # Before local AWS starts: a folder that is missing, unreadable, invalid or empty can never enqueue a run.
    read_catalogue(catalogue)
    with open_session(local=local, needs_api=False, stack=stack, region=region) as session:
        dispatcher = build_dispatcher(session.settings, catalogue_dir=catalogue)
        return [dispatcher.describe(message) for message in dispatcher.tick(at)]


def revisions_command(
    at: datetime,
    *,
    catalogue: Path,
    out: Path | None,
    api_url: str | None,
    local: bool,
    stack: str | None = None,
    region: str | None = None,
) -> tuple[list[dict[str, object]], list[str]]:
    """`timereports revisions`: one revision check as of `at`; returns a line per revision sent and what failed, and
    writes each
    revision's messages to `out` as `<report-id>--revised-<from>_<to>-<n>.eml` (n: the revision's number)."""
    # Deferred: each command imports only the adapters it runs.
    from timereports.bootstrap.revisions import build_revision_check

    read_catalogue(catalogue)  # as dispatch does: there is nothing to check without definitions
    if out is not None:  # before the check sends anything, so that every revision sent leaves its .eml
        prepare_out_dir("--out", out, what="the revisions' emails")
    with open_session(local=local, api_url=api_url, stack=stack, region=region) as session:
        check = build_revision_check(session.settings, catalogue, api_url=session.api_url, token=session.token)
        sent = check.check(at)
    if out is not None:
        for revision in sent:
            for index, raw in enumerate(revision.emails):
                suffix = "" if index == 0 else f"-{index + 1}"
                period = f"{revision.period.start.isoformat()}_{revision.period.end.isoformat()}"
                name = f"{revision.report_id}--revised-{period}-{revision.number}{suffix}.eml"
                (out / name).write_bytes(raw)
    return [revision.as_dict() for revision in sent], check.failures


def history_command(
    report_id: str, *, limit: int, local: bool, stack: str | None = None, region: str | None = None
) -> list[RunRecord]:
    """`timereports history`: the last runs of a report, newest first."""
    # Deferred: each command imports only the adapters it runs.
    from timereports.bootstrap.history import build_run_history

    with open_session(local=local, needs_api=False, stack=stack, region=region) as session:
        return build_run_history(session.settings).last_runs(report_id, limit)


def resume_command(report_id: str, *, local: bool, stack: str | None = None, region: str | None = None) -> ReportState:
    """`timereports resume`: un-pause a report and start its count of failures in a row afresh; returns its state
    before (the next tick sends its runs due from then on; what was skipped while paused is not replayed)."""
    # Deferred: each command imports only the adapters it runs.
    from timereports.bootstrap.scheduling import build_report_states

    with open_session(local=local, needs_api=False, stack=stack, region=region) as session:
        states = build_report_states(session.settings)
        before = states.get(report_id)
        if before.paused or before.consecutive_failures:  # a report with nothing to resume (a typo too) is left alone
            states.resume(report_id)
        return before


def serve_command(*, port: int, api_url: str | None, local: bool, api_key: str | None) -> None:
    """`timereports serve`: the Reports API on 127.0.0.1 until interrupted; refuses to start without an API key.

    Prints one line to stderr once it listens (`serving the Reports API on http://127.0.0.1:PORT`), so that a
    script (or a test) started with `--port 0` learns the port.
    """
    # Deferred: each command imports only the adapters it runs.
    from timereports.api.resolver import build_resolver
    from timereports.bootstrap.api import build_reports_api_service
    from timereports_dev.api_server import LOCAL_HOST, ReportsApiServer, check_api_key

    key = check_api_key(api_key)  # before local AWS or the simulator start: nothing to clean up on refusal
    with open_session(api_url=api_url, local=local) as session:
        # The catalogue reports' GETs need CATALOGUE_DIR: checked as dispatch checks --catalogue (POSTed queries need
        # no definition, so an empty folder is served, and its reports answer 404).
        try:
            read_catalogue(Path(session.settings.catalogue_dir), empty_ok=True)
        except DefinitionError as exc:
            raise ConfigurationError(f"CATALOGUE_DIR: {exc}") from exc
        service = build_reports_api_service(session.settings, api_url=session.api_url, token=session.token)
        try:
            server = ReportsApiServer(build_resolver(lambda: service), key, port=port)
        except OSError as exc:
            raise listen_error(LOCAL_HOST, port, exc) from exc
        print(f"serving the Reports API on {server.url} (Ctrl-C stops)", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        finally:
            server.stop()


def doctor_command(*, stack: str | None, region: str | None, api_url: str | None) -> list[Any]:
    """`timereports doctor`: the findings for the stack (or for local AWS when AWS_ENDPOINT_URL is set and no
    `--stack` is given), one per part."""
    # Deferred: each command imports only the adapters it runs.
    from timereports.bootstrap.aws import aws_client
    from timereports_dev.doctor import Doctor
    from timereports_dev.stack import reads_local_aws, use_stack

    # Locally, the names `--local` gives what it creates, where the environment names nothing else.
    settings = Settings.from_environ(os.environ, LOCAL_DEFAULTS)
    deployed = None
    if not reads_local_aws(stack):
        deployed = use_stack(stack, region)
        settings = deployed.apply(settings)
    if api_url:
        settings = settings.model_copy(update={"intervals_api_url": api_url})
    return Doctor(settings, client=aws_client, stack=deployed, region=region or os.environ.get("AWS_REGION", "")).run()
