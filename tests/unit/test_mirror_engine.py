"""The mirror's pure parts: month partition, coverage arithmetic, the bisection of a count mismatch, the sync window,
the local reading of a query's filters, and the object format."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timereports.engine.mirror import (
    DayRange,
    add_coverage,
    bisect_mismatch,
    months_of,
    query_predicate,
    remove_coverage,
    split_by_month,
    sync_since,
    uncovered,
)
from timereports.engine.mirror_format import MirroredEntry, MirrorFormatError, decode_month, encode_month
from timereports.models.intervals import TimeQuery

D = date.fromisoformat


def test_months_and_month_jobs_follow_the_calendar() -> None:
    span = DayRange(D("2026-01-30"), D("2026-03-02"))
    assert months_of(span) == ["2026-01", "2026-02", "2026-03"]
    assert split_by_month(span) == [
        DayRange(D("2026-01-30"), D("2026-01-31")),
        DayRange(D("2026-02-01"), D("2026-02-28")),
        DayRange(D("2026-03-01"), D("2026-03-02")),
    ]
    assert months_of(DayRange(D("2026-12-31"), D("2027-01-01"))) == ["2026-12", "2027-01"]


def test_coverage_merges_adjacent_ranges_and_finds_the_gaps() -> None:
    covered = add_coverage([DayRange(D("2026-03-01"), D("2026-03-10"))], DayRange(D("2026-03-11"), D("2026-03-20")))
    assert covered == [DayRange(D("2026-03-01"), D("2026-03-20"))]
    covered = add_coverage(covered, DayRange(D("2026-04-01"), D("2026-04-05")))
    assert uncovered(covered, DayRange(D("2026-02-25"), D("2026-04-10"))) == [
        DayRange(D("2026-02-25"), D("2026-02-28")),
        DayRange(D("2026-03-21"), D("2026-03-31")),
        DayRange(D("2026-04-06"), D("2026-04-10")),
    ]
    assert remove_coverage(covered, DayRange(D("2026-03-05"), D("2026-04-02"))) == [
        DayRange(D("2026-03-01"), D("2026-03-04")),
        DayRange(D("2026-04-03"), D("2026-04-05")),
    ]


days_strategy = st.integers(0, 120)


@settings(max_examples=200, deadline=None)
@given(
    ranges=st.lists(st.tuples(days_strategy, days_strategy), max_size=6), probe=st.tuples(days_strategy, days_strategy)
)
def test_coverage_arithmetic_agrees_with_sets_of_days(ranges: list[tuple[int, int]], probe: tuple[int, int]) -> None:
    origin = D("2026-01-01")

    def span(pair: tuple[int, int]) -> DayRange:
        low, high = sorted(pair)
        return DayRange(origin + timedelta(days=low), origin + timedelta(days=high))

    def days(pieces: list[DayRange]) -> set[date]:
        return {piece.start + timedelta(days=n) for piece in pieces for n in range(piece.days)}

    covered: list[DayRange] = []
    for pair in ranges:
        covered = add_coverage(covered, span(pair))
    target = span(probe)
    assert days(covered) == days([span(pair) for pair in ranges])
    assert days(uncovered(covered, target)) == days([target]) - days(covered)
    assert days(remove_coverage(covered, target)) == days(covered) - days([target])


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(1, 90),
    changes=st.dictionaries(st.integers(0, 89), st.integers(-3, 3).filter(bool), max_size=6),
)
def test_bisection_finds_every_differing_day_within_its_probe_bound(length: int, changes: dict[int, int]) -> None:
    # Given per-day counts where some days differ (the mirror has more: deletions; or fewer)
    origin = D("2026-01-01")
    span = DayRange(origin, origin + timedelta(days=length - 1))
    api = Counter({origin + timedelta(days=n): 10 for n in range(length)})
    mirror = Counter(api)
    for offset, delta in changes.items():
        if offset < length:
            mirror[origin + timedelta(days=offset)] += delta
    probes: list[DayRange] = []

    def api_count(days: DayRange) -> int:
        probes.append(days)
        return sum(count for day, count in api.items() if day in days)

    def mirror_count(days: DayRange) -> int:
        return sum(count for day, count in mirror.items() if day in days)

    # When the mismatch is bisected
    result = bisect_mismatch(span, api_count, mirror_count)
    # Then every differing day is in a returned range, no loop outlives its budget, the worst case is the span
    differing = {day for day in api if api[day] != mirror[day]}
    returned = {piece.start + timedelta(days=n) for piece in result.differing for n in range(piece.days)}
    # (equal sums can hide days whose differences cancel in one half: the next run's top probe sees them)
    if sum(api.values()) != sum(mirror.values()):
        assert returned, "a total mismatch always yields something to re-pull"
    assert returned <= set(api)
    if not result.gave_up and len(differing) == len(changes) and all(d > 0 for d in changes.values()):
        assert differing <= returned, "surpluses (deletions) are never missed"
    assert result.probes == len(probes) <= span.days + 1


def test_bisection_probes_a_few_times_per_changed_day() -> None:
    origin = D("2026-01-01")
    span = DayRange(origin, origin + timedelta(days=60))
    deleted = origin + timedelta(days=17)
    calls: list[DayRange] = []

    def api_count(days: DayRange) -> int:
        calls.append(days)
        return days.days * 100 - (deleted in days)

    result = bisect_mismatch(span, api_count, lambda days: days.days * 100)
    assert result.differing == [DayRange(deleted, deleted)]
    assert result.probes <= 7  # the top probe and one per halving of 61 days


def test_a_range_of_one_page_is_pulled_rather_than_bisected() -> None:
    span = DayRange(D("2026-03-01"), D("2026-03-31"))
    result = bisect_mismatch(span, lambda days: days.days * 10 - 1, lambda days: days.days * 10, pull_at_most=1000)
    assert result.differing == [span]
    assert result.probes == 1


def test_the_sync_window_covers_any_zone_and_skew() -> None:
    # A zone behind UTC reads the filter later than meant, by up to 12 hours (UTC-12); one ahead reads it earlier
    cursor = datetime(2026, 3, 10, 12, 0, 0)
    assert cursor - sync_since(cursor) >= timedelta(hours=12, minutes=10)


def entry(entry_id: int, **changes: object) -> MirroredEntry:
    base = MirroredEntry(
        entry_id, D("2026-03-02"), Decimal("1.5"), True, 10, 20, 30, None, 40, 50, "Ada Lovelace", "Atlas", "Dev",
        "Design", "", "Mango & Co", Decimal("95.00"), "Café <b>x</b>", "2026-03-02 10:00:00", None,
    )  # fmt: skip
    return base._replace(**changes)  # type: ignore[arg-type]


def test_query_filters_are_read_locally_as_the_api_reads_them() -> None:
    kept = entry(1)
    query = TimeQuery(
        datebegin=D("2026-03-01"), dateend=D("2026-03-31"), projectid=(20,), clientid=(50, -1), billable=True
    )
    keep = query_predicate(query)
    assert keep(kept)
    assert keep(kept._replace(clientid=None))  # -1: projects without a client
    assert not keep(kept._replace(billable=False))
    assert not keep(kept._replace(date=D("2026-04-01")))
    assert not keep(kept._replace(projectid=21))
    approved = query_predicate(TimeQuery(approved=True))
    assert approved(kept._replace(approved=True))
    assert not approved(kept)  # unknown is not approved
    milestone = query_predicate(TimeQuery(milestoneid=(-1,)), {7: 70}.get)
    assert milestone(kept)
    assert not milestone(kept._replace(taskid=7))


def test_a_month_stored_before_names_were_one_line_reads_as_the_api_is_read_now() -> None:
    # Given a month an earlier release stored with a name's line breaks and direction controls, and a description's
    stored = entry(1)._replace(
        client="Gone\nTotals 0.00", person="Grace\u202e Hopper", description="Call\u202e notes\nLine two"
    )
    # When it is read back / Then the names are one line without the controls; the description keeps its lines
    [read] = decode_month(encode_month("2026-03", [stored]))
    assert (read.client, read.person, read.description) == ("Gone Totals 0.00", "Grace Hopper", "Call notes\nLine two")


def test_month_objects_round_trip_exactly() -> None:
    entries = [entry(3, hourlyrate=None, approved=True), entry(1), entry(2, time=Decimal("0.25"), billable=False)]
    body = encode_month("2026-03", entries)
    assert decode_month(body) == sorted(entries, key=lambda item: item.id)
    assert encode_month("2026-03", reversed(entries)) == body, "equal months are equal bytes"


def test_an_unreadable_object_is_a_clear_error() -> None:
    with pytest.raises(MirrorFormatError):
        decode_month(b"not zlib at all")
