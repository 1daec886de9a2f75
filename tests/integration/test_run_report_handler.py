"""The run_report Lambda, invoked in-process with the events/ files, against moto and the simulator.

Given the environment the template gives the function (pointing at moto and the simulator), when the
handler receives each sample event, then the CSV lands in S3 and the email that SES sent carries the
same bytes, with the totals of an independent sum over the simulator's data.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench.bench_startup import ROOT, shipped_catalogue
from functions.run_report import app
from tests.support.deployment import deploy_environment, function_environment, redeploy
from tests.support.downloads import linked_files
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext
from timereports.bootstrap.history import build_run_history
from timereports.errors import ConfigurationError, IntervalsAuthError

CATALOGUE = Path(__file__).resolve().parents[2] / "reports"


@pytest.fixture
def deployed(aws: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The function's environment as template.yaml sets it, with moto and the simulator behind it."""
    environment = function_environment(aws, simulator)
    deploy_environment(monkeypatch, environment)
    yield aws
    redeploy()


def handler() -> Any:
    return app.lambda_handler


def expected_total_hours(dataset: Any, start: str, end: str) -> Decimal:
    """An independent sum: every entry of the period, straight from the simulator's data."""
    return sum(
        (Decimal(str(entry["time"])) for entry in dataset.time if start <= str(entry["date"]) <= end), Decimal(0)
    )


def csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_inline_definition_is_archived_and_emailed(deployed: Any, dataset: Any) -> None:
    # Given the Scheduler's sample event with an inline weekly definition
    event = load_event("run_report_inline.json")

    # When the handler runs it
    reply = handler()(event, FakeLambdaContext())

    # Then the CSV is in S3 under the period's key, and the email carries the same bytes
    assert reply["status"] == "delivered"
    assert (reply["period_from"], reply["period_to"]) == ("2026-11-16", "2026-11-22")
    stored = deployed.s3.get_object(Bucket=deployed.settings.reports_bucket, Key=reply["s3_key"])
    body = stored["Body"].read()
    assert stored["ContentType"].startswith("text/csv")
    assert stored["ServerSideEncryption"] == "AES256"
    (message,) = deployed.sent_messages()
    assert message["To"] == "ops@example.com"
    assert message["Subject"] == "Hours by project, 2026-11-16 to 2026-11-22"
    kinds = [part.get_content_type() for part in message.walk() if not part.is_multipart()]
    assert kinds[:2] == ["text/plain", "text/html"]
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == body

    # And the totals equal an independent sum of the simulator's entries, to the cent
    rows = csv_rows(body)
    header, total = rows[0], rows[-1]
    assert total[0] == "TOTAL"
    incurred = Decimal(total[header.index("incurred_hours")])
    assert incurred == expected_total_hours(dataset, "2026-11-16", "2026-11-22").quantize(Decimal("0.01"))
    assert reply["rows"] == len(rows) - 2


def test_duplicate_queue_message_sends_one_email(deployed: Any) -> None:
    # Given the dispatcher's message for one scheduled run
    event = load_event("sqs_run_report.json")

    # When SQS delivers it twice (a retry, or at-least-once delivery)
    first = handler()(event, FakeLambdaContext())
    second = handler()(event, FakeLambdaContext())

    # Then both succeed, and exactly one email went out
    assert first == {"batchItemFailures": []}
    assert second == {"batchItemFailures": []}
    assert len(deployed.sent_emails()) == 1


def test_catalogue_event_runs_the_catalogue_report(deployed: Any) -> None:
    reply = handler()(load_event("run_report_catalogue.json"), FakeLambdaContext())

    assert reply["report_id"] == "weekly-hours-by-project"
    assert reply["status"] in {"delivered", "empty_notice"}
    assert len(deployed.sent_emails()) == 1


