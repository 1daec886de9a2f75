"""Per-message claims in DynamoDB: before each message of a scheduled run leaves, one conditional put claims it, so
that a retried run (a crashed Lambda, a re-driven message) sends each message at most once, slices included.

The run's Powertools idempotency record makes a *finished* run answer "already delivered"; these claims cover a run
that died between two messages, whose retry must send the rest and nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from timereports.clock import utc_now
from timereports.dal.aws_errors import AWS_ERRORS, ConditionFailed, aws_error, conditional_write

# As long as the run's own identity is remembered (bootstrap.RUN_IDEMPOTENCY_SECONDS).
MESSAGE_CLAIM_TTL = timedelta(days=35)


class DynamoDBMessageClaims:
    """One item per message (pk `message#<run id>`, sk the message's key: `whole#1`, `slice#mango-inc#1`)."""

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.table_name = table_name
        self._client = client
        self._clock = clock

    def claim(self, run_id: str, message_key: str) -> bool:
        """True when this attempt may send the message; False when an earlier attempt claimed (and maybe sent) it."""
        expires = int((self._clock() + MESSAGE_CLAIM_TTL).timestamp())
        reply = conditional_write(
            f"claiming message {message_key} of run {run_id}",
            lambda: self._client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": f"message#{run_id}"},
                    "sk": {"S": message_key},
                    "status": {"S": "claimed"},
                    "expires_at": {"N": str(expires)},
                },
                # Only the first attempt creates the item. A claim whose send was cut off stays claimed: the message
                # may have left, and sending it again would be the duplicate this item exists to prevent.
                ConditionExpression="attribute_not_exists(pk)",
            ),
        )
        return not isinstance(reply, ConditionFailed)

    def sent(self, run_id: str, message_key: str, message_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"message#{run_id}"}, "sk": {"S": message_key}},
                UpdateExpression="SET #status = :sent, message_id = :id",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":sent": {"S": "sent"}, ":id": {"S": message_id}},
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"recording message {message_key} of run {run_id} as sent", exc) from exc

    def release(self, run_id: str, message_key: str) -> None:
        try:
            self._client.delete_item(
                TableName=self.table_name, Key={"pk": {"S": f"message#{run_id}"}, "sk": {"S": message_key}}
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"releasing message {message_key} of run {run_id}", exc) from exc
