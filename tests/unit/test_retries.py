"""When a failed queued run comes back: minutes later, a little later each time, never later than a run may take;
and a sync job that found the quota spent: just after the reset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timereports.logic.retries import RETRY_CAP_SECONDS, back_off, reset_delay, retry_delay, wait_for_reset
from timereports.models.events import SyncMessage


class RecordingQueue:
    """A RetryQueue that remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.sent: list[SyncMessage] = []

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        self.calls.append((receipt_handle, seconds))

    def send_sync(self, jobs: list[SyncMessage]) -> None:
        self.sent += jobs


def test_the_delay_grows_from_two_minutes_and_is_capped() -> None:
    # Given the receive counts of a message failing again and again / Then 2, 4, 8 minutes, then the cap
    assert [retry_delay(count) for count in range(1, 6)] == [120, 240, 480, 900, 900]
    assert RETRY_CAP_SECONDS <= 900  # run_report's timeout: never wait longer than a run may take
    # And a missing or odd count is treated as the first receive
    assert retry_delay(0) == 120


def test_back_off_asks_the_queue_for_the_delay_of_that_receive() -> None:
    # Given a message received for the second time / When its run failed
    queue = RecordingQueue()
    delay = back_off(queue, "receipt-2", receive_count=2)
    # Then the queue makes it visible again in four minutes
    assert (delay, queue.calls) == (240, [("receipt-2", 240)])


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 23, 14, 0, tzinfo=UTC), 10 * 3600 + 60),  # back a minute after midnight GMT
        (datetime(2026, 11, 23, 23, 59, 30, tzinfo=UTC), 120),  # never sooner than a failed run's first retry
        (datetime(2026, 11, 23, 6, 6, tzinfo=UTC), 43_200 - 900),  # SQS's 12 hours, less a job's longest work
        (datetime(2026, 11, 23, 17, 51, tzinfo=UTC), 6 * 3600 + 9 * 60 + 60),  # the second wait reaches the reset
    ],
)
def test_a_sync_job_waits_until_just_after_the_reset_within_sqs_limit(now: datetime, expected: int) -> None:
    assert reset_delay(datetime(2026, 11, 24, tzinfo=UTC), now) == expected


def test_a_sync_job_waits_on_its_first_receive_and_is_sent_afresh_after() -> None:
    # Given a month sync job that found the quota spent
    job = SyncMessage.model_validate({"account": "default", "from": "2026-10-01", "to": "2026-10-31"})
    reset, now = datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    # When it is on its first receive, then the message itself waits until just after the reset
    queue = RecordingQueue()
    assert wait_for_reset(queue, "r-1", 1, job, reset, now) == ("waiting", 10 * 3600 + 60)
    assert (queue.calls, queue.sent) == ([("r-1", 10 * 3600 + 60)], [])
    # When it was received before, then a fresh copy is sent, so that its receives never reach the dead-letter queue
    queue = RecordingQueue()
    assert wait_for_reset(queue, "r-2", 2, job, reset, now) == ("requeued", 0)
    assert (queue.calls, queue.sent) == ([], [job])
