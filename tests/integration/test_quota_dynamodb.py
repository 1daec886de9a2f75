"""The DynamoDB quota ledger against moto's server on 127.0.0.1: arithmetic, learning from the API, and concurrency.

The concurrency tests are the point of the ledger: many threads and several processes reserve from one item at
once, and the units granted must add up to exactly `limit - reserve`, never more.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.aws import LocalAws
from tests.support.clock import FakeClock
from timereports.dal.quota_ledger import DynamoDBQuotaLedger
from timereports.errors import QuotaExhaustedError, TimereportsError
from timereports.logic.ports import QuotaLedger
from timereports.models.intervals import ApiQuota

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_ledger(
    aws: LocalAws,
    *,
    limit: int = 100,
    reserve: int = 10,
    clock: Callable[[], datetime] | None = None,
    client: Any | None = None,
) -> DynamoDBQuotaLedger:
    return DynamoDBQuotaLedger(
        aws.settings.state_table,
        "acme",
        daily_limit=limit,
        reserve=reserve,
        client=client if client is not None else aws.dynamodb,
        clock=clock or FakeClock(NOON),
    )


def new_client(endpoint: str) -> Any:
    """A DynamoDB client of its own, as a separate Lambda invocation would have (sessions are not thread-safe)."""
    return boto3.session.Session().client("dynamodb", endpoint_url=endpoint, region_name="eu-west-1")


def stored_item(aws: LocalAws, day: str, account: str = "acme") -> dict[str, Any] | None:
    reply = aws.dynamodb.get_item(
        TableName=aws.settings.state_table,
        Key={"pk": {"S": f"quota#{account}"}, "sk": {"S": day}},
        ConsistentRead=True,
    )
    item: dict[str, Any] | None = reply.get("Item")
    return item


def test_reservations_add_up_in_one_item_per_account_and_day(aws: LocalAws) -> None:
    # Given a ledger with no client of its own (it makes one from the environment, pointed at moto)
    ledger: QuotaLedger = make_ledger(aws, client=None)
    # When a run reserves 1 and then 5
    first = ledger.reserve()
    second = ledger.reserve(5)
    # Then the counts add up, and the item has the agreed shape
    assert (first.used, second.used, second.remaining) == (1, 6, 84)
    item = stored_item(aws, "2026-11-23")
    assert item is not None
    assert item["used"] == {"N": "6"}
    assert item["limit"] == {"N": "100"}
    # The TTL attribute: two days after the day ends
    assert int(item["expires_at"]["N"]) == int(datetime(2026, 11, 26, tzinfo=UTC).timestamp())
    assert ledger.status() == second


def test_the_reserve_is_never_spent(aws: LocalAws) -> None:
    # Given a limit of 100 with 10 in reserve
    ledger = make_ledger(aws)
    # When a run takes the whole ceiling
    assert ledger.reserve(90).remaining == 0
    # Then one more unit is refused, with the count, the limit and the reset, and the count is unchanged
    with pytest.raises(QuotaExhaustedError) as refused:
        ledger.reserve()
    error = refused.value
    assert (error.used, error.limit, error.resets_at) == (90, 100, datetime(2026, 11, 24, tzinfo=UTC))
    assert "quota" in str(error)
    assert "2026-11-24T00:00:00+00:00" in str(error)
    assert ledger.status().used == 90


def test_a_reservation_larger_than_the_ceiling_is_refused_without_a_write(aws: LocalAws) -> None:
    ledger = make_ledger(aws)
    with pytest.raises(QuotaExhaustedError):
        ledger.reserve(91)
    assert stored_item(aws, "2026-11-23") is None


def test_a_refused_batch_leaves_room_for_a_smaller_one(aws: LocalAws) -> None:
    # Given 85 of 90 used
    ledger = make_ledger(aws)
    ledger.reserve(85)
    # When a run asks for the 10 pages it still needs, it gets none of them
    with pytest.raises(QuotaExhaustedError):
        ledger.reserve(10)
    # Then the 5 left are still there for a smaller run
    assert ledger.reserve(5).used == 90


def test_refund_decrements_and_never_goes_below_zero(aws: LocalAws) -> None:
    ledger = make_ledger(aws)
    ledger.reserve(30)
    ledger.refund(12)
    assert ledger.status().used == 18
    ledger.refund(50)
    assert ledger.status().used == 0


def test_refund_on_a_day_without_reservations_creates_nothing(aws: LocalAws) -> None:
    ledger = make_ledger(aws)
    ledger.refund(3)
    assert stored_item(aws, "2026-11-23") is None


def test_a_refund_for_yesterday_does_not_shrink_today(aws: LocalAws) -> None:
    # Given a run that reserved 5 just before midnight GMT, and 7 reserved after it
    clock = FakeClock(datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC))
    ledger = make_ledger(aws, clock=clock)
    yesterday = ledger.reserve(5).day
    clock.set(datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC))
    ledger.reserve(7)
    # When the run gives back yesterday's units
    ledger.refund(5, day=yesterday)
    # Then today's count is untouched
    assert ledger.status().used == 7


def test_observe_raises_used_to_the_apis_count_and_never_lowers_it(aws: LocalAws) -> None:
    # Given 40 reserved by our runs
    ledger = make_ledger(aws)
    ledger.reserve(40)
    # When GET /quota/ says 70 (someone's script spent 30)
    raised = ledger.observe(ApiQuota(quota=100, used=70))
    # And later says 50 (our own reservations have not all reached the API yet)
    kept = ledger.observe(ApiQuota(quota=100, used=50))
    # Then the count rose to 70 and stayed there
    assert (raised.used, kept.used) == (70, 70)
    assert stored_item(aws, "2026-11-23")["used"] == {"N": "70"}  # type: ignore[index]
    # And only 20 remain under the ceiling
    with pytest.raises(QuotaExhaustedError):
        ledger.reserve(21)


def test_observe_on_a_fresh_day_creates_the_item(aws: LocalAws) -> None:
    ledger = make_ledger(aws, limit=6000, reserve=600)
    status = ledger.observe(ApiQuota(quota=6000, used=1234))
    assert (status.used, status.limit, status.remaining) == (1234, 6000, 6000 - 600 - 1234)


def test_a_larger_limit_learned_by_one_run_is_used_by_another(aws: LocalAws) -> None:
    # Given two runs configured for 6000 a day with 600 in reserve, and an account on the Unlimited plan
    learner = make_ledger(aws, limit=6000, reserve=600)
    other = make_ledger(aws, limit=6000, reserve=600)
    other.reserve()
    # When one run learns the real limit from GET /quota/
    assert learner.observe(ApiQuota(quota=12000, used=1)).limit == 12000
    # Then the other run's reservations use the larger ceiling (its stale one fails the condition and it re-reads)
    status = other.reserve(11_399)
    assert (status.used, status.limit, status.remaining) == (11_400, 12000, 0)


def test_a_smaller_limit_learned_by_one_run_stops_another(aws: LocalAws) -> None:
    # Given a run configured for 12000 that has used 5000
    other = make_ledger(aws, limit=12000, reserve=600)
    other.reserve(5000)
    # When another run learns that the account only has 6000 a day
    make_ledger(aws, limit=12000, reserve=600).observe(ApiQuota(quota=6000, used=5000))
    # Then the first run cannot reserve past 6000 - 600
    with pytest.raises(QuotaExhaustedError) as refused:
        other.reserve(401)
    assert refused.value.limit == 6000
    assert other.reserve(400).remaining == 0


def test_the_apis_exceeded_flag_marks_the_day_exhausted(aws: LocalAws) -> None:
    ledger = make_ledger(aws)
    status = ledger.observe(ApiQuota(quota=100, used=100, exceeded=True))
    assert status.exhausted
    assert status.remaining == 0
    with pytest.raises(QuotaExhaustedError, match="quota"):
        ledger.reserve()


def test_code_11_exhausts_the_day_until_midnight_gmt(aws: LocalAws) -> None:
    # Given a run that has used 3 units when the API answers code 11 (the account's other users spent the rest)
    clock = FakeClock(datetime(2026, 11, 23, 18, 0, tzinfo=UTC))
    ledger = make_ledger(aws, clock=clock)
    ledger.reserve(3)
    ledger.mark_exhausted()
    # Then every run is refused for the rest of the UTC day, with the reset time
    with pytest.raises(QuotaExhaustedError) as refused:
        make_ledger(aws, clock=clock).reserve()
    assert refused.value.resets_at == datetime(2026, 11, 24, tzinfo=UTC)
    assert "2026-11-24T00:00:00+00:00" in str(refused.value)
    assert stored_item(aws, "2026-11-23")["exhausted"] == {"BOOL": True}  # type: ignore[index]
    # And a refund does not lift it
    ledger.refund(3)
    assert ledger.status().remaining == 0
    # When midnight GMT passes, the new day's allowance is free
    clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=UTC))
    status = ledger.reserve()
    assert (status.day, status.used, status.exhausted) == (date(2026, 11, 24), 1, False)


def test_mark_exhausted_on_a_fresh_day_keeps_the_reset_the_api_gave(aws: LocalAws) -> None:
    ledger = make_ledger(aws)
    ledger.mark_exhausted(resets_at=datetime(2026, 11, 24, 0, 0, 30, tzinfo=UTC))
    status = ledger.status()
    assert (status.used, status.exhausted) == (0, True)
    assert status.resets_at == datetime(2026, 11, 24, 0, 0, 30, tzinfo=UTC)


def test_the_day_key_rolls_over_at_midnight_utc(aws: LocalAws) -> None:
    # Given a day whose ceiling is spent one second before midnight GMT
    clock = FakeClock(datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC))
    ledger = make_ledger(aws, clock=clock)
    ledger.reserve(90)
    with pytest.raises(QuotaExhaustedError):
        ledger.reserve()
    # When the clock reaches midnight GMT
    clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=UTC))
    status = ledger.reserve(2)
    # Then reservations go to a new item, and the old one (which moto never expires) is left alone
    assert (status.day, status.used, status.remaining) == (date(2026, 11, 24), 2, 88)
    assert stored_item(aws, "2026-11-24")["used"] == {"N": "2"}  # type: ignore[index]
    assert stored_item(aws, "2026-11-23")["used"] == {"N": "90"}  # type: ignore[index]


def test_accounts_have_separate_allowances(aws: LocalAws) -> None:
    acme = make_ledger(aws)
    other = DynamoDBQuotaLedger(
        aws.settings.state_table, "other", daily_limit=100, reserve=10, client=aws.dynamodb, clock=FakeClock(NOON)
    )
    acme.reserve(90)
    assert other.reserve(90).used == 90


def test_a_missing_table_is_our_error_with_the_cause_kept(aws: LocalAws) -> None:
    ledger = DynamoDBQuotaLedger("no-such-table", "acme", daily_limit=100, reserve=10, client=aws.dynamodb)
    with pytest.raises(TimereportsError, match="no-such-table") as failed:
        ledger.reserve()
    assert not isinstance(failed.value, QuotaExhaustedError)
    assert isinstance(failed.value.__cause__, ClientError)
    assert not failed.value.retryable


def test_an_unreachable_endpoint_is_a_retryable_error(aws: LocalAws) -> None:
    # Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused at once.
    unreachable = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1, read_timeout=1),
    )
    ledger = make_ledger(aws, client=unreachable)
    with pytest.raises(TimereportsError, match="quota ledger") as failed:
        ledger.status()
    assert failed.value.retryable


# -- concurrency ---------------------------------------------------------------------------------------------

CONCURRENCY_LIMIT = 135
CONCURRENCY_RESERVE = 15
CEILING = CONCURRENCY_LIMIT - CONCURRENCY_RESERVE


def reserve_until_refused(ledger: DynamoDBQuotaLedger, batch_sizes: tuple[int, ...]) -> int:
    """Reserve batches (falling back to single units when a batch is refused) until one unit is refused."""
    granted = 0
    attempt = 0
    size = batch_sizes[0]
    while True:
        try:
            ledger.reserve(size)
        except QuotaExhaustedError:
            if size == 1:
                return granted
            size = 1
            continue
        granted += size
        attempt += 1
        size = batch_sizes[attempt % len(batch_sizes)]


def hammer_in_threads(ledger_factory: Callable[[], DynamoDBQuotaLedger], threads: int) -> list[int]:
    """Run `reserve_until_refused` in `threads` threads that start together; the units each was granted."""
    start = threading.Barrier(threads)
    granted = [0] * threads
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        ledger = ledger_factory()
        start.wait()
        try:
            granted[index] = reserve_until_refused(ledger, (1, 2, 3, 5)[index % 4 :] + (1, 2, 3, 5)[: index % 4])
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    assert not errors, errors
    return granted


def test_threads_together_reach_the_ceiling_exactly(aws: LocalAws) -> None:
    # Given 12 threads, each with its own ledger (boto3 clients are thread-safe, and cost 0.1 s each to make)
    client = new_client(aws.endpoint)

    def ledger_factory() -> DynamoDBQuotaLedger:
        return make_ledger(aws, limit=CONCURRENCY_LIMIT, reserve=CONCURRENCY_RESERVE, client=client)

    # When they all reserve until refused
    granted = hammer_in_threads(ledger_factory, threads=12)
    # Then the units granted add up to exactly the ceiling, which is what the table holds
    assert sum(granted) == CEILING
    assert sum(1 for units in granted if units) > 1, "the threads did not actually overlap"
    assert make_ledger(aws).status().used == CEILING


def _process_worker(table: str, endpoint: str, threads: int, start: Any, results: Any) -> None:
    """One child process: several threads hammering the same item through the process's client."""
    client = new_client(endpoint)
    start.wait()

    def ledger_factory() -> DynamoDBQuotaLedger:
        return DynamoDBQuotaLedger(
            table,
            "acme",
            daily_limit=CONCURRENCY_LIMIT,
            reserve=CONCURRENCY_RESERVE,
            client=client,
            clock=FakeClock(NOON),
        )

    results.put(sum(hammer_in_threads(ledger_factory, threads)))


