"""The sliding-window pacer, on a fake clock: never more than the limit in any 60 seconds, and slower after code 12."""

from __future__ import annotations

import itertools
import logging
import threading

import pytest
from timereports_dev.cli import _WithExtras

from tests.support.clock import FakeClock
from timereports.intervals.pacing import MIN_REQUESTS_PER_MINUTE, RequestPacer


def most_in_any_window(starts: list[float], window: float = 60.0) -> int:
    """The largest number of starts inside any half-open window [t, t + window)."""
    ordered = sorted(starts)
    best, low = 0, 0
    for high, start in enumerate(ordered):
        while start - ordered[low] >= window:
            low += 1
        best = max(best, high - low + 1)
    return best


def test_requests_within_the_limit_start_at_once() -> None:
    # Given a pacer of 5 a minute
    clock = FakeClock()
    pacer = RequestPacer(5, clock=clock.monotonic, sleep=clock.sleep)
    # When 5 requests start
    waits = [pacer.acquire() for _ in range(5)]
    # Then none waited
    assert waits == [0.0] * 5
    assert clock.sleeps == []


def test_the_next_request_waits_until_the_oldest_leaves_the_window() -> None:
    # Given 5 requests a minute, started 10 s apart
    clock = FakeClock()
    pacer = RequestPacer(5, clock=clock.monotonic, sleep=clock.sleep)
    for _ in range(5):
        pacer.acquire()
        clock.advance(10)
    # When a sixth starts at t0 + 50
    waited = pacer.acquire()
    # Then it waits until t0 + 60 (a full window after the first)
    assert waited == pytest.approx(10.0)
    assert clock.monotonic() == pytest.approx(1060.0)
    assert pacer.waited_seconds == pytest.approx(10.0)


def test_the_wait_before_a_request_counts_the_slots_already_taken_and_takes_none() -> None:
    # Given 5 requests a minute, 4 of them started 10 s apart
    clock = FakeClock()
    pacer = RequestPacer(5, clock=clock.monotonic, sleep=clock.sleep)
    for _ in range(4):
        pacer.acquire()
        clock.advance(10)
    # When it is asked how long the 1st, 2nd and 7th next requests would wait (at t0 + 40)
    waits = [pacer.wait_before(n) for n in (1, 2, 7)]
    # Then: now; a window after the first (t0 + 60); and a window after the 2nd next one (t0 + 60 + 60)
    assert waits == pytest.approx([0.0, 20.0, 80.0])
    # And asking took no slot: the next request still starts at once, the one after waits as said
    assert pacer.acquire() == 0.0
    assert pacer.acquire() == pytest.approx(20.0)


def test_a_burst_never_exceeds_the_limit_in_any_window() -> None:
    # Given 90 a minute and 400 requests asked for at once, with bits of work between them
    clock = FakeClock()
    pacer = RequestPacer(90, clock=clock.monotonic, sleep=clock.sleep)
    starts = []
    for index in range(400):
        pacer.acquire()
        starts.append(clock.monotonic())
        clock.advance(0.01 * (index % 7))
    # Then no 60 seconds saw more than 90 starts, and the pacer did not wait more than it had to
    assert most_in_any_window(starts) == 90
    # (400 starts need at least 4 full windows; the work between them adds at most 0.06 s each)
    assert 4 * 60 <= starts[-1] - starts[0] < 4 * 60 + 0.06 * 400


def test_slots_handed_to_concurrent_threads_respect_the_window() -> None:
    # Given a frozen clock and 8 threads taking 50 slots each from a pacer of 30 a minute
    clock = FakeClock()
    pacer = RequestPacer(30, clock=clock.monotonic, sleep=clock.sleep)
    starts: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            slot = clock.monotonic() + pacer.reserve_slot()
            with lock:
                starts.append(slot)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the 400 slots never put more than 30 in any minute
    assert len(starts) == 400
    assert most_in_any_window(starts) == 30


