"""Contract tests of template.yaml: what cfn-lint and `sam validate` cannot know.

cfn-lint checks the template against CloudFormation's schema. It does not know our settings, our handlers, our
table layout or our event models, and it misses an unknown runtime, a bad schedule time zone and a `!Ref` to a
missing resource inside `Globals` or a SAM policy template. These tests parse the template (keeping the short-form
`!Ref`/`!GetAtt`/`!Sub` tags) and check those things against the code.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
import yaml
from timereports_dev import local_aws

from timereports.config import Settings
from timereports.models.catalogue import parse_definition
from timereports.models.events import DirectRunEvent, DispatchEvent, RevisionCheckEvent

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

# Names CloudFormation resolves itself; a `!Ref` to them needs no declaration.
PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)
# The only actions we allow on Resource "*": AWS offers no narrower resource for them.
ACTIONS_WITHOUT_RESOURCE_LEVEL = frozenset(
    {
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
)
# Managed policies we accept on a role: none. SAM's generated function roles would carry AWSLambdaBasicExecutionRole
# (logs actions on every log group) and AWSXrayWriteOnlyAccess; our roles grant their own log group and X-Ray's Put*.
MANAGED_POLICIES_ALLOWED: frozenset[str] = frozenset()
# What each function's scheduled Input must parse as (the model its handler parses a direct invoke with).
DIRECT_EVENT_MODELS = {"RunReportFunction": DirectRunEvent, "DispatchFunction": DispatchEvent}
SAMPLE_SCHEDULED_TIME = "2026-11-23T06:00:00Z"
_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


# --- reading the template --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    """One short-form intrinsic (`!Ref X`, `!GetAtt A.B`, `!Sub ...`): its name without `!` and its argument."""

    name: str
    value: Any


class TemplateLoader(yaml.SafeLoader):
    """A SafeLoader that keeps every `!Tag` as a `Tag` instead of refusing it."""


def _construct_tag(loader: TemplateLoader, suffix: str, node: yaml.Node) -> Tag:
    if isinstance(node, yaml.ScalarNode):
        return Tag(suffix, loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return Tag(suffix, loader.construct_sequence(node, deep=True))
    assert isinstance(node, yaml.MappingNode)
    return Tag(suffix, loader.construct_mapping(node, deep=True))


TemplateLoader.add_multi_constructor("!", _construct_tag)


def parse_template(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template written with short-form tags."""
    document = yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    assert isinstance(document, dict), "a template is a mapping"
    return document


