"""The dispatcher's state in the DynamoDB state table: report cursors, parked runs, per-report failure state.

Every write that decides who sends a run is conditional (compare-and-set on the cursor; put-if-absent for parked
runs), so that two overlapping ticks never both send one window; see `logic/dispatch.py` for the guarantees.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from timereports.clock import as_utc, format_instant, parse_instant, utc_now
from timereports.dal.aws_errors import AWS_ERRORS, ConditionFailed, aws_error, conditional_write
from timereports.logic.ports import MAX_DEFERRED_PER_TICK, DeferredRun, ReportState
from timereports.models.events import RunMessage, run_key

CURSOR_PARTITION = "cursor#dispatch"
DEFERRED_PARTITION = "deferred"
REPORT_STATE_SORT_KEY = "state"
# A deferred run outlives its due time by this long before the table's TTL may delete it: far longer than any outage
# the dispatcher should catch up from, and as long as run_report remembers a run's identity.
DEFERRED_RETENTION = timedelta(days=35)


# ---------------------------------------------------------------------------------------- DynamoDB/SQS adapters


class DynamoDBCursorStore:
    """Cursors in the state table: pk `cursor#dispatch`, sk = report id, `cursor` = the last tick's instant."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._client = client

    def all(self) -> dict[str, datetime]:
        cursors: dict[str, datetime] = {}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": CURSOR_PARTITION}},
            # Strongly consistent: a cursor a previous tick just wrote must be seen, or its window is re-claimed
            # (harmlessly, since the compare-and-set would then fail, but at the cost of a retry).
            "ConsistentRead": True,
        }
        while True:
            try:
                reply = self._client.query(**request)
            except AWS_ERRORS as exc:
                raise aws_error(f"dispatch: reading cursors from {self.table_name!r}", exc) from exc
            for item in reply.get("Items", []):
                cursors[item["sk"]["S"]] = parse_instant(item["cursor"]["S"])
            if "LastEvaluatedKey" not in reply:
                return cursors
            request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def get(self, report_id: str) -> datetime | None:
        try:
            reply = self._client.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": CURSOR_PARTITION}, "sk": {"S": report_id}},
                ConsistentRead=True,
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"dispatch: reading the cursor of {report_id!r}", exc) from exc
        item = reply.get("Item")
        return parse_instant(item["cursor"]["S"]) if item else None

    def compare_and_set(self, report_id: str, expected: datetime | None, new: datetime) -> bool:
        condition: dict[str, Any]
        if expected is None:
            # Only the first tick to see a new report starts its cursor; a second one must not reset it.
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            # Exactly the value this tick read: the write that wins is the one tick that sends the window.
            condition = {
                "ConditionExpression": "#cursor = :expected",
                "ExpressionAttributeNames": {"#cursor": "cursor"},
                "ExpressionAttributeValues": {":expected": {"S": format_instant(expected)}},
            }
        item = {"pk": {"S": CURSOR_PARTITION}, "sk": {"S": report_id}, "cursor": {"S": format_instant(new)}}
        reply = conditional_write(
            f"dispatch: moving the cursor of {report_id!r}",
            lambda: self._client.put_item(TableName=self.table_name, Item=item, **condition),
        )
        return not isinstance(reply, ConditionFailed)


