"""The in-memory quota ledger: the rules every ledger follows, with a fake clock and no sockets."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from timereports_dev.fakes import InMemoryQuotaLedger

from tests.support.clock import FakeClock
from timereports.engine.quota_rules import QuotaStatus, next_reset
from timereports.errors import QuotaExhaustedError
from timereports.logic.ports import QuotaLedger
from timereports.models.intervals import ApiQuota

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_ledger(*, limit: int = 100, reserve: int = 10, now: datetime = NOON) -> tuple[InMemoryQuotaLedger, FakeClock]:
    clock = FakeClock(now)
    return InMemoryQuotaLedger("acme", daily_limit=limit, reserve=reserve, clock=clock), clock


def test_in_memory_ledger_satisfies_the_port() -> None:
    ledger: QuotaLedger = InMemoryQuotaLedger()
    assert isinstance(ledger.status(), QuotaStatus)


def test_reservations_count_up_to_the_limit_less_the_reserve() -> None:
    # Given a limit of 100 with 10 kept in reserve
    ledger, _ = make_ledger()
    # When a run reserves 1, then 50, then 39
    first = ledger.reserve()
    ledger.reserve(50)
    last = ledger.reserve(39)
    # Then the count is 90 and nothing remains
    assert (first.used, first.remaining) == (1, 89)
    assert (last.used, last.limit, last.reserve, last.remaining) == (90, 100, 10, 0)
    assert last.account == "acme"
    assert last.day == date(2026, 11, 23)


def test_a_reservation_past_the_ceiling_is_refused_whole() -> None:
    # Given 85 of a ceiling of 90 used
    ledger, _ = make_ledger()
    ledger.reserve(85)
    # When a run asks for 6
    with pytest.raises(QuotaExhaustedError) as refused:
        ledger.reserve(6)
    # Then it gets none of them, and the error says how far the count is and when the quota resets (GMT)
    error = refused.value
    assert (error.used, error.limit) == (85, 100)
    assert error.resets_at == datetime(2026, 11, 24, tzinfo=UTC)
    assert "quota" in str(error)
    assert "2026-11-24T00:00:00+00:00" in str(error)
    assert ledger.status().used == 85
    # And 5 still fit
    assert ledger.reserve(5).remaining == 0


def test_refund_gives_back_units_and_never_goes_below_zero() -> None:
    # Given 30 reserved
    ledger, _ = make_ledger()
    ledger.reserve(30)
    # When 10 are refunded, then 100
    ledger.refund(10)
    after_first = ledger.status().used
    ledger.refund(100)
    # Then the count went to 20, then stopped at 0
    assert after_first == 20
    assert ledger.status().used == 0


def test_a_refund_for_a_past_day_is_dropped() -> None:
    # Given 5 reserved yesterday, a run ending after midnight, and 7 reserved today
    ledger, clock = make_ledger(now=datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC))
    yesterday = ledger.reserve(5).day
    clock.advance(2)
    ledger.reserve(7)
    # When the run refunds what it reserved yesterday
    ledger.refund(5, day=yesterday)
    # Then today's count keeps its 7
    assert ledger.status().used == 7


def test_observe_raises_the_count_to_the_api_and_never_lowers_it() -> None:
    # Given 40 reserved by us
    ledger, _ = make_ledger()
    ledger.reserve(40)
    # When the API says 60 used (other users of the account spent 20 meanwhile)
    raised = ledger.observe(ApiQuota(quota=100, used=60))
    # And later says 10 used (our reservations have not all reached it)
    kept = ledger.observe(ApiQuota(quota=100, used=10))
    # Then the count follows the API up, never down
    assert raised.used == 60
    assert kept.used == 60


def test_observe_learns_the_accounts_real_limit() -> None:
    # Given a ledger configured for 6000 a day with 600 in reserve
    ledger, _ = make_ledger(limit=6000, reserve=600)
    # When the API reports an Unlimited plan
    status = ledger.observe(ApiQuota(quota=12000, used=100))
    # Then the ceiling follows the API's limit
    assert status.limit == 12000
    assert status.remaining == 12000 - 600 - 100
    assert ledger.reserve(11_300).remaining == 0


def test_the_api_exceeded_flag_stops_reservations() -> None:
    ledger, _ = make_ledger()
    # When GET /quota/ says the day's allowance is exceeded
    status = ledger.observe(ApiQuota(quota=100, used=100, exceeded=True))
    # Then nothing remains, whatever the count
    assert status.exhausted
    assert status.remaining == 0
    with pytest.raises(QuotaExhaustedError, match="quota"):
        ledger.reserve()


def test_mark_exhausted_refuses_until_the_next_utc_day() -> None:
    # Given a code-11 reply in the evening, Berlin time (still the same UTC day)
    ledger, clock = make_ledger(now=datetime(2026, 11, 23, 22, 30, tzinfo=timezone(timedelta(hours=1))))
    ledger.reserve(3)
    ledger.mark_exhausted()
    # Then reservations are refused for the rest of the UTC day
    with pytest.raises(QuotaExhaustedError) as refused:
        ledger.reserve()
    assert refused.value.resets_at == datetime(2026, 11, 24, tzinfo=UTC)
    # When the clock passes midnight GMT
    clock.set(datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC))
    # Then the new day starts from zero and is not exhausted
    status = ledger.reserve()
    assert (status.day, status.used, status.exhausted) == (date(2026, 11, 24), 1, False)


def test_mark_exhausted_keeps_the_reset_the_api_gave() -> None:
    ledger, _ = make_ledger()
    ledger.mark_exhausted(resets_at=datetime(2026, 11, 24, 0, 0, 30, tzinfo=UTC))
    assert ledger.status().resets_at == datetime(2026, 11, 24, 0, 0, 30, tzinfo=UTC)


def test_the_day_rolls_over_at_midnight_utc() -> None:
    # Given a day whose ceiling is spent
    ledger, clock = make_ledger(now=datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC))
    ledger.reserve(90)
    with pytest.raises(QuotaExhaustedError):
        ledger.reserve()
    # When midnight GMT passes
    clock.set(datetime(2026, 11, 24, tzinfo=UTC))
    # Then a fresh allowance is there, with the configured limit
    status = ledger.status()
    assert (status.day, status.used, status.limit, status.remaining) == (date(2026, 11, 24), 0, 100, 90)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)),
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        # 00:30 in Berlin is still the previous UTC day
        (datetime(2026, 11, 24, 0, 30, tzinfo=timezone(timedelta(hours=1))), datetime(2026, 11, 24, tzinfo=UTC)),
    ],
)
def test_next_reset_is_the_next_midnight_gmt(now: datetime, expected: datetime) -> None:
    reset = next_reset(now)
    assert reset == expected
    assert reset.utcoffset() == timedelta(0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_reset(datetime(2026, 11, 23, 12, 0))


def test_invalid_reservations_are_programming_errors() -> None:
    ledger, _ = make_ledger()
    with pytest.raises(ValueError, match="at least 1"):
        ledger.reserve(0)


def test_threads_never_pass_the_ceiling() -> None:
    # Given a ceiling of 90 and 16 threads each trying 20 single reservations
    ledger, _ = make_ledger()
    granted: list[int] = []
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        for _ in range(20):
            try:
                ledger.reserve()
            except QuotaExhaustedError:
                continue
            granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly the ceiling was granted
    assert len(granted) == 90
    assert ledger.status().used == 90
