"""Report definitions: valid ones load, and every invalid one is refused with one message naming the field."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from timereports.errors import DefinitionError
from timereports.models.catalogue import load_catalogue, load_definition, parse_definition
from timereports.models.definition import CustomTimeFrame, slice_slug
from timereports.models.report import Period, ReportTable
from timereports.models.vocabulary import GROUP_ATTRIBUTES, VIEWS
from timereports.render.addressing import render_subject

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "data" / "definitions" / "invalid"
MINIMAL: dict[str, Any] = {"id": "weekly", "title": "Weekly", "delivery": {"to": ["ops@example.com"]}}
ALL_VIEWS = ", ".join(VIEWS)
ALL_ATTRIBUTES = ", ".join(GROUP_ATTRIBUTES)


def definition_with(**changes: Any) -> dict[str, Any]:
    return {**MINIMAL, **changes}


def test_the_design_example_loads_with_every_field() -> None:
    # Given the catalogue's weekly report (the example of DESIGN.md)
    # When it is loaded
    definition = load_definition(ROOT / "reports" / "weekly-hours-by-project.yaml")
    # Then every field is read as written, and defaults fill the rest
    assert definition.id == "weekly-hours-by-project"
    assert definition.view == "time_fees_hours"
    assert definition.time_frame == "last_week"
    assert definition.group_by == ("project_id", "user_id")
    assert definition.week_start_index == 0
    assert definition.hours_per_day == Decimal(8)
    assert definition.schedule is not None
    assert definition.schedule.cron == "0 7 * * MON"
    assert definition.delivery is not None
    assert definition.delivery.to == ("ops@example.com",)
    assert definition.delivery.owner == "it@example.com"


def test_the_catalogue_loads_every_sample_report_with_unique_ids() -> None:
    # Given the reports/ directory
    # When the catalogue is loaded
    catalogue = load_catalogue(ROOT / "reports")
    # Then it holds the sample reports, each id once
    ids = [definition.id for definition in catalogue]
    assert {"weekly-hours-by-project", "monthly-billable-by-client", "half-monthly-days-by-person"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_defaults_follow_the_resource_management_api() -> None:
    # Given only the required fields
    definition = parse_definition(MINIMAL)
    # Then the defaults are those a Resource Management user expects
    assert definition.account == "default"
    assert definition.view == "time_fees_hours"
    assert definition.time_frame == "this_week"
    assert definition.group_by == ("project_id",)
    assert definition.calc_incurred_using == "confirmed-unconfirmed"
    assert definition.delivery is not None
    assert (definition.delivery.empty, definition.delivery.attach) == ("notice", "auto")


def test_a_custom_time_frame_reads_from_and_to_as_dates() -> None:
    definition = parse_definition(definition_with(time_frame={"from": "2026-11-01", "to": "2026-11-30"}))
    assert definition.time_frame == CustomTimeFrame.model_validate({"from": "2026-11-01", "to": "2026-11-30"})
    assert isinstance(definition.time_frame, CustomTimeFrame)
    assert (definition.time_frame.start, definition.time_frame.end) == (date(2026, 11, 1), date(2026, 11, 30))


@pytest.mark.parametrize(("week_start", "index"), [("monday", 0), ("Sunday", 6), ("saturday", 5), ("WEDNESDAY", 2)])
def test_any_weekday_can_start_the_week(week_start: str, index: int) -> None:
    assert parse_definition(definition_with(week_start=week_start)).week_start_index == index


def test_filter_values_are_normalised_for_matching() -> None:
    # Given filters written as YAML users write them
    definition = parse_definition(
        definition_with(
            filters={
                "billable": {"operation": "inclusion", "values": ["true"]},
                "client": {"operation": "inclusion", "values": ["Mango &amp; Co", 12]},
                "week": {"operation": "exclusion", "values": ["2026-11-02"]},
                "month": {"operation": "inclusion", "values": ["2026-11"]},
            }
        )
    )
    # Then booleans, decoded names, ids and dates come out
    assert definition.filters["billable"].values == (True,)
    assert definition.filters["client"].values == ("Mango & Co", 12)
    assert definition.filters["week"].values == (date(2026, 11, 2),)
    assert definition.filters["month"].values == ("2026-11",)


def test_the_schedule_runs_in_the_report_zone_unless_it_names_its_own() -> None:
    definition = parse_definition(definition_with(timezone="Europe/Berlin", schedule={"cron": "0 7 * * MON"}))
    assert definition.schedule_timezone == "Europe/Berlin"
    definition = parse_definition(
        definition_with(timezone="Europe/Berlin", schedule={"cron": "0 7 * * MON", "timezone": "America/New_York"})
    )
    assert definition.schedule_timezone == "America/New_York"


def test_the_subject_template_fills_title_and_period() -> None:
    definition = parse_definition(
        definition_with(delivery={"to": ["a@example.com"], "subject": "{title}: {from} to {to} {{draft}}"})
    )
    assert definition.delivery is not None
    table = ReportTable(
        report_id="weekly",
        title="Hours",
        view="time_fees_hours",
        period=Period(date(2026, 11, 2), date(2026, 11, 8)),
        group_by=("project_id",),
        columns=(),
        metric_columns=(),
    )
    # The renderer fills the template the definition accepted
    assert render_subject(definition.delivery.subject, table) == "Hours: 2026-11-02 to 2026-11-08 {draft}"


def test_recipients_are_listed_once_across_to_cc_and_bcc() -> None:
    definition = parse_definition(
        definition_with(delivery={"to": ["a@example.com"], "cc": ["b@example.com"], "bcc": ["a@example.com"]})
    )
    assert definition.delivery is not None
    assert definition.delivery.recipients == ("a@example.com", "b@example.com")


# Each invalid input, and the one message that must name its field and the allowed values.
INVALID_CASES: list[tuple[dict[str, Any], str],] = [
    ({"view": "utilization"}, "view: 'utilization' is not supported: "),
    ({"view": "utilization"}, f"has no Intervals meaning yet; allowed: {ALL_VIEWS}"),
    ({"view": "budgets_hours"}, "view: 'budgets_hours' is not supported: this Resource Management view has no"),
    ({"view": "hours"}, f"view: 'hours' is not supported; allowed: {ALL_VIEWS}"),
    ({"group_by": ["client", "project_id", "phase_name", "task", "user_id", "date"]}, "group_by: at most 5 levels"),
    ({"group_by": []}, f"group_by: at least 1 level; allowed: {ALL_ATTRIBUTES}"),
    ({"group_by": ["user_id", "date", "user_id"]}, "group_by: user_id appears more than once"),
    ({"group_by": ["project_id", "role"]}, f"group_by[1]: 'role' is not supported; allowed: {ALL_ATTRIBUTES}"),
    (
        {"time_frame": {"from": "2026-12-01", "to": "2026-11-01"}},
        "time_frame.from: 2026-12-01 is after time_frame.to 2026-11-01",
    ),
    ({"time_frame": "next_week"}, "time_frame: 'next_week' is not supported; allowed: today, yesterday, this_week"),
    ({"time_frame": {"from": "2026-12-01"}}, "time_frame.to: required"),
    (
        {"time_frame": {"from": "2026-12-01", "to": "2026-12-31", "by": 1}},
        "time_frame.by: unknown field; allowed: from, to",
    ),
    ({"time_frame": {"from": "2026-13-01", "to": "2026-12-31"}}, "time_frame.from: "),
    ({"timezone": "Europe/Paris2"}, "timezone: 'Europe/Paris2' is not an IANA time zone name"),
    # "At 7 on Mondays" written with `*` for the minute is every minute of that hour: 60 emails
    (
        {"schedule": {"cron": "* 7 * * MON"}},
        "schedule.cron: '* 7 * * MON' sends the report 60 times in each hour it names (minute field '*'); a report",
    ),
    ({"schedule": {"cron": "0,30 8 * * *"}}, "schedule.cron: '0,30 8 * * *' sends the report 2 times in each hour"),
    # A file of this machine's zone folder, which the functions' tzdata does not have (Lambda has no such folder)
    ({"timezone": "localtime"}, "timezone: 'localtime' is not an IANA time zone name"),
    ({"timezone": "posixrules"}, "timezone: 'posixrules' is not an IANA time zone name"),
    ({"week_start": "mon"}, "week_start: 'mon' is not supported; allowed: monday, tuesday, wednesday"),
    (
        {"calc_incurred_using": "confirmed"},
        "calc_incurred_using: 'confirmed' is not supported: Intervals has no confirmed/unconfirmed time; "
        "allowed: confirmed-unconfirmed",
    ),
    ({"filters": {"people_tags": {"operation": "exclusion", "values": ["intern"]}}}, f"allowed: {ALL_ATTRIBUTES}"),
    (
        {"filters": {"client": {"operation": "include", "values": ["Mango"]}}},
        "filters.client.operation: 'include' is not supported; allowed: inclusion, exclusion",
    ),
    ({"filters": {"client": {"operation": "inclusion", "values": []}}}, "filters.client.values: give at least one"),
    (
        {"filters": {"client": {"operation": "inclusion", "value": ["Mango"]}}},
        "filters.client.value: unknown field; allowed: operation, values",
    ),
    (
        {"filters": {"billable": {"operation": "inclusion", "values": ["yes"]}}},
        "filters.billable.values[0]: 'yes' is not supported; allowed: true, false",
    ),
    (
        {"filters": {"approval_status": {"operation": "inclusion", "values": ["pending"]}}},
        "filters.approval_status.values[0]: 'pending' is not supported; allowed: approved, unapproved",
    ),
    ({"filters": {"month": {"operation": "inclusion", "values": ["11/2026"]}}}, "filters.month.values[0]: '11/2026'"),
    ({"filters": {"date": {"operation": "inclusion", "values": ["soon"]}}}, "filters.date.values[0]: 'soon' is not a"),
    (
        {"time_frame": {"from": "0001-01-01", "to": "9999-12-31"}},
        "time_frame.from: 0001-01-01 is outside the supported dates, 2000-01-01 to 2099-12-31; time_frame.to: 9999",
    ),
    (
        {"filters": {"week": {"operation": "inclusion", "values": ["2026-11-30", "2026-12-01"]}}},
        "filters.week.values[1]: 2026-12-01 is a tuesday, and weeks here start on monday (week_start): its week is "
        "2026-11-30",
    ),
    ({"title": "T" * 5000}, "title: String should have at most 200 characters (got 'TTTTTTTT"),
    (
        {"filters": {"week": {"operation": "inclusion", "values": ["2100-01-04"]}}},
        "filters.week.values[0]: 2100-01-04 is outside the supported dates, 2000-01-01 to 2099-12-31",
    ),
    ({"schedule": {"cron": "0 7 * *"}}, "schedule.cron: '0 7 * *' is not a cron expression of 5 fields"),
    ({"schedule": {"cron": "0 25 * * *"}}, "schedule.cron: '0 25 * * *' is not a valid cron expression"),
    ({"schedule": {"cron": "0 7 * * 1", "timezone": "CEST"}}, "schedule.timezone: 'CEST' is not an IANA time zone"),
    ({"schedule": {"cron": "0 7 * * 1"}, "delivery": None}, "delivery: required when a schedule is set"),
    ({"delivery": {"to": ["not-an-address"]}}, "delivery.to[0]: 'not-an-address' is not a valid email address"),
    ({"delivery": {"to": ["a@example.com"], "cc": ["b@"]}}, "delivery.cc[0]: 'b@' is not a valid email address"),
    ({"delivery": {"to": ["a@example.com\r\nBcc: x@example.com"]}}, "delivery.to[0]: line breaks (CR/LF)"),
    ({"delivery": {"to": ["a@example.com"], "owner": "a@example.com\n"}}, "delivery.owner: line breaks (CR/LF)"),
    ({"delivery": {"to": ["a@example.com"], "subject": "Hi\r\nBcc: x@example.com"}}, "delivery.subject: line breaks"),
    ({"title": "Hours\nBcc: x@example.com"}, "title: line breaks (CR/LF) are not allowed"),
    ({"delivery": {"to": [], "cc": []}}, "delivery: at least one recipient in to, cc, bcc or split.to"),
    (
        {"delivery": {"to": ["a@example.com"], "subject": "{title} for {client}"}},
        "delivery.subject: placeholder {client} is not supported; allowed: {title}, {from}, {to}",
    ),
    ({"delivery": {"to": ["a@example.com"], "subject": "{from!r}"}}, "delivery.subject: placeholder {from}"),
    (
        {"delivery": {"to": ["a@example.com"], "subject": "{title"}},
        "delivery.subject: '{title' is not a valid template",
    ),
    (
        {"delivery": {"to": ["a@example.com"], "empty": "drop"}},
        "delivery.empty: 'drop' is not supported; allowed: skip",
    ),
    (
        {"delivery": {"to": ["a@example.com"], "attach": "zip"}},
        "delivery.attach: 'zip' is not supported; allowed: auto",
    ),
    ({"id": "Weekly_Report"}, "id: 'Weekly_Report' is not allowed; use 1-63 of a-z, 0-9 and '-'"),
    ({"hours_per_day": 0}, "hours_per_day: Input should be greater than or equal to 0.5"),
    ({"colour": "red"}, "colour: unknown field; allowed: id, title, account, view, time_frame"),
]


@pytest.mark.parametrize(("changes", "expected"), INVALID_CASES)
def test_an_invalid_definition_is_refused_with_one_message_naming_the_field(
    changes: dict[str, Any], expected: str
) -> None:
    # Given a definition with one mistake
    data = definition_with(**changes)
    data = {key: value for key, value in data.items() if value is not None}
    # When it is validated
    with pytest.raises(DefinitionError) as raised:
        parse_definition(data)
    # Then the one message names the field and what is allowed
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_long_refused_value_is_shown_shortened() -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_definition(definition_with(title="T" * 5000))
    assert str(raised.value).endswith("... (5000 characters))")
    assert len(str(raised.value)) < 200


def test_one_address_is_a_list_of_one() -> None:
    split = {"by": "client", "to": {"Mango Inc.": "pm@mango.example"}}
    delivery = {"to": "ops@example.com", "cc": "a@example.com", "bcc": "b@example.com", "split": split}
    definition = parse_definition(definition_with(delivery=delivery))
    assert definition.delivery is not None
    assert definition.delivery.split is not None
    assert (definition.delivery.to, definition.delivery.cc, definition.delivery.bcc) == (
        ("ops@example.com",),
        ("a@example.com",),
        ("b@example.com",),
    )
    assert definition.delivery.split.recipients == {"Mango Inc.": ("pm@mango.example",)}


def test_several_mistakes_are_reported_together_in_one_message() -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_definition(definition_with(view="utilization", timezone="Nowhere/City"))
    assert "view: 'utilization'" in str(raised.value)
    assert "timezone: 'Nowhere/City'" in str(raised.value)


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(DefinitionError, match=r"^title: required"):
        parse_definition({"id": "x", "delivery": {"to": ["a@example.com"]}})


def test_a_definition_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(DefinitionError, match="expected a mapping"):
        parse_definition(["id", "x"])


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.yaml")), ids=lambda path: path.stem)
def test_each_invalid_sample_file_is_refused_with_its_expected_message(path: Path) -> None:
    # Given an invalid definition whose first line says the message expected
    expected = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
    # When it is loaded, then the message names the file, then the field
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert expected in str(raised.value)


def test_json_definitions_load_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(definition_with(time_frame={"from": "2026-11-01", "to": "2026-11-30"})))
    assert isinstance(load_definition(path).time_frame, CustomTimeFrame)


@pytest.mark.parametrize(("name", "text"), [("deep.json", "[" * 5000), ("deep.yaml", "a: " + "[" * 5000)])
def test_a_file_nested_too_deeply_is_refused_with_its_name(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DefinitionError, match=f"{name}: nested too deeply to read"):
        load_definition(path)


def test_broken_yaml_is_refused_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"broken\.yaml: not valid YAML"):
        load_definition(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "id: t1\ntitle: T\ndelivery:\n\tto: [a@b.com]\n",
            "line 4, column 1: found character '\\t' that cannot start any token (a tab: YAML indents with spaces)",
        ),
        ("id: !!python/object:os.system t1\n", "line 1, column 5: could not determine a constructor for the tag"),
    ],
)
def test_a_yaml_error_is_one_line_at_its_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith(f"{path}: not valid YAML: {expected}")


def test_a_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="cannot read"):
        load_definition(tmp_path / "absent.yaml")


def test_a_catalogue_refuses_a_repeated_id_naming_both_files(tmp_path: Path) -> None:
    # Given two files with the same id
    for name in ("a.yaml", "b.yml"):
        (tmp_path / name).write_text(json.dumps(MINIMAL))
    (tmp_path / "notes.txt").write_text("not a definition")
    # When the catalogue is loaded, then the second is refused and the first named
    with pytest.raises(DefinitionError) as raised:
        load_catalogue(tmp_path)
    assert "b.yml: id: 'weekly' is already used by" in str(raised.value)
    assert "a.yaml" in str(raised.value)


def test_a_catalogue_reports_every_invalid_file(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(json.dumps(definition_with(id="one", view="utilization")))
    (tmp_path / "two.yaml").write_text(json.dumps(definition_with(id="two", group_by=["role"])))
    with pytest.raises(DefinitionError) as raised:
        load_catalogue(tmp_path)
    assert "one.yaml: view:" in str(raised.value)
    assert "two.yaml: group_by[0]:" in str(raised.value)


def test_a_catalogue_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="not a directory"):
        load_catalogue(tmp_path / "nowhere")


def test_a_malformed_yaml_date_names_its_field(tmp_path: Path) -> None:
    # Given a YAML date that is no date (PyYAML alone would raise a bare ValueError)
    path = tmp_path / "bad.yaml"
    path.write_text("id: bad\ntitle: Bad\ntime_frame: {from: 2026-13-01, to: 2026-12-31}\n", encoding="utf-8")
    # Then the definition is refused naming the field
    with pytest.raises(DefinitionError, match=r"time_frame\.from: .*month"):
        load_definition(path)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x00"])
def test_any_line_separator_in_the_title_is_refused(separator: str) -> None:
    # The title goes into the Subject header: every separator mail software may break a line at is refused
    with pytest.raises(DefinitionError, match=r"^title: line breaks"):
        parse_definition(definition_with(title=f"Hours{separator}Bcc: evil@example.com"))


@pytest.mark.parametrize(
    "approval_filter",
    [
        {"operation": "inclusion", "values": ["unapproved"]},
        {"operation": "exclusion", "values": ["approved"]},
    ],
)
def test_an_approval_filter_that_leaves_no_approved_time_with_approved_only_is_refused(
    approval_filter: dict[str, Any],
) -> None:
    # Given approved time only, and a filter keeping only unapproved time: every report would be empty
    with pytest.raises(DefinitionError) as raised:
        parse_definition(definition_with(calc_incurred_using="approved", filters={"approval_status": approval_filter}))
    # Then it is refused before any request, naming both fields
    assert str(raised.value).startswith("filters.approval_status: ")
    assert "calc_incurred_using" in str(raised.value)


def test_an_approval_filter_that_keeps_approved_time_with_approved_only_is_accepted() -> None:
    approved = {"operation": "inclusion", "values": ["approved"]}
    definition = parse_definition(
        definition_with(calc_incurred_using="approved", filters={"approval_status": approved})
    )
    assert definition.filters["approval_status"].values == ("approved",)


@pytest.mark.parametrize("written", [20260301, 1763424000, "2026-3-1", "March 1st"])
def test_a_date_not_written_as_yyyy_mm_dd_is_refused_not_read_as_a_unix_time(written: object) -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_definition(definition_with(time_frame={"from": written, "to": "2026-03-31"}))
    assert str(raised.value) == f"time_frame.from: {written!r} is not a date; write YYYY-MM-DD"


def test_a_wrong_schedule_zone_is_its_own_error_alone() -> None:
    # The report takes its schedule's zone when it names none; a wrong one is not also blamed on `timezone`
    with pytest.raises(DefinitionError) as raised:
        parse_definition(definition_with(schedule={"cron": "0 7 * * MON", "timezone": "Nowhere"}))
    assert str(raised.value).startswith("schedule.timezone: 'Nowhere' is not an IANA time zone name")
    assert "; timezone" not in str(raised.value)


@pytest.mark.parametrize("separator", ["\x1c", "\x1d", "\x1e"])
def test_a_title_with_a_separator_the_email_package_splits_lines_on_is_refused(separator: str) -> None:
    # str.splitlines (and the email package's header check) breaks lines there: the run would fail at the send
    with pytest.raises(DefinitionError, match=r"^title: "):
        parse_definition(definition_with(title=f"Hours{separator}Bcc: evil@example.org"))


def test_a_slice_named_without_latin_letters_gets_a_file_name_of_its_own() -> None:
    # Names in other scripts name their files by a digest (the same every run); a name of no letter at all is refused
    assert slice_slug("Mango Inc.") == "mango-inc"
    assert slice_slug("日本株式会社 東京") == slice_slug("日本株式会社 東京") != slice_slug('אקמה בע"מ')
    assert slice_slug("日本株式会社 東京").startswith("slice-")
    with pytest.raises(DefinitionError, match="has no letter or digit"):
        parse_definition(
            definition_with(delivery={"to": ["a@example.com"], "split": {"by": "client", "to": {"---": []}}})
        )
