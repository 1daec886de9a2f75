"""Run history in the DynamoDB state table: one item per run outcome, newest first, kept for `HISTORY_RETENTION`.

Each SES message a run sent also gets a small item `message#<SES MessageId>` pointing at the run's item, so that a
bounce or complaint notice (which carries only that id) finds its run without a scan or an index.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from timereports.clock import utc_now
from timereports.dal.aws_errors import AWS_ERRORS, ConditionFailed, aws_error, conditional_write
from timereports.models.run_record import SENT_STATUSES, RunRecord

if TYPE_CHECKING:
    # Only an annotation here: the feedback notice models are the email_feedback function's, not every handler's.
    from timereports.models.feedback import FeedbackKind

HISTORY_RETENTION = timedelta(days=400)


class DynamoDBRunHistory:
    """Run records in the state table, newest first by `finished_at`."""

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], datetime] = utc_now) -> None:
        # Deferred with boto3's own import (bootstrap creates the first client): importing this module costs nothing.
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table_name = table_name
        self._client = client
        self._clock = clock
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    def record(self, run: RunRecord) -> None:
        finished = datetime.fromisoformat(run.finished_at) if run.finished_at else self._clock()
        item = {key: value for key, value in run.model_dump().items() if value not in (None, [], "")}
        expires_at = int((finished + HISTORY_RETENTION).timestamp())
        item |= {
            "pk": f"run#{run.report_id}",
            # The finish time orders the records; the scheduled time keeps two runs finishing together apart.
            "sk": f"{finished.isoformat()}#{run.scheduled_at or '-'}",
            "expires_at": expires_at,
        }
        pointers = [
            {
                "pk": f"message#{message_id}",
                "sk": "run",
                "run_pk": item["pk"],
                "run_sk": item["sk"],
                "expires_at": expires_at,
            }
            for message_id in run.message_ids
        ]
        if run.slice_records and run.status in SENT_STATUSES:
            # Whom each slice was last sent for, in an item of its own: it must outlast any number of failed runs.
            pointers.append(
                {
                    "pk": f"slices#{run.report_id}",
                    "sk": "last",
                    "slice_records": run.slice_records,
                    "finished_at": run.finished_at,
                    "expires_at": expires_at,
                }
            )
        try:
            for each in (item, *pointers):
                self._client.put_item(TableName=self.table_name, Item=self._serialize(each))
        except AWS_ERRORS as exc:
            raise aws_error(f"recording the run of {run.report_id} in {self.table_name}", exc) from exc

    def add_feedback(self, ses_message_id: str, kind: FeedbackKind, recipients: list[str]) -> str | None:
        """Add bounced or complaining recipients to the record of the run that sent `ses_message_id`; the run's
        report id, or None when no run recorded that message (an owner's failure notice, or a record expired).

        The recipients are added to a string set, so SNS delivering the same notice twice records it once.
        """
        what = f"recording SES {kind} feedback in {self.table_name}"
        pointer = self._item(f"message#{ses_message_id}", "run", what)
        if pointer is None or not recipients:
            return None
        run_pk, run_sk = pointer["run_pk"]["S"], pointer["run_sk"]["S"]
        reply = conditional_write(
            what,
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": run_pk}, "sk": {"S": run_sk}},
                UpdateExpression="ADD #field :recipients",
                # Never create a stub record: the run's item must still be there.
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#field": _FEEDBACK_FIELDS[kind]},
                ExpressionAttributeValues={":recipients": {"SS": sorted(set(recipients))}},
            ),
        )
        return None if isinstance(reply, ConditionFailed) else run_pk.removeprefix("run#")

    def _serialize(self, item: dict[str, Any]) -> dict[str, Any]:
        return {key: self._serializer.serialize(value) for key, value in item.items()}

    def _item(self, pk: str, sk: str, what: str) -> dict[str, Any] | None:
        """One item of the table, read consistently; None when there is none."""
        try:
            item: dict[str, Any] | None = self._client.get_item(
                TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
            ).get("Item")
        except AWS_ERRORS as exc:
            raise aws_error(what, exc) from exc
        return item

    def last_slices(self, report_id: str) -> dict[str, list[int]]:
        item = self._item(
            f"slices#{report_id}", "last", f"reading the last slices of {report_id} from {self.table_name}"
        )
        if item is None:
            return {}
        stored = self._deserializer.deserialize(item["slice_records"])
        return {key: [int(record_id) for record_id in ids] for key, ids in stored.items()}

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
            for name in _FEEDBACK_FIELDS.values():
                if name in plain:
                    plain[name] = sorted(plain[name])  # a string set: no order of its own
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
    "newest_entry_id",
}

# Where each kind of feedback goes on the run's item (RunRecord fields).
_FEEDBACK_FIELDS: dict[FeedbackKind, str] = {"bounce": "bounced", "complaint": "complained"}
