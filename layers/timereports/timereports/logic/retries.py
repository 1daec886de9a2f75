"""When a failed queued run is tried again: minutes later, a little later each time, then the dead-letter queue; and
when a mirror sync job that found the quota spent is: at the reset.

The run queue's visibility timeout is six times the function's (90 minutes), so that a message is never handed to a
second worker while a run is still working on it. A run that failed is no longer working on it, so the handler
shortens the wait to `retry_delay(receive count)`. SQS still counts the receives: after the third, the redrive policy
moves the message to the dead-letter queue instead of delivering it again.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from timereports.logic.ports import RetryQueue, WaitingQueue
from timereports.models.events import SyncMessage

# 2, 4, 8 minutes after the first, second and third failure: long enough for a blip (a throttled API, an SES hiccup)
# to pass, short enough that a transient failure delays a report by minutes, not hours.
RETRY_BASE_SECONDS = 120
# Never longer than the function's timeout: a retry must not wait longer than a run may take.
RETRY_CAP_SECONDS = 900
# SQS's longest visibility is 12 hours from the receive, and a job may have worked up to the function's timeout before
# it found the quota spent: a wait for a reset further away takes two receives.
MAX_VISIBILITY_SECONDS = 43_200 - RETRY_CAP_SECONDS
# Past the reset, so that the job does not arrive a moment early and spend a receive on the old day's quota.
RESET_MARGIN_SECONDS = 60


def retry_delay(receive_count: int) -> int:
    """Seconds until a message that failed on its `receive_count`-th receive (1 = first) is delivered again."""
    return min(RETRY_BASE_SECONDS * 2 ** (max(receive_count, 1) - 1), RETRY_CAP_SECONDS)


def back_off(queue: RetryQueue, receipt_handle: str, receive_count: int) -> int:
    """Bring a failed run's message back after `retry_delay(receive_count)`; the delay chosen, in seconds."""
    delay = retry_delay(receive_count)
    queue.retry_after(receipt_handle, delay)
    return delay


def reset_delay(resets_at: datetime, now: datetime) -> int:
    """Seconds until a sync job that found the quota spent at `now` is delivered again: just after `resets_at`, or at
    most 11 h 45 min later (within SQS's 12 hours; one more receive, still before the reset, waits the rest)."""
    until_reset = math.ceil((resets_at - now).total_seconds()) + RESET_MARGIN_SECONDS
    return min(max(until_reset, RETRY_BASE_SECONDS), MAX_VISIBILITY_SECONDS)


WaitKind = Literal["waiting", "requeued"]


def wait_for_reset(
    queue: WaitingQueue,
    receipt_handle: str,
    receive_count: int,
    job: SyncMessage,
    resets_at: datetime,
    now: datetime,
) -> tuple[WaitKind, int]:
    """Hold a sync job that found the quota spent until just after the reset; what was done, and the delay chosen.

    On its first receive the message itself waits (`reset_delay`: "waiting"). A message received before has spent
    receives that the dead-letter queue counts (it takes it after the third), so a fresh copy of the job is sent
    instead ("requeued": the caller lets the old one be deleted), and that copy waits on its first receive: waiting
    for the quota never dead-letters a job, whatever the hour the quota ran out. Runs park in the state table
    instead (the dispatcher re-enqueues them); a sync job has no report to park under.
    """
    if receive_count > 1:
        queue.send_sync([job])
        return "requeued", 0
    delay = reset_delay(resets_at, now)
    queue.retry_after(receipt_handle, delay)
    return "waiting", delay
