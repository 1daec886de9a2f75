"""Local AWS through moto: the same table, bucket, SES identity and queues as template.yaml, without an AWS account.

`--local`, `make demo` and the integration tests run the very code the Lambdas run against a moto server on
127.0.0.1. `use_local_aws()` points every boto3 client of the process at it (through `AWS_ENDPOINT_URL`, which boto3
honours for every service) and `ensure_local_resources()` creates what the template would have created. Several
processes share one local AWS by exporting the same `AWS_ENDPOINT_URL`.

The state table's shape lives here as plain constants; a contract test checks that template.yaml declares the same.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from timereports.config import Settings

# The app's single table: run history, quota ledger and idempotency records share it, told apart by `pk` prefixes.
STATE_TABLE_KEY_SCHEMA: list[dict[str, str]] = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
STATE_TABLE_ATTRIBUTES: list[dict[str, str]] = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]
STATE_TABLE_BILLING_MODE = "PAY_PER_REQUEST"
STATE_TABLE_TTL_ATTRIBUTE = "expires_at"

# Used when REPORT_QUEUE_URL is not set; the dead-letter queue is always the run queue's name plus this suffix.
DEFAULT_RUN_QUEUE_NAME = "timereports-runs"
DEAD_LETTER_QUEUE_SUFFIX = "-dlq"
# A run message that failed this many times moves to the dead-letter queue (and the owner gets a notice).
RUN_QUEUE_MAX_RECEIVE_COUNT = 3
# Longer than a run may take (the function's timeout), so that a message is not handed to a second worker mid-run.
RUN_QUEUE_VISIBILITY_TIMEOUT_SECONDS = 960
# Fourteen days, the SQS maximum: a failed run waits for a person to look at it.
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
# The SES configuration set sends use when SES_CONFIGURATION_SET is not set (deployed, the stack names its own).
DEFAULT_CONFIGURATION_SET = "timereports-emails"

LOCAL_HOST = "127.0.0.1"
# What the command line assumes when the environment names no resources: the names `--local` creates.
LOCAL_DEFAULTS = {
    "STATE_TABLE": "timereports-state",
    "REPORTS_BUCKET": "timereports-reports",
    "SENDER_EMAIL": "reports@example.com",
    "SES_CONFIGURATION_SET": DEFAULT_CONFIGURATION_SET,
}
FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


class LocalAwsServer:
    """moto's server on 127.0.0.1, threaded like ThreadedMotoServer, with DynamoDB writes made atomic as on AWS.

    moto checks a condition and applies an update in separate steps without a lock, so two concurrent conditional
    `ADD`s can both pass a check that only one should (seen: 124 units granted under a ceiling of 120). DynamoDB
    serialises writes to an item, and the quota ledger's guarantee rests on that, so this server runs DynamoDB
    requests one at a time. Other services stay concurrent (an SQS long poll must not block the rest).
    """

    def __init__(self, host: str = LOCAL_HOST, port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._dynamodb_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """The server's URL, e.g. http://127.0.0.1:54321 (after `start`)."""
        if self._server is None:
            raise RuntimeError("the local AWS server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Listen (port 0 picks a free port), serve in a daemon thread, and return the endpoint."""
        # Deferred: moto, werkzeug and boto3 load only when local AWS is used.
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        # Werkzeug logs every request at INFO on stderr; keep warnings and errors only.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        moto_app = DomainDispatcherApplication(create_backend_app)

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
                with self._dynamodb_lock:
                    # moto's Flask app builds the whole response inside this call, so the lock covers the write.
                    return moto_app(environ, start_response)
            return moto_app(environ, start_response)

        self._server = make_server(self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None


_server_lock = threading.Lock()
_server: LocalAwsServer | None = None


def start_local_aws() -> str:
    """Start the local AWS server on 127.0.0.1 and a free port, once per process, and return its endpoint URL.

    Later calls return the same endpoint; the server stops with the process.
    """
    global _server
    with _server_lock:
        if _server is None:
            server = LocalAwsServer()
            server.start()
            _server = server
        return _server.endpoint


def use_local_aws(endpoint: str | None = None) -> str:
    """Point every boto3 client of this process at local AWS, and return its endpoint.

    The endpoint is `endpoint`, else `AWS_ENDPOINT_URL` when already set (another process's moto server), else a
    server started here. Fake credentials and a region are set only where the environment has none, because boto3
    refuses to sign without them even for moto.
    """
    chosen = endpoint or os.environ.get("AWS_ENDPOINT_URL") or start_local_aws()
    os.environ["AWS_ENDPOINT_URL"] = chosen
    for name, value in FAKE_AWS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return chosen


@dataclass(frozen=True)
class LocalResources:
    """What `ensure_local_resources` made sure exists, with the local queue URLs that settings may not know.

    Locally the run queue's URL is moto's (`http://127.0.0.1:PORT/123456789012/<name>`), so a caller that sends to
    the queue takes `apply(settings)`, which carries it in `report_queue_url`.
    """

    state_table: str
    reports_bucket: str
    sender_email: str
    queue_url: str
    dead_letter_queue_url: str
    configuration_set: str = DEFAULT_CONFIGURATION_SET

    def apply(self, settings: Settings) -> Settings:
        """`settings` with `report_queue_url` set to the local run queue and the local configuration set."""
        return settings.model_copy(
            update={"report_queue_url": self.queue_url, "ses_configuration_set": self.configuration_set}
        )


def run_queue_name(settings: Settings) -> str:
    """The run queue's name: the last segment of REPORT_QUEUE_URL, or the default name when it is not set."""
    if settings.report_queue_url:
        return settings.report_queue_url.rstrip("/").rsplit("/", 1)[-1]
    return DEFAULT_RUN_QUEUE_NAME


def ensure_local_resources(settings: Settings) -> LocalResources:
    """Create, when missing, the resources template.yaml declares: table (+TTL), bucket, SES identities (the sender,
    and its domain with DKIM, as the README has a deployer set up), configuration set, queues.

    Idempotent, so every `--local` command and test can call it. Uses the process's boto3 defaults: call
    `use_local_aws()` first, or this would create them wherever the environment's credentials point.
    """
    # Deferred: moto, werkzeug and boto3 load only when local AWS is used.
    import boto3

    _ensure_state_table(boto3.client("dynamodb"), settings.state_table)
    _ensure_reports_bucket(boto3.client("s3"), settings.reports_bucket)
    sesv2 = boto3.client("sesv2")
    _ensure_email_identity(sesv2, settings.sender_email)
    _ensure_email_identity(sesv2, settings.sender_email.rpartition("@")[2], dkim=True)
    configuration_set = settings.ses_configuration_set or DEFAULT_CONFIGURATION_SET
    _ensure_configuration_set(sesv2, configuration_set)
    queue_url, dead_letter_queue_url = _ensure_run_queues(boto3.client("sqs"), run_queue_name(settings))
    return LocalResources(
        state_table=settings.state_table,
        reports_bucket=settings.reports_bucket,
        sender_email=settings.sender_email,
        queue_url=queue_url,
        dead_letter_queue_url=dead_letter_queue_url,
        configuration_set=configuration_set,
    )


def _ensure_state_table(dynamodb: Any, table_name: str) -> None:
    try:
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=STATE_TABLE_KEY_SCHEMA,
            AttributeDefinitions=STATE_TABLE_ATTRIBUTES,
            BillingMode=STATE_TABLE_BILLING_MODE,
        )
    except dynamodb.exceptions.ResourceInUseException:
        return
    # moto creates the table ACTIVE at once, so there is nothing to wait for.
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": STATE_TABLE_TTL_ATTRIBUTE},
    )


