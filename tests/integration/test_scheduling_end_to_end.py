"""Reports arrive on their own, on time, once: the dispatch and run_report handlers end to end.

Both Lambdas run in-process with the environment the template gives them, against moto (DynamoDB, SQS, S3, SES) and
the Intervals simulator. The dispatcher is ticked through its handler; its messages are read back from the moto queue
and fed to run_report the way Lambda's SQS event source does (tests/support/sqs_source.py). The clock is moved with
time-machine, which every clock in the process follows: the handlers', the ledger's, moto's and the simulator's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from timereports_dev.dataset import ADMIN_TOKEN, MANAGER_TOKEN, Dataset
from timereports_dev.simulator import IntervalsSimulator

from functions.dispatch import app as dispatch_app
from functions.email_feedback import app as email_feedback_app
from functions.run_report import app as run_report_app
from tests.fixtures.aws import LocalAws
from tests.support.deployment import deploy_environment, redeploy
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.sqs_source import Delivery, SqsEventSource
from timereports.bootstrap.aws import aws_client
from timereports.bootstrap.runs import build_once
from timereports.dal.run_history import DynamoDBRunHistory
from timereports.errors import RunInProgressError
from timereports.models.run_record import RunOutcome, RunRecord

ROOT = Path(__file__).resolve().parents[2]
BERLIN = "Europe/Berlin"
OWNER = "owner@example.com"
# Monday 23 November 2026, 07:00 in Berlin (CET, UTC+1): the weekly reports' fire time.
MONDAY_0700_BERLIN = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
LAST_WEEK = ("2026-11-16", "2026-11-22")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def weekly_report(report_id: str, *, account: str = "default", to: str = "ops@example.com") -> dict[str, Any]:
    """A Monday 07:00 Berlin report over Berlin's last week."""
    return {
        "id": report_id,
        "title": f"Hours by project ({report_id})",
        "account": account,
        "view": "time_fees_hours",
        "time_frame": "last_week",
        "timezone": BERLIN,
        "group_by": ["project_id"],
        "schedule": {"cron": "0 7 * * MON", "timezone": BERLIN},
        "delivery": {"to": [to], "subject": "Hours by project, {from} to {to}", "empty": "notice"},
    }


def at(moment: datetime) -> Any:
    """Every clock of the process at `moment`, running on from there."""
    return time_machine.travel(moment, tick=True)


@dataclass
class Deployment:
    """The two functions deployed against moto and the simulator, and what a test reads back from them."""

    aws: LocalAws
    simulator: IntervalsSimulator
    source: SqsEventSource
    # The instant of the last step a test took. moto's SQS judges retention and visibility by the process clock, so
    # a test that reads a queue after a step reads it at that step's instant, never at the real date (a message sent
    # "on 23 November" would have expired by the real clock's December).
    now: datetime = MONDAY_0700_BERLIN

    def at(self, moment: datetime) -> Any:
        """Every clock of the process at `moment`, which becomes the deployment's `now`."""
        self.now = moment
        return at(moment)

    def queued(self) -> list[dict[str, Any]]:
        """The messages visible on the run queue at `now`."""
        with at(self.now):
            return self.source.receive()

    def visible_count(self) -> int:
        """Messages on the run queue at `now`, visible or in flight."""
        with at(self.now):
            return self.source.visible_count()

    def dead_letters(self, queue_url: str) -> list[dict[str, Any]]:
        """The messages on the dead-letter queue at `now`."""
        with at(self.now):
            messages: list[dict[str, Any]] = self.aws.sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get(
                "Messages", []
            )
        return messages

    def tick(self, moment: datetime) -> dict[str, Any]:
        """One dispatcher tick through its handler, with every clock at `moment` (the Scheduler's payload has no
        `at`: the handler reads the clock, as deployed)."""
        with self.at(moment):
            reply: dict[str, Any] = dispatch_app.lambda_handler(
                {}, FakeLambdaContext(function_name="timereports-Dispatch")
            )
        return reply

    def poll(self, moment: datetime) -> Delivery | None:
        """One poll of the run queue into run_report, with every clock at `moment`."""
        with self.at(moment):
            return self.source.poll()

    def redeliver(self, delivery: Delivery, moment: datetime) -> dict[str, Any]:
        with self.at(moment):
            return self.source.redeliver(delivery)

    def run_body(self, body: dict[str, Any], moment: datetime) -> Delivery:
        """Put one message on the run queue (as the dispatcher would) and let run_report consume it."""
        with self.at(moment):
            self.aws.sqs.send_message(QueueUrl=self.source.queue_url, MessageBody=json.dumps(body))
            delivery = self.source.poll()
        assert delivery is not None
        return delivery

    def history(self, report_id: str) -> list[RunRecord]:
        return DynamoDBRunHistory(self.aws.settings.state_table, self.aws.dynamodb).last_runs(report_id, limit=50)

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        reply = self.aws.dynamodb.get_item(
            TableName=self.aws.settings.state_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = reply.get("Item")
        return item

    def quota_used(self, account: str, day: date) -> int | None:
        """`used` of the ledger item `quota#<account>` for `day`, or None when that account spent nothing that day."""
        item = self.item(f"quota#{account}", day.isoformat())
        return int(item["used"]["N"]) if item else None

    def fill_ledger(self, account: str, day: date, *, used: int, limit: int) -> None:
        """Write the ledger item as if the account's runs had spent `used` of `limit` that day."""
        self.aws.dynamodb.put_item(
            TableName=self.aws.settings.state_table,
            Item={
                "pk": {"S": f"quota#{account}"},
                "sk": {"S": day.isoformat()},
                "used": {"N": str(used)},
                "limit": {"N": str(limit)},
            },
        )

    def deferred_runs(self) -> list[dict[str, Any]]:
        reply = self.aws.dynamodb.query(
            TableName=self.aws.settings.state_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "deferred"}},
            ConsistentRead=True,
        )
        return [json.loads(item["message"]["S"]) for item in reply.get("Items", [])]

    def emails_to(self, address: str) -> list[Any]:
        return [message for message in self.aws.sent_messages() if address in str(message["To"])]


