"""A stand-in for Lambda's SQS event source mapping, so tests can drive run_report the way AWS does.

Lambda polls the queue, hands the handler a batch event built from the received messages, deletes the records the
handler did not report as failed, and leaves the failed ones on the queue until their visibility timeout passes, when
SQS delivers them again (and, past the redrive policy's maxReceiveCount, moves them to the dead-letter queue). The
poller here does the same against moto and touches nothing else: when a failed message comes back is up to the
queue's visibility timeout and to what the handler did about it (run_report shortens it to minutes), so a test moves
the clock (time-machine, which moto's SQS follows) to watch it come back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fixtures.aws import TEST_REGION
from tests.support.lambda_context import FakeLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One SQS record as Lambda passes it (the shape of events/sqs_run_report.json), from a ReceiveMessage reply."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "0"),
            "SenderId": attributes.get("SenderId", "AROAEXAMPLEDISPATCH:timereports-DispatchFunction"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
        },
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": TEST_REGION,
    }


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch event of Lambda SQS records."""
    return {"Records": records}


@dataclass
class Delivery:
    """One poll: the event handed to the handler, its reply, and which records it reported as failed."""

    event: dict[str, Any]
    reply: dict[str, Any] | None
    failed: list[str] = field(default_factory=list)
    # The invocation raised (Powertools raises when every record of a batch failed): Lambda retries the whole batch.
    error: BaseException | None = None

    @property
    def bodies(self) -> list[str]:
        return [record["body"] for record in self.event["Records"]]

    @property
    def receive_counts(self) -> list[int]:
        return [int(record["attributes"]["ApproximateReceiveCount"]) for record in self.event["Records"]]


class SqsEventSource:
    """Polls one moto queue into a handler, as Lambda's event source mapping with ReportBatchItemFailures does."""

    def __init__(self, sqs: Any, queue_url: str, handler: Handler) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self._handler = handler
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def receive(self, max_messages: int = 10) -> list[dict[str, Any]]:
        """Messages now visible on the queue (ReceiveMessage, no wait), with their attributes."""
        reply = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = reply.get("Messages", [])
        return messages

    def poll(self) -> Delivery | None:
        """Receive one batch and hand it to the handler; None when the queue had nothing visible.

        Records the handler succeeded on are deleted; failed ones are left as they are, invisible until their
        visibility timeout passes, when a later poll receives them with a higher ApproximateReceiveCount. An
        invocation that raises fails every record of the batch, as on Lambda.
        """
        messages = self.receive()
        if not messages:
            return None
        event = sqs_event([lambda_record(message, self.queue_arn) for message in messages])
        reply: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            reply = self._handler(event, FakeLambdaContext())
        except Exception as exc:  # Lambda: any error fails the invocation, and with it the whole batch
            error = exc
        if reply is None:
            failed = [message["MessageId"] for message in messages]
        else:
            failed = [item["itemIdentifier"] for item in reply.get("batchItemFailures", [])]
        for message in messages:
            if message["MessageId"] not in failed:
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return Delivery(event=event, reply=reply, failed=failed, error=error)

    def redeliver(self, delivery: Delivery) -> dict[str, Any]:
        """Hand the handler the same batch again: SQS's at-least-once delivery of a message already handled."""
        return self._handler(delivery.event, FakeLambdaContext())

    def handled(self, delivery: Delivery) -> bool:
        """Whether Lambda would delete every record of the batch (none failed, the invocation did not raise)."""
        return delivery.error is None and not delivery.failed

    def visible_count(self) -> int:
        """How many messages are on the queue, visible or in flight (approximate attributes; exact in moto)."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
