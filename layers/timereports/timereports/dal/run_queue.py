"""The run queue on SQS: one message per due run, sent in batches of ten, with bounded retries of the entries SQS
refused. A FIFO queue also gets a deduplication id from the run's identity.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from timereports.dal.aws_errors import AWS_ERRORS, aws_error
from timereports.errors import RunQueueError
from timereports.models.events import RunMessage, SyncMessage, run_key

SQS_BATCH_SIZE = 10  # the SendMessageBatch maximum
SEND_ATTEMPTS = 4
SEND_BACKOFF_SECONDS = 0.2


class SqsRunQueue:
    """The run queue: SendMessageBatch in batches of 10; entries that fail are retried with backoff, then raised.

    `sqs` gives the SQS client when a message is first sent, not when the queue is built: most dispatcher ticks
    enqueue nothing, and their cold start then creates no SQS client (a few milliseconds, `make bench`).
    """

    def __init__(
        self,
        queue_url: str,
        sqs: Callable[[], Any],
        *,
        attempts: int = SEND_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue_url = queue_url
        self._sqs = sqs
        self._attempts = attempts
        self._sleep = sleep
        self._fifo = queue_url.endswith(".fifo")

    @cached_property
    def _client(self) -> Any:
        """The SQS client, asked for once, outside the sends' retries (a failure to make it is not a send fault)."""
        return self._sqs()

    def send(self, messages: Sequence[RunMessage]) -> None:
        batches = [list(messages[start : start + SQS_BATCH_SIZE]) for start in range(0, len(messages), SQS_BATCH_SIZE)]
        for index, batch in enumerate(batches):
            unsent = self._send_batch(batch)
            if unsent:
                later = [message for rest in batches[index + 1 :] for message in rest]
                raise RunQueueError(
                    f"dispatch: {len(unsent)} run messages could not be queued on {self.queue_url} "
                    f"after {self._attempts} attempts",
                    unsent=unsent + later,
                )

    def send_sync(self, jobs: Sequence[SyncMessage]) -> None:
        """Queue mirror sync jobs (the run_report function takes them too), ten a request; raise on any left unsent."""
        for start in range(0, len(jobs), SQS_BATCH_SIZE):
            entries = {str(position): job for position, job in enumerate(jobs[start : start + SQS_BATCH_SIZE])}
            client = self._client
            try:
                reply = client.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[self._sync_entry(key, job) for key, job in entries.items()]
                )
            except AWS_ERRORS as exc:
                raise aws_error(f"mirror: queueing sync jobs on {self.queue_url}", exc) from exc
            if reply.get("Failed"):
                raise RunQueueError(
                    f"mirror: {len(reply['Failed'])} sync jobs could not be queued on {self.queue_url}", unsent=[]
                )

    def _sync_entry(self, entry_id: str, job: SyncMessage) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": job.to_json()}
        if self._fifo:
            entry["MessageGroupId"] = f"sync#{job.account}"
            entry["MessageDeduplicationId"] = hashlib.sha256(job.to_json().encode()).hexdigest()
        return entry

    def _send_batch(self, batch: list[RunMessage]) -> list[RunMessage]:
        """Send one batch; the messages still unsent after the attempts (empty when all went)."""
        pending = {str(position): message for position, message in enumerate(batch)}
        client = self._client
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(SEND_BACKOFF_SECONDS * 2 ** (attempt - 1) * (1 + random.random()))
            try:
                reply = client.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[self._entry(key, message) for key, message in pending.items()]
                )
            except AWS_ERRORS as exc:
                error = aws_error(f"dispatch: SendMessageBatch to {self.queue_url}", exc)
                if not error.retryable:
                    raise RunQueueError(str(error), unsent=list(pending.values())) from exc
                continue
            failed = reply.get("Failed", [])
            pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
            # A sender fault (a malformed entry) fails the same way every time; retrying it only delays the error.
            if not pending or any(entry.get("SenderFault") for entry in failed):
                break
        return list(pending.values())

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        """ChangeMessageVisibility: the received message becomes visible again in `seconds` (from now)."""
        client = self._client
        try:
            client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"ChangeMessageVisibility on {self.queue_url}", exc) from exc

    def _entry(self, entry_id: str, message: RunMessage) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message.to_json()}
        if self._fifo:
            # FIFO only: SQS drops a copy of the same run sent within its 5-minute window. On the standard queue we
            # use, duplicates are absorbed by run_report's idempotency on the same key.
            entry["MessageGroupId"] = message.report_id
            entry["MessageDeduplicationId"] = hashlib.sha256(run_key(message).encode()).hexdigest()
        return entry
