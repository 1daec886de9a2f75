"""The dispatcher: on each tick, one queued run per report that fell due, sent once, plus the deferred runs now due.

EventBridge Scheduler invokes the dispatch function every few minutes. Each scheduled report of the catalogue keeps a
cursor in DynamoDB, the last tick that handled it; a tick sends a `RunMessage` for every fire time of the report's cron
in (cursor, tick] and moves the cursor to the tick. Runs that found the account's quota spent wait in DynamoDB until
the reset (`DeferredRuns`) and a tick re-enqueues them once they are due.

Delivery guarantees, and where each is enforced:
- The cursor moves first, with a compare-and-set from the value the tick read to the tick's instant, and only the tick
  whose write won sends that window's messages. Two overlapping ticks (a Scheduler retry, a person running
  `timereports dispatch` by hand) therefore never both send a window: the loser sees a newer cursor and either has
  nothing left to send or claims only the part after the winner's instant.
- If sending fails after the claim, the cursor is moved back (again compare-and-set, so only if no later tick has
  claimed past it) and the error raised, so that the next tick or the Scheduler's retry sends the window again. The
  queue is a standard SQS queue, which may deliver a message twice anyway; exactly-once delivery of a report is the
  run_report side's job: its idempotency key is report_id + scheduled_at, and every message for one run carries the
  same (deterministic) body. A FIFO queue also gets a MessageDeduplicationId derived from that pair.
- A report seen for the first time starts at that tick: nothing from before it is sent. After an outage, missed fire
  times are caught up, but only those within `max_catch_up` of the tick and at most `max_runs_per_report` of them (the
  latest); older ones are dropped and logged, never sent, so a week-long outage does not flood inboxes.
- A paused report's window is claimed and its runs dropped (logged): resuming it does not replay what was skipped.

`CursorStore`, `RunQueue`, `DeferredRuns` and `ReportStates` are ports; the DynamoDB/SQS adapters and in-memory
versions (for unit tests and one process) live here too. `build_dispatcher` and `build_deferred_runs` wire the real
ones from settings.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from timereports.dal.aws_errors import aws_error
from timereports.errors import RunQueueError
from timereports.models.events import RunMessage, run_key

SQS_BATCH_SIZE = 10  # the SendMessageBatch maximum
SEND_ATTEMPTS = 4
SEND_BACKOFF_SECONDS = 0.2


class SqsRunQueue:
    """The run queue: SendMessageBatch in batches of 10; entries that fail are retried with backoff, then raised."""

    def __init__(
        self,
        queue_url: str,
        client: Any,
        *,
        attempts: int = SEND_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue_url = queue_url
        self._client = client
        self._attempts = attempts
        self._sleep = sleep
        self._fifo = queue_url.endswith(".fifo")

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

    def _send_batch(self, batch: list[RunMessage]) -> list[RunMessage]:
        """Send one batch; the messages still unsent after the attempts (empty when all went)."""
        pending = {str(position): message for position, message in enumerate(batch)}
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(SEND_BACKOFF_SECONDS * 2 ** (attempt - 1) * (1 + random.random()))
            try:
                reply = self._client.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[self._entry(key, message) for key, message in pending.items()]
                )
            except (ClientError, BotoCoreError) as exc:
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

    def _entry(self, entry_id: str, message: RunMessage) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message.to_json()}
        if self._fifo:
            # FIFO only: SQS drops a copy of the same run sent within its 5-minute window. On the standard queue we
            # use, duplicates are absorbed by run_report's idempotency on the same key.
            entry["MessageGroupId"] = message.report_id
            entry["MessageDeduplicationId"] = hashlib.sha256(run_key(message).encode()).hexdigest()
        return entry
