"""The engine's part of the readable report: sections and shares, private slices, the previous period and the entry
view, against naive references (no renderer involved: these figures are the engine's, the email only prints them).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_aggregate import (
    CLIENTS,
    GROUPED_VIEWS,
    PERIOD,
    REFERENCE,
    definition,
    make_entry,
    tagged_entries,
    untagged,
)
from timereports.engine.aggregate import aggregate
from timereports.engine.sections import change, compare_with_previous
from timereports.models.intervals import TimeEntry
from timereports.models.report import Period, ReportTable
from timereports.models.vocabulary import GROUP_ATTRIBUTES


def split_definition(group_by: list[str], view: str = "time_fees_hours_and_amounts", **fields: Any) -> Any:
    return definition(
        view=view,
        group_by=group_by,
        delivery={
            "to": ["ops@example.com"],
            "split": {
                "by": "client",
                "to": {"Mango Inc.": ["a@example.com"], "11": ["b@example.com"], "No client": []},
            },
        },
        **fields,
    )


def assert_sections_add_up(table: ReportTable) -> None:
    """Sections cover the rows in order, each subtotal is the exact sum of its rows, the subtotals add up to the
    totals, and each share is its subtotal over the total."""
    starts = [section.start for section in table.sections]
    assert starts == ([0, *(section.stop for section in table.sections[:-1])] if table.sections else [])
    assert (table.sections[-1].stop if table.sections else 0) == len(table.rows)
    for section in table.sections:
        members = table.rows[section.start : section.stop]
        assert len({str(row[table.columns[0]]) for row in members}) == 1 or table.view == "time_entries"
        for column in table.metric_columns:
            assert Fraction(section.totals[column]) == sum(Fraction(row[column]) for row in members), column  # type: ignore[arg-type]
    for column in table.metric_columns:
        assert sum(Fraction(section.totals[column]) for section in table.sections) == Fraction(table.totals[column])
    metric = table.share_metric
    assert metric is not None
    total = Fraction(table.totals[metric])
    for section in table.sections:
        expected = Fraction(section.totals[metric]) / total if total else 0
        assert abs(Fraction(section.share) - expected) < Fraction(1, 10**20)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(tagged_entries(), max_size=50),
    view=st.sampled_from((*GROUPED_VIEWS, "time_entries")),
    group_by=st.lists(st.sampled_from(GROUP_ATTRIBUTES), min_size=1, max_size=3, unique=True),
    hours_per_day=st.sampled_from(["8", "7.5", "7"]),
)
def test_every_subtotal_is_the_sum_of_its_rows_whatever_the_view(
    entries: list[tuple[TimeEntry, bool | None]], view: str, group_by: list[str], hours_per_day: str
) -> None:
    # Given random entries, any view (days are rounded per row) and 1-3 group levels
    table = aggregate(
        iter(entries), definition(view=view, group_by=group_by, hours_per_day=hours_per_day), REFERENCE, PERIOD
    )
    # Then the sections the engine computed add up exactly
    assert_sections_add_up(table)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(tagged_entries(), max_size=50),
    view=st.sampled_from((*GROUPED_VIEWS, "time_entries")),
    group_by=st.lists(
        st.sampled_from(["project_id", "user_id", "task", "week", "billable"]), min_size=1, max_size=2, unique=True
    ),
)
def test_each_slice_equals_the_report_filtered_to_its_client_and_the_whole_is_unchanged(
    entries: list[tuple[TimeEntry, bool | None]], view: str, group_by: list[str]
) -> None:
    # Given a report split by client (one slice by name, one by id, one for time without a client)
    split = aggregate(iter(entries), split_definition(group_by, view), REFERENCE, PERIOD)

    # Then the whole report equals the same report without a split
    plain = aggregate(iter(entries), definition(view=view, group_by=group_by), REFERENCE, PERIOD)
    assert split.rows == plain.rows
    assert split.totals == plain.totals
    # and each slice equals the report filtered to that client, from the same single pass
    for name, value in (("Mango Inc.", "Mango Inc."), ("11", 11), ("No client", "No client")):
        alone = aggregate(
            iter(entries),
            definition(view=view, group_by=group_by, filters={"client": {"operation": "inclusion", "values": [value]}}),
            REFERENCE,
            PERIOD,
        )
        part = split.slices[name]
        assert part.rows == alone.rows, name
        assert part.totals == alone.totals, name
        assert_sections_add_up(part)
    # (named as its client is, also when it has no time)
    assert split.slices["11"].slice_label == CLIENTS[11]
    assert split.slices["Mango Inc."].slice_slug == "mango-inc"


@pytest.mark.parametrize("view", ["time_fees_hours", "time_entries"])
def test_a_slice_named_by_name_holds_only_that_records_time_not_another_with_the_same_name(view: str) -> None:
    # Given time on project 100 ("Website") and on a project the account no longer lists, also named "Website"
    mine = make_entry(1, project=100, hours="3")
    other = make_entry(2, project=100, hours="5").model_copy(update={"projectid": 999})
    report = definition(
        view=view,
        group_by=["project_id"],
        delivery={"to": ["ops@example.com"], "split": {"by": "project_id", "to": {"Website": ["pm@example.com"]}}},
    )
    # When split by project, the slice named "Website"
    table = aggregate(untagged(mine, other), report, REFERENCE, PERIOD)
    # Then the slice holds project 100's time only (it is matched by the id its name resolves to), the whole both
    hours = "incurred_hours" if view != "time_entries" else "hours"
    assert table.slices["Website"].totals[hours] == Decimal(3)
    assert table.totals[hours] == Decimal(8)


def test_the_none_slice_holds_only_time_without_a_client_not_a_client_called_no_client() -> None:
    # Given time without a client, and time of client #12, whose entries call it "No client"
    internal = make_entry(1, project=102, hours="2")
    named_alike = make_entry(2, project=100, hours="7").model_copy(update={"clientid": 12, "client": "No client"})
    report = definition(
        group_by=["project_id"],
        delivery={"to": ["ops@example.com"], "split": {"by": "client", "to": {"No client": ["x@example.com"]}}},
    )
    # When split by client / Then the "No client" slice is the group without a client, matched by its key
    table = aggregate(untagged(internal, named_alike), report, REFERENCE, PERIOD)
    assert table.slices["No client"].totals["incurred_hours"] == Decimal(2)


def test_the_previous_period_is_as_long_and_just_before() -> None:
    assert Period(date(2026, 11, 16), date(2026, 11, 22)).previous() == Period(date(2026, 11, 9), date(2026, 11, 15))
    assert Period(date(2026, 3, 1), date(2026, 3, 31)).previous() == Period(date(2026, 1, 29), date(2026, 2, 28))


def test_a_change_has_a_percentage_only_when_there_was_something_before() -> None:
    assert change(Decimal("12"), Decimal("8")).percent == Decimal(50)
    assert change(Decimal("6"), Decimal("8")).delta == Decimal(-2)
    assert change(Decimal("5"), 0).percent is None


def test_the_comparison_matches_groups_by_key_and_counts_groups_gone_or_new() -> None:
    # Given this fortnight (project 100 and 101) and the fortnight before (project 100 and 103)
    now = [make_entry(1, project=100, hours="3"), make_entry(2, project=101, hours="2")]
    before_day = PERIOD.previous().start
    before = [
        make_entry(3, project=100, hours="4", day=before_day),
        make_entry(4, project=103, hours="1", day=before_day),
    ]
    report = definition(group_by=["project_id", "user_id"], compare="previous")
    current = aggregate(untagged(*now), report, REFERENCE, PERIOD)
    previous = aggregate(untagged(*before), report, REFERENCE, PERIOD.previous())

    # When compared
    compared = compare_with_previous(current, previous)

    # Then each group of now has its figure before (0 for a new one), and the totals compare all hours
    assert compared.comparison is not None
    assert compared.comparison.metric == "incurred_hours"
    assert compared.comparison.groups[100] == change(Decimal(3), Decimal(4))
    assert compared.comparison.groups[101] == change(Decimal(2), 0)
    assert compared.comparison.totals == change(Decimal(5), Decimal(5))


@pytest.mark.parametrize("first_level", ["date", "week", "month"])
def test_a_timelines_groups_are_not_compared_one_by_one_only_its_totals(first_level: str) -> None:
    # Given a report by day (week, month) with the period before: no day of one is a day of the other
    report = definition(group_by=[first_level], compare="previous")
    current = aggregate(untagged(make_entry(1, hours="3")), report, REFERENCE, PERIOD)
    before = make_entry(2, hours="4", day=PERIOD.previous().start)
    previous = aggregate(untagged(before), report, REFERENCE, PERIOD.previous())
    # When compared / Then no group is shown as new against nothing: the totals alone are compared
    compared = compare_with_previous(current, previous)
    assert compared.comparison is not None
    assert compared.comparison.groups == {}
    assert compared.comparison.totals == change(Decimal(3), Decimal(4))


def test_the_entry_view_lists_each_entry_with_plain_text_descriptions_sorted_by_group_then_date() -> None:
    # Given entries with HTML and entities in their descriptions, on several days and projects
    entries = [
        make_entry(3, day=date(2026, 2, 3), project=101),
        make_entry(1, day=date(2026, 2, 4), project=100, hours="1.5", rate="33.33"),
        make_entry(2, day=date(2026, 2, 2), project=100, billable=False),
    ]
    described = [
        entry.model_copy(update={"description": text})
        for entry, text in zip(entries, ["<p>Call &amp; notes</p>", "Line one<br>Line two", "=1+1"], strict=True)
    ]
    table = aggregate(untagged(*described), definition(view="time_entries", group_by=["project_id"]), REFERENCE, PERIOD)

    # Then one row per entry, by project then date, with the other views' id and name columns
    assert [row["entry_id"] for row in table.rows] == [2, 1, 3]
    assert table.columns[:8] == (
        "entry_id", "date", "user_id", "user_name", "client_id", "client_name", "project_id", "project_name",
    )  # fmt: skip
    first = table.rows[1]
    assert (first["project_name"], first["client_name"], first["user_name"]) == ("Website", "Mango Inc.", "Ana Lima")
    # and amounts are a billable entry's hours x rate, rounded to the cent; a non-billable entry's are 0
    assert first["amount"] == Decimal("50.00")  # 1.5 x 33.33 = 49.995
    assert table.rows[0]["amount"] == Decimal(0)
    assert table.totals == {"hours": Decimal("3.5"), "amount": Decimal("150.00")}  # with entry 3: 1 h x 100
    assert [section.size for section in table.sections] == [2, 1]


def test_a_description_read_from_the_api_becomes_text() -> None:
    entry = TimeEntry.model_validate(
        {
            "id": 1,
            "date": "2026-02-02",
            "time": "1",
            "description": "<p>Fixed <b>login</b> &amp; <i>logout</i></p><p>Next</p>",
        }
    )
    assert entry.description == "Fixed login & logout\nNext"