def test_slow_down_halves_the_rate_and_spaces_requests() -> None:
    # Given a pacer of 90 a minute
    clock = FakeClock()
    pacer = RequestPacer(90, clock=clock.monotonic, sleep=clock.sleep)
    pacer.acquire()
    # When the API answers code 12
    pacer.slow_down()
    # Then the rate is halved and the next requests come at least 60/45 s apart
    assert pacer.requests_per_minute == 45
    starts = []
    for _ in range(5):
        pacer.acquire()
        starts.append(clock.monotonic())
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= 60 / 45 - 1e-9 for gap in gaps)
    assert starts[0] >= 1000 + 60 / 45 - 1e-9
    assert pacer.slowdowns == 1


def test_slowing_down_stops_at_a_floor() -> None:
    # Given a pacer slowed down many times
    pacer = RequestPacer(90, clock=FakeClock().monotonic, sleep=lambda _: None)
    for _ in range(20):
        pacer.slow_down()
    # Then it still lets requests through at the floor rate
    assert pacer.requests_per_minute == MIN_REQUESTS_PER_MINUTE


def test_a_slow_pacer_is_never_sped_up_by_slowing_down() -> None:
    pacer = RequestPacer(3, clock=FakeClock().monotonic, sleep=lambda _: None)
    pacer.slow_down()
    assert pacer.requests_per_minute <= 3


@pytest.mark.parametrize("rate", [0, 101, 1000])
def test_rates_outside_the_api_limit_are_refused(rate: int) -> None:
    # The API allows 100 a minute per IP: a higher setting would only earn code-12 refusals.
    with pytest.raises(ValueError, match="requests_per_minute"):
        RequestPacer(rate)


def test_held_back_time_counts_overlapping_waits_once() -> None:
    # Given 2 a minute and three requests taken at once (the third waits 60 s), then two more at once
    clock = FakeClock()
    pacer = RequestPacer(2, clock=clock.monotonic, sleep=clock.sleep)
    for _ in range(3):
        pacer.reserve_slot()
    pacer.reserve_slot()  # waits 60 s too, in the same minute as the third
    # Then the wall time spent holding requests back is 60 s, while the waits sum to 120 s
    assert pacer.held_back_seconds == pytest.approx(60.0)
    assert pacer.waited_seconds == pytest.approx(120.0)


def test_one_pacer_per_api_host_is_shared_across_clients() -> None:
    # The API's limit is per IP: runs one after another in a warm Lambda must draw on the same window
    from timereports.intervals.pacing import shared_pacer

    first = shared_pacer("api.example.test", 30)
    assert shared_pacer("api.example.test", 30) is first
    assert shared_pacer("other.example.test", 30) is not first


def test_a_wait_for_the_pace_and_a_slow_down_are_logged_with_their_figures(caplog: pytest.LogCaptureFixture) -> None:
    # Given 2 requests a minute, both taken: the third waits a minute; then Intervals says "too fast"
    clock = FakeClock()
    pacer = RequestPacer(2, clock=clock.monotonic, sleep=clock.sleep)
    with caplog.at_level("INFO", logger="timereports.intervals.pacing"):
        for _ in range(3):
            pacer.acquire()
        pacer.slow_down()
    # Then `-v` shows how long it waited and at what pace (as extras its formatter prints), and the slow-down
    waited, slowed = [record for record in caplog.records if record.name == "timereports.intervals.pacing"]
    assert (waited.getMessage(), getattr(waited, "wait_seconds", None)) == ("waiting for the per-minute pace", 60.0)
    assert "too fast" in slowed.getMessage()


def test_the_verbose_log_line_carries_the_records_extras() -> None:
    # The command line's -v formatter: the line, then what the record carries in `extra`
    record = logging.LogRecord("timereports.intervals.client", logging.WARNING, "", 0, "retrying", None, None)
    record.path, record.attempt = "/time/", 2
    assert _WithExtras("%(levelname)s %(name)s: %(message)s").format(record) == (
        "WARNING timereports.intervals.client: retrying path=/time/ attempt=2"
    )
