"""Contract tests of what a real account needs from template.yaml (issue 13): alarms that fire for queued runs, roles
scoped to their own log group, Scheduler roles only this account can use, and SES feedback wired to the history.

They read the template the way tests/contract/test_template.py does (short-form tags kept) and check it against the
code: the metric the handler publishes, the configuration set the mailer is given, the grants the adapters need.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from functions.run_report import app as run_report_app
from tests.contract.test_template import Tag, as_list, functions, iam_statements, load_template, resources
from timereports.dal.run_history import DynamoDBRunHistory
from timereports.dal.run_queue import SqsRunQueue


@pytest.fixture
def template() -> dict[str, Any]:
    return load_template()


def role_of(template: dict[str, Any], function_name: str) -> str:
    """The logical id of the role a function runs as."""
    role = functions(template)[function_name]["Properties"]["Role"]
    assert isinstance(role, Tag)
    assert role.name == "GetAtt"
    return str(role.value).split(".", 1)[0]


def grants(template: dict[str, Any], role: str) -> dict[str, set[str]]:
    """The actions a role allows, each with the resources (as text) it allows them on."""
    allowed: dict[str, set[str]] = {}
    for where, statement in iam_statements(template):
        if where != role or statement.get("Effect") != "Allow" or "Principal" in statement:
            continue
        for action in as_list(statement["Action"]):
            allowed.setdefault(str(action), set()).update(str(resource) for resource in as_list(statement["Resource"]))
    return allowed


def test_every_function_writes_only_to_its_own_log_group(template: dict[str, Any]) -> None:
    # Given each function, its log group and its role
    for name, function in functions(template).items():
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert isinstance(log_group, Tag), name
        assert log_group.name == "Ref", name
        allowed = grants(template, role_of(template, name))
        # Then its role may create streams and put events in that log group (its Arn ends in ":*", the streams), and
        # no other logs action or resource is granted (SAM's basic execution role would allow them on "*")
        logs = {action: targets for action, targets in allowed.items() if action.startswith("logs:")}
        assert logs == {
            "logs:CreateLogStream": {str(Tag("GetAtt", f"{log_group.value}.Arn"))},
            "logs:PutLogEvents": {str(Tag("GetAtt", f"{log_group.value}.Arn"))},
        }, name


def test_scheduler_roles_can_only_be_assumed_for_this_account(template: dict[str, Any]) -> None:
    # Given every role a schedule uses
    schedule_roles = {
        str(event["Properties"]["RoleArn"].value).split(".", 1)[0]
        for function in functions(template).values()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "ScheduleV2"
    }
    assert schedule_roles == {"DispatchScheduleRole", "RunReportScheduleRole"}
    for role in schedule_roles:
        trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        # Then only EventBridge Scheduler may assume it, and only on behalf of this account (the confused deputy)
        assert len(trust) == 1
        assert trust[0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
        assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": Tag("Ref", "AWS::AccountId")}}
        # And it may invoke its target and dead-letter undelivered invokes, nothing else
        assert set(grants(template, role)) == {"lambda:InvokeFunction", "sqs:SendMessage"}


def test_a_failed_queued_run_raises_an_alarm(template: dict[str, Any]) -> None:
    # Given the alarm on RunsFailed and the environment Powertools Metrics publishes with
    alarm = template["Resources"]["RunsFailedAlarm"]["Properties"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    # Then it watches the metric run_report's handler emits, in its namespace and with its service dimension
    assert alarm["MetricName"] == "RunsFailed"
    assert alarm["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}]
    assert '"RunsFailed"' in inspect.getsource(run_report_app)
    # And it fires on the first failure, to the alarm topic
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [Tag("Ref", "AlarmTopic")]


def test_run_report_may_bring_a_failed_message_back_early(template: dict[str, Any]) -> None:
    # Given the adapter the handler's backoff uses / Then its SQS call is granted, on the run queue only
    assert "change_message_visibility" in inspect.getsource(SqsRunQueue.retry_after)
    allowed = grants(template, role_of(template, "RunReportFunction"))
    assert allowed["sqs:ChangeMessageVisibility"] == {str(Tag("GetAtt", "ReportRunQueue.Arn"))}


def test_report_emails_publish_bounces_and_complaints_to_the_feedback_function(template: dict[str, Any]) -> None:
    # Given the configuration set, its event destination, the topic and the feedback function
    body = template["Resources"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    destination = body["EmailFeedbackDestination"]["Properties"]
    # Then every send names the configuration set (the mailer reads SES_CONFIGURATION_SET)
    assert variables["SES_CONFIGURATION_SET"] == Tag("Ref", "EmailConfigurationSet")
    assert destination["ConfigurationSetName"] == Tag("Ref", "EmailConfigurationSet")
    # And bounces and complaints go to the feedback topic
    event_destination = destination["EventDestination"]
    assert event_destination["Enabled"] is True
    assert {"bounce", "complaint"} <= set(event_destination["MatchingEventTypes"])
    assert event_destination["SnsDestination"] == {"TopicARN": Tag("Ref", "EmailFeedbackTopic")}
    # And SES may publish there only for this account's configuration set
    (statement,) = body["EmailFeedbackTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ses.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": Tag("Ref", "AWS::AccountId")}
    assert "configuration-set/${EmailConfigurationSet}" in statement["Condition"]["ArnLike"]["aws:SourceArn"].value
    # And the feedback function is subscribed to the topic, and the owner may be
    events = functions(template)["EmailFeedbackFunction"]["Properties"]["Events"]
    assert [event["Properties"]["Topic"] for event in events.values() if event["Type"] == "SNS"] == [
        Tag("Ref", "EmailFeedbackTopic")
    ]
    owner = body["EmailFeedbackOwnerSubscription"]
    assert owner["Condition"] == "HasOwnerEmail"
    assert owner["Properties"]["Endpoint"] == Tag("Ref", "OwnerEmail")


def test_the_feedback_function_may_read_and_update_the_history_only(template: dict[str, Any]) -> None:
    # Given the calls DynamoDBRunHistory.add_feedback makes (its read through _item)
    source = inspect.getsource(DynamoDBRunHistory.add_feedback) + inspect.getsource(DynamoDBRunHistory._item)
    assert "get_item" in source
    assert "update_item" in source
    # Then the feedback function's role grants those two on the state table, and writes nothing else anywhere
    allowed = grants(template, role_of(template, "EmailFeedbackFunction"))
    assert allowed["dynamodb:GetItem"] == allowed["dynamodb:UpdateItem"] == {str(Tag("GetAtt", "StateTable.Arn"))}
    assert {action for action in allowed if action.startswith("dynamodb:")} == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    }


def test_every_async_function_keeps_its_failed_invokes(template: dict[str, Any]) -> None:
    # Given the functions invoked asynchronously (schedules, SNS) / Then a failed invoke lands on the schedule DLQ,
    # which their roles may send to
    for name, function in functions(template).items():
        if not function["Properties"].get("Events"):
            continue  # invoked synchronously only (the Reports API, behind its HTTP API)
        destination = function["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination == Tag("GetAtt", "ScheduleDeadLetterQueue.Arn"), name
        assert grants(template, role_of(template, name))["sqs:SendMessage"] >= {str(destination)}, name


def test_the_outputs_name_what_the_command_line_reads(template: dict[str, Any]) -> None:
    # Given the outputs `timereports --stack` reads (timereports_dev/stack.py) / Then the stack declares each one
    from timereports_dev.stack import OUTPUT_SETTINGS

    assert set(OUTPUT_SETTINGS) <= set(template["Outputs"])
    assert template["Outputs"]["Region"]["Value"] == Tag("Ref", "AWS::Region")
    assert resources(template, "AWS::SES::ConfigurationSet")


def test_the_command_line_takes_every_parameter_the_functions_run_with(template: dict[str, Any]) -> None:
    # Given the functions' variables that the template fills from a parameter (Globals)
    from timereports_dev.stack import OUTPUT_SETTINGS, PARAMETER_VARIABLES

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    from_parameters = {
        value.value: name
        for name, value in variables.items()
        if isinstance(value, Tag) and value.name == "Ref" and value.value in template["Parameters"]
    }
    # Then `--stack` reads each of them: as a parameter, or as an output naming the same thing
    by_output = {setting.upper() for setting in OUTPUT_SETTINGS.values()}
    assert {
        parameter: variable for parameter, variable in from_parameters.items() if variable not in by_output
    } == PARAMETER_VARIABLES


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("{}", True),
        ('{"acme": {"token_secret": "timereports/acme-token", "daily_quota": 12000}}', True),
        ('{"acme": {"api_token": "Secret11"}}', False),  # a token would show in DescribeStacks and samconfig.toml
        ("{ }", False),  # none is exactly {}: HasExtraAccounts compares with it
        ("none", False),
        ("[]", False),
    ],
)
def test_the_extra_accounts_parameter_takes_secret_names_never_a_token(
    template: dict[str, Any], value: str, accepted: bool
) -> None:
    # Given the parameter's pattern, which CloudFormation checks before anything is created (Java's regex syntax,
    # of which the pattern uses only what Python's shares)
    pattern = template["Parameters"]["IntervalsAccounts"]["AllowedPattern"]
    assert "NoEcho" not in template["Parameters"]["IntervalsAccounts"]
    # Then a value is accepted or refused as a deployer would expect
    assert (re.fullmatch(pattern, value) is not None) is accepted


def test_roles_grant_x_ray_only_when_the_stack_traces(template: dict[str, Any]) -> None:
    # Given every statement list of the template's roles
    for name, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                conditional = isinstance(statement, Tag) and statement.name == "If"
                granted = statement.value[1] if conditional else statement
                # Then a statement with X-Ray actions is one granted under TracingOn (the parameter Tracing)
                if any(str(action).startswith("xray:") for action in as_list(granted["Action"])):
                    assert conditional, f"{name}: X-Ray granted whether or not the stack traces"
                    assert statement.value[0] == "TracingOn", name
                    assert statement.value[2] == Tag("Ref", "AWS::NoValue"), name