def test_processes_together_reach_the_ceiling_exactly(aws: LocalAws) -> None:
    # Given 3 processes (spawned, as separate Lambda containers or CLI runs would be) of 3 threads each
    context = multiprocessing.get_context("spawn")
    processes = 3
    start = context.Barrier(processes)
    results = context.Queue()
    children = [
        context.Process(target=_process_worker, args=(aws.settings.state_table, aws.endpoint, 3, start, results))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    # When they all reserve from the same item until refused
    granted = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)
    # Then every process got some, and together exactly the ceiling, never more
    assert all(child.exitcode == 0 for child in children)
    assert sum(granted) == CEILING, granted
    assert sum(1 for units in granted if units) > 1, "the processes did not actually overlap"
    assert make_ledger(aws).status().used == CEILING


def test_concurrent_refunds_and_reservations_keep_the_count_exact(aws: LocalAws) -> None:
    # Given 10 threads that each reserve 5 and give back 2, five times
    client = new_client(aws.endpoint)

    def worker() -> None:
        ledger = make_ledger(aws, limit=10_000, reserve=0, client=client)
        for _ in range(5):
            ledger.reserve(5)
            ledger.refund(2)

    workers = [threading.Thread(target=worker) for _ in range(10)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    # Then no update was lost
    assert make_ledger(aws, limit=10_000, reserve=0).status().used == 10 * 5 * 3
