"""The client under faults over 127.0.0.1: retried within bounds and identical to a fault-free pull, or failing clearly.

Backoff and retry budgets are tiny here (or the clock is fake) so that the tests take seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from timereports_dev.dataset import ADMIN_TOKEN, Dataset
from timereports_dev.fakes import InMemoryQuotaLedger
from timereports_dev.simulator import Fault, IntervalsSimulator

from tests.support.intervals import make_test_client, time_requests
from timereports.errors import IntervalsUnavailableError, QuotaExhaustedError
from timereports.intervals.client import IntervalsClient

PAGE = 250


class FakeTime:
    """One fake clock for the simulator (epoch seconds) and the client (monotonic): only sleeping moves it."""

    def __init__(self, start: float = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def make_client(url: str, **options: Any) -> IntervalsClient:
    """This module's client: pages of PAGE rows and a short read timeout (the latency faults need it)."""
    return make_test_client(url, **{"page_size": PAGE, "timeout": (1.0, 0.5), **options})


@pytest.fixture(scope="module")
def fault_free_rows(dataset: Dataset) -> list[dict[str, Any]]:
    """The raw rows of a pull without faults: what every faulty pull must equal."""
    with IntervalsSimulator(dataset) as simulator:
        return list(make_client(simulator.url).iter_time_raw())


