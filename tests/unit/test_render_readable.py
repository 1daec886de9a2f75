"""Rendering the readable report: bars that are the shares, the previous period in both parts, slices' subjects and
files, the workbook's structure, the definition's new fields, and the runner's per-message claims (with fakes)."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from timereports_dev.fakes import InMemoryMessageClaims, InMemoryQuotaLedger, InMemoryRunHistory

from tests.unit.test_aggregate import PERIOD, REFERENCE, definition, make_entry, untagged
from tests.unit.test_render_email import SENDER, SENT_AT, body, parsed
from tests.unit.test_runner import FakeArchive, FakeIntervals, FakeMailer
from timereports.engine.aggregate import aggregate
from timereports.engine.sections import compare_with_previous, stamped
from timereports.errors import DefinitionError, DeliveryError
from timereports.logic.runner import DeliveryOptions, ReportRunner, RunRequest
from timereports.models.catalogue import parse_definition
from timereports.models.intervals import ReferenceData, TimeEntry
from timereports.models.report import Period, ReportTable
from timereports.render.addressing import Addressing
from timereports.render.csv import render_csv
from timereports.render.email import MESSAGE_ALLOWANCE_BYTES, base64_size, build_messages
from timereports.render.email_body import render_html, render_text
from timereports.render.email_sections import HTML_BUDGET_BYTES, bars, drawn_widths
from timereports.render.failure_notice import failure_notice
from timereports.render.revision import build_revision_messages, compare
from timereports.render.xlsx import CELL_LIMIT, CUT_NOTE, render_xlsx


def two_level_table(**fields: Any) -> ReportTable:
    entries = [
        make_entry(index, project=100 + index % 3, person=1 + index % 3, hours=f"{index % 4 + 1}.25")
        for index in range(1, 19)
    ]
    report = definition(group_by=["project_id", "user_id"], timezone="Europe/Berlin", **fields)
    table = aggregate(untagged(*entries), report, REFERENCE, PERIOD)
    before = [make_entry(100 + index, project=100, day=PERIOD.previous().start, hours="2") for index in range(3)]
    previous = aggregate(untagged(*before), report, REFERENCE, PERIOD.previous())
    return stamped(compare_with_previous(table, previous), datetime(2026, 2, 9, 6, 30, tzinfo=UTC))


def message_of(table: ReportTable, **arguments: Any) -> Any:
    [outgoing] = build_messages(
        table,
        render_csv(table),
        sender=SENDER,
        addressing=Addressing(to=["ops@example.com"]),
        sent_at=SENT_AT,
        **arguments,
    )
    return parsed(outgoing)


def test_each_bar_is_its_groups_share_and_is_drawn_with_table_cells() -> None:
    table = two_level_table()
    page = body(message_of(table), "html")
    widths = dict(re.findall(r'<tr data-group="([^"]*)">.*?data-bar="([\d.]+)"', page, re.S))
    total = table.totals["incurred_hours"]
    expected = {
        section.label: (Decimal(section.totals["incurred_hours"]) / Decimal(total) * 100).quantize(
            Decimal("0.1"), ROUND_HALF_UP
        )
        for section in table.sections
    }
    assert {name: Decimal(width) for name, width in widths.items()} == expected
    assert re.search(r'<td width="[\d.]+%" style="width:[\d.]+%;background:#1d4ed8;', page)
    assert not re.search(r"<(img|svg|script)\b|<style", page, re.I)


def test_the_largest_bar_fills_its_track_and_the_others_are_drawn_relative_to_it() -> None:
    # Given a report of a few groups, none of them near 100% of the total
    table = two_level_table()
    page = body(message_of(table), "html")
    drawn = [Decimal(width) for width in re.findall(r'<td width="([\d.]+)%" style="width:[\d.]+%;background', page)]
    shares = [Decimal(share) for share in re.findall(r'data-bar="([\d.]+)"', page)]
    # Then the largest is drawn full length and each other in proportion to it, while data-bar keeps the share
    assert drawn[0] == 100
    for width, share in zip(drawn, shares, strict=True):
        assert abs(width - share / shares[0] * 100) <= Decimal("0.5")  # the shares are printed to 0.1%
    # And the text part's bars are the same lengths in characters (20 for the largest)
    text = body(message_of(table), "plain")
    lengths = [len(bar) for bar in re.findall(r"  (#+)\.*(?:  |$)", text, re.M)]
    assert lengths[0] == 20


def test_both_parts_print_the_previous_period_the_zone_the_week_start_and_the_as_of_time() -> None:
    message = message_of(two_level_table())
    for part in (body(message, "html").replace("&amp;", "&"), body(message, "plain")):
        assert "Previous period, 2026-01-12 to 2026-01-25: hours incurred 6.00;" in part
        assert "Time zone Europe/Berlin; weeks start on Monday" in part
        assert "Data as of 2026-02-09 07:30 CET" in part
    text = body(message, "plain")
    assert "Share of hours incurred" in text
    # totals come before the shares, and the shares before the sections
    assert text.index("Totals") < text.index("Share of") < text.index("Website")


def test_a_sectioned_text_part_has_each_subtotal_above_its_rows() -> None:
    table = two_level_table()
    text = body(message_of(table), "plain")
    for section in table.sections:
        hours = f"{section.totals['incurred_hours']:.2f}"
        assert re.search(rf"^{re.escape(section.label)}\s+{hours}\b", text, re.M), section.label


def test_the_text_part_heads_both_levels_and_names_a_section_with_more_rows_as_its_heading_does() -> None:
    # Given projects by person (three people on each project), where two projects share the name "Website"
    entries = [make_entry(index, project=100 + index % 3, person=1 + index // 3 % 3) for index in range(1, 19)]
    table = aggregate(untagged(*entries), definition(group_by=["project_id", "user_id"]), REFERENCE, PERIOD)
    sections = tuple(replace(section, label="Website") for section in table.sections[:2]) + table.sections[2:]
    table = replace(table, sections=sections)
    # When the text part shows one row per section
    text = render_text(table, filename="report.csv", rows_per_section=1)
    html_page = render_html(table, filename="report.csv", rows_per_section=1)
    # Then the table's heading says what both levels are, as the HTML's does
    assert re.search(r"^Project / Person +Hours +Billable h", text, re.M)
    assert ">Project<br>Person</th>" in html_page
    # And the note of each section's further rows tells the two Websites apart, in both parts
    for section in sections[:2]:
        more = f"{section.size - 1} rows more of Website (#{section.key}) in the attachment"
        assert more in text
        assert more in html_page


def test_a_long_name_without_spaces_can_break_wherever_the_html_shows_it() -> None:
    # Given sections named by one 126-letter word (no space a phone's browser could break at), with hidden rows
    entries = [make_entry(index, project=100 + index % 3, person=1 + index // 3 % 3) for index in range(1, 19)]
    table = aggregate(untagged(*entries), definition(group_by=["project_id", "user_id"]), REFERENCE, PERIOD)
    long_name = "Projekt" + "Überlangerprojektname" * 6
    table = replace(table, sections=tuple(replace(section, label=long_name) for section in table.sections))
    html_page = render_html(table, filename="report.csv", rows_per_section=1)
    # Then the text a reader sees has the name only with break opportunities (<wbr>), in the headings, the bars and
    # the note of the further rows alike
    shown = re.sub(r"<[^>]*>", "|", html_page)
    assert long_name not in shown
    assert "rows more of Projekt" in shown


def test_a_slice_says_whose_it_is_in_subject_header_and_file_names() -> None:
    table = replace(two_level_table(), slice_label="Mango Inc.", slice_slug="mango-inc")
    message = message_of(table, xlsx=render_xlsx(table))
    assert str(message["Subject"]).endswith("\u2014 Mango Inc.")
    assert message["X-Timereports-Slice"] == "mango-inc"
    names = [part.get_filename() for part in message.iter_attachments()]
    assert names == ["test--mango-inc_2026-01-26_2026-02-08.csv", "test--mango-inc_2026-01-26_2026-02-08.xlsx"]


def test_the_workbook_has_sum_totals_a_frozen_filtered_header_and_inert_text() -> None:
    entries = [make_entry(1), make_entry(2, person=2)]
    report = definition(group_by=["user_id"])
    table = aggregate(untagged(*entries), report, REFERENCE, PERIOD)
    table = replace(
        table, title='=HYPERLINK("http://x") report', rows=[{**table.rows[0], "user_name": "=1+1"}, table.rows[1]]
    )
    with zipfile.ZipFile(io.BytesIO(render_xlsx(table))) as workbook:
        sheet = workbook.read("xl/worksheets/sheet1.xml").decode()
        strings = workbook.read("xl/sharedStrings.xml").decode()
        styles = workbook.read("xl/styles.xml").decode()
    assert "<f>SUM(C6:C7)</f>" in sheet  # incurred_hours of the two rows, below the title, 2 fact lines and the header
    assert '<pane ySplit="5" topLeftCell="A6" activePane="bottomLeft" state="frozen"/>' in sheet
    assert '<autoFilter ref="A5:F7"/>' in sheet
    # And it prints with every column on the page's width (landscape), as many pages down as the rows need
    assert '<pageSetUpPr fitToPage="1"/>' in sheet
    assert '<pageSetup fitToHeight="0" orientation="landscape"/>' in sheet
    # And text that starts like a formula is a string cell with Excel's quote prefix, the name itself unchanged
    assert "<t>=1+1</t>" in strings
    assert '<t>=HYPERLINK("http://x") report</t>' in strings.replace("&quot;", '"')
    assert 'quotePrefix="1"' in styles
    assert "<f>" not in sheet.replace("<f>SUM(", "")


def test_a_text_longer_than_a_workbook_cell_is_cut_there_saying_so_while_the_csv_keeps_it_whole() -> None:
    # Given an entry whose description is longer than a spreadsheet cell holds
    long_text = "x" * 40_000
    table = aggregate(untagged(make_entry(1)), definition(view="time_entries", group_by=["user_id"]), REFERENCE, PERIOD)
    table = replace(table, rows=[{**table.rows[0], "description": long_text}])
    # When rendered / Then the workbook's cell holds the limit, ending with a note; the CSV has every character
    with zipfile.ZipFile(io.BytesIO(render_xlsx(table))) as workbook:
        strings = re.findall(r"<t[^>]*>([^<]*)</t>", workbook.read("xl/sharedStrings.xml").decode())
    [cut] = [text for text in strings if text.startswith("xxx")]
    assert len(cut) == CELL_LIMIT
    assert cut.endswith(CUT_NOTE)
    assert long_text in render_csv(table).decode("utf-8-sig")


@pytest.mark.parametrize(
    ("delivery", "message"),
    [
        ({"to": ["a@example.com"], "formats": ["xlsx"]}, "delivery.formats: a list that includes csv"),
        ({"to": ["a@example.com"], "formats": ["csv", "pdf"]}, "delivery.formats[1]: 'pdf' is not supported"),
        ({"split": {"by": "task", "to": {"x": ["a@example.com"]}}}, "delivery.split.by: 'task' is not supported"),
        ({"split": {"by": "client", "to": {}}}, "delivery.split.to: give at least one slice"),
        (
            {"split": {"by": "client", "to": {"Mango Inc.": ["a@example.com"], "mango inc": ["b@example.com"]}}},
            "would share the file name 'mango-inc'",
        ),
        ({"split": {"by": "client", "to": {"Mango": ["not-an-address"]}}}, "delivery.split.to.Mango"),
    ],
)
def test_new_delivery_fields_are_refused_with_the_field_named(delivery: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition({"id": "x", "title": "X", "delivery": delivery})
    assert message in str(caught.value)


def test_compare_takes_only_previous() -> None:
    with pytest.raises(DefinitionError, match="compare: 'last_year' is not supported; allowed: previous"):
        parse_definition({"id": "x", "title": "X", "compare": "last_year"})


# --- the runner's claims -------------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
SCHEDULED = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def split_runner(mailer: FakeMailer, claims: InMemoryMessageClaims) -> ReportRunner:
    entry = make_entry(1, day=date(2026, 11, 17), project=100)
    return ReportRunner(
        client=FakeIntervals([entry], reference=REFERENCE),  # the slice "100" is project #100 of the account
        ledger=InMemoryQuotaLedger(clock=lambda: NOW),
        archive=FakeArchive(),
        mailer=mailer,
        history=InMemoryRunHistory(),
        options=DeliveryOptions(sender="reports@example.com"),
        claims=claims,
        clock=lambda: NOW,
    )


def split_report() -> Any:
    return parse_definition(
        {
            "id": "weekly",
            "title": "Weekly",
            "time_frame": "last_week",
            "group_by": ["project_id"],
            "delivery": {"to": ["ops@example.com"], "split": {"by": "project_id", "to": {"100": ["pm@example.com"]}}},
        }
    )


def test_a_message_an_earlier_attempt_claimed_is_not_sent_again_and_force_sends_everything() -> None:
    # Given an earlier attempt of the same run that claimed the whole report's message and then died
    claims = InMemoryMessageClaims()
    claims.claim(f"weekly#{SCHEDULED.isoformat()}", "whole#1")
    mailer = FakeMailer()

    # When the run is retried
    outcome = split_runner(mailer, claims).run(
        RunRequest(definition=split_report(), today=date(2026, 11, 23), scheduled_at=SCHEDULED)
    )

    # Then only the slice's message is sent: the claimed one may have left, and is never sent twice
    assert mailer.sent == [["pm@example.com"]]
    assert [(m.part, m.status) for m in outcome.record.messages] == [(None, "already_sent"), ("100", "sent")]

    # and a forced run sends every message again, claims or not
    forced = FakeMailer()
    split_runner(forced, claims).run(
        RunRequest(definition=split_report(), today=date(2026, 11, 23), scheduled_at=SCHEDULED, force=True)
    )
    assert forced.sent == [["ops@example.com"], ["pm@example.com"]]


def test_a_message_the_mailer_refused_is_given_back_for_the_retry() -> None:
    claims = InMemoryMessageClaims()
    refused = FakeMailer(fail_on_message=1)
    request = RunRequest(definition=split_report(), today=date(2026, 11, 23), scheduled_at=SCHEDULED)
    with pytest.raises(Exception, match="SES refused"):
        split_runner(refused, claims).run(request)
    assert claims.claims == {}


def test_a_report_with_many_groups_shows_fewer_rows_per_section_to_stay_under_gmails_clipping() -> None:
    # Given 90 projects of 6 people each: 540 rows, whose sections at 5 rows each would pass Gmail's 102 KB
    entries = [
        TimeEntry.model_validate(
            {
                "id": project * 10 + person,
                "date": "2026-02-02",
                "time": "1.5",
                "projectid": project,
                "project": f"Project with a long name {project}",
                "personid": person,
                "person": f"Person number {person}",
            }
        )
        for project in range(1, 91)
        for person in range(1, 7)
    ]
    table = aggregate(untagged(*entries), definition(group_by=["project_id", "user_id"]), ReferenceData(), PERIOD)

    # When its message is built
    csv_bytes = render_csv(table)
    [outgoing] = build_messages(
        table, csv_bytes, sender=SENDER, addressing=Addressing(to=["ops@example.com"]), sent_at=SENT_AT
    )
    message = parsed(outgoing)
    page, text = body(message, "html"), body(message, "plain")

    # Then the HTML stays within the budget, every section keeps its subtotal, and both parts show the same rows
    assert len(page.encode("utf-8")) <= HTML_BUDGET_BYTES
    # and everything but the attachment (headers, both parts, encoded) fits the room the attachment's size check keeps
    assert len(outgoing.as_bytes()) - base64_size(len(csv_bytes)) < MESSAGE_ALLOWANCE_BYTES
    assert page.count("<tr data-section=") == 90
    shown = page.count('<tr data-row="1">')
    assert shown < 90 * 5
    assert text.count("\n  Person number ") == shown
    # and the smallest groups share the last of 30 bars, whose width is their shares together
    bars = re.findall(r'<tr data-group="([^"]*)">.*?data-bar="([\d.]+)"', page, re.S)
    assert len(bars) == 30
    assert bars[-1][0] == "61 other groups"
    assert Decimal(bars[-1][1]) == (Decimal(61) / 90 * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)


def test_a_timeline_past_thirty_bars_keeps_its_latest_periods_and_draws_against_a_real_group() -> None:
    # Given hours by day over 50 days, a little more each day, so that the earliest 21 together outweigh any one day
    days = Period(date(2026, 1, 1), date(2026, 2, 19))
    entries = [
        make_entry(index, day=date(2026, 1, 1) + timedelta(days=index), hours=f"{1 + index / 10:.2f}")
        for index in range(50)
    ]
    table = aggregate(untagged(*entries), definition(group_by=["date"]), REFERENCE, days)
    drawn = bars(table)
    # Then 30 bars: the earliest days together first, then the 29 latest days in their order, up to the last
    assert len(drawn) == 30
    assert drawn[0].name == "21 earlier, before 2026-01-22"
    assert [bar.name for bar in drawn[1:]][-1] == "2026-02-19"
    # And the scale is the largest day's (it fills the track), the earlier days' bar at most a full track
    widths = drawn_widths(drawn)
    assert drawn[0].share > max(bar.share for bar in drawn[1:])
    assert widths[-1] == 100
    assert widths[0] == 100
    assert 0 < widths[1] < widths[-1]


def test_a_revision_names_a_row_whose_name_two_records_share_with_its_id() -> None:
    # Given a report by project where projects 100 and 101 are both called "Website", sent, then both edited
    def table(hours_100: str, hours_101: str) -> ReportTable:
        website_100 = make_entry(1, project=100, hours=hours_100)
        website_101 = make_entry(2, project=100, hours=hours_101).model_copy(update={"projectid": 101})
        return aggregate(untagged(website_100, website_101), definition(group_by=["project_id"]), REFERENCE, PERIOD)

    revision = compare(render_csv(table("1", "2")), table("3", "5"))
    # Then each changed row is named with its id, so that a reader can tell the two apart
    assert sorted(change.labels for change in revision.changes) == [("Website (#100)",), ("Website (#101)",)]


def test_a_revision_names_a_row_as_the_report_did_not_as_the_csv_guards_it() -> None:
    # Given a project whose name starts like a formula (the CSV sent has it as "'-Minus Labs"), whose hours changed
    def table(hours: str) -> ReportTable:
        entry = make_entry(1, project=100, hours=hours).model_copy(update={"project": "-Minus Labs"})
        return aggregate(untagged(entry), definition(group_by=["project_id"]), ReferenceData(), PERIOD)

    assert b"'-Minus Labs" in render_csv(table("1"))
    # Then the revision's row is named without the CSV's apostrophe
    assert [change.labels for change in compare(render_csv(table("1")), table("2")).changes] == [("-Minus Labs",)]


def revision_text(sent: ReportTable, corrected: ReportTable) -> str:
    """The text part of the revision email for `sent` corrected to `corrected`."""
    [outgoing] = build_revision_messages(
        corrected,
        compare(render_csv(sent), corrected),
        sender=SENDER,
        addressing=Addressing(to=["finance@example.com"]),
        sent_at=SENT_AT,
        delivered_at="2026-02-09T06:00:00+00:00",
    )
    return str(body(parsed(outgoing), "plain"))


def test_a_revisions_figures_read_as_the_reports_do_with_thousands_separators() -> None:
    # Given a project's hours sent as 1,200 and corrected to 1,250.5
    report = definition(group_by=["project_id"])
    sent = aggregate(untagged(make_entry(1, hours="1200")), report, REFERENCE, PERIOD)
    corrected = aggregate(untagged(make_entry(1, hours="1200"), make_entry(2, hours="50.5")), report, REFERENCE, PERIOD)
    text = revision_text(sent, corrected)
    assert "Hours: 1,200.00 -> 1,250.50 in total." in text
    assert "Website: 1,200.00 -> 1,250.50" in text
    # and a count stays a count
    assert "time entries 1 -> 2" in text


def test_a_revision_ignores_a_derived_figure_that_changed_alone_but_not_a_changed_billable_split() -> None:
    # Given a days report as sent by a release that rounded non-billable days on their own (0.01, now 0.00)
    entries = untagged(make_entry(1, hours="0.04"), make_entry(2, hours="0.04", billable=False))
    report = definition(view="time_fees_days", group_by=["user_id"])
    corrected = aggregate(entries, report, REFERENCE, PERIOD)
    sent = render_csv(corrected).replace(b",0.01,0.01,0.00,", b",0.01,0.01,0.01,")
    assert sent != render_csv(corrected)
    # Then nothing changed in the time: no revision
    assert not compare(sent, corrected).changed
    # But time that became non-billable is a change (billable days differ too)
    unbilled = untagged(make_entry(1, hours="0.04", billable=False), make_entry(2, hours="0.04", billable=False))
    moved = aggregate(unbilled, report, REFERENCE, PERIOD)
    assert compare(render_csv(corrected), moved).changed


def test_a_revision_of_billable_time_with_the_same_hours_says_what_moved() -> None:
    # Given a finance report (hours and amounts) whose entry became non-billable after it was sent
    report = definition(view="time_fees_hours_and_amounts", group_by=["project_id"])
    sent = aggregate(untagged(make_entry(1, hours="2", rate="100")), report, REFERENCE, PERIOD)
    corrected = aggregate(untagged(make_entry(1, hours="2", rate="100", billable=False)), report, REFERENCE, PERIOD)
    text = revision_text(sent, corrected)
    # Then the row and the totals say which figures moved, not only the unchanged hours
    assert "changed: Website: 2.00 (unchanged); billable hours 2.00 -> 0.00; amount (billable) 200.00 -> 0.00" in text
    assert "Also in total: billable hours 2.00 -> 0.00; amount (billable) 200.00 -> 0.00." in text


def test_the_owners_notice_of_a_run_that_failed_after_sending_some_messages_says_so() -> None:
    # Given a scheduled report whose run failed after two of its messages had left (SES refused the third)
    report = parse_definition(
        {
            "id": "weekly",
            "title": "Weekly",
            "timezone": "Europe/Berlin",
            "schedule": {"cron": "0 7 * * MON"},
            "delivery": {"to": ["ops@example.com"]},
        }
    )
    error = DeliveryError("2 of 3 messages sent, then: SES refused", messages_sent=2)
    notice = failure_notice(
        report,
        "2026-11-23T06:00:00+00:00",
        str(error),
        1,
        False,
        sender="reports@example.com",
        owner="owner@example.com",
        sent_at=NOW,
        messages_sent=error.messages_sent,
    )
    # Then it does not claim that nothing was sent, and names the run by its local time
    text = notice.get_content()
    assert "scheduled for 2026-11-23 07:00 CET failed, after 2 messages had been sent" in text
    assert "nothing was sent" not in text


def test_an_entry_without_a_description_ends_its_line_without_a_separator() -> None:
    entries = untagged(make_entry(1, project=100), make_entry(2, project=101))
    table = aggregate(entries, definition(view="time_entries", group_by=["project_id"]), REFERENCE, PERIOD)
    text = render_text(table)
    assert not re.search(r" ·(  | *$)", text, re.M)  # a separator before the column gap, or ending the line
    assert "2026-02-02 · Ana Lima" in text


def test_the_email_shows_records_largest_first_but_keeps_a_timeline_in_its_order() -> None:
    # Given time on two days: little on the first, much on the second, by two people
    entries = untagged(
        make_entry(1, day=date(2026, 2, 2), hours="1", person=1),
        make_entry(2, day=date(2026, 2, 3), hours="5", person=2),
        make_entry(3, day=date(2026, 2, 3), hours="2", person=1),
    )
    # When a one-level report by person is rendered / Then its rows are the largest first (Bo Chen's 5 hours)
    by_person = aggregate(entries, definition(group_by=["user_id"]), REFERENCE, PERIOD)
    text = render_text(by_person)
    assert text.index("Bo Chen") < text.index("Ana Lima")
    # And by date, the days stay in their order, as sections by date over people do
    by_date = render_text(aggregate(entries, definition(group_by=["date"]), REFERENCE, PERIOD))
    assert by_date.index("2026-02-02") < by_date.index("2026-02-03")
    sectioned = render_text(aggregate(entries, definition(group_by=["date", "user_id"]), REFERENCE, PERIOD))
    assert sectioned.index("2026-02-02 ") < sectioned.index("2026-02-03 ")