def test_bad_token_fails_clearly_and_sends_nothing(deployed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a revoked token
    monkeypatch.setenv("INTERVALS_API_TOKEN", "Revoked0000")
    redeploy()

    # When the handler runs, then it raises the auth error (the Scheduler retries, then dead-letters)
    with pytest.raises(IntervalsAuthError):
        handler()(load_event("run_report_inline.json"), FakeLambdaContext())

    # And nothing was archived or sent
    assert deployed.sent_emails() == []
    listing = deployed.s3.list_objects_v2(Bucket=deployed.settings.reports_bucket)
    assert listing.get("KeyCount", 0) == 0


def test_a_queued_run_of_a_paused_report_is_dropped_not_retried(deployed: Any) -> None:
    # Given a report that paused itself after failing runs, with a run still in the queue
    from timereports.bootstrap.scheduling import build_report_states

    build_report_states(deployed.settings).pause("weekly-hours-by-project", "3 failed runs in a row")

    # When that run arrives
    reply = handler()(load_event("sqs_run_report.json"), FakeLambdaContext())

    # Then it is handled (SQS does not retry it into the dead-letter queue), nothing is sent, and the history says so
    assert reply == {"batchItemFailures": []}
    assert deployed.sent_emails() == []

    (record,) = build_run_history(deployed.settings).last_runs("weekly-hours-by-project")
    assert record.status == "skipped_paused"


def test_a_report_too_big_to_attach_is_sent_as_a_link(deployed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a message size limit below even the gzipped CSV
    monkeypatch.setenv("ATTACHMENT_LIMIT_BYTES", "2000")
    redeploy()

    # When the report runs
    reply = handler()(load_event("run_report_inline.json"), FakeLambdaContext())

    # Then the email carries a presigned link to the archived CSV instead of an attachment
    assert reply["delivery"] == "link"
    (message,) = deployed.sent_messages()
    assert list(message.iter_attachments()) == []
    text = message.get_body(("plain",)).get_content()
    assert reply["s3_key"].split("/")[-1] in text
    assert "X-Amz-Signature" in text or "Signature=" in text


def test_a_workbook_report_sent_as_links_downloads_the_archived_csv_and_workbook(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a report with a workbook, and a message size limit below even the gzipped CSV
    monkeypatch.setenv("ATTACHMENT_LIMIT_BYTES", "2000")
    redeploy()
    event = load_event("run_report_inline.json")
    event["definition"]["delivery"]["formats"] = ["csv", "xlsx"]

    # When the report runs
    reply = handler()(event, FakeLambdaContext())

    # Then the email attaches nothing and links both files
    assert reply["delivery"] == "link"
    (message,) = deployed.sent_messages()
    assert list(message.iter_attachments()) == []
    # And each link, fetched over HTTP as a recipient's browser would, gives the archived file
    archived = deployed.s3.get_object(Bucket=deployed.settings.reports_bucket, Key=reply["s3_key"])["Body"].read()
    workbook_key = reply["s3_key"].replace(".csv", ".xlsx")
    workbook = deployed.s3.get_object(Bucket=deployed.settings.reports_bucket, Key=workbook_key)["Body"].read()
    assert linked_files(message) == {"the CSV": archived, "the workbook (Excel)": workbook}
    assert workbook.startswith(b"PK")  # the workbook is a zip, not the CSV twice


def test_a_directly_scheduled_run_of_a_paused_report_is_skipped(deployed: Any) -> None:
    # Given a paused report that an EventBridge schedule invokes directly (not through the queue)
    from timereports.bootstrap.scheduling import build_report_states

    build_report_states(deployed.settings).pause("weekly-hours-by-project", "3 failed runs in a row")

    # When the schedule fires, then the run is skipped and nothing is sent
    reply = handler()(load_event("run_report_catalogue.json"), FakeLambdaContext())
    assert reply["status"] == "skipped_paused"
    assert deployed.sent_emails() == []


@pytest.mark.parametrize("variable", ["SENDER_EMAIL", "STATE_TABLE", "REPORTS_BUCKET", "REPORT_QUEUE_URL"])
def test_a_deployment_missing_a_required_setting_refuses_to_run_naming_it(
    deployed: Any, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # Given a function deployed without a setting that has no sensible default
    monkeypatch.delenv(variable)
    redeploy()

    # When it is invoked, then it stops with one error naming the variable, and sends nothing
    with pytest.raises(ConfigurationError, match=f"^{variable}: not set"):
        handler()(load_event("run_report_inline.json"), FakeLambdaContext())
    assert deployed.sent_emails() == []


# What a cold report run may still import after the start: boto3's S3 extras (the runner's S3 client is created per
# run), the standard library's email generator (the message is serialised for SES) and, because this report asks for
# a workbook, XlsxWriter (deferred to the reports that ask for one) with the codec it loads; and tzdata, whose zone list
# a definition's time zones are checked against (on Lambda, which has no zone files, zoneinfo reads tzdata anyway).
LOADED_BY_A_RUN = {"boto3", "s3transfer", "email", "xlsxwriter", "encodings", "tzdata"}
COLD_RUN = """
import json, sys
from tests.support.lambda_context import FakeLambdaContext
import functions.run_report.app as app
app.run_service()
started = set(sys.modules)
reply = app.lambda_handler(json.loads(sys.argv[1]), FakeLambdaContext())
print(json.dumps({"reply": reply, "loaded": sorted(set(sys.modules) - started)}))
"""


def test_a_cold_report_run_imports_nothing_of_ours_beyond_the_start(deployed: Any, tmp_path: Path) -> None:
    """The start holds what a report run uses, so that deferring it would only move the cost into the first run
    (tests/contract/test_cold_start.py checks what the start leaves out)."""
    # Given a fresh interpreter started as Lambda starts run_report, with the catalogue as the build ships it
    environment = os.environ | shipped_catalogue(tmp_path) | {"AWS_LAMBDA_FUNCTION_NAME": "timereports-run-report"}
    # When the dispatcher's queued run arrives
    event = json.dumps(load_event("sqs_run_report.json"))
    done = subprocess.run(
        [sys.executable, "-c", COLD_RUN, event], capture_output=True, text=True, env=environment, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    # Then the report was delivered, and the run loaded none of our modules and only the libraries named above
    assert outcome["reply"] == {"batchItemFailures": []}
    assert len(deployed.sent_emails()) == 1
    loaded = {name.split(".")[0] for name in outcome["loaded"]}
    assert loaded <= LOADED_BY_A_RUN, outcome["loaded"]