@lru_cache(maxsize=1)
def load_template() -> dict[str, Any]:
    """The repository's template.yaml, parsed once."""
    return parse_template(TEMPLATE_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def template() -> dict[str, Any]:
    return load_template()


def walk(node: Any) -> Iterator[Any]:
    """Every node under `node`, depth first, tags and their arguments included."""
    yield node
    if isinstance(node, Tag):
        yield from walk(node.value)
    elif isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def referenced_names(node: Any) -> Iterator[tuple[str, str]]:
    """(intrinsic, logical name) of every `Ref`, `GetAtt` and `Sub` variable under `node`.

    A `Sub`'s own variable map is local to it: those names are not references.
    """
    for item in walk(node):
        if not isinstance(item, Tag):
            continue
        if item.name == "Ref":
            yield "Ref", str(item.value)
        elif item.name == "GetAtt":
            target = item.value[0] if isinstance(item.value, list) else str(item.value).split(".", 1)[0]
            yield "GetAtt", str(target)
        elif item.name == "Sub":
            text, local = (item.value[0], item.value[1]) if isinstance(item.value, list) else (item.value, {})
            for variable in _SUB_VARIABLE.findall(str(text)):
                if variable.split(".", 1)[0] not in local:
                    yield "Sub", variable.split(".", 1)[0]


def unresolved_references(template: dict[str, Any]) -> list[str]:
    """Every `Ref`/`GetAtt`/`Sub` name and resource `Condition` that the template does not declare."""
    declared = set(template.get("Parameters", {})) | set(template["Resources"]) | PSEUDO_PARAMETERS
    conditions = set(template.get("Conditions", {}))
    problems = []
    for section in ("Globals", "Resources", "Outputs", "Conditions"):
        for intrinsic, name in referenced_names(template.get(section, {})):
            # A !GetAtt only names resources; a !Ref or ${} may also name a parameter.
            known = set(template["Resources"]) if intrinsic == "GetAtt" else declared
            if name not in known:
                problems.append(f"{section}: !{intrinsic} {name}")
        for item in walk(template.get(section, {})):
            if isinstance(item, Tag) and item.name in {"If", "Condition"}:
                name = item.value[0] if isinstance(item.value, list) else item.value
                if name not in conditions:
                    problems.append(f"{section}: condition {name}")
    for logical_id, body in template["Resources"].items():
        if "Condition" in body and body["Condition"] not in conditions:
            problems.append(f"Resources: {logical_id} has unknown Condition {body['Condition']}")
    return problems


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {name: body for name, body in template["Resources"].items() if body["Type"] == resource_type}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The SAM functions, by logical id."""
    return resources(template, "AWS::Serverless::Function")


def function_property(template: dict[str, Any], function: dict[str, Any], name: str) -> Any:
    """A function property as SAM deploys it: the function's own value, else the one in `Globals: Function`."""
    own = function.get("Properties", {})
    return own[name] if name in own else template.get("Globals", {}).get("Function", {}).get(name)


def function_environment(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """A function's environment variables: Globals merged with its own, its own winning."""
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = function.get("Properties", {}).get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def schedules(template: dict[str, Any]) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    """(name, target function or None, properties) of every EventBridge Scheduler schedule in the template."""
    for name, function in functions(template).items():
        for event_name, event in function["Properties"].get("Events", {}).items():
            if event["Type"] == "ScheduleV2":
                yield f"{name}.{event_name}", name, event["Properties"]
    for name, body in template["Resources"].items():
        if body["Type"] == "AWS::Scheduler::Schedule":
            yield name, None, body["Properties"]


def iam_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every IAM statement: function policies, roles, policies and bucket/queue policies."""
    for logical_id, body in template["Resources"].items():
        for item in walk(body.get("Properties", {})):
            if isinstance(item, dict) and isinstance(item.get("Statement"), list):
                for statement in item["Statement"]:
                    # A statement granted under a condition (`!If [Cond, statement, !Ref AWS::NoValue]`): its branches.
                    branches = (
                        statement.value[1:] if isinstance(statement, Tag) and statement.name == "If" else [statement]
                    )
                    for branch in branches:
                        if isinstance(branch, dict):
                            yield logical_id, branch


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_violations(statement: dict[str, Any], metrics_namespace: str) -> list[str]:
    """Why an Allow statement is broader than least privilege (empty when it is fine).

    No wildcard action ever; Resource "*" only for actions that have no resource-level permissions, and
    PutMetricData then only into our own namespace.
    """
    if statement.get("Effect") != "Allow":
        return []
    actions = [str(action) for action in as_list(statement.get("Action", []))]
    problems = [f"wildcard action {action}" for action in actions if "*" in action]
    if "NotAction" in statement or "NotResource" in statement:
        problems.append("NotAction/NotResource grants everything else")
    if "*" in as_list(statement.get("Resource", [])):
        problems += [f"{action} on Resource '*'" for action in actions if action not in ACTIONS_WITHOUT_RESOURCE_LEVEL]
        if "cloudwatch:PutMetricData" in actions:
            namespace = statement.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
            if namespace != metrics_namespace:
                problems.append(f"PutMetricData not limited to namespace {metrics_namespace}")
    return problems


def scheduled_input(properties: dict[str, Any]) -> Any:
    """A schedule's Input as the target receives it, with sample values for parameters and Scheduler placeholders."""
    raw = properties["Input"]
    if isinstance(raw, Tag):
        assert raw.name == "Sub", f"Input: expected a string or !Sub, got !{raw.name}"
        text, local = (raw.value[0], raw.value[1]) if isinstance(raw.value, list) else (raw.value, {})
        raw = _SUB_VARIABLE.sub(lambda match: "ops@example.com" if match.group(1) in local else "x", text)
    return json.loads(raw.replace("<aws.scheduler.scheduled-time>", SAMPLE_SCHEDULED_TIME))


# --- the checkers can fail -------------------------------------------------------------------------------------


def test_reference_check_finds_a_missing_target_in_globals_and_a_policy_template() -> None:
    # Given a template whose Globals and a SAM policy template name resources that do not exist
    template = parse_template(
        """
        Globals:
          Function:
            Environment: {Variables: {STATE_TABLE: !Ref NoSuchTable}}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Policies: [{SQSPollerPolicy: {QueueName: !GetAtt NoSuchQueue.QueueName}}]
              Description: !Sub "${AWS::StackName} ${Fn.Arn} ${Local}"
        """.replace("\n        ", "\n")
    )
    # When the references are resolved
    problems = unresolved_references(template)
    # Then both missing targets are reported, and pseudo parameters and the function itself are not
    assert problems == ["Globals: !Ref NoSuchTable", "Resources: !GetAtt NoSuchQueue", "Resources: !Sub Local"]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}, ["wildcard action s3:*"]),
        ({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}, ["s3:GetObject on Resource '*'"]),
        (
            {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
            ["PutMetricData not limited to namespace Timereports"],
        ),
        ({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}, []),
    ],
)
def test_least_privilege_check_flags_broad_statements(statement: dict[str, Any], expected: list[str]) -> None:
    # Given an IAM statement / When it is checked / Then exactly its excess is reported
    assert iam_violations(statement, "Timereports") == expected


