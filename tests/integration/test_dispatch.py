"""The dispatcher against local AWS (moto): cursors and deferred runs in DynamoDB, run messages read back from SQS.

Every tick is given its instant explicitly, so the tests control the clock without patching it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.aws import LocalAws
from tests.support.clock import FakeClock
from tests.support.deployment import redeploy
from timereports.bootstrap.dispatch import build_dispatcher
from timereports.bootstrap.scheduling import build_deferred_runs
from timereports.dal.dispatch_state import DynamoDBCursorStore, DynamoDBDeferredRuns, DynamoDBReportStates
from timereports.dal.run_queue import SqsRunQueue
from timereports.errors import DefinitionError
from timereports.logic.dispatch import Dispatcher
from timereports.models.catalogue import load_catalogue
from timereports.models.events import RunMessage

BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def definition(report_id: str, cron: str, time_frame: str = "last_week") -> dict[str, Any]:
    return {
        "id": report_id,
        "title": f"Report {report_id}",
        "time_frame": time_frame,
        "timezone": BERLIN,
        "group_by": ["project_id"],
        "schedule": {"cron": cron, "timezone": BERLIN},
        "delivery": {"to": ["ops@example.com"]},
    }


# The dispatchers' clock, after every tick of these tests whatever day they run (a tick ahead of it is refused).
LATE_CLOCK = utc(2030, 1, 1)
WEEKLY = definition("weekly-hours", "0 7 * * MON")
HOURLY = definition("hourly-hours", "0 * * * *", time_frame="today")


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """A catalogue directory with a Monday 07:00 Berlin report over last_week and an hourly one."""
    folder = tmp_path / "reports"
    folder.mkdir()
    for item in (WEEKLY, HOURLY):
        (folder / f"{item['id']}.yaml").write_text(yaml.safe_dump(item), encoding="utf-8")
    return folder


def dispatcher(aws: LocalAws, catalogue: Path, client: Any = None, **options: Any) -> Dispatcher:
    """A dispatcher on the test's table and queue (optionally with its own DynamoDB client, as another Lambda)."""
    dynamodb = client or aws.dynamodb
    table = aws.settings.state_table
    assert aws.settings.report_queue_url
    return Dispatcher(
        load_catalogue(catalogue),
        cursors=DynamoDBCursorStore(table, dynamodb),
        queue=SqsRunQueue(aws.settings.report_queue_url, lambda: aws.sqs),
        deferred=DynamoDBDeferredRuns(table, dynamodb),
        state=DynamoDBReportStates(table, dynamodb),
        # (as the deployed function's dispatcher, which keeps the last tick)
        **({"clock": FakeClock(LATE_CLOCK), "keeps_last_tick": True} | options),
    )