FAULTS = {
    "503 code 20": Fault(kind="status", status=503, api_code=20, times=2),
    "500 code 1": Fault(kind="status", status=500, api_code=1, times=2),
    "500 code 19": Fault(kind="status", status=500, api_code=19, times=1),
    "502 no code": Fault(kind="status", status=502, api_code=None, times=1),
    "429": Fault(kind="status", status=429, api_code=None, times=2),
    "connection reset": Fault(kind="reset", times=2),
    "truncated body": Fault(kind="truncate", times=2),
    "cut JSON": Fault(kind="truncate", truncate_mode="cut_json", times=2),
    "HTML instead of JSON": Fault(kind="non_json", times=2),
    "read timeout": Fault(kind="latency", delay=1.0, times=1),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_transient_faults_are_retried_and_the_result_is_unchanged(
    simulator: IntervalsSimulator, fault: Fault, fault_free_rows: list[dict[str, Any]]
) -> None:
    # Given a fault on the next /time/ requests (a first page and some later ones)
    simulator.inject(fault)
    ledger = InMemoryQuotaLedger(daily_limit=6000)
    fake = FakeTime()  # backoff and pacing waits (429 slows the pacer) pass instantly; HTTP timeouts stay real
    client = make_client(simulator.url, ledger=ledger, sleep=fake.sleep, clock=fake)
    # When the client pulls everything
    rows = list(client.iter_time_raw())
    # Then the rows are exactly those of a fault-free pull
    assert rows == fault_free_rows
    # And the faulty attempts were paid for like the others: the ledger holds one unit per request sent
    # (a timed-out request is logged by the simulator only when its delay ends)
    deadline = time.monotonic() + 3
    while len(time_requests(simulator)) < client.requests_counted and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = time_requests(simulator)
    faulty = [record for record in sent if record.fault is not None or record.status >= 400]
    assert len(faulty) >= 1 or fault.kind == "latency"
    assert ledger.status().used == len(sent) == client.requests_counted
    assert len(sent) > 8  # 2000 rows at 250 a page: 9 pages, plus the retries


def test_a_permanent_503_fails_after_the_attempt_bound(simulator: IntervalsSimulator) -> None:
    # Given an API that answers 503 to everything
    simulator.inject(Fault(kind="status", status=503, api_code=20, times=1000))
    fake = FakeTime()
    client = make_client(
        simulator.url, max_attempts=4, backoff_base=1.0, backoff_cap=2.0, max_retry_seconds=60.0,
        sleep=fake.sleep, clock=fake, rng=lambda: 1.0,
    )  # fmt: skip
    # When the client pulls
    with pytest.raises(IntervalsUnavailableError) as caught:
        list(client.iter_time_raw())
    # Then it tried exactly 4 times, backing off 1, 2 and 2 seconds (capped), and says so with the API's words
    assert len(simulator.request_log) == 4
    assert fake.slept == [1.0, 2.0, 2.0]
    assert (caught.value.status, caught.value.code) == (503, 20)
    assert "Service offline" in str(caught.value)
    assert "gave up after 4 attempt(s)" in str(caught.value)


def test_retries_stop_at_the_time_bound_too(simulator: IntervalsSimulator) -> None:
    # Given a permanent 503, many allowed attempts, but only 10 seconds of retrying
    simulator.inject(Fault(kind="status", status=503, api_code=20, times=1000))
    fake = FakeTime()
    client = make_client(
        simulator.url, max_attempts=100, backoff_base=1.0, backoff_cap=4.0, max_retry_seconds=10.0,
        sleep=fake.sleep, clock=fake, rng=lambda: 1.0,
    )  # fmt: skip
    with pytest.raises(IntervalsUnavailableError):
        list(client.iter_time_raw())
    # Then the waits never added up past the bound: 1 + 2 + 4 = 7, and another 4 would pass 10
    assert fake.slept == [1.0, 2.0, 4.0]
    assert len(simulator.request_log) == 4


def test_code_12_slows_the_client_down_and_the_pull_succeeds(dataset: Dataset, fault_free_rows: list[Any]) -> None:
    # Given an API that allows only 4 requests a minute per IP, a client paced at 100 a minute, and one fake clock
    fake = FakeTime()
    with IntervalsSimulator(dataset, per_minute_limit=4, clock=fake) as simulator:
        client = make_client(
            simulator.url, max_in_flight=1, sleep=fake.sleep, clock=fake, backoff_base=1.0, backoff_cap=4.0,
            max_retry_seconds=300.0, max_attempts=8,
        )  # fmt: skip
        # When it pulls 9 pages
        rows = list(client.iter_time_raw())
        log = list(simulator.request_log)
    # Then it was told "too fast", slowed down to the floor, and still got everything
    refusals = [record for record in log if record.api_code == 12]
    assert refusals
    assert client.pacer.slowdowns >= 1
    assert client.pacer.requests_per_minute < 100
    assert rows == fault_free_rows
    assert sum(fake.slept) > 60  # it waited (in fake time) rather than hammering


def test_a_single_code_12_halves_the_pace_and_retries(
    simulator: IntervalsSimulator, fault_free_rows: list[Any]
) -> None:
    simulator.inject(Fault(kind="status", status=400, api_code=12, times=1))
    fake = FakeTime()
    client = make_client(simulator.url, sleep=fake.sleep, clock=fake)
    assert list(client.iter_time_raw()) == fault_free_rows
    assert client.pacer.requests_per_minute == 50
    assert len(time_requests(simulator)) == 1 + 9


def test_code_11_marks_the_ledger_exhausted_and_stops(dataset: Dataset) -> None:
    # Given an account whose daily allowance runs out after 3 requests (other users spent the rest)
    with IntervalsSimulator(dataset, daily_quota=3) as simulator:
        ledger = InMemoryQuotaLedger(daily_limit=6000)
        client = make_client(simulator.url, ledger=ledger, max_in_flight=1)
        # When the client pulls 9 pages
        with pytest.raises(QuotaExhaustedError) as caught:
            list(client.iter_time_raw())
        # Then the 4th request was refused with code 11, not retried, and the ledger is closed until midnight GMT
        codes = [record.api_code for record in simulator.request_log]
        assert codes == [None, None, None, 11]
        status = ledger.status()
        assert status.exhausted
        assert caught.value.resets_at == status.resets_at
        assert caught.value.resets_at.time() == datetime.min.time()
        # And the next pull fails before sending anything
        with pytest.raises(QuotaExhaustedError):
            list(client.iter_time_raw())
        assert len(simulator.request_log) == 4


def test_the_token_stays_out_of_logs_and_errors(
    simulator: IntervalsSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    # Given faults that make the client log retries and finally fail
    simulator.inject(Fault(kind="reset", times=1000))
    client = make_client(simulator.url, max_attempts=3)
    # When it fails
    with caplog.at_level(logging.DEBUG), pytest.raises(IntervalsUnavailableError) as caught:
        list(client.iter_time_raw())
    # Then the retries were logged, and nowhere is the token (nor its Basic-auth encoding)
    assert "retrying" in caplog.text
    texts = [caplog.text, str(caught.value), repr(caught.value), repr(client), str(caught.value.__cause__)]
    for text in texts:
        assert ADMIN_TOKEN not in text
        assert "QWRtMW5UMGtlbjE6WA" not in text  # base64("Adm1nT0ken1:X")
    assert len(simulator.request_log) == 3