@pytest.fixture
def deploy(
    aws: LocalAws, simulator: IntervalsSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Deployment]]:
    """Deploy a catalogue (the given definitions) with the template's environment; extra variables override it."""

    def make(*definitions: dict[str, Any], **environment: str) -> Deployment:
        catalogue = tmp_path / "reports"
        catalogue.mkdir(exist_ok=True)
        for definition in definitions:
            (catalogue / f"{definition['id']}.yaml").write_text(yaml.safe_dump(definition), encoding="utf-8")
        assert aws.settings.report_queue_url
        variables = {
            "STATE_TABLE": aws.settings.state_table,
            "REPORTS_BUCKET": aws.settings.reports_bucket,
            "SENDER_EMAIL": aws.settings.sender_email,
            "OWNER_EMAIL": OWNER,
            "REPORT_QUEUE_URL": aws.settings.report_queue_url,
            "SES_CONFIGURATION_SET": str(aws.settings.ses_configuration_set),
            "INTERVALS_API_URL": simulator.url,
            "INTERVALS_API_TOKEN": ADMIN_TOKEN,
            "CATALOGUE_DIR": str(catalogue),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "timereports",
            "POWERTOOLS_METRICS_NAMESPACE": "Timereports",
            **environment,
        }
        deploy_environment(monkeypatch, variables)

        source = SqsEventSource(aws.sqs, aws.settings.report_queue_url, run_report_app.lambda_handler)
        return Deployment(aws=aws, simulator=simulator, source=source)

    yield make
    redeploy()


def csv_attachment(message: Any) -> bytes:
    (attachment,) = list(message.iter_attachments())
    body: bytes = attachment.get_payload(decode=True)
    return body


# ------------------------------------------------------------------------------------------------ 1. on time, once


def test_a_due_report_travels_from_tick_through_sqs_to_one_email(deploy: Callable[..., Deployment]) -> None:
    # Given a Monday 07:00 Berlin report that the dispatcher first saw on Monday at 05:30 UTC (06:30 in Berlin)
    deployment = deploy(weekly_report("weekly-hours"))
    assert deployment.tick(utc(2026, 11, 23, 5, 30))["enqueued"] == 0

    # When the next tick, at 07:05 Berlin, enqueues the run, and run_report consumes the message read back from SQS
    tick = deployment.tick(utc(2026, 11, 23, 6, 5))
    delivery = deployment.poll(utc(2026, 11, 23, 6, 6))

    # Then the tick enqueued exactly that run, for 07:00 Berlin over Berlin's last week
    assert tick["enqueued"] == 1
    (run,) = tick["runs"]
    assert (run["report_id"], run["scheduled_local"]) == ("weekly-hours", "2026-11-23T07:00:00+01:00")
    assert delivery is not None
    (body,) = delivery.bodies
    assert json.loads(body) | {"account": "default"} == {
        "report_id": "weekly-hours",
        "scheduled_at": "2026-11-23T06:00:00Z",
        "account": "default",
        "from": LAST_WEEK[0],
        "to": LAST_WEEK[1],
        "force": False,
    }
    # And the handler reported the record handled, and exactly one email went out, covering last week
    assert delivery.reply == {"batchItemFailures": []}
    (email,) = deployment.aws.sent_messages()
    assert email["Subject"] == f"Hours by project, {LAST_WEEK[0]} to {LAST_WEEK[1]}"
    assert email["To"] == "ops@example.com"
    assert csv_attachment(email).decode("utf-8-sig").splitlines()[-1].startswith("TOTAL")
    assert deployment.visible_count() == 0
    (record,) = deployment.history("weekly-hours")
    assert (record.status, record.period_from, record.period_to) == ("delivered", *LAST_WEEK)
    assert record.scheduled_at == MONDAY_0700_BERLIN.isoformat()


