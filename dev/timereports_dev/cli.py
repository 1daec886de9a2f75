"""The `timereports` command: the same use cases the Lambdas run, from a terminal.

Every failure ends as one line on stderr and a non-zero exit code (see `errors.py` for the codes);
no traceback reaches the person at the terminal unless TIMEREPORTS_DEBUG is set.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from timereports.errors import DefinitionError, TimereportsError, one_line
from timereports.models.vocabulary import check_supported_date
from timereports_dev.dataset import AGENCY_YEAR_ENTRIES, DEFAULT_SEED


def _date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    try:
        return check_supported_date(day)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-23T07:00:00+01:00)") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset; add Z or +HH:MM")
    try:
        check_supported_date(moment.date())  # within it, moving to UTC cannot overflow the calendar
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return moment.astimezone(UTC)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0 picks a free one)")
    return port


def _at_least_one(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return number


def _api_url(text: str) -> str:
    """An http(s) URL with a host: anything else would only be retried until the API counts as unreachable."""
    try:
        parts = urlsplit(text)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL with a host")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2, like our other input errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"timereports: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="timereports", description="Scheduled Intervals time reports, archived in S3 and emailed.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log retries, pacing and requests to stderr")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add_remote_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--api-url", type=_api_url, help="Intervals API base URL (default: INTERVALS_API_URL or the real API)"
        )
        sub.add_argument(
            "--local",
            action="store_true",
            help="use local AWS (moto; AWS_ENDPOINT_URL if set) and, without --api-url, the embedded simulator",
        )

    def add_stack_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--stack", help="the deployment's CloudFormation stack (default: stack_name in samconfig.toml)"
        )
        sub.add_argument("--region", help="the stack's region (default: samconfig.toml's, else your AWS profile's)")

    run = commands.add_parser("run", help="run one report end to end")
    run.add_argument("spec", type=Path, help="report definition file (YAML or JSON)")
    run.add_argument("--today", type=_date, required=True, help="the date the time frame is resolved from")
    run.add_argument("--scheduled-at", type=_instant, help="the run's identity: the same run delivers once")
    run.add_argument("--force", action="store_true", help="deliver again even if this run was delivered")
    run.add_argument("--out", type=Path, default=Path("out"), help="where to write the CSV, .eml and run.json")
    add_remote_options(run)
    add_stack_options(run)

    pull = commands.add_parser("pull", help="pull raw time entries as JSON lines")
    pull.add_argument("--from", dest="start", type=_date, required=True)
    pull.add_argument("--to", dest="end", type=_date, required=True)
    pull.add_argument("--out", type=Path, help="JSONL file (default: standard output)")
    add_remote_options(pull)
    add_stack_options(pull)

    sync = commands.add_parser("sync", help="bring the account's entry mirror up to date for a range (pre-fill)")
    sync.add_argument("--from", dest="start", type=_date, required=True)
    sync.add_argument("--to", dest="end", type=_date, required=True)
    sync.add_argument("--account", default="default", help="the Intervals account (default: default)")
    sync.add_argument(
        "--enqueue", action="store_true", help="put month jobs on the run queue for the deployed function instead"
    )
    add_remote_options(sync)
    add_stack_options(sync)

    validate = commands.add_parser("validate", help="check report definitions without any request")
    validate.add_argument("paths", type=Path, nargs="+", help="definition files or directories")

    dispatch = commands.add_parser("dispatch", help="one dispatcher tick as of an instant")
    dispatch.add_argument("--at", type=_instant, required=True, help="the tick's instant (ISO 8601 with offset)")
    dispatch.add_argument("--catalogue", type=Path, default=Path("reports"))
    dispatch.add_argument("--local", action="store_true", help="use local AWS (moto)")
    add_stack_options(dispatch)

    revisions = commands.add_parser("revisions", help="send a corrected report for delivered periods that changed")
    revisions.add_argument("--at", type=_instant, required=True, help="the check's instant (ISO 8601 with offset)")
    revisions.add_argument("--catalogue", type=Path, default=Path("reports"))
    revisions.add_argument("--out", type=Path, help="where to write each revision's .eml")
    add_remote_options(revisions)
    add_stack_options(revisions)

    resume = commands.add_parser("resume", help="un-pause a report paused after failed runs")
    resume.add_argument("report_id")
    resume.add_argument("--local", action="store_true", help="use local AWS (moto)")
    add_stack_options(resume)
    history = commands.add_parser("history", help="the last runs of a report")
    history.add_argument("report_id")
    history.add_argument("--limit", type=_at_least_one, default=10, help="how many runs (default: 10)")
    history.add_argument("--local", action="store_true", help="use local AWS (moto)")
    add_stack_options(history)

    doctor = commands.add_parser("doctor", help="check that a deployment is ready for its first report")
    doctor.add_argument(
        "--api-url", type=_api_url, help="Intervals API base URL (default: the stack's, or INTERVALS_API_URL)"
    )
    add_stack_options(doctor)

    serve = commands.add_parser(
        "serve", help="serve the Reports API on 127.0.0.1 (Authorization: Bearer $TIMEREPORTS_API_KEY)"
    )
    serve.add_argument("--port", type=_port, default=8080, help="port on 127.0.0.1 (0 picks a free one)")
    add_remote_options(serve)

    simulator = commands.add_parser("simulator", help="serve the embedded Intervals simulator")
    simulator.add_argument("--port", type=_port, default=8765)
    simulator.add_argument("--entries", type=int, default=AGENCY_YEAR_ENTRIES)
    simulator.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `timereports` console script."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    if getattr(args, "local", False) and getattr(args, "stack", None):
        return _fail(DefinitionError("--stack reads a deployment and --local uses local AWS: give one of them"), 2)
    try:
        return _COMMANDS[args.command](args)
    except TimereportsError as exc:
        return _fail(exc, exc.exit_code)
    except KeyboardInterrupt:
        print("timereports: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`timereports history X | head`): stop quietly, as other commands do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("TIMEREPORTS_DEBUG"):
            raise
        return _fail(exc, 1, prefix="internal error (set TIMEREPORTS_DEBUG=1 for details): ")


# What every log record has; anything else on one came in `extra` (a retry's path, attempt and delay, a wait's length).
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _WithExtras(logging.Formatter):
    """The standard line, then the record's `extra` fields as key=value: the Lambdas' JSON logs carry them as keys,
    and a line without them says a retry happened but not of what, when or why."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}
        return line + "".join(f" {key}={value}" for key, value in extras.items())