class DynamoDBDeferredRuns:
    """Deferred runs in the state table: pk `deferred`, sk `<until>#<report_id>#<scheduled_at>`, the message JSON."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._client = client

    def defer(self, message: RunMessage, until: datetime) -> None:
        run = DeferredRun(message=message, until=as_utc(until, "until"))
        item = {
            "pk": {"S": DEFERRED_PARTITION},
            "sk": {"S": run.sort_key},
            "report_id": {"S": message.report_id},
            "until": {"S": format_instant(run.until)},
            "message": {"S": message.to_json()},
            "expires_at": {"N": str(int((run.until + DEFERRED_RETENTION).timestamp()))},
        }
        try:
            # Unconditional: parking the same run twice (a retried invocation) stores the same item.
            self._client.put_item(TableName=self.table_name, Item=item)
        except AWS_ERRORS as exc:
            raise aws_error(f"dispatch: deferring {run_key(message)!r}", exc) from exc

    def due(self, at: datetime, limit: int = MAX_DEFERRED_PER_TICK) -> list[DeferredRun]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk < :after_due",
            "ExpressionAttributeValues": {
                ":pk": {"S": DEFERRED_PARTITION},
                ":after_due": {"S": f"{format_instant(at)}$"},
            },
            "ConsistentRead": True,
        }
        runs: list[DeferredRun] = []
        while len(runs) < limit:
            try:
                reply = self._client.query(**request, Limit=limit - len(runs))
            except AWS_ERRORS as exc:
                raise aws_error("dispatch: reading deferred runs", exc) from exc
            for item in reply.get("Items", []):
                message = RunMessage.model_validate_json(item["message"]["S"])
                runs.append(DeferredRun(message=message, until=parse_instant(item["until"]["S"])))
            if "LastEvaluatedKey" not in reply:
                break
            request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
        return runs

    def remove(self, run: DeferredRun) -> bool:
        reply = conditional_write(
            f"dispatch: removing deferred run {run_key(run.message)!r}",
            lambda: self._client.delete_item(
                TableName=self.table_name,
                Key={"pk": {"S": DEFERRED_PARTITION}, "sk": {"S": run.sort_key}},
                # The delete that finds the item is the one tick that re-enqueues the run.
                ConditionExpression="attribute_exists(pk)",
            ),
        )
        return not isinstance(reply, ConditionFailed)


class DynamoDBReportStates:
    """Report states in the state table: pk `report#<id>`, sk `state`."""

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.table_name = table_name
        self._client = client
        self._clock = clock

    def _key(self, report_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"report#{report_id}"}, "sk": {"S": REPORT_STATE_SORT_KEY}}

    def _update(self, report_id: str, what: str, **request: Any) -> dict[str, Any]:
        try:
            reply: dict[str, Any] = self._client.update_item(
                TableName=self.table_name, Key=self._key(report_id), **request
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"dispatch: {what} of report {report_id!r}", exc) from exc
        return reply

    def get(self, report_id: str) -> ReportState:
        try:
            reply = self._client.get_item(TableName=self.table_name, Key=self._key(report_id), ConsistentRead=True)
        except AWS_ERRORS as exc:
            raise aws_error(f"dispatch: reading the state of report {report_id!r}", exc) from exc
        item = reply.get("Item", {})
        return ReportState(
            consecutive_failures=int(item.get("consecutive_failures", {}).get("N", "0")),
            paused=bool(item.get("paused", {}).get("BOOL", False)),
            paused_reason=item.get("paused_reason", {}).get("S"),
        )

    def record_success(self, report_id: str) -> None:
        self._update(
            report_id,
            "recording a success",
            UpdateExpression="SET consecutive_failures = :zero",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )

    def record_failure(self, report_id: str) -> int:
        # ADD is atomic: two runs failing at once count two failures, not one.
        reply = self._update(
            report_id,
            "recording a failure",
            UpdateExpression="ADD consecutive_failures :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(reply["Attributes"]["consecutive_failures"]["N"])

    def pause(self, report_id: str, reason: str) -> None:
        self._update(
            report_id,
            "pausing",
            UpdateExpression="SET paused = :true, paused_reason = :reason, paused_at = :at",
            ExpressionAttributeValues={
                ":true": {"BOOL": True},
                ":reason": {"S": reason},
                ":at": {"S": format_instant(self._clock())},
            },
        )

    def is_paused(self, report_id: str) -> bool:
        return self.get(report_id).paused

    def resume(self, report_id: str) -> None:
        self._update(
            report_id,
            "resuming",
            UpdateExpression="SET paused = :false, consecutive_failures = :zero REMOVE paused_reason, paused_at",
            ExpressionAttributeValues={":false": {"BOOL": False}, ":zero": {"N": "0"}},
        )
