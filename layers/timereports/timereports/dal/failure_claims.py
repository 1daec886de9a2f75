"""The owner notice claim in DynamoDB: one conditional put per failed run, so the owner hears about a failure once
across SQS retries of the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from timereports.clock import utc_now
from timereports.dal.aws_errors import ConditionFailed, conditional_write

# A failed run's claim outlives any SQS retry of it (the queue's visibility timeout x max receives).
FAILURE_CLAIM_TTL = timedelta(days=7)


class DynamoDBFailureClaims:
    """One item per failed run (pk `failure#<report_id>`, sk the run's scheduled time)."""

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.table_name = table_name
        self._client = client
        self._clock = clock

    def claim(self, report_id: str, run_id: str) -> bool:
        """True for the first failed attempt of this run, False for its retries."""
        expires = int((self._clock() + FAILURE_CLAIM_TTL).timestamp())
        reply = conditional_write(
            f"recording the failure of {report_id}",
            lambda: self._client.put_item(
                TableName=self.table_name,
                Item={"pk": {"S": f"failure#{report_id}"}, "sk": {"S": run_id}, "expires_at": {"N": str(expires)}},
                # Only the attempt that creates the item counts the failure and notifies the owner.
                ConditionExpression="attribute_not_exists(pk)",
            ),
        )
        return not isinstance(reply, ConditionFailed)
