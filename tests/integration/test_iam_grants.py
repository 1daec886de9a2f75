"""Every AWS call a function makes is granted by its role in template.yaml: moto checks no permission, so each
handler is driven here through its paths (against moto and the simulator, the token from Secrets Manager as
deployed), every call it makes is recorded as IAM's action and resource (tests/support/aws_calls.py), and each must
be allowed by an Allow statement of the function's role, read from the template with the test's resource names.

Conditions (the SES From address) are not evaluated: this checks that nothing the code does is missing from the
role; tests/contract/test_template.py checks that the role grants nothing broader.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import pytest
from timereports_dev.dataset import ADMIN_TOKEN

from functions.dispatch import app as dispatch_app
from functions.email_feedback import app as email_feedback_app
from functions.reports_api import app as reports_api_app
from functions.run_report import app as run_report_app
from tests.contract.test_template import Tag, as_list, iam_statements, load_template
from tests.support.aws_calls import ACCOUNT, REGION, AwsCall, recorded_aws_calls
from tests.support.deployment import deploy_environment, function_environment, redeploy
from tests.support.events import load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.sqs_source import SqsEventSource
from timereports.errors import TimereportsError

TOKEN_SECRET = "timereports/intervals-token"


@pytest.fixture
def deployed(aws: Any, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The functions' environment as template.yaml sets it, the token in Secrets Manager as when deployed."""
    aws.client("secretsmanager").create_secret(Name=TOKEN_SECRET, SecretString=ADMIN_TOKEN)
    environment = function_environment(
        aws,
        simulator,
        INTERVALS_API_TOKEN="",
        INTERVALS_TOKEN_SECRET=TOKEN_SECRET,
        OWNER_EMAIL="owner@example.com",
        SES_CONFIGURATION_SET=str(aws.settings.ses_configuration_set),
        INTERVALS_MAX_RETRY_SECONDS="1",
    )
    deploy_environment(monkeypatch, environment)
    yield aws
    redeploy()


def role_of(function_dir: str) -> str:
    """The logical id of the role the function `functions/<function_dir>` runs with."""
    template = load_template()
    for body in template["Resources"].values():
        properties = body.get("Properties", {})
        if body["Type"] == "AWS::Serverless::Function" and properties.get("CodeUri") == f"functions/{function_dir}":
            role = properties["Role"]
            assert isinstance(role, Tag), role
            assert role.name == "GetAtt", role
            return str(role.value).split(".")[0]
    raise AssertionError(f"no function with CodeUri functions/{function_dir}")


def names(aws: Any) -> dict[str, str]:
    """What the template's references stand for in this test's local AWS."""
    queue = str(aws.settings.report_queue_url).rsplit("/", 1)[-1]
    parameters = {
        name: str(parameter.get("Default", "")) for name, parameter in load_template().get("Parameters", {}).items()
    }
    return parameters | {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "IntervalsTokenSecretName": TOKEN_SECRET,
        "SenderEmail": aws.settings.sender_email,
        "EmailConfigurationSet": str(aws.settings.ses_configuration_set),
        "StateTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{aws.settings.state_table}",
        "ReportsBucket.Arn": f"arn:aws:s3:::{aws.settings.reports_bucket}",
        "ReportRunQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
    }


def resolved(value: Any, known: dict[str, str]) -> str:
    """A statement's resource as an ARN pattern (`*` and `?` as IAM reads them); unknown references stay visible."""
    if isinstance(value, str):
        return value
    assert isinstance(value, Tag), value
    if value.name == "Sub":
        text = str(value.value)
        for name, replacement in known.items():
            text = text.replace("${" + name + "}", replacement)
        return text
    if value.name in ("GetAtt", "Ref"):
        return known.get(str(value.value), f"<unresolved {value.name} {value.value}>")
    return f"<unresolved {value.name}>"


def grants(role: str, known: dict[str, str]) -> list[tuple[set[str], list[str]]]:
    """(actions, resource patterns) of each Allow statement of `role`."""
    return [
        (
            {str(action) for action in as_list(statement["Action"])},
            [resolved(r, known) for r in as_list(statement["Resource"])],
        )
        for where, statement in iam_statements(load_template())
        if where == role and statement.get("Effect") == "Allow" and "Resource" in statement
    ]


def ungranted(calls: list[AwsCall], role: str, known: dict[str, str]) -> list[AwsCall]:
    """The calls no Allow statement of `role` covers (action and resource)."""
    statements = grants(role, known)
    return [
        call
        for call in dict.fromkeys(calls)
        if not any(
            call.action in actions and any(fnmatch.fnmatchcase(call.resource, pattern) for pattern in patterns)
            for actions, patterns in statements
        )
    ]


def context(function: str) -> FakeLambdaContext:
    return FakeLambdaContext(function_name=f"timereports-{function}")


