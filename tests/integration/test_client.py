"""The Intervals client against the simulator over 127.0.0.1: paging, filters, encodings, quota, reference data.

Request-count bound: with pages of P rows overlapping by one (so that shifted pages are detected), a pull of N
entries without edits costs max(1, ceil((N - 1) / (P - 1))) requests: the lower bound ceil(N / P), plus at most one
while N <= P * (P - 1).
"""

from __future__ import annotations

import io
import json
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from timereports_dev.dataset import ADMIN_TOKEN, EXECUTIVE_TOKEN, MANAGER_TOKEN, Dataset
from timereports_dev.fakes import InMemoryQuotaLedger
from timereports_dev.pull import pull_entries
from timereports_dev.simulator import IntervalsSimulator

from tests.support.intervals import make_test_client, time_requests
from timereports.errors import IntervalsAuthError, QuotaExhaustedError, RunTooLongError
from timereports.intervals.client import IntervalsClient
from timereports.intervals.reference import ReferenceCache
from timereports.models.intervals import TimeEntry, TimeQuery

PAGE = 150


def make_client(url: str, **options: Any) -> IntervalsClient:
    """This module's client: pages of PAGE rows."""
    return make_test_client(url, **{"page_size": PAGE, **options})


def expected_pages(entries: int, page: int) -> int:
    return max(1, math.ceil((entries - 1) / (page - 1)))


@pytest.fixture
def own_simulator(dataset: Dataset) -> Iterator[Any]:
    """Build and serve a simulator with non-default options for one test."""
    started: list[IntervalsSimulator] = []

    def start(**options: Any) -> IntervalsSimulator:
        sim = IntervalsSimulator(dataset, **options)
        sim.start("127.0.0.1", 0)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def test_every_entry_comes_once_in_id_order_across_many_pages(
    simulator: IntervalsSimulator, simulator_url: str
) -> None:
    # Given 2000 entries and pages of 150
    client = make_client(simulator_url)
    expected = [entry["id"] for entry in simulator.time_entries()]
    # When the client pulls everything
    ids = [entry.id for entry in client.iter_time(TimeQuery())]
    # Then each entry came exactly once, in id order
    assert ids == sorted(expected)
    # And the pages were asked sorted by id, with our page size, with the one-row overlap
    sent = time_requests(simulator)
    assert len(sent) == expected_pages(len(expected), PAGE) <= math.ceil(len(expected) / PAGE) + 1
    assert {record.params["limit"] for record in sent} == {str(PAGE)}
    assert all(record.params["sortfield"] == "id" and record.params["sortdir"] == "ASC" for record in sent)
    offsets = sorted(int(record.params["offset"]) for record in sent)
    assert offsets == list(range(0, len(expected) - 1, PAGE - 1))