# --- the template --------------------------------------------------------------------------------------------


def test_every_reference_resolves(template: dict[str, Any]) -> None:
    # Given the template / When every Ref, GetAtt, Sub variable and Condition is resolved / Then none is missing
    assert unresolved_references(template) == []


def test_every_function_runs_python_3_13_or_newer_on_arm64(template: dict[str, Any]) -> None:
    # Given the functions / When their effective runtime and architecture are read / Then python3.13+ on Graviton
    for name, function in functions(template).items():
        runtime = function_property(template, function, "Runtime")
        match = re.fullmatch(r"python3\.(\d+)", str(runtime))
        assert match is not None, f"{name}: runtime {runtime!r} is not a python3.N runtime"
        assert int(match.group(1)) >= 13, f"{name}: {runtime} is older than python3.13"
        assert function_property(template, function, "Architectures") == ["arm64"], name


def test_the_layer_is_built_for_the_functions_runtime(template: dict[str, Any]) -> None:
    # Given the layer / Then it targets what the functions run on and is built by the makefile method (no Docker)
    layer = template["Resources"]["TimereportsLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == [template["Globals"]["Function"]["Runtime"]]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    for name, function in functions(template).items():
        assert function_property(template, function, "Layers") == [Tag("Ref", "TimereportsLayer")], name
        assert function["Metadata"]["BuildMethod"] == "makefile", name


@pytest.mark.parametrize(
    "function_name", ["RunReportFunction", "DispatchFunction", "ReportsApiFunction", "EmailFeedbackFunction"]
)
def test_every_handler_imports(template: dict[str, Any], function_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a function's CodeUri and Handler
    function = functions(template)[function_name]
    code_uri = Path(function["Properties"]["CodeUri"])
    module_file, attribute = str(function_property(template, function, "Handler")).rsplit(".", 1)
    source = REPO_ROOT / code_uri / f"{module_file}.py"
    assert (REPO_ROOT / code_uri / "Makefile").is_file(), f"{code_uri}: no Makefile for BuildMethod makefile"
    if not source.is_file():
        pytest.skip(f"{source.relative_to(REPO_ROOT)} is not written yet")
    # When the module is imported as the tests import it (functions.<name>.app)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    module = importlib.import_module(".".join([*code_uri.parts, module_file]))
    # Then the handler is a callable of (event, context)
    handler = getattr(module, attribute, None)
    assert callable(handler), f"{module.__name__}.{attribute} is not a function"


# Variables the template sets for a library rather than for Settings (Powertools' are recognised by their prefix).
LIBRARY_SETTINGS = frozenset({"PYDANTIC_DISABLE_PLUGINS"})


def test_environment_variables_are_settings_fields(template: dict[str, Any]) -> None:
    # Given what the template sets / When compared with timereports.config.Settings / Then each one is read by it
    fields = {name.upper() for name in Settings.model_fields}
    for name, function in functions(template).items():
        unknown = {
            variable
            for variable in function_environment(template, function)
            if variable not in fields and not variable.startswith("POWERTOOLS_") and variable not in LIBRARY_SETTINGS
        }
        assert not unknown, f"{name}: {sorted(unknown)} are not Settings fields (typo, or a setting to add?)"


def test_settings_parse_the_templates_environment(template: dict[str, Any]) -> None:
    # Given the environment with sample values for the parameters' defaults / When Settings reads it / Then it is valid
    parameters = template["Parameters"]
    for function in functions(template).values():
        environ = {}
        for variable, value in function_environment(template, function).items():
            if isinstance(value, Tag) and value.name == "Ref" and value.value in parameters:
                value = str(parameters[value.value].get("Default", "reports@example.com"))
            if isinstance(value, Tag) and value.name == "If":
                value = value.value[2]  # the value when the condition is false (the parameter's default)
            environ[variable] = value if isinstance(value, str) else "x"
        settings = Settings.from_environ(environ)
        assert settings.intervals_daily_quota == parameters["DailyQuota"]["Default"]
        assert settings.intervals_requests_per_minute == parameters["RequestsPerMinute"]["Default"]
        assert settings.intervals_page_size == parameters["PageSize"]["Default"]


def test_schedule_time_zones_are_iana_names(template: dict[str, Any]) -> None:
    # Given every Scheduler schedule / Then its time zone is one zoneinfo knows (Scheduler rejects others at deploy)
    names = available_timezones()
    found = list(schedules(template))
    assert found, "the template has no schedule"
    parameters = template["Parameters"]
    for name, _, properties in found:
        zone = properties.get("ScheduleExpressionTimezone", "UTC")
        if isinstance(zone, Tag) and zone.name == "Ref":  # a parameter: its default, and AllowedPattern if any
            zone = parameters[zone.value]["Default"]
        assert zone in names, f"{name}: {zone!r} is not an IANA time zone"
        ZoneInfo(zone)
        expression = properties["ScheduleExpression"]
        if isinstance(expression, Tag) and expression.name == "Sub":
            expression = _SUB_VARIABLE.sub(lambda match: str(parameters[match.group(1)]["Default"]), expression.value)
        assert re.fullmatch(r"rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\((\S+ ){5}\S+\)", expression)


def test_scheduled_inputs_are_events_the_handlers_accept(template: dict[str, Any]) -> None:
    # Given each schedule's Input, with Scheduler's scheduled-time placeholder filled in
    for name, target, properties in schedules(template):
        assert target in DIRECT_EVENT_MODELS, f"{name}: no event model known for {target}"
        payload = scheduled_input(properties)
        # When the target's handler model parses it / Then it is accepted, an inline definition included
        model = (
            RevisionCheckEvent if target == "RunReportFunction" and "check" in payload else DIRECT_EVENT_MODELS[target]
        )
        event = model.model_validate(payload)
        assert str(getattr(event, "scheduled_at", None) or getattr(event, "at", None)) != "None", name
        if isinstance(event, DirectRunEvent) and event.definition is not None:
            parse_definition(event.definition)
        assert properties.get("RetryPolicy"), f"{name}: no retry policy"
        assert properties.get("DeadLetterConfig"), f"{name}: no dead-letter queue"


def test_no_iam_statement_is_broader_than_needed(template: dict[str, Any]) -> None:
    # Given every IAM statement of the template / Then none has a wildcard action or an avoidable "*" resource
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    statements = list(iam_statements(template))
    assert statements
    problems = [f"{where}: {problem}" for where, st in statements for problem in iam_violations(st, namespace)]
    assert problems == []


def test_function_policies_are_inline_statements(template: dict[str, Any]) -> None:
    # Given each function / Then it runs as a role of the template, whose inline statements the IAM test above can
    # read: SAM policy templates and managed policies expand to grants it cannot see (SQSSendMessagePolicy's wildcard
    # sqs:SendMessage*, AWSLambdaSQSQueueExecutionRole's DeleteMessage on every queue, AWSLambdaBasicExecutionRole's
    # logs on every log group).
    for name, function in functions(template).items():
        assert "Policies" not in function["Properties"], f"{name}: Policies make SAM generate a role"
        role = function["Properties"]["Role"]
        assert isinstance(role, Tag), f"{name}: Role is not a role of the template"
        assert role.name == "GetAtt", f"{name}: Role is not a role of the template"
        role_body = template["Resources"][str(role.value).split(".", 1)[0]]
        assert role_body["Type"] == "AWS::IAM::Role", name
        assert not role_body["Properties"].get("ManagedPolicyArns"), f"{name}: managed policies on its role"
        events = function["Properties"].get("Events", {}).values()
        assert "SQS" not in {event["Type"] for event in events}, f"{name}: SQS event attaches a managed policy"


def test_secret_and_sender_grants_follow_the_parameters(template: dict[str, Any]) -> None:
    # Given the run_report policy / Then the token secret and the SES identities come from the parameters
    statements = {st.get("Sid"): st for where, st in iam_statements(template) if where == "RunReportRole"}
    secret = statements["ReadIntervalsToken"]
    assert secret["Action"] == "secretsmanager:GetSecretValue"
    default_secret, extra_accounts = secret["Resource"]
    assert "secret:${IntervalsTokenSecretName}-" in default_secret.value
    # The extra accounts' prefix only when the stack has extra accounts (IntervalsAccounts is not "{}")
    condition, prefixed, otherwise = extra_accounts.value
    assert (condition, otherwise) == ("HasExtraAccounts", Tag("Ref", "AWS::NoValue"))
    assert prefixed.value.endswith("secret:${AccountTokenSecretPrefix}*")
    assert template["Conditions"]["HasExtraAccounts"] == Tag(
        "Not", [Tag("Equals", [Tag("Ref", "IntervalsAccounts"), "{}"])]
    )
    ses = statements["SendAsSender"]
    assert "ses:SendRawEmail" in ses["Action"]
    # Every identity of the account and region (the SES sandbox checks recipients' identities too) and the stack's
    # configuration set, but only ever as the configured sender
    identities, configuration_set = (resource.value for resource in ses["Resource"])
    assert identities.endswith(":identity/*")
    assert configuration_set.endswith(":configuration-set/${EmailConfigurationSet}")
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": Tag("Ref", "SenderEmail")}}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["INTERVALS_TOKEN_SECRET"] == Tag("Ref", "IntervalsTokenSecretName")


def test_the_bucket_is_private_encrypted_and_denies_insecure_transport(template: dict[str, Any]) -> None:
    # Given the reports bucket and its policy
    bucket = template["Resources"]["ReportsBucket"]["Properties"]
    policy = template["Resources"]["ReportsBucketPolicy"]["Properties"]
    # Then public access is blocked, ACLs are off, objects are encrypted and versioned and expire
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rule = bucket["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == Tag("Ref", "ReportRetentionDays")
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    # And plain HTTP is denied to everyone, on the bucket and its objects
    assert policy["Bucket"] == Tag("Ref", "ReportsBucket")
    denials = [
        st
        for st in policy["PolicyDocument"]["Statement"]
        if st["Effect"] == "Deny" and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(denials) == 1
    assert denials[0]["Principal"] == "*"
    assert denials[0]["Action"] in ("s3:*", ["s3:*"])
    assert {str(resource) for resource in denials[0]["Resource"]} == {
        str(Tag("GetAtt", "ReportsBucket.Arn")),
        str(Tag("Sub", "${ReportsBucket.Arn}/*")),
    }


def test_the_state_table_matches_local_aws(template: dict[str, Any]) -> None:
    # Given the template's table and the constants local AWS (moto) creates its table from
    table = template["Resources"]["StateTable"]["Properties"]
    # Then keys, attributes, billing and TTL are the same, so tests exercise the deployed shape
    assert table["KeySchema"] == local_aws.STATE_TABLE_KEY_SCHEMA
    by_name = sorted(table["AttributeDefinitions"], key=lambda attribute: attribute["AttributeName"])
    assert by_name == sorted(local_aws.STATE_TABLE_ATTRIBUTES, key=lambda attribute: attribute["AttributeName"])
    assert table["BillingMode"] == local_aws.STATE_TABLE_BILLING_MODE
    assert table["TimeToLiveSpecification"] == {"AttributeName": local_aws.STATE_TABLE_TTL_ATTRIBUTE, "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_run_queue_matches_local_aws_and_outlasts_a_run(template: dict[str, Any]) -> None:
    # Given the run queue, its dead-letter queue and the consumer
    resources = template["Resources"]
    queue = resources["ReportRunQueue"]["Properties"]
    dead_letters = resources["ReportRunDeadLetterQueue"]["Properties"]
    timeout = resources["RunReportFunction"]["Properties"]["Timeout"]
    # Then failed runs move to the DLQ after as many receives as locally, and are kept as long
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": Tag("GetAtt", "ReportRunDeadLetterQueue.Arn"),
        "maxReceiveCount": local_aws.RUN_QUEUE_MAX_RECEIVE_COUNT,
    }
    assert dead_letters["MessageRetentionPeriod"] == local_aws.DEAD_LETTER_RETENTION_SECONDS
    # And a message is never redelivered while a run may still be working on it (Lambda advises 6x the timeout)
    assert queue["VisibilityTimeout"] == 6 * timeout
    assert timeout <= local_aws.RUN_QUEUE_VISIBILITY_TIMEOUT_SECONDS
    for body in (queue, dead_letters, resources["ScheduleDeadLetterQueue"]["Properties"]):
        assert body["SqsManagedSseEnabled"] is True


def test_the_queue_feeds_run_report_one_message_at_a_time(template: dict[str, Any]) -> None:
    # Given the SQS event source / Then partial failures are reported and at most two runs share the API's pace
    mappings = resources(template, "AWS::Lambda::EventSourceMapping")
    assert list(mappings) == ["ReportRunQueueMapping"]
    properties = mappings["ReportRunQueueMapping"]["Properties"]
    assert properties["EventSourceArn"] == Tag("GetAtt", "ReportRunQueue.Arn")
    assert properties["FunctionName"] == Tag("Ref", "RunReportFunction")
    assert properties["BatchSize"] == 1
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"]["MaximumConcurrency"] == 2


def test_dead_letter_queues_raise_alarms(template: dict[str, Any]) -> None:
    # Given the alarms / Then every dead-letter queue has one that fires on its first message, to the alarm topic
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"].value.split(".")[0]
        for alarm in template["Resources"].values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        and alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["Threshold"] == 0
        and alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
        and alarm["Properties"]["AlarmActions"] == [Tag("Ref", "AlarmTopic")]
    }
    assert watched == {"ReportRunDeadLetterQueue", "ScheduleDeadLetterQueue"}
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"


def test_outputs_name_what_an_operator_needs(template: dict[str, Any]) -> None:
    # Given the outputs / Then the bucket, table, queues, functions and layer are all there
    targets = {name for output in template["Outputs"].values() for _, name in referenced_names(output["Value"])}
    assert targets >= {
        "ReportsBucket",
        "StateTable",
        "ReportRunQueue",
        "ReportRunDeadLetterQueue",
        "RunReportFunction",
        "DispatchFunction",
        "TimereportsLayer",
    }


# What SAM expands the template into: its policy templates and event sources add roles and statements of their own.
_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class ManagedPolicies:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1], encoding="utf-8").read())
for body in template["Resources"].values():
    for key in ("CodeUri", "ContentUri"):
        if key in body.get("Properties", {}):
            body["Properties"][key] = "s3://bucket/key"  # local paths are for `sam build` only
