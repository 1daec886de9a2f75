"""The AWS calls a Lambda handler makes, as IAM sees them: the action and the resource ARN of each, recorded while a
test drives the handler against moto (which checks no permission), for a test to hold against the function's role.

Every botocore client is observed (ours, and the ones Powertools creates for Idempotency and Parameters); a call is
the function's when a frame of `functions/<name>/app.py` is on the stack, so the test's own setup and assertions are
left out. The observer calls straight through: nothing is stubbed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from botocore import signers
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from timereports.bootstrap import aws

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
REGION, ACCOUNT = "eu-west-1", "123456789012"
# The IAM action of an operation whose name is not the action's (AWS's service authorization reference).
ACTIONS = {
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    ("sqs", "SendMessageBatch"): ("sqs:SendMessage",),
    ("sqs", "ChangeMessageVisibilityBatch"): ("sqs:ChangeMessageVisibility",),
    ("sqs", "DeleteMessageBatch"): ("sqs:DeleteMessage",),
}
# Reads of an object that may not exist: the answer for a missing one depends on s3:ListBucket (see observed_call).
MISSING_OBJECT_READS = frozenset({"GetObject", "HeadObject"})
# The prefix of a service's actions where it differs from botocore's name for it.
PREFIXES = {"sesv2": "ses"}


@dataclass(frozen=True)
class AwsCall:
    """One permission a function used: which function (its folder under functions/), the action, the resource."""

    function: str
    action: str
    resource: str


def _calling_function() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.name == "app.py" and path.parent.parent == FUNCTIONS_DIR:
            return path.parent.name
        frame = frame.f_back  # type: ignore[assignment]
    return None


def permissions(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs IAM evaluates for one call."""
    prefix = PREFIXES.get(service, service)
    actions = ACTIONS.get((service, operation), (f"{prefix}:{operation}",))
    if service == "sesv2" and operation == "SendEmail" and "Raw" in params.get("Content", {}):
        actions = ("ses:SendEmail", "ses:SendRawEmail")
    resources: list[str]
    if service == "dynamodb":
        resources = [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{params['TableName']}"]
    elif service == "s3":
        key = params.get("Key")
        resources = [f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key is not None else "")]
    elif service == "sqs":
        resources = [f"arn:aws:sqs:{REGION}:{ACCOUNT}:{str(params['QueueUrl']).rstrip('/').rsplit('/', 1)[-1]}"]
    elif service == "sesv2":
        sender = str(params["FromEmailAddress"])
        resources = [f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{sender}"]
        if params.get("ConfigurationSetName"):
            resources.append(f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{params['ConfigurationSetName']}")
    elif service == "secretsmanager":
        # A secret's ARN is its name and "-" with six random characters.
        resources = [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{params['SecretId']}-AbCdEf"]
    else:
        resources = ["*"]
    return [(action, resource) for action in actions for resource in resources]


@contextmanager
def recorded_aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[AwsCall]]:
    """Every permission the handlers use inside the block, in order."""
    calls: list[AwsCall] = []
    make_api_call = BaseClient._make_api_call
    presign = signers.generate_presigned_url

    def record(client: BaseClient, operation: str, params: dict[str, Any]) -> None:
        function = _calling_function()
        if function is not None:
            service = client.meta.service_model.service_name
            calls.extend(AwsCall(function, *pair) for pair in permissions(service, operation, params))

    def observed_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        record(self, operation_name, api_params)
        try:
            return make_api_call(self, operation_name, api_params)
        except ClientError as exc:
            if operation_name in MISSING_OBJECT_READS and exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                # S3 tells a caller that an object is missing (404) only if it may list the bucket; without
                # s3:ListBucket the same read is refused (403 AccessDenied), and the code's "missing" path never runs.
                record(self, "ListObjectsV2", {"Bucket": api_params["Bucket"]})
            raise

    def observed_presign(self: BaseClient, ClientMethod: str, Params: Any = None, **kwargs: Any) -> Any:
        # A signed link is used with the signer's permissions when the recipient opens it.
        operation = self.meta.method_to_api_mapping.get(ClientMethod, ClientMethod)
        record(self, operation, dict(Params or {}))
        return presign(self, ClientMethod, Params, **kwargs)

    monkeypatch.setattr(BaseClient, "_make_api_call", observed_call)
    # botocore gives each new S3 client class the module's function: the app's clients are made again, in here.
    monkeypatch.setattr(signers, "generate_presigned_url", observed_presign)
    aws._cached_client.cache_clear()
    # Powertools keeps a secret it read for minutes: read it again here, as a cold function does.
    parameters.clear_caches()
    try:
        yield calls
    finally:
        aws._cached_client.cache_clear()