def test_a_duplicate_delivery_sends_nothing_and_force_sends_again(deploy: Callable[..., Deployment]) -> None:
    # Given a weekly run enqueued by the dispatcher and delivered once
    deployment = deploy(weekly_report("weekly-hours"))
    deployment.tick(utc(2026, 11, 23, 5, 30))
    deployment.tick(utc(2026, 11, 23, 6, 5))
    first = deployment.poll(utc(2026, 11, 23, 6, 6))
    assert first is not None
    assert len(deployment.aws.sent_emails()) == 1

    # When SQS delivers the same message again (at-least-once), and a person re-sends it with force: true
    duplicate = deployment.redeliver(first, utc(2026, 11, 23, 6, 20))
    emails_after_duplicate = len(deployment.aws.sent_emails())
    (body,) = first.bodies
    forced = deployment.run_body(json.loads(body) | {"force": True}, utc(2026, 11, 23, 9, 0))

    # Then the duplicate is handled without a second email, and the forced run sends one more
    assert duplicate == {"batchItemFailures": []}
    assert emails_after_duplicate == 1
    assert forced.reply == {"batchItemFailures": []}
    emails = deployment.aws.sent_messages()
    assert len(emails) == 2
    assert csv_attachment(emails[1]) == csv_attachment(emails[0])
    # And the history keeps every outcome, newest first: the forced delivery, the duplicate, the first delivery
    statuses = [record.status for record in deployment.history("weekly-hours")]
    assert statuses == ["delivered", "already_delivered", "delivered"]


def test_a_run_that_died_mid_delivery_outside_lambda_does_not_block_its_identity(aws: LocalAws) -> None:
    # Given a run claimed through the idempotency store by a process with no Lambda context (the CLI), which died
    # mid-run without releasing its claim (Ctrl-C, a kill)
    once = build_once(aws.settings)
    run_key = {"report_id": "weekly-hours", "scheduled_at": MONDAY_0700_BERLIN.isoformat()}

    def dies() -> RunOutcome:
        raise KeyboardInterrupt

    def delivers() -> RunOutcome:
        return RunOutcome(record=RunRecord(report_id="weekly-hours", status="delivered", attempt="later"))

    with at(utc(2026, 11, 23, 6, 6)), pytest.raises(KeyboardInterrupt):
        once(dies, run_key)

    # When the same run is asked for again while a live run could still be working on it, then it is refused
    with at(utc(2026, 11, 23, 6, 8)), pytest.raises(RunInProgressError):
        once(delivers, run_key)

    # When it is asked for again later than any run may take (the run_report Lambda's 15 minutes)
    with at(utc(2026, 11, 23, 6, 30)):
        outcome = once(delivers, run_key)

    # Then it runs: the dead claim expired, instead of blocking the run (and the queue's copy of it) for 35 days
    assert outcome.record.attempt == "later"


# --------------------------------------------------------------------------------------------- 2. quota exhausted


SYNC_JOB = {"kind": "sync", "account": "default", "from": "2026-10-01", "to": "2026-10-31"}


def assert_synced_after_the_reset(deployment: Deployment, requests_before: int) -> None:
    """A minute after midnight GMT the waiting sync job is delivered, syncs (it requests Intervals again) and leaves
    the queue for good, with nothing on the dead-letter queue."""
    after_reset = deployment.poll(utc(2026, 11, 24, 0, 1, 30))
    assert after_reset is not None
    assert after_reset.reply == {"batchItemFailures": []}
    assert deployment.simulator.requests_counted > requests_before
    assert deployment.visible_count() == 0
    assert deployment.dead_letters(deployment.aws.resources.dead_letter_queue_url) == []


def test_a_mirror_sync_job_without_quota_waits_in_the_queue_for_the_reset_then_syncs(
    deploy: Callable[..., Deployment],
) -> None:
    # Given a month sync job on the run queue, and the account's allowance for that UTC day spent (our ledger at its
    # ceiling: 6000 less the 600 reserve)
    deployment = deploy(weekly_report("weekly-hours"))
    deployment.fill_ledger("default", date(2026, 11, 23), used=5400, limit=6000)
    requests_before = deployment.simulator.requests_counted

    # When run_report takes it in the afternoon (UTC)
    first = deployment.run_body(SYNC_JOB, utc(2026, 11, 23, 14, 0))

    # Then nothing was requested, and the job stays on the queue (named failed, so SQS keeps it)
    assert first.error is None
    assert len(first.failed) == 1
    assert deployment.simulator.requests_counted == requests_before
    # And it does not come back in 2 minutes, as a failed run does, nor before the reset (midnight GMT)
    assert deployment.poll(utc(2026, 11, 23, 14, 3)) is None
    assert deployment.poll(utc(2026, 11, 24, 0, 0, 30)) is None

    # When the quota has reset, then it comes back a minute later and syncs the month, off the queue for good
    assert_synced_after_the_reset(deployment, requests_before)


