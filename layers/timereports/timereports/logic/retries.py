"""When a failed queued run is tried again: minutes later, a little later each time, then the dead-letter queue.

The run queue's visibility timeout is six times the function's (90 minutes), so that a message is never handed to a
second worker while a run is still working on it. A run that failed is no longer working on it, so the handler
shortens the wait to `retry_delay(receive count)`. SQS still counts the receives: after the third, the redrive policy
moves the message to the dead-letter queue instead of delivering it again.
"""

from __future__ import annotations

from timereports.logic.ports import RetryQueue

# 2, 4, 8 minutes after the first, second and third failure: long enough for a blip (a throttled API, an SES hiccup)
# to pass, short enough that a transient failure delays a report by minutes, not hours.
RETRY_BASE_SECONDS = 120
# Never longer than the function's timeout: a retry must not wait longer than a run may take.
RETRY_CAP_SECONDS = 900


def retry_delay(receive_count: int) -> int:
    """Seconds until a message that failed on its `receive_count`-th receive (1 = first) is delivered again."""
    return min(RETRY_BASE_SECONDS * 2 ** (max(receive_count, 1) - 1), RETRY_CAP_SECONDS)


def back_off(queue: RetryQueue, receipt_handle: str, receive_count: int) -> int:
    """Bring a failed run's message back after `retry_delay(receive_count)`; the delay chosen, in seconds."""
    delay = retry_delay(receive_count)
    queue.retry_after(receipt_handle, delay)
    return delay
