"""A deployed stack, as the command line finds it: the names of its table, bucket, queue and secret, its region, and
the parameters the functions run with (quota, pacing, accounts, the mirror switch).

CloudFormation names the resources (`timereports-StateTable-1A2B3C...`), so a command that reads a deployment asks
the stack for them (DescribeStacks, its Outputs) instead of guessing from defaults. The stack's name defaults to
the one in samconfig.toml, its region to `--region`, else the one `sam deploy --guided` saved there, else the AWS
profile's. This is the operator's CLI, with the operator's credentials: the Lambdas never call CloudFormation.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from pydantic import ValidationError

from timereports.config import Settings
from timereports.errors import ConfigurationError

SAMCONFIG = Path("samconfig.toml")
# Stack outputs (template.yaml, Outputs) and the settings they fill; tests/contract checks the template has them.
OUTPUT_SETTINGS = {
    "StateTableName": "state_table",
    "ReportsBucketName": "reports_bucket",
    "ReportRunQueueUrl": "report_queue_url",
    "IntervalsTokenSecretName": "intervals_token_secret",
    "SenderEmail": "sender_email",
    "EmailConfigurationSetName": "ses_configuration_set",
    "IntervalsApiUrl": "intervals_api_url",
}
# Stack parameters the template hands the functions as these variables (Globals), and the settings they are: a
# command against the stack runs with the deployment's quota, pacing, accounts and mirror switch, not the local
# defaults (tests/contract checks the template's Globals against this table).
PARAMETER_VARIABLES = {
    "OwnerEmail": "OWNER_EMAIL",
    "DailyQuota": "INTERVALS_DAILY_QUOTA",
    "QuotaReserve": "INTERVALS_QUOTA_RESERVE",
    "RequestsPerMinute": "INTERVALS_REQUESTS_PER_MINUTE",
    "PageSize": "INTERVALS_PAGE_SIZE",
    "IntervalsAccounts": "INTERVALS_ACCOUNTS",
    "MirrorEnabled": "MIRROR_ENABLED",
    "MirrorFullRepullDays": "MIRROR_FULL_REPULL_DAYS",
}
# What DescribeStacks shows for a NoEcho parameter instead of its value.
HIDDEN_VALUE = "****"
SCHEDULE_RESOURCE_TYPE = "AWS::Scheduler::Schedule"


@dataclass(frozen=True)
class Stack:
    """One deployed stack: its name, region and outputs."""

    name: str
    region: str
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)

    def apply(self, settings: Settings) -> Settings:
        """`settings` naming the stack's resources (the outputs it has) and taking the parameters it gives the
        functions (PARAMETER_VARIABLES), the rest unchanged; a bad value is a ConfigurationError naming the variable."""
        update = {
            setting: self.outputs[output] for output, setting in OUTPUT_SETTINGS.items() if output in self.outputs
        }
        update |= {
            variable.lower(): self.parameters[parameter]
            for parameter, variable in PARAMETER_VARIABLES.items()
            if self.parameters.get(parameter, HIDDEN_VALUE) != HIDDEN_VALUE
        }
        try:
            return Settings.model_validate(settings.model_dump() | update)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigurationError(
                f"--stack: the stack {self.name!r} gives {str(first['loc'][0]).upper()} a bad value ({first['msg']})"
            ) from None

    def output(self, name: str) -> str | None:
        return self.outputs.get(name)


def _samconfig(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: not readable as TOML ({exc})") from None


def _samconfig_parameter(path: Path, name: str) -> str | None:
    """A parameter of the default environment: the deploy command's own, else the global one."""
    environment = _samconfig(path).get("default", {})
    for command in ("deploy", "global"):
        value = environment.get(command, {}).get("parameters", {}).get(name)
        if value:
            return str(value)
    return None


def default_stack_name(samconfig: Path = SAMCONFIG) -> str:
    """The stack name samconfig.toml names (the one `sam deploy` uses), or a ConfigurationError saying what to pass."""
    name = _samconfig_parameter(samconfig, "stack_name")
    if name is None:
        raise ConfigurationError(f"--stack: not given, and no stack_name in {samconfig}; pass --stack NAME")
    return name


def stack_region(region: str | None, samconfig: Path = SAMCONFIG) -> str | None:
    """Where to look for the stack: `--region`, else samconfig.toml's (saved by `sam deploy --guided`), else None
    (the AWS profile's region)."""
    return region or _samconfig_parameter(samconfig, "region")


def read_stack(name: str, client: Any) -> Stack:
    """The stack's outputs (DescribeStacks), or a ConfigurationError naming the stack and region when it is absent."""
    region = client.meta.region_name
    try:
        reply = client.describe_stacks(StackName=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ValidationError":  # CloudFormation's answer for a stack that does not exist
            raise ConfigurationError(
                f"--stack: no stack {name!r} in region {region}; deploy it (README, Deploying) or pass --stack/--region"
            ) from None
        raise ConfigurationError(f"--stack: could not read stack {name!r} in {region} ({code})") from None
    except NoCredentialsError:
        raise ConfigurationError(
            f"--stack: could not read stack {name!r} in {region}: no AWS credentials (aws configure, or AWS_PROFILE); "
            "without a deployment, use --local"
        ) from None
    except BotoCoreError as exc:
        raise ConfigurationError(f"--stack: could not read stack {name!r} in {region} ({type(exc).__name__})") from None
    (stack,) = reply["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    parameters = {
        parameter["ParameterKey"]: parameter.get("ParameterValue", "") for parameter in stack.get("Parameters", [])
    }
    return Stack(name=name, region=outputs.get("Region", region), outputs=outputs, parameters=parameters)


def stack_schedules(stack: Stack, client: Any) -> list[tuple[str, str]]:
    """(logical id, name) of the stack's EventBridge Scheduler schedules (ListStackResources: SAM names them)."""
    names: list[tuple[str, str]] = []
    for page in client.get_paginator("list_stack_resources").paginate(StackName=stack.name):
        names += [
            (resource["LogicalResourceId"], resource["PhysicalResourceId"])
            for resource in page["StackResourceSummaries"]
            if resource["ResourceType"] == SCHEDULE_RESOURCE_TYPE and resource.get("PhysicalResourceId")
        ]
    return names


def use_stack(name: str | None, region: str | None, *, samconfig: Path = SAMCONFIG) -> Stack:
    """Find the stack and point this process's AWS clients at its region; the stack."""
    chosen = stack_region(region, samconfig)
    stack_name = name or default_stack_name(samconfig)
    try:
        client = boto3.client("cloudformation", region_name=chosen) if chosen else boto3.client("cloudformation")
    except NoRegionError:
        raise ConfigurationError(
            "--region: not given, not in samconfig.toml and no AWS region configured; without a deployment, use --local"
        ) from None
    stack = read_stack(stack_name, client)
    # The secret, the table and the SES identity live in the stack's region, whatever the profile's default is.
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = stack.region
    return stack


def reads_local_aws(stack: str | None) -> bool:
    """Whether a command reads local AWS from the environment (AWS_ENDPOINT_URL set, no --stack) rather than a stack."""
    return stack is None and bool(os.environ.get("AWS_ENDPOINT_URL"))
