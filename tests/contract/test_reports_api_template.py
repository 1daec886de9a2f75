"""Contract tests of the Reports API's part of template.yaml: who may call it, what its function may do.

The HTTP API's routes and authorisation are written out in its DefinitionBody (SAM cannot switch an HttpApi's
authoriser with a parameter), so these tests read that body under each value of ReportsApiAuth, as CloudFormation
would resolve it, and check SAM's translation keeps it; the function's role is checked against what the API reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.contract.test_template import (
    Tag,
    as_list,
    iam_statements,
    load_template,
    referenced_names,
    sam_translated,
)

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method"}
# Everything the Reports API's code calls: the quota ledger and the mirror's manifest (DynamoDB; an answer syncs the
# mirror and publishes its manifest), the entry mirror's objects (S3), the Intervals token (Secrets Manager). It sends
# no mail, queues nothing, writes no report.
REPORTS_API_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",  # only so that S3 answers a missing key 404, not 403 (the statement's comment)
    "secretsmanager:GetSecretValue",
}


@pytest.fixture
def template() -> dict[str, Any]:
    return load_template()


def resolve_conditions(node: Any, conditions: dict[str, bool]) -> Any:
    """`node` with every `!If` replaced by its chosen branch and `AWS::NoValue` dropped, as CloudFormation does."""
    if isinstance(node, Tag) and node.name == "If":
        name, when_true, when_false = node.value
        return resolve_conditions(when_true if conditions[name] else when_false, conditions)
    if isinstance(node, dict):
        resolved = {key: resolve_conditions(value, conditions) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value != Tag("Ref", "AWS::NoValue")}
    if isinstance(node, list):
        return [resolve_conditions(item, conditions) for item in node if item != Tag("Ref", "AWS::NoValue")]
    return node


def operations(body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in body["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_the_auth_mode_is_a_parameter_with_iam_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ReportsApiAuth"]
    assert parameter["Default"] == "IAM"
    assert parameter["AllowedValues"] == ["IAM", "JWT"]
    assert template["Conditions"]["ReportsApiUsesJwt"] == Tag("Equals", [Tag("Ref", "ReportsApiAuth"), "JWT"])
    # And a JWT deployment without an issuer or an audience is refused before anything is created
    rule = template["Rules"]["ReportsApiJwtNeedsAnIssuer"]
    assert rule["RuleCondition"] == Tag("Equals", [Tag("Ref", "ReportsApiAuth"), "JWT"])
    assert {"ReportsApiJwtIssuer", "ReportsApiJwtAudience"} <= {
        name for _, name in referenced_names(rule["Assertions"])
    }


@pytest.mark.parametrize("uses_jwt", [False, True], ids=["iam", "jwt"])
def test_every_route_is_authorised_and_goes_to_the_function(template: dict[str, Any], uses_jwt: bool) -> None:
    # Given the API's definition as CloudFormation resolves it for one auth mode
    body = resolve_conditions(
        template["Resources"]["ReportsHttpApi"]["Properties"]["DefinitionBody"], {"ReportsApiUsesJwt": uses_jwt}
    )
    schemes = body["components"]["securitySchemes"]
    found = operations(body)
    assert found, "the API has no route"
    for path, method, operation in found:
        # Then each operation requires exactly the mode's authoriser (no route is open)
        assert path.startswith("/api/v1/"), path
        security = operation.get("security")
        assert security, f"{method} {path} is open"
        assert all(security), f"{method} {path} has an empty (open) security requirement"
        (requirement,) = security
        (scheme_name,) = requirement
        scheme = schemes[scheme_name]
        if uses_jwt:
            assert scheme["type"] == "oauth2"
            authorizer = scheme["x-amazon-apigateway-authorizer"]
            assert authorizer["type"] == "jwt"
            assert authorizer["identitySource"] == "$request.header.Authorization"
            assert authorizer["jwtConfiguration"] == {
                "issuer": Tag("Ref", "ReportsApiJwtIssuer"),
                "audience": Tag("Ref", "ReportsApiJwtAudience"),
            }
        else:
            assert scheme == {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "awsSigv4",
            }
            assert "JwtAuthorizer" not in schemes, "an IAM deployment creates no JWT authoriser"
        # And it is a payload 2.0 proxy to the reports_api function
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert integration["payloadFormatVersion"] == "2.0"
        assert "${ReportsApiFunction.Arn}" in integration["uri"].value


def test_the_stage_is_throttled_and_access_logged(template: dict[str, Any]) -> None:
    properties = template["Resources"]["ReportsHttpApi"]["Properties"]
    assert properties["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": Tag("Ref", "ReportsApiRateLimit"),
        "ThrottlingBurstLimit": Tag("Ref", "ReportsApiBurstLimit"),
    }
    assert properties["AccessLogSettings"]["DestinationArn"] == Tag("GetAtt", "ReportsApiAccessLogGroup.Arn")
    access_log = json.loads(properties["AccessLogSettings"]["Format"])
    assert {"requestId", "status", "iamCaller"} <= set(access_log)
    assert not any("header" in value.lower() or "body" in value.lower() for value in access_log.values())


def test_only_this_api_may_invoke_the_function(template: dict[str, Any]) -> None:
    permissions = {
        name: body["Properties"]
        for name, body in template["Resources"].items()
        if body["Type"] == "AWS::Lambda::Permission"
        and body["Properties"]["FunctionName"] == Tag("Ref", "ReportsApiFunction")
    }
    (permission,) = permissions.values()
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    assert ":${ReportsHttpApi}/" in permission["SourceArn"].value


def test_the_function_reads_the_ledger_mirror_and_token_and_nothing_else(template: dict[str, Any]) -> None:
    # Given the statements of the function's own role, less its logs and (opt-in) X-Ray grants
    statements = [
        statement
        for where, statement in iam_statements(template)
        if where == "ReportsApiRole"
        and statement.get("Sid") not in ("WriteOwnLogs", "Tracing")
        and "Principal" not in statement
    ]
    actions = {action for statement in statements for action in as_list(statement["Action"])}
    # Then it has exactly what its code calls: no SES, no SQS, no report writes
    assert actions == REPORTS_API_ACTIONS
    by_sid = {statement["Sid"]: statement for statement in statements}
    assert by_sid["QuotaLedgerAndMirrorManifest"]["Resource"] == Tag("GetAtt", "StateTable.Arn")
    assert by_sid["ReadEntryMirror"]["Resource"] == Tag("Sub", "${ReportsBucket.Arn}/mirror/*")
    assert by_sid["TellMissingMirrorObjects"]["Resource"] == Tag("GetAtt", "ReportsBucket.Arn")
    secrets = [resource.value for resource in by_sid["ReadIntervalsToken"]["Resource"]]
    assert any("secret:${IntervalsTokenSecretName}-??????" in secret for secret in secrets)


def test_the_url_is_a_stack_output(template: dict[str, Any]) -> None:
    output = template["Outputs"]["ReportsApiUrl"]
    assert output["Value"].value == "https://${ReportsHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"


def test_sam_keeps_the_routes_authorised(tmp_path: Path) -> None:
    # Given SAM's own translation of the template (with the default parameters)
    resources = sam_translated(tmp_path)["Resources"]
    # Then the HTTP API it creates has our routes with their security, and a default stage with the throttle
    api = resources["ReportsHttpApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    for path, method, operation in operations(api["Properties"]["Body"]):
        assert "Fn::If" in operation["security"], f"{method} {path}: SAM dropped the route's security"
    stages = [body for body in resources.values() if body["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert [stage["Properties"]["ApiId"] for stage in stages] == [{"Ref": "ReportsHttpApi"}]
    assert stages[0]["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ReportsApiRateLimit"}
