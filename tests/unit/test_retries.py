"""When a failed queued run comes back: minutes later, a little later each time, never later than a run may take."""

from __future__ import annotations

from timereports.logic.retries import RETRY_CAP_SECONDS, back_off, retry_delay


class RecordingQueue:
    """A RetryQueue that remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        self.calls.append((receipt_handle, seconds))


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
