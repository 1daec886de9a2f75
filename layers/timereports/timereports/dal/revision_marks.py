"""Revision marks in the DynamoDB state table: per delivered period (and slice), the number, CSV and time of the
revision last sent.

`advance` is a conditional write on the number it expects, so that two checks running at once (a retried schedule, a
person running `timereports revisions`) send each revision once: the one whose write wins sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from timereports.clock import utc_now
from timereports.dal.aws_errors import AWS_ERRORS, ConditionFailed, aws_error, conditional_write
from timereports.logic.ports import RevisionMark

# Longer than any revision window (at most 400 days) plus the time a report may be scheduled ahead.
MARK_RETENTION = timedelta(days=450)


class DynamoDBRevisionMarks:
    """`RevisionMarks` on items `pk=revision#<report id>`, `sk=<watch>` (`period#<from>_<to>`, `#<slice>` after it
    for a slice's)."""

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.table_name = table_name
        self._client = client
        self._clock = clock

    def _key(self, report_id: str, watch: str) -> dict[str, Any]:
        return {"pk": {"S": f"revision#{report_id}"}, "sk": {"S": watch}}

    def current(self, report_id: str, watch: str) -> RevisionMark | None:
        try:
            reply = self._client.get_item(
                TableName=self.table_name, Key=self._key(report_id, watch), ConsistentRead=True
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"reading the revisions of {report_id} {watch}", exc) from exc
        item = reply.get("Item")
        if item is None:
            return None
        sent_at = item.get("sent_at", {}).get("S", "")
        return RevisionMark(number=int(item["number"]["N"]), s3_key=item["s3_key"]["S"], sent_at=sent_at)

    def advance(self, report_id: str, watch: str, expected: int, mark: RevisionMark) -> bool:
        expires = int((self._clock() + MARK_RETENTION).timestamp())
        # Exactly the revision this check compared against (0: none yet, or one given back after a failed send):
        # the write that wins sends the next one.
        condition = {
            "ConditionExpression": "#number = :expected" + (" OR attribute_not_exists(pk)" if expected == 0 else ""),
            "ExpressionAttributeNames": {"#number": "number"},
            "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
        }
        item = {
            **self._key(report_id, watch),
            "number": {"N": str(mark.number)},
            "s3_key": {"S": mark.s3_key},
            "expires_at": {"N": str(expires)},
        } | ({"sent_at": {"S": mark.sent_at}} if mark.sent_at else {})
        reply = conditional_write(
            f"recording revision {mark.number} of {report_id} {watch}",
            lambda: self._client.put_item(TableName=self.table_name, Item=item, **condition),
        )
        return not isinstance(reply, ConditionFailed)