def drive_run_report(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_report's paths: a queued run (mirror sync, archive, email, links), a direct inline run, a long sync queued
    as months, the revision check, a queued message that fails (failure record, retry later), and a run whose email
    SES refuses (its claims and its exactly-once record given back)."""
    source = SqsEventSource(aws.sqs, str(aws.settings.report_queue_url), run_report_app.lambda_handler)
    queued = json.loads(load_event("sqs_run_report.json")["Records"][0]["body"])
    aws.sqs.send_message(QueueUrl=source.queue_url, MessageBody=json.dumps(queued))
    delivery = source.poll()
    assert delivery is not None
    assert delivery.failed == [], delivery
    for name in ("run_report_inline.json", "run_report_sync.json", "run_report_revisions.json"):
        run_report_app.lambda_handler(load_event(name), context("RunReport"))
    # A report by phase reads the reference records (tasks, milestones) through the bucket's cache, not written yet
    inline = load_event("run_report_inline.json")
    by_phase = inline | {"definition": inline["definition"] | {"id": "by-phase", "group_by": ["phase_name"]}}
    run_report_app.lambda_handler(by_phase, context("RunReport"))
    # A report split by client into slices listed by name, twice: its slices' records are written, then read back
    split = inline["definition"] | {"id": "by-client", "group_by": ["client"]}
    split["delivery"] = split["delivery"] | {"split": {"by": "client", "to": {"Mango Inc.": ["pm@example.com"]}}}
    for _ in range(2):
        run_report_app.lambda_handler(inline | {"definition": split}, context("RunReport"))
    failing = queued | {"report_id": "no-such-report"}
    aws.sqs.send_message(QueueUrl=source.queue_url, MessageBody=json.dumps(failing))
    failed = source.poll()
    assert failed is not None
    assert failed.failed, failed
    monkeypatch.setenv("SENDER_EMAIL", "unverified@elsewhere.example")
    redeploy()
    refused = load_event("run_report_inline.json") | {"scheduled_at": "2026-11-30T06:00:00Z", "today": "2026-11-30"}
    with pytest.raises(TimereportsError, match="SES refused"):
        run_report_app.lambda_handler(refused, context("RunReport"))


def drive_dispatch(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two dispatcher ticks: the first starts the schedules' cursors, the next queues the runs that fell due since."""
    for at in ("2026-11-23T05:50:00Z", "2026-11-23T06:05:00Z"):
        dispatch_app.lambda_handler(load_event("dispatch_scheduled.json") | {"at": at}, context("Dispatch"))


def drive_reports_api(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows (by phase), totals and a catalogue report's rows (each answer syncs the mirror first)."""
    rows = load_event("reports_api_rows.json")
    # By phase: the reference records (tasks, milestones) are read through the bucket's cache, not written yet
    by_phase = rows | {"body": json.dumps(json.loads(rows["body"]) | {"group_by": ["phase_name"]})}
    by_phase["headers"] = rows["headers"] | {"content-length": str(len(by_phase["body"]))}
    for event in (
        by_phase,
        *(load_event(name) for name in ("reports_api_totals.json", "reports_api_catalogue_rows.json")),
    ):
        reply = reports_api_app.lambda_handler(event, context("ReportsApi"))
        assert reply["statusCode"] == 200, reply


def drive_email_feedback(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bounce notice from SES through SNS."""
    email_feedback_app.lambda_handler(load_event("sns_ses_bounce.json"), context("EmailFeedback"))


DRIVERS = {
    "run_report": drive_run_report,
    "dispatch": drive_dispatch,
    "reports_api": drive_reports_api,
    "email_feedback": drive_email_feedback,
}
# What each driver must have exercised at least, so that a path that stopped calling AWS cannot pass unseen.
EXPECTED = {
    "run_report": {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "s3:PutObject",
        "s3:GetObject",
        "ses:SendRawEmail",
        "sqs:SendMessage",
        "sqs:ChangeMessageVisibility",
        "secretsmanager:GetSecretValue",
    },
    "dispatch": {"dynamodb:PutItem", "dynamodb:Query", "sqs:SendMessage"},
    "reports_api": {"dynamodb:UpdateItem", "s3:PutObject", "s3:GetObject", "secretsmanager:GetSecretValue"},
    "email_feedback": {"dynamodb:GetItem"},
}


@pytest.mark.parametrize("function", sorted(DRIVERS))
def test_every_aws_call_a_function_makes_is_granted_by_its_role(
    deployed: Any, monkeypatch: pytest.MonkeyPatch, function: str
) -> None:
    # Given the function deployed against moto, its token in Secrets Manager
    role = role_of(function)
    # When its paths run, every AWS call recorded as IAM's action and resource
    with recorded_aws_calls(monkeypatch) as calls:
        DRIVERS[function](deployed, monkeypatch)
    mine = [call for call in calls if call.function == function]
    # Then the drive exercised what the function does, and its role allows every one of those calls
    assert EXPECTED[function] <= {call.action for call in mine}, sorted({call.action for call in mine})
    assert ungranted(mine, role, names(deployed)) == []


def test_a_call_the_role_does_not_grant_is_reported(deployed: Any) -> None:
    # Given calls outside what RunReportRole allows: a delete in the archive's reports/, and a table it does not name
    known = names(deployed)
    bucket, table = deployed.settings.reports_bucket, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/someone-elses"
    outside = [
        AwsCall("run_report", "s3:DeleteObject", f"arn:aws:s3:::{bucket}/reports/r/x.csv"),
        AwsCall("run_report", "dynamodb:PutItem", table),
        AwsCall("run_report", "s3:PutObject", f"arn:aws:s3:::{bucket}/reports/r/x.csv"),
    ]
    # Then the check names the first two and not the third, which the role grants
    assert ungranted(outside, "RunReportRole", known) == outside[:2]