def test_default_page_size_is_large_never_the_apis_10(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given a client with the default page size
    client = make_client(simulator_url, page_size=1000)
    # When it pulls 2000 entries
    assert sum(1 for _ in client.iter_time_raw()) == 2000
    # Then every request asked for 1000 rows, and 3 requests did (lower bound 2, +1 for the overlap)
    sent = time_requests(simulator)
    assert [record.params["limit"] for record in sent] == ["1000"] * 3
    assert IntervalsClient(simulator_url, ADMIN_TOKEN, ledger=InMemoryQuotaLedger()).page_size == 1000


def test_a_pull_within_one_page_is_one_request(simulator: IntervalsSimulator, simulator_url: str) -> None:
    client = make_client(simulator_url, page_size=5000)
    assert sum(1 for _ in client.iter_time_raw()) == 2000
    assert len(time_requests(simulator)) == 1


def test_filters_are_pushed_down_as_csv_lists(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given filters on two people, two projects, a date range and billable
    entries = simulator.time_entries()
    people = tuple(sorted({entry["personid"] for entry in entries})[:2])
    projects = tuple(sorted({entry["projectid"] for entry in entries if entry["personid"] in people})[:3])
    query = TimeQuery(
        datebegin=date(2026, 2, 1), dateend=date(2026, 6, 30), personid=people, projectid=projects, billable=True
    )
    client = make_client(simulator_url, page_size=4)
    # When the client pulls
    ids = [entry.id for entry in client.iter_time(query)]
    # Then the API filtered (the query string carries CSV lists and t/f) and the result is what the filters select
    first = time_requests(simulator)[0].params
    assert first["personid"] == ",".join(str(person) for person in people)
    assert first["projectid"] == ",".join(str(project) for project in projects)
    assert (first["datebegin"], first["dateend"], first["billable"]) == ("2026-02-01", "2026-06-30", "t")
    wanted = sorted(
        entry["id"]
        for entry in entries
        if entry["personid"] in people
        and entry["projectid"] in projects
        and entry["billable"]
        and date(2026, 2, 1) <= entry["date"] <= date(2026, 6, 30)
    )
    assert ids == wanted
    assert len(ids) > 8  # several pages


def test_numbers_as_json_numbers_parse_the_same(dataset: Dataset, own_simulator: Any) -> None:
    # Given one simulator that sends ids and hours as strings (like the API) and one that sends JSON numbers
    as_strings = own_simulator()
    as_numbers = own_simulator(numbers_as_strings=False)
    # When both are pulled
    from_strings = list(make_client(as_strings.url).iter_time())
    from_numbers = list(make_client(as_numbers.url).iter_time())
    raw = next(make_client(as_numbers.url).iter_time_raw())
    # Then the typed entries are identical
    assert isinstance(raw["id"], int)
    assert from_strings == from_numbers
    assert len(from_strings) == 2000


def test_html_entities_in_names_are_decoded(simulator: IntervalsSimulator, simulator_url: str) -> None:
    client = make_client(simulator_url, page_size=1000)
    raw = {row["id"]: row for row in client.iter_time_raw()}
    typed = {entry.id: entry for entry in make_client(simulator_url, page_size=1000).iter_time()}
    escaped = [row for row in raw.values() if "&amp;" in row["client"]]
    # The API's rows keep the escaping; the typed entries read "Smith & Sons"
    assert escaped, "the data set should have a client with & in its name"
    for row in escaped:
        assert "&amp;" not in typed[int(row["id"])].client
        assert "&" in typed[int(row["id"])].client


def test_a_bad_token_fails_after_one_request_without_showing_the_token(
    simulator: IntervalsSimulator, simulator_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a token the API does not know
    token = "WrongT0ken9"
    client = make_client(simulator_url, token=token)
    # When the client pulls
    with pytest.raises(IntervalsAuthError) as caught:
        list(client.iter_time())
    # Then it stopped at once, with the API's message, status and code, and the token nowhere
    assert len(simulator.request_log) == 1
    assert (caught.value.status, caught.value.code) == (401, 9)
    assert "Invalid auth" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), repr(client), caplog.text):
        assert token not in text


def test_ledger_reservations_equal_requests_sent(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given an empty ledger
    ledger = InMemoryQuotaLedger(daily_limit=6000)
    client = make_client(simulator_url, ledger=ledger)
    # When a pull and a quota check run
    list(client.iter_time_raw())
    client.sync_quota()
    # Then the ledger holds one unit per counted request, /quota/ free, and learned the API's count
    counted = [record for record in simulator.request_log if record.path != "/quota/"]
    assert ledger.status().used == len(counted) == simulator.requests_counted == client.requests_counted
    assert ledger.status().limit == simulator.daily_quota


def test_the_remaining_pages_are_reserved_at_once_and_the_unused_refunded(
    simulator: IntervalsSimulator, simulator_url: str
) -> None:
    # Given a ledger that records reservations
    ledger = RecordingLedger()
    client = make_client(simulator_url, ledger=ledger)
    # When a consumer reads three pages' worth and stops
    rows = client.iter_time_raw()
    taken = [next(rows) for _ in range(PAGE * 2 + 10)]
    rows.close()  # type: ignore[attr-defined]
    # Then after the first page, the other pages were reserved in one call
    pages = expected_pages(2000, PAGE)
    assert ledger.reservations[:2] == [1, pages - 1]
    # And what was not sent came back: the ledger's count equals the requests sent
    assert ledger.used == len(time_requests(simulator)) == client.requests_counted
    assert len({row["id"] for row in taken}) == len(taken)


def test_a_pull_that_cannot_get_its_pages_stops_before_yielding(
    simulator: IntervalsSimulator, simulator_url: str
) -> None:
    # Given a ledger with room for 5 requests, and a pull that needs 14
    ledger = InMemoryQuotaLedger(daily_limit=5)
    client = make_client(simulator_url, ledger=ledger)
    rows = client.iter_time_raw()
    # When it starts, then it fails on the reservation before handing out any row, having sent one request
    with pytest.raises(QuotaExhaustedError):
        next(rows)
    assert len(simulator.request_log) == 1
    assert ledger.status().used == 1


def test_pull_writes_the_apis_fields_as_json_lines(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given a client
    client = make_client(simulator_url)
    out = io.StringIO()
    # When entries of the first quarter are pulled
    summary = pull_entries(client, date(2026, 1, 1), date(2026, 3, 31), out)
    # Then each line is one /time/ row, untouched (strings, t/f, escaped names), in id order
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    expected = [e for e in simulator.time_entries() if date(2026, 1, 1) <= e["date"] <= date(2026, 3, 31)]
    assert [int(row["id"]) for row in lines] == sorted(entry["id"] for entry in expected)
    assert all(isinstance(row["time"], str) and row["billable"] in {"t", "f"} for row in lines)
    assert summary.entries == len(lines)
    assert summary.requests == len(time_requests(simulator)) == expected_pages(len(lines), PAGE)
    assert summary.first_id == lines[0]["id"] or summary.first_id == int(lines[0]["id"])
    assert "time entries" in str(summary)


# -- edits while paging -------------------------------------------------------------------------------------------


def pull_during_edits(
    simulator: IntervalsSimulator, url: str, edit: Any, **options: Any
) -> tuple[list[int], set[int], set[int]]:
    """Pull while `edit(simulator, params, touched)` edits entries before pages; return ids, untouched, touched."""
    original = {entry["id"] for entry in simulator.time_entries()}
    touched: set[int] = set()
    simulator.on_time_page(lambda sim, params: edit(sim, params, touched))
    ids = [entry.id for entry in make_client(url, **options).iter_time()]
    return ids, original - touched, touched


def assert_exactly_once(ids: list[int], untouched: set[int], touched: set[int]) -> None:
    assert len(ids) == len(set(ids)), "an entry was repeated"
    assert ids == sorted(ids), "entries out of id order"
    missing = untouched - set(ids)
    assert not missing, f"{len(missing)} untouched entries lost, e.g. {sorted(missing)[:5]}"
    # Anything else is an entry that existed at some point (deleted or added during the pull), never an invention
    assert set(ids) <= untouched | touched


@pytest.mark.parametrize("max_in_flight", [1, 4])
def test_deleting_earlier_entries_while_paging_loses_nothing(
    simulator: IntervalsSimulator, simulator_url: str, max_in_flight: int
) -> None:
    # Given that before every page after the first, 3 entries below the page's offset are deleted (pages shift left)
    rng = random.Random(5)

    def delete_before(sim: IntervalsSimulator, params: dict[str, str], touched: set[int]) -> None:
        offset = int(params.get("offset", 0))
        if offset == 0:
            return
        current = sorted(entry["id"] for entry in sim.time_entries())
        for victim in rng.sample(current[:offset], 3):
            sim.delete_time_entry(victim)
            touched.add(victim)

    # When the client pulls
    ids, untouched, touched = pull_during_edits(simulator, simulator_url, delete_before, max_in_flight=max_in_flight)
    # Then every untouched entry came exactly once, in order, and the repairs stayed bounded
    assert_exactly_once(ids, untouched, touched)
    pages = expected_pages(2000, PAGE)
    assert len(time_requests(simulator)) <= 3 * pages + 4


def test_a_mass_delete_bigger_than_a_page_is_recovered(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given that once, just before the 5th page, 400 entries (more than two pages) below its offset are deleted
    calls = []

    def delete_many(sim: IntervalsSimulator, params: dict[str, str], touched: set[int]) -> None:
        calls.append(params)
        if len(calls) == 5:
            current = sorted(entry["id"] for entry in sim.time_entries())
            for victim in current[100:500]:
                sim.delete_time_entry(victim)
                touched.add(victim)

    ids, untouched, touched = pull_during_edits(simulator, simulator_url, delete_many, max_in_flight=1)
    assert_exactly_once(ids, untouched, touched)


def test_entries_added_and_deleted_while_paging(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given that before each page one early entry is deleted, one entry is added, and one deleted near the page
    rng = random.Random(11)
    added: list[int] = []

    def churn(sim: IntervalsSimulator, params: dict[str, str], touched: set[int]) -> None:
        offset = int(params.get("offset", 0))
        current = sorted(entry["id"] for entry in sim.time_entries())
        victims = {rng.choice(current[: max(1, offset)])}
        if offset + PAGE < len(current):
            victims.add(current[offset + rng.randrange(PAGE)])
        for victim in victims:
            sim.delete_time_entry(victim)
            touched.add(victim)
        new_id = sim.add_time_entry()
        added.append(new_id)
        touched.add(new_id)

    ids, untouched, touched = pull_during_edits(simulator, simulator_url, churn, max_in_flight=4)
    assert_exactly_once(ids, untouched, touched)
    # Entries added during the pull may or may not be in it (here: those added before the last pages were served)
    assert set(added) & set(ids)


def test_deleting_the_tail_while_paging_ends_cleanly(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given that the last 300 entries are deleted right after the first page (planned pages end up empty)
    def delete_tail(sim: IntervalsSimulator, params: dict[str, str], touched: set[int]) -> None:
        if params.get("offset") == str(PAGE - 1):
            for victim in sorted(entry["id"] for entry in sim.time_entries())[-300:]:
                sim.delete_time_entry(victim)
                touched.add(victim)

    ids, untouched, touched = pull_during_edits(simulator, simulator_url, delete_tail, max_in_flight=4)
    assert_exactly_once(ids, untouched, touched)


# -- reference data -----------------------------------------------------------------------------------------------


def test_reference_data_is_fetched_whole_and_then_cached(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given two clients of the same account sharing the process's cache (a warm Lambda running two reports)
    cache = ReferenceCache()
    first = make_client(simulator_url, reference_cache=cache, page_size=1000)
    # When the first asks for people, projects, clients and project work types
    needs = {"person", "project", "client", "projectworktype"}
    data = first.reference_data(needs)
    requests_after_first = len(simulator.request_log)
    # Then it got them whole, one request per resource, and nothing else was requested
    assert len(data.people) == len(simulator.dataset.people)
    assert len(data.projects) == len(simulator.dataset.projects)
    assert len(data.project_worktypes) == len(simulator.dataset.project_worktypes)
    assert {record.path for record in simulator.request_log} == {
        "/person/",
        "/project/",
        "/client/",
        "/projectworktype/",
    }
    assert requests_after_first == 4
    assert all(record.params["limit"] == "1000" for record in simulator.request_log)
    # And a second client spends no request at all on the same data
    again = make_client(simulator_url, reference_cache=cache).reference_data(needs)
    assert len(simulator.request_log) == requests_after_first
    assert again == data
    # But another token (another role, other visibility) has its own cache entry
    make_client(simulator_url, token=MANAGER_TOKEN, reference_cache=cache).reference_data({"project"})
    assert len(simulator.request_log) == requests_after_first + 1


def test_reference_data_expires_after_its_ttl(simulator: IntervalsSimulator, simulator_url: str) -> None:
    now = [0.0]
    cache = ReferenceCache(3600, clock=lambda: now[0])
    client = make_client(simulator_url, reference_cache=cache)
    client.reference_data({"client"})
    now[0] = 3599.0
    client.reference_data({"client"})
    assert len(simulator.request_log) == 1
    now[0] = 3600.0
    client.reference_data({"client"})
    assert len(simulator.request_log) == 2


def test_reference_data_paged_with_small_pages_is_complete(simulator: IntervalsSimulator, simulator_url: str) -> None:
    client = make_client(simulator_url, page_size=7)
    data = client.reference_data({"people", "tasks", "me"})
    assert len(data.people) == len(simulator.dataset.people) > 7
    assert len(data.tasks) == len(simulator.dataset.tasks) > 7
    assert data.me is not None
    assert data.me.group == "Administrator"
    # /me/ once; people in contiguous pages (no sort parameter); tasks sorted by id with the one-row overlap
    assert len(simulator.request_log) == 1 + math.ceil(len(data.people) / 7) + math.ceil((len(data.tasks) - 1) / 6)
    task_pages = [record.params for record in simulator.request_log if record.path == "/task/"]
    assert all(params["sortfield"] == "id" for params in task_pages)


def test_a_role_refusal_names_the_resource(simulator: IntervalsSimulator, simulator_url: str) -> None:
    # Given an Executive's token, which may not list people
    client = make_client(simulator_url, token=EXECUTIVE_TOKEN)
    # When the report asks for people
    with pytest.raises(IntervalsAuthError) as caught:
        client.reference_data({"person"})
    # Then the error is an auth error naming the resource, with the API's status and code, after one request
    assert (caught.value.status, caught.value.code) == (403, 10)
    assert "/person/" in str(caught.value)
    assert len(simulator.request_log) == 1


def test_unknown_reference_data_is_refused_before_any_request(
    simulator: IntervalsSimulator, simulator_url: str
) -> None:
    with pytest.raises(ValueError, match="allowed: client, me, milestone"):
        make_client(simulator_url).reference_data({"persons"})
    assert simulator.request_log == []


def test_base_url_with_trailing_slash_and_basic_auth(simulator: IntervalsSimulator, simulator_url: str) -> None:
    client = make_client(simulator_url + "/")
    assert client.reference_data({"me"}).me is not None
    assert simulator.request_log[0].path == "/me/"


class RecordingLedger(InMemoryQuotaLedger):
    """The in-memory ledger, remembering each reservation's size."""

    def __init__(self) -> None:
        super().__init__(daily_limit=6000)
        self.reservations: list[int] = []

    def reserve(self, requests: int = 1) -> Any:
        self.reservations.append(requests)
        return super().reserve(requests)

    @property
    def used(self) -> int:
        return self.status().used


def test_typed_entries_match_the_raw_rows(simulator: IntervalsSimulator, simulator_url: str) -> None:
    raw = list(make_client(simulator_url).iter_time_raw(TimeQuery(dateend=date(2026, 1, 31))))
    typed = list(make_client(simulator_url).iter_time(TimeQuery(dateend=date(2026, 1, 31))))
    assert typed == [TimeEntry.model_validate(row) for row in raw]


def test_a_pull_crossing_midnight_utc_reserves_its_later_pages_on_the_new_day(
    simulator: IntervalsSimulator, simulator_url: str
) -> None:
    # Deferred: the one test that moves the process's own clock (the client dates quota by it).
    import time_machine

    # Given a pull of several pages whose remaining pages were reserved (prepaid) on Monday, UTC
    ledger = InMemoryQuotaLedger(daily_limit=6000)
    client = make_client(simulator_url, ledger=ledger, page_size=50, max_in_flight=1)
    query = TimeQuery(datebegin=date(2026, 3, 1), dateend=date(2026, 6, 30))
    with time_machine.travel(datetime(2026, 11, 23, 23, 59, 50, tzinfo=UTC), tick=False) as clock:
        pages_served = 0

        def midnight_after_two_pages(_: IntervalsSimulator, params: dict[str, str]) -> None:
            nonlocal pages_served
            pages_served += 1
            if pages_served == 2:
                clock.move_to(datetime(2026, 11, 24, 0, 0, 10, tzinfo=UTC))  # midnight passes mid-pull

        simulator.on_time_page(midnight_after_two_pages)

        # When the pull goes on past midnight
        entries = list(client.iter_time(query))

        # Then every page sent after midnight reserved a unit of Tuesday's allowance (Monday's prepaid units are
        # not spent on Tuesday's count), so Tuesday's ledger counts exactly the requests sent on Tuesday
        tuesday = ledger.status()
    pages = len(time_requests(simulator))
    assert len(entries) > 100
    assert pages > 3
    assert tuesday.day == date(2026, 11, 24)
    assert tuesday.used == pages - 2


# One run's two pulls: approved and unapproved time of a spring quarter (several pages each at 40 rows a page).
APPROVAL_PULLS = [
    TimeQuery(datebegin=date(2026, 3, 1), dateend=date(2026, 5, 31), approved=True),
    TimeQuery(datebegin=date(2026, 3, 1), dateend=date(2026, 5, 31), approved=False),
]


def test_a_run_of_several_pulls_reserves_all_their_remaining_pages_at_once(
    simulator: IntervalsSimulator, simulator_url: str
) -> None:
    # Given a run of two pulls (approved and unapproved time) of several pages each
    ledger = InMemoryQuotaLedger(daily_limit=6000)
    client = make_client(simulator_url, ledger=ledger, page_size=40)
    queries = APPROVAL_PULLS

    # When it pulls them
    tagged = list(client.iter_time_many(queries))

    # Then it gets each pull's entries, tagged, exactly once, and the ledger counts exactly the requests sent
    separately = [list(make_client(simulator_url).iter_time(query)) for query in queries]
    assert [entry.id for index, entry in tagged if index == 0] == [entry.id for entry in separately[0]]
    assert [entry.id for index, entry in tagged if index == 1] == [entry.id for entry in separately[1]]
    assert ledger.status().used == client.requests_counted


def test_a_run_without_quota_for_all_its_pulls_stops_before_spending_the_rest(
    simulator: IntervalsSimulator, simulator_url: str
) -> None:
    # Given an allowance that covers the first page of each pull but not all their pages
    ledger = InMemoryQuotaLedger(daily_limit=6)
    client = make_client(simulator_url, ledger=ledger, page_size=40)
    queries = APPROVAL_PULLS

    # When the run pulls them, then it fails with the quota error before any page beyond the first ones
    with pytest.raises(QuotaExhaustedError):
        next(client.iter_time_many(queries))
    assert len(time_requests(simulator)) == 2
    assert ledger.status().used == 2


def test_a_pull_whose_pages_the_api_answers_too_slowly_for_the_deadline_stops_before_spending(
    own_simulator: Any,
) -> None:
    # Given an API taking half a second a page, nine seconds left, and a pace that alone would allow every page
    simulator = own_simulator(latency=0.5)
    ledger = InMemoryQuotaLedger(daily_limit=6000)
    client = make_client(simulator.url, ledger=ledger, page_size=20, requests_per_minute=100, max_in_flight=2)
    client.deadline = time.monotonic() + 9

    # When the year would take about a hundred pages, two at a time: some 25 seconds
    with pytest.raises(RunTooLongError, match=r"0\.5 s a page that is about \d+ s, more than the [89] s left"):
        list(client.iter_time(TimeQuery(datebegin=date(2026, 1, 1), dateend=date(2026, 12, 31))))
    # Then it refused after the first page, before reserving or fetching the rest
    assert len(time_requests(simulator)) == 1
    assert ledger.status().used == 1


def test_a_pull_that_cannot_finish_before_the_deadline_stops_before_spending(
    simulator: IntervalsSimulator, simulator_url: str
) -> None:
    # Given a run with ten seconds left (a Lambda near its timeout) and a pace of 10 requests a minute
    ledger = InMemoryQuotaLedger(daily_limit=6000)
    client = make_client(simulator_url, ledger=ledger, page_size=40, requests_per_minute=10)
    client.deadline = time.monotonic() + 10

    # When it would need dozens of pages, then it refuses after the first page, naming the remedy
    with pytest.raises(RunTooLongError, match="PAGE_SIZE"):
        list(client.iter_time(TimeQuery(datebegin=date(2026, 1, 1), dateend=date(2026, 12, 31))))
    assert len(time_requests(simulator)) == 1
    assert ledger.status().used == 1
