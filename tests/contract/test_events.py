"""Contract tests of events/*.json: the sample events parse, and each is what its handler's model accepts.

The same files feed `sam local invoke -e` (for people with Docker) and the in-process handler tests, so a sample
that drifts from the wire format would mislead both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SnsModel, SqsModel

from tests.support.events import EVENTS_DIR, load_event
from tests.support.reports_requests import refusal
from timereports.models.catalogue import DEFINITION_SUFFIXES, load_definition, parse_definition
from timereports.models.events import DirectRunEvent, DispatchEvent, RevisionCheckEvent, RunMessage
from timereports.models.feedback import EmailFeedback
from timereports.models.reports_api import ReportsQuery, load_request_body

CATALOGUE_DIR = EVENTS_DIR.parent / "reports"
EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))


def test_the_sample_events_exist() -> None:
    # Given events/ / Then it has the four samples the README and the handler tests use
    assert {path.name for path in EVENT_FILES} >= {
        "run_report_inline.json",
        "run_report_catalogue.json",
        "sqs_run_report.json",
        "dispatch_scheduled.json",
        "sns_ses_bounce.json",
        "run_report_revisions.json",
    }


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_every_event_is_a_json_object(path: Path) -> None:
    # Given a sample event / When it is parsed as JSON / Then it is an object (a Lambda event), not a list or scalar
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)


def test_the_sqs_event_carries_a_dispatcher_message() -> None:
    # Given the SQS sample / When Powertools' SQS envelope and our message model parse it
    event = SqsModel.model_validate(load_event("sqs_run_report.json"))
    # Then it is one record whose body is a RunMessage with its period and account
    assert len(event.Records) == 1
    record = event.Records[0]
    assert record.eventSource == "aws:sqs"
    body = json.loads(record.body)
    assert set(body) == {"report_id", "scheduled_at", "from", "to", "account"}
    message = RunMessage.model_validate_json(record.body)
    assert message.period_from <= message.period_to
    assert message.scheduled_at.utcoffset() is not None


def test_the_revisions_event_is_the_daily_check() -> None:
    # Given the revision schedule's sample / Then it parses as the check, at the scheduled time
    event = RevisionCheckEvent.model_validate(load_event("run_report_revisions.json"))
    assert event.check == "revisions"
    assert event.at is not None


def test_the_inline_event_is_a_valid_direct_run() -> None:
    # Given the inline sample, as the Scheduler target receives it / When the handler's models parse it
    event = DirectRunEvent.model_validate(load_event("run_report_inline.json"))
    # Then it names an inline definition that is itself valid
    assert event.definition is not None
    assert event.report_id is None
    definition = parse_definition(event.definition)
    assert definition.delivery is not None
    assert definition.delivery.to


def test_the_catalogue_event_is_a_valid_direct_run() -> None:
    # Given the catalogue sample / When parsed / Then it names a report id and its scheduled time
    event = DirectRunEvent.model_validate(load_event("run_report_catalogue.json"))
    assert event.definition is None
    assert event.report_id
    assert event.scheduled_at is not None


def test_the_catalogue_event_names_a_catalogue_report() -> None:
    # Given the catalogue sample and the repo's reports/ / Then the report it names is in the catalogue
    ids = {load_definition(path).id for path in CATALOGUE_DIR.glob("*") if path.suffix in DEFINITION_SUFFIXES}
    if not ids:
        pytest.skip("reports/ has no definitions yet")
    assert load_event("run_report_catalogue.json")["report_id"] in ids
    message = RunMessage.model_validate_json(SqsModel.model_validate(load_event("sqs_run_report.json")).Records[0].body)
    assert message.report_id in ids


def test_the_dispatch_event_is_a_scheduler_tick() -> None:
    # Given the dispatcher sample / When parsed / Then it carries the tick's own time (set by the Scheduler's Input)
    event = DispatchEvent.model_validate(load_event("dispatch_scheduled.json"))
    assert event.at is not None
    assert event.at.utcoffset() is not None


REPORTS_API_EVENTS = sorted(path.name for path in EVENT_FILES if path.name.startswith("reports_api_"))


def test_the_reports_api_samples_exist() -> None:
    # Given events/ / Then it has a rows, a totals, a catalogue, an OpenAPI and a refused request for the Reports API
    assert set(REPORTS_API_EVENTS) >= {
        "reports_api_rows.json",
        "reports_api_rows_defaults.json",
        "reports_api_totals.json",
        "reports_api_catalogue_rows.json",
        "reports_api_openapi.json",
        "reports_api_invalid_view.json",
    }


@pytest.mark.parametrize("name", REPORTS_API_EVENTS)
def test_a_reports_api_sample_is_an_http_api_v2_event(name: str) -> None:
    # Given a Reports API sample / When Powertools' HTTP API (payload 2.0) model parses it
    event = APIGatewayProxyEventV2Model.model_validate(load_event(name))
    # Then it is a request under /api/v1 authorised by IAM, as ReportsHttpApi delivers it
    assert event.version == "2.0"
    assert event.rawPath.startswith("/api/v1/")
    assert event.requestContext.http.path == event.rawPath
    assert event.requestContext.authorizer is not None
    assert event.requestContext.authorizer.iam is not None
    # And its body, if any, is what the API's model accepts (the invalid-view sample is what it refuses)
    if event.requestContext.http.method == "POST":
        assert event.headers["content-type"] == "application/json"
        if name == "reports_api_invalid_view.json":
            assert refusal(event.body).startswith("view: 'utilization'")
        else:
            ReportsQuery.model_validate(load_request_body(event.body or "{}"))


def test_the_catalogue_sample_of_the_reports_api_names_a_catalogue_report() -> None:
    event = load_event("reports_api_catalogue_rows.json")
    report_id = event["rawPath"].split("/")[4]
    assert report_id in {
        load_definition(path).id for path in CATALOGUE_DIR.glob("*") if path.suffix in DEFINITION_SUFFIXES
    }


def test_the_sync_event_is_a_valid_direct_sync() -> None:
    # Given the mirror sync sample / When the handler's model parses it / Then it names an account and a range
    from timereports.models.events import DirectSyncEvent

    event = DirectSyncEvent.model_validate(load_event("run_report_sync.json"))
    assert event.sync.account == "default"
    assert event.sync.period_from <= event.sync.period_to


def test_the_feedback_event_is_an_ses_bounce_delivered_by_sns() -> None:
    # Given the email_feedback sample / When Powertools' SNS model and our notice model parse it
    event = SnsModel.model_validate(load_event("sns_ses_bounce.json"))
    (record,) = event.Records
    notice = EmailFeedback.model_validate_json(record.Sns.Message)
    # Then it is a bounce of one recipient of an SES message, found by the message's SES id
    assert notice.kind == "bounce"
    assert notice.recipients == ["gone@example.com"]
    assert notice.mail.message_id
    assert "ses:configuration-set" in json.loads(record.Sns.Message)["mail"]["tags"]