def test_a_sync_job_far_from_the_reset_waits_twice_and_is_never_dead_lettered(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the quota spent and a sync job taken at 06:06 UTC, 18 hours before the reset
    deployment = deploy(weekly_report("weekly-hours"))
    deployment.fill_ledger("default", date(2026, 11, 23), used=5400, limit=6000)
    requests_before = deployment.simulator.requests_counted
    first = deployment.run_body(SYNC_JOB, utc(2026, 11, 23, 6, 6))
    assert len(first.failed) == 1
    # Then it is back after the longest wait SQS allows, 11 h 45 min (12 hours from the receive, less what a job may
    # have worked), and finding the quota still spent on its second receive it is replaced by a fresh copy (the old
    # message is deleted, so its receives never reach the dead-letter queue's three)
    assert deployment.poll(utc(2026, 11, 23, 17, 50)) is None
    second = deployment.poll(utc(2026, 11, 23, 17, 52))
    assert second is not None
    assert second.failed == []
    # And the copy, on its first receive, waits until just after the reset
    copy = deployment.poll(utc(2026, 11, 23, 17, 53))
    assert copy is not None
    assert len(copy.failed) == 1
    assert copy.failed != first.failed
    assert deployment.poll(utc(2026, 11, 23, 23, 59)) is None

    # When the quota has reset, then the copy syncs the month, and nothing was ever dead-lettered or counted failed
    assert_synced_after_the_reset(deployment, requests_before)
    logged = capsys.readouterr().out
    assert '"SyncJobsWaiting"' in logged
    assert '"RunsFailed"' not in logged


@pytest.mark.parametrize("spent_by", ["ledger_at_ceiling", "api_answers_code_11"])
def test_a_run_without_quota_waits_for_the_reset_then_is_delivered_once(
    deploy: Callable[..., Deployment], spent_by: str
) -> None:
    # Given the weekly run enqueued on Monday, and the account's allowance for that UTC day already spent:
    # either our ledger is at its ceiling (6000 less the 600 reserve), or the API itself says the day is exceeded
    deployment = deploy(weekly_report("weekly-hours"))
    monday = date(2026, 11, 23)
    if spent_by == "ledger_at_ceiling":
        deployment.fill_ledger("default", monday, used=5400, limit=6000)
    else:
        deployment.simulator.quota_used = deployment.simulator.daily_quota
    deployment.tick(utc(2026, 11, 23, 5, 30))
    deployment.tick(utc(2026, 11, 23, 6, 5))

    # When run_report receives the message
    delivery = deployment.poll(utc(2026, 11, 23, 6, 6))

    # Then nothing is sent, the record counts as handled (SQS does not retry it in a loop) and the queue is empty
    assert delivery is not None
    assert delivery.reply == {"batchItemFailures": []}
    assert deployment.aws.sent_emails() == []
    assert deployment.visible_count() == 0
    # And the history says deferred until the next midnight GMT, and the run is parked until then
    (record,) = deployment.history("weekly-hours")
    assert record.status == "deferred"
    assert record.retry_after == "2026-11-24T00:00:00+00:00"
    assert record.scheduled_at == MONDAY_0700_BERLIN.isoformat()
    (parked,) = deployment.deferred_runs()
    assert (parked["report_id"], parked["scheduled_at"]) == ("weekly-hours", "2026-11-23T06:00:00Z")

    # When the dispatcher ticks just before the reset, then it leaves the run parked
    assert deployment.tick(utc(2026, 11, 23, 23, 55))["enqueued"] == 0

    # When it ticks after the reset (a new UTC day: a fresh ledger item, and the API's allowance lifted)
    after_reset = deployment.tick(utc(2026, 11, 24, 0, 5))
    redelivery = deployment.poll(utc(2026, 11, 24, 0, 6))

    # Then it re-enqueues the same run, which is delivered once, covering last week
    assert [(run["report_id"], run["scheduled_at"]) for run in after_reset["runs"]] == [
        ("weekly-hours", "2026-11-23T06:00:00Z")
    ]
    assert redelivery is not None
    assert redelivery.reply == {"batchItemFailures": []}
    (email,) = deployment.aws.sent_messages()
    assert email["Subject"] == f"Hours by project, {LAST_WEEK[0]} to {LAST_WEEK[1]}"
    assert deployment.deferred_runs() == []
    assert deployment.quota_used("default", date(2026, 11, 24)) == deployment.simulator.requests_counted
    # And a later tick does not send it again
    assert deployment.tick(utc(2026, 11, 24, 1, 0))["enqueued"] == 0
    assert [record.status for record in deployment.history("weekly-hours")] == ["delivered", "deferred"]


# ------------------------------------------------------------------------------------------------- 3. two accounts


@pytest.fixture
def acme_simulator(dataset: Dataset) -> Iterator[IntervalsSimulator]:
    """A second Intervals account ("acme"), with a smaller plan: its own server, allowance and counters."""
    simulator = IntervalsSimulator(dataset, daily_quota=900)
    simulator.start("127.0.0.1", 0)
    try:
        yield simulator
    finally:
        simulator.stop()


def deploy_two_accounts(deploy: Callable[..., Deployment], acme_simulator: IntervalsSimulator) -> Deployment:
    """The default account and "acme" (its own API, token, quota 900 and reserve 100), a weekly report on each."""
    accounts = {
        "acme": {"api_url": acme_simulator.url, "api_token": MANAGER_TOKEN, "daily_quota": 900, "quota_reserve": 100}
    }
    return deploy(
        weekly_report("default-weekly"),
        weekly_report("acme-weekly", account="acme", to="acme@example.com"),
        INTERVALS_ACCOUNTS=json.dumps(accounts),
    )


def test_two_accounts_spend_their_own_allowances(
    deploy: Callable[..., Deployment], acme_simulator: IntervalsSimulator
) -> None:
    # Given a second account with its own token, quota and reserve, and a report on each account
    deployment = deploy_two_accounts(deploy, acme_simulator)
    monday = date(2026, 11, 23)
    deployment.tick(utc(2026, 11, 23, 5, 30))
    tick = deployment.tick(utc(2026, 11, 23, 6, 5))
    assert {(run["report_id"], run["account"]) for run in tick["runs"]} == {
        ("default-weekly", "default"),
        ("acme-weekly", "acme"),
    }

    # When both runs are consumed
    delivery = deployment.poll(utc(2026, 11, 23, 6, 6))

    # Then each account's ledger counts exactly the requests its own API answered, and nothing of the other's
    assert delivery is not None
    assert delivery.reply == {"batchItemFailures": []}
    assert len(delivery.bodies) == 2
    assert deployment.simulator.requests_counted > 0
    assert acme_simulator.requests_counted > 0
    assert deployment.quota_used("default", monday) == deployment.simulator.requests_counted
    assert deployment.quota_used("acme", monday) == acme_simulator.requests_counted
    # And each ledger item holds its own account's limit
    acme_item = deployment.item("quota#acme", monday.isoformat())
    default_item = deployment.item("quota#default", monday.isoformat())
    assert acme_item is not None
    assert default_item is not None
    assert (acme_item["limit"]["N"], default_item["limit"]["N"]) == ("900", "6000")
    assert len(deployment.emails_to("ops@example.com")) == 1
    assert len(deployment.emails_to("acme@example.com")) == 1


def test_spending_one_accounts_quota_leaves_the_other_untouched(
    deploy: Callable[..., Deployment], acme_simulator: IntervalsSimulator
) -> None:
    # Given acme's allowance spent to its ceiling (900 less its own reserve of 100) and the default account's fresh
    deployment = deploy_two_accounts(deploy, acme_simulator)
    monday = date(2026, 11, 23)
    deployment.fill_ledger("acme", monday, used=800, limit=900)
    deployment.tick(utc(2026, 11, 23, 5, 30))
    deployment.tick(utc(2026, 11, 23, 6, 5))

    # When both runs are consumed
    delivery = deployment.poll(utc(2026, 11, 23, 6, 6))

    # Then the default account's report is delivered and spends only the default ledger
    assert delivery is not None
    assert delivery.reply == {"batchItemFailures": []}
    assert len(deployment.emails_to("ops@example.com")) == 1
    assert deployment.quota_used("default", monday) == deployment.simulator.requests_counted > 0
    # And acme's run is deferred without a request to acme's API, its ledger unchanged
    assert deployment.emails_to("acme@example.com") == []
    assert acme_simulator.requests_counted == 0
    assert deployment.quota_used("acme", monday) == 800
    assert [record.status for record in deployment.history("acme-weekly")] == ["deferred"]
    assert [run["report_id"] for run in deployment.deferred_runs()] == ["acme-weekly"]


# ---------------------------------------------------------------------------------------- 4. failures and pausing


def notices(deployment: Deployment) -> list[Any]:
    return deployment.emails_to(OWNER)


# When a message that failed on its 1st, 2nd and 3rd receive (polled at 06:06) is visible again: 2, 4, 8 minutes
# later (logic/retries.py), a few seconds' margin included for the time each run took.
REDELIVERIES = [utc(2026, 11, 23, 6, 8, 10), utc(2026, 11, 23, 6, 12, 20), utc(2026, 11, 23, 6, 20, 30)]


def test_a_failed_queued_run_comes_back_within_minutes_then_is_dead_lettered(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a revoked token and the weekly run enqueued on Monday
    deployment = deploy(weekly_report("weekly-hours"), INTERVALS_API_TOKEN="Revoked0000")
    deployment.tick(utc(2026, 11, 23, 5, 30))
    deployment.tick(utc(2026, 11, 23, 6, 5))
    capsys.readouterr()

    # When run_report receives it and the run fails
    first = deployment.poll(utc(2026, 11, 23, 6, 6))
    assert first is not None
    assert first.failed == [first.event["Records"][0]["messageId"]]
    # Then the failure is counted in the RunsFailed metric its alarm watches (Lambda records no error for it)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    (failed,) = [document for document in metrics if "RunsFailed" in document]
    assert failed["RunsFailed"] == [1.0]
    # (in the namespace and with the dimension RunsFailedAlarm names: tests/contract/test_deploy_template.py)
    assert failed["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Timereports"
    assert failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert failed["service"] == "timereports"
    # And the message is not handed out again at once, nor after the queue's visibility timeout (16 minutes here, 90
    # deployed), but after two minutes, then four, then eight
    seen_at = []
    too_early = [utc(2026, 11, 23, 6, 7), utc(2026, 11, 23, 6, 11), utc(2026, 11, 23, 6, 19)]
    for before, due in zip(too_early, REDELIVERIES, strict=True):
        with deployment.at(before):
            assert deployment.queued() == [], f"visible again before {due}"
        delivery = deployment.poll(due)
        if delivery is None:
            break
        assert delivery.failed
        seen_at.append((due, delivery.receive_counts))
    assert seen_at == [(REDELIVERIES[0], [2]), (REDELIVERIES[1], [3])]
    # And after the third failed receive SQS moved it to the dead-letter queue (whose alarm fires) within 15 minutes
    assert deployment.visible_count() == 0
    (dead,) = deployment.dead_letters(deployment.aws.resources.dead_letter_queue_url)
    assert json.loads(dead["Body"])["report_id"] == "weekly-hours"


def test_a_failing_run_notifies_the_owner_once_across_sqs_retries(deploy: Callable[..., Deployment]) -> None:
    # Given a revoked token and the weekly run enqueued on Monday
    deployment = deploy(weekly_report("weekly-hours"), INTERVALS_API_TOKEN="Revoked0000")
    deployment.tick(utc(2026, 11, 23, 5, 30))
    deployment.tick(utc(2026, 11, 23, 6, 5))

    # When SQS delivers the message three times (each attempt fails and the message comes back minutes later)
    deliveries = [deployment.poll(moment) for moment in [utc(2026, 11, 23, 6, 6), *REDELIVERIES[:2]]]

    # Then every attempt reports the record as failed (so SQS retries, then dead-letters it)
    assert all(delivery is not None for delivery in deliveries)
    assert [delivery.receive_counts for delivery in deliveries if delivery] == [[1], [2], [3]]
    assert all(delivery.failed == [delivery.event["Records"][0]["messageId"]] for delivery in deliveries if delivery)
    # And the owner was told exactly once, naming the run and the reason; no report went out
    (notice,) = notices(deployment)
    assert len(deployment.aws.sent_messages()) == 1
    assert "weekly-hours" in notice.get_content()
    # (the run named by its time where the schedule is read, from the reports' sender)
    assert "scheduled for 2026-11-23 07:00 CET failed, and nothing was sent." in notice.get_content()
    assert "failed" in notice["Subject"]
    assert str(notice["From"]).endswith(f"<{deployment.aws.settings.sender_email}>")
    # And each attempt left a failed record in the history, counted as one failure of the report
    records = deployment.history("weekly-hours")
    assert [record.status for record in records] == ["failed", "failed", "failed"]
    assert all(record.scheduled_at == MONDAY_0700_BERLIN.isoformat() and record.error for record in records)
    state = deployment.item("report#weekly-hours", "state")
    assert state is not None
    assert state["consecutive_failures"]["N"] == "1"
    # And after its third receive the message went to the dead-letter queue, not back to run_report
    assert deployment.poll(REDELIVERIES[2]) is None
    dlq = deployment.aws.resources.dead_letter_queue_url
    assert deployment.dead_letters(dlq)


def test_a_report_failing_runs_in_a_row_is_paused_and_the_next_tick_skips_it(
    deploy: Callable[..., Deployment],
) -> None:
    # Given a report whose token is revoked, next to a healthy one on the same schedule (failures_before_pause: 3)
    deployment = deploy(weekly_report("weekly-hours"), weekly_report("weekly-other"), INTERVALS_API_TOKEN="Revoked0000")
    deployment.tick(utc(2026, 11, 23, 5, 30))
    failing = {"report_id": "weekly-hours", "account": "default", "from": "2026-11-16", "to": "2026-11-22"}

    # When three runs of it, due on three different Mondays, fail
    deliveries = [
        deployment.run_body(failing | {"scheduled_at": f"{day}T06:00:00Z"}, utc(2026, 11, 23, 4, minute))
        for minute, day in enumerate(["2026-11-02", "2026-11-09", "2026-11-16"])
    ]

    # Then each failed, the owner got one notice per run, and the third says the report is paused
    assert not any(deployment.source.handled(delivery) for delivery in deliveries)
    sent = notices(deployment)
    assert len(sent) == 3
    assert ["paused" in str(message["Subject"]) for message in sent] == [False, False, True]
    state = deployment.item("report#weekly-hours", "state")
    assert state is not None
    assert state["paused"]["BOOL"] is True

    # When the dispatcher ticks after the next fire time
    tick = deployment.tick(utc(2026, 11, 23, 6, 5))

    # Then it enqueues the healthy report's run and skips the paused one
    assert [run["report_id"] for run in tick["runs"]] == ["weekly-other"]
    queued = [json.loads(message["Body"]) for message in deployment.queued()]
    assert [
        (run["report_id"], run["scheduled_at"]) for run in queued if run["scheduled_at"].startswith("2026-11-23")
    ] == [("weekly-other", "2026-11-23T06:00:00Z")]


def test_a_report_resumed_as_the_readme_says_counts_its_failures_afresh(deploy: Callable[..., Deployment]) -> None:
    # Given a report paused after three failed runs, then resumed by setting `paused` to false on its state item
    deployment = deploy(weekly_report("weekly-hours"), INTERVALS_API_TOKEN="Revoked0000")
    failing = {"report_id": "weekly-hours", "account": "default", "from": "2026-11-16", "to": "2026-11-22"}
    for minute, day in enumerate(["2026-11-02", "2026-11-09", "2026-11-16"]):
        deployment.run_body(failing | {"scheduled_at": f"{day}T06:00:00Z"}, utc(2026, 11, 23, 4, minute))
    table = deployment.aws.settings.state_table
    key = {"pk": {"S": "report#weekly-hours"}, "sk": {"S": "state"}}
    deployment.aws.dynamodb.update_item(
        TableName=table, Key=key, UpdateExpression="SET paused = :f", ExpressionAttributeValues={":f": {"BOOL": False}}
    )
    # When its next run fails once
    deployment.run_body(failing | {"scheduled_at": "2026-11-23T06:00:00Z"}, utc(2026, 11, 23, 6, 6))
    # Then it is one failure in a row, not four: the report stays resumed
    state = deployment.item("report#weekly-hours", "state")
    assert state is not None
    assert state["consecutive_failures"]["N"] == "1"
    assert not state.get("paused", {}).get("BOOL", False)
    assert "paused" not in str(notices(deployment)[-1]["Subject"])


def test_a_success_resets_the_count_of_failures_in_a_row(deploy: Callable[..., Deployment]) -> None:
    # Given two failed runs of a report (one short of the pause)
    deployment = deploy(weekly_report("weekly-hours"), INTERVALS_API_TOKEN="Revoked0000")
    failing = {"report_id": "weekly-hours", "account": "default", "from": "2026-11-16", "to": "2026-11-22"}
    for minute, day in enumerate(["2026-11-02", "2026-11-09"]):
        deployment.run_body(failing | {"scheduled_at": f"{day}T06:00:00Z"}, utc(2026, 11, 23, 4, minute))

    # When the token is fixed and a run succeeds, then another run fails
    deploy(weekly_report("weekly-hours"), INTERVALS_API_TOKEN=ADMIN_TOKEN)
    deployment.run_body(failing | {"scheduled_at": "2026-11-16T06:00:00Z"}, utc(2026, 11, 23, 4, 5))
    deploy(weekly_report("weekly-hours"), INTERVALS_API_TOKEN="Revoked0000")
    deployment.run_body(failing | {"scheduled_at": "2026-11-23T06:00:00Z"}, utc(2026, 11, 23, 6, 6))

    # Then the report is not paused: the failures were not in a row
    state = deployment.item("report#weekly-hours", "state")
    assert state is not None
    assert state["consecutive_failures"]["N"] == "1"
    assert not state.get("paused", {}).get("BOOL", False)


# ------------------------------------------------------------------------------------------------ 5. history (CLI)


def test_history_command_lists_the_runs_newest_first(deploy: Callable[..., Deployment]) -> None:
    # Given three runs of the weekly report: delivered on 23 November, deferred on 30 November (quota spent), and
    # delivered after the reset on 1 December
    deployment = deploy(weekly_report("weekly-hours"))
    deployment.tick(utc(2026, 11, 23, 5, 30))
    deployment.tick(utc(2026, 11, 23, 6, 5))
    deployment.poll(utc(2026, 11, 23, 6, 6))
    deployment.fill_ledger("default", date(2026, 11, 30), used=5400, limit=6000)
    deployment.tick(utc(2026, 11, 30, 6, 5))
    deployment.poll(utc(2026, 11, 30, 6, 6))
    deployment.tick(utc(2026, 12, 1, 0, 5))
    deployment.poll(utc(2026, 12, 1, 0, 6))
    assert len(deployment.aws.sent_emails()) == 2

    # When a person asks for the report's history against the same local AWS
    result = subprocess.run(
        [sys.executable, "-m", "timereports_dev.cli", "history", "weekly-hours", "--local"],
        capture_output=True,
        text=True,
        env=os.environ | {"AWS_ENDPOINT_URL": deployment.aws.endpoint},
        cwd=ROOT,
        timeout=60,
        check=False,
    )

    # Then it lists the three runs newest first, each with its status, rows, requests and S3 key
    assert result.returncode == 0, result.stderr
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(run["status"], run["scheduled_at"], run["finished_at"][:10]) for run in runs] == [
        ("delivered", "2026-11-30T06:00:00+00:00", "2026-12-01"),
        ("deferred", "2026-11-30T06:00:00+00:00", "2026-11-30"),
        ("delivered", "2026-11-23T06:00:00+00:00", "2026-11-23"),
    ]
    delivered_now, deferred, delivered_before = runs
    assert delivered_now["s3_key"] != delivered_before["s3_key"]
    assert (delivered_now["period_from"], delivered_now["period_to"]) == ("2026-11-23", "2026-11-29")
    assert delivered_now["s3_key"].startswith("weekly-hours/") or "weekly-hours" in delivered_now["s3_key"]
    for delivered in (delivered_now, delivered_before):
        assert delivered["rows"] > 0
        assert delivered["api_requests"] > 0
    assert deferred["retry_after"] == "2026-12-01T00:00:00+00:00"
    assert "s3_key" not in deferred
    # And the records equal what run_report stored
    stored = deployment.history("weekly-hours")
    assert [(run["status"], run.get("rows", 0), run.get("s3_key")) for run in runs] == [
        (record.status, record.rows, record.s3_key) for record in stored
    ]


# ------------------------------------------------------------------------------------------- 6. bounces and complaints


def ses_notice(ses_message_id: str, recipient: str, *, kind: str = "Bounce") -> dict[str, Any]:
    """events/sns_ses_bounce.json (SNS delivering SES's event) about `ses_message_id` and `recipient`."""
    event = load_event("sns_ses_bounce.json")
    notice = json.loads(event["Records"][0]["Sns"]["Message"])
    notice["mail"]["messageId"] = ses_message_id
    if kind == "Complaint":
        notice["eventType"] = "Complaint"
        notice["complaint"] = {"complainedRecipients": [{"emailAddress": recipient}], "feedbackId": "x"}
        del notice["bounce"]
    else:
        notice["bounce"]["bouncedRecipients"][0]["emailAddress"] = recipient
    event["Records"][0]["Sns"]["Message"] = json.dumps(notice)
    return event


def test_a_bounce_is_recorded_in_the_history_of_the_run_that_sent_it(deploy: Callable[..., Deployment]) -> None:
    # Given a delivered weekly run, whose send named the stack's configuration set (so SES publishes its feedback)
    deployment = deploy(weekly_report("weekly-hours", to="gone@example.com"))
    sends: list[dict[str, Any]] = []

    def observe(params: dict[str, Any], **_: Any) -> None:
        sends.append(dict(params))

    # The process's own SES client (bootstrap keeps one), observed, not replaced: the send still goes to moto.
    events = aws_client("sesv2").meta.events
    events.register("provide-client-params.sesv2.SendEmail", observe)
    try:
        deployment.tick(utc(2026, 11, 23, 5, 30))
        deployment.tick(utc(2026, 11, 23, 6, 5))
        deployment.poll(utc(2026, 11, 23, 6, 6))
    finally:
        events.unregister("provide-client-params.sesv2.SendEmail", observe)
    (delivered,) = deployment.history("weekly-hours")
    assert delivered.status == "delivered"
    assert [send["ConfigurationSetName"] for send in sends] == [deployment.aws.settings.ses_configuration_set]
    # And the record tells SES's MessageId (what the feedback carries) from the Message-ID header we wrote
    assert delivered.message_id
    (header,) = delivered.email_message_ids
    assert delivered.message_id not in header

    # When SES's bounce for that message arrives through SNS, twice (SNS delivers at least once), and a complaint
    context = FakeLambdaContext(function_name="timereports-EmailFeedback")
    with deployment.at(utc(2026, 11, 23, 6, 10)):
        replies = [
            email_feedback_app.lambda_handler(ses_notice(delivered.message_id, "gone@example.com"), context),
            email_feedback_app.lambda_handler(ses_notice(delivered.message_id, "gone@example.com"), context),
            email_feedback_app.lambda_handler(
                ses_notice(delivered.message_id, "angry@example.com", kind="Complaint"), context
            ),
        ]

    # Then each was recorded on that run's record, once, and the record is still the delivery's
    assert replies == [{"notices": 1, "recorded": 1}] * 3
    (record,) = deployment.history("weekly-hours")
    assert record.status == "delivered"
    assert record.bounced == ["gone@example.com"]
    assert record.complained == ["angry@example.com"]
    assert record.s3_key == delivered.s3_key


def test_feedback_about_a_message_no_run_sent_changes_nothing(deploy: Callable[..., Deployment]) -> None:

    # Given a deployment with no run (say, a bounce of an owner's failure notice)
    deployment = deploy(weekly_report("weekly-hours"))
    # When its bounce arrives
    reply = email_feedback_app.lambda_handler(
        ses_notice("0102017a-unknown-000000", "owner@example.com"), FakeLambdaContext()
    )
    # Then it is answered (not retried into the dead-letter queue) and no record appears
    assert reply == {"notices": 1, "recorded": 0}
    assert deployment.history("weekly-hours") == []