def _ensure_reports_bucket(s3: Any, bucket: str) -> None:
    region = s3.meta.region_name
    create: dict[str, Any] = {"Bucket": bucket}
    # us-east-1 is the one region that refuses an explicit location constraint.
    if region and region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**create)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        return
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )


def _ensure_email_identity(sesv2: Any, identity: str, *, dkim: bool = False) -> None:
    # SES refuses to send from an unverified identity; moto treats a created identity as verified. moto would add
    # a second identity of the same name rather than refuse, hence the look-up first. A domain gets Easy DKIM (moto
    # reports its signing as successful at once; on AWS it is once the DNS records are published).
    try:
        sesv2.get_email_identity(EmailIdentity=identity)
    except sesv2.exceptions.NotFoundException:
        extra = {"DkimSigningAttributes": {"NextSigningKeyLength": "RSA_2048_BIT"}} if dkim else {}
        sesv2.create_email_identity(EmailIdentity=identity, **extra)


def _ensure_configuration_set(sesv2: Any, name: str) -> None:
    try:
        sesv2.get_configuration_set(ConfigurationSetName=name)
    except sesv2.exceptions.NotFoundException:
        sesv2.create_configuration_set(ConfigurationSetName=name)


def _ensure_run_queues(sqs: Any, queue_name: str) -> tuple[str, str]:
    dead_letter_url = sqs.create_queue(
        QueueName=f"{queue_name}{DEAD_LETTER_QUEUE_SUFFIX}",
        Attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)},
    )["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(RUN_QUEUE_MAX_RECEIVE_COUNT)}
    # CreateQueue is idempotent when the attributes are the same, so a second call returns the existing queue.
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            "VisibilityTimeout": str(RUN_QUEUE_VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return queue_url, dead_letter_url