def _configure_logging(verbose: bool) -> None:
    """Quiet by default (a failure is one line); `--verbose` shows retries and pacing as they happen."""
    root = logging.getLogger()
    if verbose:
        handler = logging.StreamHandler()
        handler.setFormatter(_WithExtras("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    elif not root.handlers:
        root.addHandler(logging.NullHandler())


def _fail(exc: BaseException, code: int, prefix: str = "") -> int:
    print(f"timereports: {prefix}{one_line(exc)}", file=sys.stderr)
    return code


def _cmd_validate(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.checks import read_definitions

    failures = 0
    for path in args.paths:
        try:
            definitions = read_definitions(path)  # an empty or unreadable folder is a failure: nothing was checked
        except DefinitionError as exc:
            failures += 1
            print(exc, file=sys.stderr)  # the message names the file and the field
            continue
        for definition in definitions:
            print(f"ok  {definition.id}  ({path})")
    return 2 if failures else 0


def _cmd_run(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.commands import run_command

    record = run_command(
        args.spec,
        today=args.today,
        scheduled_at=args.scheduled_at,
        force=args.force,
        out_dir=args.out,
        api_url=args.api_url,
        local=args.local,
        stack=args.stack,
        region=args.region,
    )
    print(json.dumps(record.model_dump(exclude_none=True), indent=2))
    return 0


def _cmd_pull(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.commands import pull_command

    if args.start > args.end:
        raise DefinitionError(f"--from {args.start} is after --to {args.end}")
    summary = pull_command(
        args.start, args.end, out=args.out, api_url=args.api_url, local=args.local, stack=args.stack, region=args.region
    )
    print(summary, file=sys.stderr)
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.commands import sync_command

    if args.start > args.end:
        raise DefinitionError(f"--from {args.start} is after --to {args.end}")
    outcome = sync_command(
        args.start,
        args.end,
        account=args.account,
        api_url=args.api_url,
        local=args.local,
        enqueue=args.enqueue,
        stack=args.stack,
        region=args.region,
    )
    print(outcome)
    return 0


def _cmd_dispatch(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.commands import dispatch_command

    messages = dispatch_command(
        args.at, catalogue=args.catalogue, local=args.local, stack=args.stack, region=args.region
    )
    for message in messages:
        print(json.dumps(message, sort_keys=False))
    return 0


def _cmd_revisions(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports.logic.revisions import check_failed
    from timereports_dev.commands import revisions_command

    sent, failures = revisions_command(
        args.at,
        catalogue=args.catalogue,
        out=args.out,
        api_url=args.api_url,
        local=args.local,
        stack=args.stack,
        region=args.region,
    )
    for revision in sent:  # what went out is printed even when another revision failed
        print(json.dumps(revision), flush=True)
    if failures:
        raise check_failed(failures)
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.commands import history_command

    records = history_command(args.report_id, limit=args.limit, local=args.local, stack=args.stack, region=args.region)
    if not records:  # not an error (a report that has not run yet), but an empty answer would look like one
        print(f"timereports: no runs are recorded for report {args.report_id!r}", file=sys.stderr)
    for record in records:
        print(json.dumps(record.model_dump(exclude_none=True, exclude={"attempt", "message_ids", "email_message_ids"})))
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.commands import resume_command

    before = resume_command(args.report_id, local=args.local, stack=args.stack, region=args.region)
    if before.paused:
        print(f"resumed {args.report_id} (was paused: {before.paused_reason}); its runs are sent from the next tick")
    elif before.consecutive_failures:
        print(f"{args.report_id} was not paused; its {before.consecutive_failures} failed runs in a row are forgotten")
    else:
        print(f"{args.report_id} is not paused and has no failed runs in a row: nothing to resume", file=sys.stderr)
    return 0


# `timereports doctor` found a part missing or wrong (each is named on stdout, with its fix).
DOCTOR_FAILED = 8


def _cmd_doctor(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.commands import doctor_command

    findings = doctor_command(stack=args.stack, region=args.region, api_url=args.api_url)
    for finding in findings:
        print(finding.line())
    failed = [finding.part for finding in findings if finding.failed]
    if failed:
        print(f"timereports: doctor: {len(failed)} parts need attention: {', '.join(failed)}", file=sys.stderr)
        return DOCTOR_FAILED
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.api_server import API_KEY_VARIABLE
    from timereports_dev.commands import serve_command

    serve_command(port=args.port, api_url=args.api_url, local=args.local, api_key=os.environ.get(API_KEY_VARIABLE))
    return 0


def _cmd_simulator(args: argparse.Namespace) -> int:
    # Deferred: a command imports only what it runs, so `timereports --help` and `validate` start fast.
    from timereports_dev.simulator import main as simulator_main

    return simulator_main(["--port", str(args.port), "--entries", str(args.entries), "--seed", str(args.seed)])


_COMMANDS = {
    "validate": _cmd_validate,
    "run": _cmd_run,
    "pull": _cmd_pull,
    "sync": _cmd_sync,
    "dispatch": _cmd_dispatch,
    "history": _cmd_history,
    "resume": _cmd_resume,
    "serve": _cmd_serve,
    "revisions": _cmd_revisions,
    "doctor": _cmd_doctor,
    "simulator": _cmd_simulator,
}


if __name__ == "__main__":
    raise SystemExit(main())
