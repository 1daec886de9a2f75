"""What a report's figures include, in words (engine/scope.py): the incurred basis and the filters, by name, in the
email's and the workbook's context lines; a slice's leave out the filters on records."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import Any

from tests.unit.test_aggregate import PERIOD, REFERENCE, definition, make_entry, untagged
from tests.unit.test_render_email import SENT_AT, body, parsed
from tests.unit.test_runner import FakeIntervals
from timereports.engine.aggregate import aggregate
from timereports.engine.scope import scope_lines
from timereports.logic.tables import build_table
from timereports.models.intervals import ReferenceData
from timereports.render.addressing import Addressing
from timereports.render.email import build_empty_notice
from timereports.render.email_body import render_html, render_text
from timereports.render.xlsx import render_xlsx


def lines(slice_of: str | None = None, **fields: Any) -> tuple[str, ...]:
    return scope_lines(definition(**fields), REFERENCE, slice_of=slice_of)


def test_a_report_of_all_time_without_filters_says_nothing_more() -> None:
    assert lines() == ()


def test_approved_time_and_each_filter_are_said_with_names_for_ids() -> None:
    # Given approved time, billable only, a client by id, the "none" group by its id, and people by name
    filters = {
        "billable": {"operation": "inclusion", "values": [True]},
        "client": {"operation": "exclusion", "values": [11, -1]},
        "user_id": {"operation": "inclusion", "values": ["Ana Lima"]},
    }
    # Then the lines say so, the ids as the account's names
    assert lines(calc_incurred_using="approved", filters=filters) == (
        "Time on approved timesheets only",
        "Filters: Billable is yes; Client is none of Kiwi & Co, No client; Person is Ana Lima",
    )


def test_a_long_list_of_values_names_the_first_five_and_counts_the_rest() -> None:
    values = [f"Person {number}" for number in range(1, 9)]
    [line] = lines(filters={"user_id": {"operation": "exclusion", "values": values}})
    assert line == "Filters: Person is none of Person 1, Person 2, Person 3, Person 4, Person 5, 3 more"


def test_an_id_the_account_does_not_have_is_shown_as_the_id() -> None:
    assert lines(filters={"project_id": {"operation": "inclusion", "values": [999]}}) == ("Filters: Project is #999",)


def test_a_slice_leaves_out_the_filters_that_could_name_another_slices_records_and_says_so() -> None:
    filters = {
        "billable": {"operation": "inclusion", "values": [False]},
        "client": {"operation": "exclusion", "values": ["Kiwi & Co"]},
        "task": {"operation": "exclusion", "values": ["API"]},
        "worktype": {"operation": "inclusion", "values": ["Design"]},
        "user_id": {"operation": "inclusion", "values": ["Ana Lima"]},
    }
    # A client's slice: no client, project, task or milestone names; the account's work types and people stay
    assert lines(slice_of="client", filters=filters) == (
        "Filters: Billable is no; Work type is Design; Person is Ana Lima; 2 more not shown here",
    )
    # A person's slice: no other person's name either
    assert lines(slice_of="user_id", filters=filters) == (
        "Filters: Billable is no; Work type is Design; 3 more not shown here",
    )


def test_the_email_and_the_workbook_print_the_lines_beside_the_period() -> None:
    # Given an approved-time report of billable time
    report = definition(
        group_by=["user_id"],
        calc_incurred_using="approved",
        filters={"billable": {"operation": "inclusion", "values": [True]}},
    )
    table = aggregate([(make_entry(1), True), (make_entry(2, person=2), True)], report, REFERENCE, PERIOD)
    # Then both parts of the email and the workbook's context lines say what the figures include
    for part in (render_text(table), render_html(table)):
        assert "Time on approved timesheets only" in part
        assert "Filters: Billable is yes" in part
    with zipfile.ZipFile(io.BytesIO(render_xlsx(table))) as workbook:
        strings = workbook.read("xl/sharedStrings.xml").decode()
    assert "<t>Time on approved timesheets only</t>" in strings
    assert "<t>Filters: Billable is yes</t>" in strings
    # And a report without them prints neither
    plain = aggregate(untagged(make_entry(1)), definition(group_by=["user_id"]), REFERENCE, PERIOD)
    assert "Filters:" not in render_text(plain)


def test_a_run_fetches_the_records_to_name_ids_given_in_filters() -> None:
    # Given filters by id only, and a source that returns only the reference resources it is asked for
    class Source(FakeIntervals):
        def reference_data(self, needs: set[str], *, missing: Sequence[str] = ()) -> ReferenceData:
            return ReferenceData(
                clients=REFERENCE.clients if "client" in needs else {},
                people=REFERENCE.people if "person" in needs else {},
            )

    report = definition(
        group_by=["user_id"],
        filters={
            "client": {"operation": "exclusion", "values": [11]},
            "user_id": {"operation": "inclusion", "values": ["1"]},
        },
    )
    # When its table is built / Then the "Filters:" line names them as the account does
    table = build_table(Source([make_entry(1)]), report, PERIOD)
    assert table.scope == ("Filters: Client is not Kiwi & Co; Person is Ana Lima",)


def test_a_days_report_says_how_long_its_day_is() -> None:
    report = definition(view="time_fees_days", hours_per_day="7.5", group_by=["user_id"])
    table = aggregate(untagged(make_entry(1, hours="3")), report, REFERENCE, PERIOD)
    for part in (render_text(table), render_html(table)):
        assert "A day is 7.5 hours" in part
    with zipfile.ZipFile(io.BytesIO(render_xlsx(table))) as workbook:
        assert "<t>A day is 7.5 hours</t>" in workbook.read("xl/sharedStrings.xml").decode()
    hours = aggregate(untagged(make_entry(1, hours="3")), definition(group_by=["user_id"]), REFERENCE, PERIOD)
    assert "A day is" not in render_text(hours)


def test_an_empty_filtered_report_says_no_time_matched_and_what_it_counts_in_both_parts() -> None:
    # Given an approved-time report of billable time with nothing in its period
    report = definition(
        group_by=["user_id"],
        calc_incurred_using="approved",
        filters={"billable": {"operation": "inclusion", "values": [True]}},
    )
    table = aggregate([], report, REFERENCE, PERIOD)
    [outgoing] = build_empty_notice(
        table, sender="reports@example.com", addressing=Addressing(to=["ops@example.com"]), sent_at=SENT_AT
    )
    message = parsed(outgoing)
    # Then both parts say no time matched (time may have been logged, not approved) and what the report counts
    for part in (body(message, "plain"), body(message, "html")):
        assert "No time matching this report was logged for" in part
        assert "Time on approved timesheets only" in part
        assert "Filters: Billable is yes" in part