def queued(aws: LocalAws) -> list[RunMessage]:
    """Every message on the run queue, received and deleted, sorted by run."""
    messages: list[RunMessage] = []
    while True:
        reply = aws.sqs.receive_message(
            QueueUrl=aws.settings.report_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        if not reply.get("Messages"):
            return sorted(messages, key=lambda message: (message.scheduled_at, message.report_id))
        for received in reply["Messages"]:
            messages.append(RunMessage.model_validate_json(received["Body"]))
            aws.sqs.delete_message(QueueUrl=aws.settings.report_queue_url, ReceiptHandle=received["ReceiptHandle"])


def runs(messages: list[RunMessage]) -> list[tuple[str, datetime]]:
    return [(message.report_id, message.scheduled_at) for message in messages]


def test_first_tick_sends_nothing_and_the_next_sends_due_runs_once(aws: LocalAws, catalogue: Path) -> None:
    # Given a dispatcher that has never seen the catalogue, ticking on Monday 23 November 2026 at 05:30 UTC
    ticker = dispatcher(aws, catalogue)
    # When it ticks, an hour later, and again at the same instant
    first = ticker.tick(utc(2026, 11, 23, 5, 30))
    second = ticker.tick(utc(2026, 11, 23, 6, 30))
    repeated = ticker.tick(utc(2026, 11, 23, 6, 30))
    # Then the first sends nothing from before it, the second the Monday 07:00 CET and 07:00 hourly runs, once
    assert first == []
    assert repeated == []
    messages = queued(aws)
    assert runs(messages) == [("hourly-hours", utc(2026, 11, 23, 6)), ("weekly-hours", utc(2026, 11, 23, 6))]
    assert messages == sorted(second, key=lambda message: message.report_id)
    # And the weekly message read back from SQS covers Berlin's last week, Monday 16 to Sunday 22 November
    weekly = messages[1]
    assert (weekly.period_from, weekly.period_to, weekly.account) == (date(2026, 11, 16), date(2026, 11, 22), "default")


def test_a_tick_that_sends_nothing_creates_no_sqs_client(aws: LocalAws, catalogue: Path) -> None:
    # Given a dispatcher whose queue counts the times it is handed its SQS client
    table, handed = aws.settings.state_table, []

    def sqs() -> Any:
        handed.append(aws.sqs)
        return aws.sqs

    assert aws.settings.report_queue_url
    ticker = Dispatcher(
        load_catalogue(catalogue),
        cursors=DynamoDBCursorStore(table, aws.dynamodb),
        queue=SqsRunQueue(aws.settings.report_queue_url, sqs),
        deferred=DynamoDBDeferredRuns(table, aws.dynamodb),
        state=DynamoDBReportStates(table, aws.dynamodb),
    )
    # When it ticks with nothing due (the first tick, then five minutes later inside the same hour)
    ticker.tick(utc(2026, 11, 23, 5, 30))
    ticker.tick(utc(2026, 11, 23, 5, 35))
    # Then it never needed SQS; the tick at which runs fall due does
    assert handed == []
    assert len(ticker.tick(utc(2026, 11, 23, 6, 30))) == 2
    assert handed
    assert len(queued(aws)) == 2


def test_concurrent_ticks_at_the_same_instant_send_once(aws: LocalAws, catalogue: Path) -> None:
    # Given six dispatchers (as six Lambda invocations) with their own DynamoDB clients, after a first tick
    import boto3

    tickers = [dispatcher(aws, catalogue, client=boto3.client("dynamodb")) for _ in range(6)]
    tickers[0].tick(utc(2026, 11, 23, 5, 30))
    start = threading.Barrier(len(tickers))
    sent: list[list[RunMessage]] = [[] for _ in tickers]

    def tick(index: int) -> None:
        start.wait()
        sent[index] = tickers[index].tick(utc(2026, 11, 23, 6, 30))

    # When they all tick at once for the same instant
    threads = [threading.Thread(target=tick, args=(index,)) for index in range(len(tickers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then each due run is on the queue exactly once
    assert runs(queued(aws)) == [("hourly-hours", utc(2026, 11, 23, 6)), ("weekly-hours", utc(2026, 11, 23, 6))]
    assert sum(len(messages) for messages in sent) == 2


def test_overlapping_ticks_send_each_run_once(aws: LocalAws, catalogue: Path) -> None:
    # Given ticks at 05:30, 06:30 and 07:30, then a late one as of 06:45 (a retried invocation)
    ticker = dispatcher(aws, catalogue)
    for hour in (5, 6, 7):
        ticker.tick(utc(2026, 11, 23, hour, 30))
    late = ticker.tick(utc(2026, 11, 23, 6, 45))
    # Then the late tick sends nothing, and each hourly run is queued once
    assert late == []
    hourly = [moment for report_id, moment in runs(queued(aws)) if report_id == "hourly-hours"]
    assert hourly == [utc(2026, 11, 23, 6), utc(2026, 11, 23, 7)]


def test_catch_up_after_a_gap_sends_each_missed_period_once_as_its_latest_run(aws: LocalAws, catalogue: Path) -> None:
    # Given a tick at 00:10 UTC on a Tuesday, then an outage of six hours
    ticker = dispatcher(aws, catalogue)
    ticker.tick(utc(2026, 11, 24, 0, 10))
    # When the dispatcher comes back at 06:10, and ticks again five minutes later
    ticker.tick(utc(2026, 11, 24, 6, 10))
    ticker.tick(utc(2026, 11, 24, 6, 15))
    # Then the six missed hourly runs, all over the same Berlin day, are one run: the latest, with the most time in it
    # (six copies of today's report would arrive at once)
    messages = queued(aws)
    assert runs(messages) == [("hourly-hours", utc(2026, 11, 24, 6))]
    assert (messages[0].period_from, messages[0].period_to) == (date(2026, 11, 24),) * 2
    # And after an outage across days, each missed day is sent once, by its last run
    ticker.tick(utc(2026, 11, 26, 6, 10))
    assert [(message.period_from, message.scheduled_at) for message in queued(aws)] == [
        (date(2026, 11, 24), utc(2026, 11, 24, 22)),  # 23:00 in Berlin, that day's last
        (date(2026, 11, 25), utc(2026, 11, 25, 22)),
        (date(2026, 11, 26), utc(2026, 11, 26, 6)),
    ]


def test_runs_older_than_the_catch_up_bound_are_dropped(aws: LocalAws, catalogue: Path) -> None:
    # Given a dispatcher that catches up at most three days, and a report sent every morning over the day before
    daily = definition("daily-hours", "0 7 * * *", time_frame="yesterday")
    (catalogue / "daily-hours.yaml").write_text(yaml.safe_dump(daily), encoding="utf-8")
    ticker = dispatcher(aws, catalogue, max_catch_up=timedelta(days=3))
    ticker.tick(utc(2026, 11, 20, 0, 10))
    queued(aws)
    # When it comes back after six days
    ticker.tick(utc(2026, 11, 26, 6, 10))
    # Then only the mornings of the last three days are queued; the older ones are dropped, not sent later
    ticker.tick(utc(2026, 11, 26, 6, 20))
    mornings = [message for message in queued(aws) if message.report_id == "daily-hours"]
    assert [message.scheduled_at for message in mornings] == [utc(2026, 11, day, 6) for day in (23, 24, 25, 26)][1:]


def test_deferred_run_is_re_enqueued_once_after_the_reset(aws: LocalAws, catalogue: Path) -> None:
    # Given the Monday run parked by run_report until the quota reset at midnight UTC
    parked = RunMessage.model_validate(
        {"report_id": "weekly-hours", "scheduled_at": utc(2026, 11, 23, 6), "from": "2026-11-16", "to": "2026-11-22"}
    )
    build_deferred_runs(aws.settings).defer(parked, until=utc(2026, 11, 24))
    ticker = dispatcher(aws, catalogue)
    # When ticks run before and after the reset
    before = ticker.tick(utc(2026, 11, 23, 23, 55))
    after = ticker.tick(utc(2026, 11, 24, 0, 5))
    later = ticker.tick(utc(2026, 11, 24, 0, 10))
    # Then the run is queued once, after the reset, unchanged, and no longer parked
    assert [message for message in before + later if message.report_id == "weekly-hours"] == []
    assert [message for message in after if message.report_id == "weekly-hours"] == [parked]
    assert [message for message in queued(aws) if message.report_id == "weekly-hours"] == [parked]
    assert DynamoDBDeferredRuns(aws.settings.state_table, aws.dynamodb).due(utc(2030, 1, 1)) == []


def test_a_tick_ahead_of_the_clock_is_refused_and_moves_no_cursor(aws: LocalAws, catalogue: Path) -> None:
    # Given the dispatcher's clock at Monday 06:05 UTC, after a first tick
    clock = FakeClock(utc(2026, 11, 23, 6, 5))
    ticker = dispatcher(aws, catalogue, clock=clock)
    ticker.tick(utc(2026, 11, 23, 5, 30))
    # When a tick as of Wednesday comes (a replay with the wrong date) / Then it is refused
    with pytest.raises(DefinitionError, match="ahead of the clock"):
        ticker.tick(utc(2026, 11, 25, 7, 0))
    # And the real ticks still send Monday's runs: nothing was claimed
    assert {message.report_id for message in ticker.tick(utc(2026, 11, 23, 6, 5))} == {"weekly-hours", "hourly-hours"}


def test_a_report_back_in_the_catalogue_sends_nothing_of_the_time_it_was_gone(aws: LocalAws, catalogue: Path) -> None:
    # Given a daily report sent on Monday, then removed from the catalogue on Monday (the ticks go on without it)
    daily = definition("daily-hours", "0 7 * * *", time_frame="yesterday")
    (catalogue / "daily-hours.yaml").write_text(yaml.safe_dump(daily), encoding="utf-8")
    dispatcher(aws, catalogue).tick(utc(2026, 11, 23, 5, 30))
    dispatcher(aws, catalogue).tick(utc(2026, 11, 23, 6, 5))
    (catalogue / "daily-hours.yaml").unlink()
    for day in (23, 24, 25):
        dispatcher(aws, catalogue).tick(utc(2026, 11, day, 10))
    queued(aws)
    # When it is put back on Wednesday and the dispatcher ticks
    (catalogue / "daily-hours.yaml").write_text(yaml.safe_dump(daily), encoding="utf-8")
    back = dispatcher(aws, catalogue).tick(utc(2026, 11, 25, 10, 5))
    # Then none of the mornings it was gone (Tuesday, Wednesday) is sent, as for a report added anew
    assert [message.report_id for message in back] == []
    # And from Thursday on it is sent again as scheduled
    thursday = dispatcher(aws, catalogue).tick(utc(2026, 11, 26, 6, 5))
    assert [(m.report_id, m.scheduled_at) for m in thursday if m.report_id == "daily-hours"] == [
        ("daily-hours", utc(2026, 11, 26, 6))
    ]


def test_a_tick_over_another_catalogue_does_not_make_the_deployed_reports_look_removed(
    aws: LocalAws, catalogue: Path, tmp_path: Path
) -> None:
    # Given the deployed dispatcher's first tick, then a command-line tick over a folder with the hourly report alone
    dispatcher(aws, catalogue).tick(utc(2026, 11, 23, 5, 0))
    subset = tmp_path / "subset"
    subset.mkdir()
    (subset / "hourly-hours.yaml").write_text(yaml.safe_dump(HOURLY), encoding="utf-8")
    dispatcher(aws, subset, keeps_last_tick=False).tick(utc(2026, 11, 23, 5, 30))
    # When the deployed dispatcher ticks after Monday 07:00 in Berlin
    runs = dispatcher(aws, catalogue).tick(utc(2026, 11, 23, 6, 5))
    # Then the weekly report it has and the command line's folder lacked is sent as due
    assert ("weekly-hours", utc(2026, 11, 23, 6)) in [(m.report_id, m.scheduled_at) for m in runs]


def test_paused_report_is_skipped(aws: LocalAws, catalogue: Path) -> None:
    # Given the hourly report paused after failures
    states = DynamoDBReportStates(aws.settings.state_table, aws.dynamodb)
    states.pause("hourly-hours", "3 failures in a row")
    ticker = dispatcher(aws, catalogue)
    ticker.tick(utc(2026, 11, 23, 5, 30))
    # When the Monday runs fall due
    ticker.tick(utc(2026, 11, 23, 6, 30))
    # Then only the weekly report is queued
    assert runs(queued(aws)) == [("weekly-hours", utc(2026, 11, 23, 6))]
    assert states.get("hourly-hours").paused_reason == "3 failures in a row"


def test_report_state_counts_concurrent_failures_atomically(aws: LocalAws) -> None:
    # Given eight runs of one report failing at the same moment
    states = DynamoDBReportStates(aws.settings.state_table, aws.dynamodb)
    counts: list[int] = []
    threads = [threading.Thread(target=lambda: counts.append(states.record_failure("r"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then every failure is counted, and a success or a resume starts the count again
    assert sorted(counts) == list(range(1, 9))
    states.pause("r", "too many failures")
    assert states.is_paused("r")
    states.resume("r")
    assert states.get("r").consecutive_failures == 0
    assert not states.is_paused("r")
    states.record_failure("r")
    states.record_success("r")
    assert states.get("r").consecutive_failures == 0


def test_more_than_one_batch_of_runs_is_queued(aws: LocalAws, tmp_path: Path) -> None:
    # Given 23 reports due at the same minute (more than two SendMessageBatch calls)
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(23):
        item = definition(f"report-{index:02d}", "0 7 * * *")
        (folder / f"{item['id']}.yaml").write_text(yaml.safe_dump(item), encoding="utf-8")
    ticker = build_dispatcher(aws.settings, catalogue_dir=folder)
    ticker.tick(utc(2026, 11, 23, 5))
    # When they fall due
    sent = ticker.tick(utc(2026, 11, 23, 6, 1))
    # Then all 23 are queued, once each
    assert len(sent) == 23
    assert sorted(message.report_id for message in queued(aws)) == [f"report-{index:02d}" for index in range(23)]


@dataclass
class FakeLambdaContext:
    function_name: str = "dispatch"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:dispatch"
    aws_request_id: str = "test-request"


def test_handler_ticks_as_of_the_event_time(aws: LocalAws, catalogue: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the dispatch function's environment
    from functions.dispatch import app

    assert aws.settings.report_queue_url
    monkeypatch.setenv("STATE_TABLE", aws.settings.state_table)
    monkeypatch.setenv("REPORTS_BUCKET", aws.settings.reports_bucket)
    monkeypatch.setenv("SENDER_EMAIL", aws.settings.sender_email)
    monkeypatch.setenv("REPORT_QUEUE_URL", aws.settings.report_queue_url)
    monkeypatch.setenv("CATALOGUE_DIR", str(catalogue))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # the namespace comes from the template
    redeploy()
    try:
        # When Scheduler invokes it twice, the second time after Monday 07:00 Berlin
        first = app.lambda_handler({"at": "2026-11-23T05:30:00Z"}, FakeLambdaContext())  # type: ignore[arg-type]
        second = app.lambda_handler({"at": "2026-11-23T06:30:00Z"}, FakeLambdaContext())  # type: ignore[arg-type]
    finally:
        redeploy()
    # Then the reply lists the runs with their local schedule time and period
    assert first["enqueued"] == 0
    assert second["enqueued"] == 2
    weekly = next(run for run in second["runs"] if run["report_id"] == "weekly-hours")
    assert weekly["scheduled_local"] == "2026-11-23T07:00:00+01:00"
    assert (weekly["from"], weekly["to"]) == ("2026-11-16", "2026-11-22")
    assert len(queued(aws)) == 2


def test_cli_dispatch_keeps_its_cursor_across_processes(aws: LocalAws, catalogue: Path) -> None:
    # Given the `timereports` command pointed at the test's moto server and table
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "STATE_TABLE": aws.settings.state_table,
        "REPORTS_BUCKET": aws.settings.reports_bucket,
        "SENDER_EMAIL": aws.settings.sender_email,
    }
    # No REPORT_QUEUE_URL: locally the dispatcher finds the run queue by its default name, as `--local` creates it.
    environment.pop("REPORT_QUEUE_URL", None)
    command = [
        sys.executable,
        "-m",
        "timereports_dev.cli",
        "dispatch",
        "--catalogue",
        str(catalogue),
        "--local",
        "--at",
    ]

    def dispatch(at: str) -> list[dict[str, Any]]:
        done = subprocess.run([*command, at], env=environment, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    # When it ticks twice, in two processes
    first = dispatch("2026-11-23T05:30:00Z")
    second = dispatch("2026-11-23T07:30:00+01:00")
    # Then the second process saw the first one's cursor: it sends only the runs due between the two ticks
    assert first == []
    assert sorted((line["report_id"], line["scheduled_at"], line["from"], line["to"]) for line in second) == [
        ("hourly-hours", "2026-11-23T06:00:00Z", "2026-11-23", "2026-11-23"),
        ("weekly-hours", "2026-11-23T06:00:00Z", "2026-11-16", "2026-11-22"),
    ]
    assert len(queued(aws)) == 2
