"""Pre-filling the entry mirror deployed: a direct sync invoke of run_report over a long range queues one job per
month on the run queue, and the queue-fed function syncs each month (moto SQS, S3 and DynamoDB, the simulator)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from timereports_dev.dataset import ADMIN_TOKEN

from functions.run_report import app
from tests.support.deployment import deploy_environment, redeploy
from tests.support.lambda_context import FakeLambdaContext
from tests.support.sqs_source import SqsEventSource
from timereports.bootstrap.sources import build_mirror_store
from timereports.engine.mirror import DayRange, ranges_of


@pytest.fixture
def deployed(aws: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    environment = {
        "STATE_TABLE": aws.settings.state_table,
        "REPORTS_BUCKET": aws.settings.reports_bucket,
        "SENDER_EMAIL": aws.settings.sender_email,
        "REPORT_QUEUE_URL": aws.settings.report_queue_url,
        "INTERVALS_API_URL": simulator.url,
        "INTERVALS_API_TOKEN": ADMIN_TOKEN,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "timereports",
        "POWERTOOLS_METRICS_NAMESPACE": "Timereports",
    }
    deploy_environment(monkeypatch, environment)
    yield aws
    redeploy()


def test_a_long_range_becomes_month_jobs_that_the_queue_fed_function_syncs(deployed: Any) -> None:
    # Given a direct sync invoke over three months
    reply = app.lambda_handler(
        {"sync": {"account": "default", "from": "2026-01-15", "to": "2026-03-31"}}, FakeLambdaContext()
    )
    # Then it queued one job per month and synced nothing itself
    assert reply["queued_jobs"] == 3
    source = SqsEventSource(deployed.sqs, deployed.settings.report_queue_url, app.lambda_handler)
    bodies: list[dict[str, Any]] = []
    # When the queue-fed function takes the jobs
    while (delivery := source.poll()) is not None:
        assert delivery.failed == []
        bodies += [json.loads(body) for body in delivery.bodies]
    # Then each month was synced and published: the mirror covers the range
    assert sorted(body["from"] for body in bodies) == ["2026-01-15", "2026-02-01", "2026-03-01"]
    manifest = build_mirror_store(deployed.settings, "default").load_manifest()
    assert ranges_of(manifest.covered) == [DayRange(date(2026, 1, 15), date(2026, 3, 31))]
    assert set(manifest.months) == {"2026-01", "2026-02", "2026-03"}


def test_a_range_within_a_month_is_synced_in_the_invocation(deployed: Any) -> None:
    reply = app.lambda_handler({"sync": {"from": "2026-05-01", "to": "2026-05-31"}}, FakeLambdaContext())
    assert reply["queued_jobs"] == 0
    assert reply["months"] == 1
    assert reply["entries"] > 0
