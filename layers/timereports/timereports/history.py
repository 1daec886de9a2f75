"""Run history: one record per run attempt outcome, so people can see what was sent, when and why not.

Records live in the app's single table under `pk = "run#<report_id>"`, sorted by the time the run
finished (`sk`), and expire after a year through the table's TTL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from .aws_errors import AWS_ERRORS, aws_error

HISTORY_RETENTION = timedelta(days=400)


class RunRecord(BaseModel):
    """What one run did; also the body of `run.json`."""

    model_config = ConfigDict(extra="ignore")

    report_id: str
    status: str  # delivered | empty_skipped | empty_notice | already_delivered | failed | deferred
    # Which attempt produced this record: a retried invocation that gets an earlier attempt's record back knows
    # the run was already delivered.
    attempt: str | None = None
    period_from: str | None = None
    period_to: str | None = None
    scheduled_at: str | None = None
    finished_at: str = ""
    rows: int = 0
    entries: int = 0
    api_requests: int = 0
    quota_used: int | None = None
    quota_remaining: int | None = None
    quota_limit: int | None = None
    s3_key: str | None = None
    message_id: str | None = None
    message_ids: list[str] = []
    recipients: int = 0
    delivery: str | None = None  # attachment | gzip | link | notice
    error: str | None = None
    retry_after: str | None = None
    duration_ms: int = 0


class RunHistory(Protocol):
    def record(self, run: RunRecord) -> None: ...
    def last_runs(self, report_id: str, limit: int = 10) -> list[RunRecord]: ...


@dataclass
class InMemoryRunHistory:
    """History for one process (tests, a CLI run without --local)."""

    runs: list[RunRecord]

    def __init__(self) -> None:
        self.runs = []

    def record(self, run: RunRecord) -> None:
        self.runs.append(run)

    def last_runs(self, report_id: str, limit: int = 10) -> list[RunRecord]:
        mine = [run for run in self.runs if run.report_id == report_id]
        return sorted(mine, key=lambda run: run.finished_at, reverse=True)[:limit]


class DynamoDBRunHistory:
    """Run records in the state table, newest first by `finished_at`."""

    def __init__(self, table_name: str, client: Any) -> None:
        # Imported here: the record model above is used by pure code and the CLI, which need no boto3.
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
