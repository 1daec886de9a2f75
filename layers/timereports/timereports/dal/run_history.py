"""Run history in the DynamoDB state table: one item per run outcome, newest first, kept for `HISTORY_RETENTION`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from timereports.dal.aws_errors import AWS_ERRORS, aws_error
from timereports.models.run_record import RunRecord

HISTORY_RETENTION = timedelta(days=400)


class DynamoDBRunHistory:
    """Run records in the state table, newest first by `finished_at`."""

    def __init__(self, table_name: str, client: Any) -> None:
        # Deferred with boto3's own import (bootstrap creates the first client): importing this module costs nothing.
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table_name = table_name
        self._client = client
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    def record(self, run: RunRecord) -> None:
        finished = datetime.fromisoformat(run.finished_at) if run.finished_at else datetime.now(UTC)
        item = {key: value for key, value in run.model_dump().items() if value not in (None, [], "")}
        item |= {
            "pk": f"run#{run.report_id}",
            # The finish time orders the records; the scheduled time keeps two runs finishing together apart.
            "sk": f"{finished.isoformat()}#{run.scheduled_at or '-'}",
            "expires_at": int((finished + HISTORY_RETENTION).timestamp()),
        }
        try:
            self._client.put_item(
                TableName=self.table_name, Item={key: self._serializer.serialize(value) for key, value in item.items()}
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"recording the run of {run.report_id} in {self.table_name}", exc) from exc

    def last_runs(self, report_id: str, limit: int = 10) -> list[RunRecord]:
        try:
            reply = self._client.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"run#{report_id}"}},
                ScanIndexForward=False,
                Limit=limit,
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"reading the history of {report_id} from {self.table_name}", exc) from exc
        records = []
        for item in reply.get("Items", []):
            plain = {key: self._deserializer.deserialize(value) for key, value in item.items()}
            plain = {
                key: int(value) if key in _INT_FIELDS and value is not None else value for key, value in plain.items()
            }
            records.append(RunRecord.model_validate(plain))
        return records


_INT_FIELDS = {
    "rows",
    "entries",
    "api_requests",
    "quota_used",
    "quota_remaining",
    "quota_limit",
    "recipients",
    "duration_ms",
}