json.dump(transform(template, {}, ManagedPolicies()), sys.stdout)
"""


def sam_translated(tmp_path: Path) -> dict[str, Any]:
    """SAM's own translation of the template with its default parameters (the tools venv has the translator; the app
    venv must not); skips where the tools venv is not installed."""
    tools_python = REPO_ROOT / ".venv-tools" / "bin" / "python"
    if not tools_python.is_file():
        pytest.skip("no .venv-tools: run `make tools`")
    script = tmp_path / "translate.py"
    script.write_text(_TRANSLATE, encoding="utf-8")
    environment = {"AWS_DEFAULT_REGION": "eu-west-1", "SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin"}
    command = [str(tools_python), str(script), str(TEMPLATE_PATH)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    translated: dict[str, Any] = json.loads(result.stdout)
    return translated


def test_the_template_sam_deploys_is_least_privilege(tmp_path: Path) -> None:
    # Given SAM's own translation of the template (the tools venv has the translator; the app venv must not)
    translated = sam_translated(tmp_path)
    # When every role SAM generates is read
    roles = {name: body for name, body in translated["Resources"].items() if body["Type"] == "AWS::IAM::Role"}
    assert roles
    problems = []
    for name, role in roles.items():
        # Then the only managed policies are the logging and X-Ray ones every function needs
        managed = {str(arn).rsplit("/", 1)[-1] for arn in role["Properties"].get("ManagedPolicyArns") or []}
        problems += [f"{name}: managed {policy}" for policy in managed - MANAGED_POLICIES_ALLOWED]
        # And no generated statement is broader than the ones we wrote
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                problems += [f"{name}: {problem}" for problem in iam_violations(statement, "Timereports")]
    assert problems == []


# Every boto3 call the entry mirror makes, by function (dal/mirror_store.py, dal/run_queue.py `send_sync`).
MIRROR_CALLS = {
    "RunReportRole": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "dynamodb:GetItem", "dynamodb:PutItem"},
    "ReportsApiRole": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "dynamodb:GetItem", "dynamodb:PutItem"},
}


@pytest.mark.parametrize("function_name", sorted(MIRROR_CALLS))
def test_the_entry_mirror_calls_are_granted_on_the_mirror_prefix_only(
    template: dict[str, Any], function_name: str
) -> None:
    # Given the function's inline statements / Then each call of the mirror is allowed, S3 ones only under mirror/
    statements = [statement for where, statement in iam_statements(template) if where == function_name]
    granted = {action for statement in statements for action in as_list(statement["Action"])}
    assert MIRROR_CALLS[function_name] <= granted
    mirror_writes = [
        statement
        for statement in statements
        if "s3:DeleteObject" in as_list(statement["Action"]) or "s3:PutObject" in as_list(statement["Action"])
    ]
    resources_written = {
        str(getattr(statement["Resource"], "value", statement["Resource"])) for statement in mirror_writes
    }
    assert "${ReportsBucket.Arn}/mirror/*" in resources_written
    assert all("mirror/*" in resource or "reports/*" in resource for resource in resources_written)


def test_run_report_may_queue_month_sync_jobs_on_its_own_queue_only(template: dict[str, Any]) -> None:
    statements = [statement for where, statement in iam_statements(template) if where == "RunReportRole"]
    sending = {
        str(statement["Resource"].value)
        for statement in statements
        if "sqs:SendMessage" in as_list(statement["Action"]) and isinstance(statement["Resource"], Tag)
    }
    # Its own run queue (month sync jobs) and the direct invokes' dead-letter queue, nothing else
    assert sending == {"ReportRunQueue.Arn", "ScheduleDeadLetterQueue.Arn"}


def test_the_mirror_prefix_expires_after_its_configurable_retention(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ReportsBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    mirror = rules["ExpireEntryMirror"]
    assert mirror["Status"] == "Enabled"
    assert mirror["Prefix"] == "mirror/"
    assert mirror["ExpirationInDays"] == Tag("Ref", "MirrorRetentionDays")
    assert template["Parameters"]["MirrorRetentionDays"]["Type"] == "Number"
