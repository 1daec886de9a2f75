"""The CSV renderer: exact bytes (BOM, CRLF, quoting, decimals, TOTAL row) and formula neutralisation."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timereports.engine.views import HOUR_COLUMNS as HOURS_COLUMNS
from timereports.models.report import Cell, Period, ReportTable
from timereports.render.csv import (
    FORMULA_TRIGGERS,
    format_cell,
    iter_csv_lines,
    neutralise_formula,
    render_csv,
    starts_like_a_formula,
    unneutralised,
    write_csv,
)

BOM = b"\xef\xbb\xbf"


def hours_table(rows: list[dict[str, Cell]], totals: dict[str, Decimal | int] | None = None) -> ReportTable:
    """A `time_fees_hours` table grouped by project then person."""
    return ReportTable(
        report_id="weekly-hours",
        title="Hours by project and person",
        view="time_fees_hours",
        period=Period(date(2026, 5, 4), date(2026, 5, 10)),
        group_by=("project_id", "user_id"),
        columns=("project_id", "project_name", "user_id", "user_name", *HOURS_COLUMNS),
        metric_columns=HOURS_COLUMNS,
        rows=rows,
        totals=totals if totals is not None else {column: Decimal(0) for column in HOURS_COLUMNS[:3]} | {"entries": 0},
        entries=sum(int(row["entries"] or 0) for row in rows),  # type: ignore[call-overload]
    )


def hours_row(project: str, person: str, hours: str, *, entries: int = 1, project_id: int = 7, user_id: int = 3):
    return {
        "project_id": project_id,
        "project_name": project,
        "user_id": user_id,
        "user_name": person,
        "incurred_hours": Decimal(hours),
        "billable_hours": Decimal(hours),
        "nonbillable_hours": Decimal(0),
        "entries": entries,
    }


def tricky_table() -> ReportTable:
    """Names people really type, and names meant to attack a spreadsheet: used by the LibreOffice test too."""
    names = [
        "Zoë Ämtmann-Øster",
        'Café "Olé", Lisboa',
        "line one\nline two",
        '=HYPERLINK("http://attacker.example","click")',
        "+1+2",
        "-3+4",
        "@SUM(1,1)",
        "\t=1+1",
        "\r=1+1",
        "plain",
    ]
    rows = [
        hours_row(f"Project {index}", name, f"{index}.125", entries=index + 1, project_id=index, user_id=100 + index)
        for index, name in enumerate(names)
    ]
    rows.append(hours_row("Credit note", "Refund", "-1.5", project_id=99, user_id=199))
    totals = {
        "incurred_hours": sum((Decimal(str(row["incurred_hours"])) for row in rows), Decimal(0)),
        "billable_hours": sum((Decimal(str(row["billable_hours"])) for row in rows), Decimal(0)),
        "nonbillable_hours": Decimal(0),
        "entries": sum(int(str(row["entries"])) for row in rows),
    }
    return hours_table(rows, totals)


def parse(data: bytes) -> list[list[str]]:
    """Read the CSV back the way a careful consumer would (BOM stripped, RFC 4180 quoting)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_exact_bytes_of_a_small_report() -> None:
    # Given two rows with a comma, a quote and an accent
    table = hours_table(
        [hours_row('Café "Olé", Lisboa', "Zoë", "7.125", entries=3), hours_row("Internal", "Ana", "8", entries=2)],
        totals={
            "incurred_hours": Decimal("15.125"),
            "billable_hours": Decimal("15.125"),
            "nonbillable_hours": Decimal(0),
            "entries": 5,
        },
    )

    # When rendered
    data = render_csv(table)

    # Then the bytes are exactly: BOM, header, rows, TOTAL row, each line ending CRLF
    expected = (
        "\ufeffproject_id,project_name,user_id,user_name,incurred_hours,billable_hours,nonbillable_hours,entries\r\n"
        '7,"Café ""Olé"", Lisboa",3,Zoë,7.13,7.13,0.00,3\r\n'
        "7,Internal,3,Ana,8.00,8.00,0.00,2\r\n"
        "TOTAL,,,,15.13,15.13,0.00,5\r\n"
    ).encode()
    assert data == expected
    assert data.startswith(BOM)


def test_embedded_newlines_are_quoted_and_every_record_ends_with_crlf() -> None:
    # Given names with LF, CRLF and a lone CR inside
    table = hours_table([hours_row("a\nb", "c\r\nd", "1"), hours_row("e\rf", "g", "1")])

    # When rendered and read back
    data = render_csv(table)
    records = parse(data)

    # Then the values survive intact, quoted, and the file has one CRLF per record outside quotes
    assert records[1][1] == "a\nb"
    assert records[1][3] == "c\r\nd"
    assert records[2][1] == "e\rf"
    assert b'"a\nb"' in data
    assert b'"c\r\nd"' in data
    assert b'"e\rf"' in data
    assert data.endswith(b"\r\n")
    assert len(records) == 4


def test_accents_are_utf8_with_a_byte_order_mark() -> None:
    # Given accented names in several scripts
    table = hours_table([hours_row("Ærøskøbing ĳssel", "Łukasz Żółć 山田", "1")])

    # When rendered
    data = render_csv(table)

    # Then the file starts with the UTF-8 BOM exactly once and decodes back to the same text
    assert data.startswith(BOM)
    assert data.count(BOM) == 1
    assert parse(data)[1][1:4] == ["Ærøskøbing ĳssel", "3", "Łukasz Żółć 山田"]


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_text_starting_like_a_formula_is_neutralised(trigger: str) -> None:
    # Given a person's name that starts with a formula trigger
    name = f"{trigger}cmd|' /C calc'!A0"
    table = hours_table([hours_row("Project", name, "1")])

    # When rendered and read back
    cell = parse(render_csv(table))[1][3]

    # Then the cell starts with a single quote followed by the original text
    assert cell == "'" + name


@pytest.mark.parametrize("text", [" =1+1", "\u3000=2+2", "\u00a0+3", "\n=5+5", "  @SUM(A1)", " \uff1d1"])
def test_text_that_starts_like_a_formula_after_whitespace_is_neutralised(text: str) -> None:
    # A spreadsheet that trims leading spaces on import would run it
    assert neutralise_formula(text) == "'" + text
    assert unneutralised(neutralise_formula(text)) == text


@pytest.mark.parametrize("text", ["plain", "a=b", "1+1", " not=at start", "", "'already quoted"])
def test_text_that_does_not_start_like_a_formula_is_left_alone(text: str) -> None:
    assert neutralise_formula(text) == text
    assert unneutralised(text) == text


def test_numbers_we_produce_are_never_neutralised() -> None:
    # Given a negative amount (a credit note) and a negative id
    table = hours_table([hours_row("Credit", "Refund", "-1.505", project_id=-4)])

    # When rendered
    record = parse(render_csv(table))[1]

    # Then the numbers keep their minus sign with no quote in front
    assert record[0] == "-4"
    assert record[4] == "-1.51"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.125"), "0.13"),  # half-up, where banker's rounding would give 0.12
        (Decimal("0.115"), "0.12"),
        (Decimal("2.675"), "2.68"),
        (Decimal("0.004"), "0.00"),
        (Decimal("-0.005"), "-0.01"),
        (Decimal("-0.001"), "0.00"),  # never "-0.00"
        (Decimal("1234567.5"), "1234567.50"),  # no thousands separator
        (Decimal("1E+3"), "1000.00"),  # no exponent
        (Decimal("7"), "7.00"),
        (8, "8.00"),  # a whole number in an hours column still gets two decimals
    ],
)
def test_hours_have_two_decimals_rounded_half_up(value: Decimal | int, expected: str) -> None:
    assert format_cell("incurred_hours", value) == expected


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("entries", 12, "12"),
        ("project_id", 123456, "123456"),
        ("incurred_days", 2, "2.00"),
        ("incurred_amount", Decimal("99.999"), "100.00"),
        ("billable", True, "true"),
        ("billable", False, "false"),
        ("date", date(2026, 5, 4), "2026-05-04"),
        ("week", date(2026, 5, 4), "2026-05-04"),
        ("month", "2026-05", "2026-05"),
        ("client_name", None, ""),
    ],
)
def test_cells_are_formatted_by_type_and_column(column: str, value: Cell, expected: str) -> None:
    assert format_cell(column, value) == expected


def test_totals_row_comes_last_with_total_in_the_first_column() -> None:
    # Given a report with totals
    table = tricky_table()

    # When rendered
    records = parse(render_csv(table))

    # Then the last record is TOTAL, empty group cells, then the metric totals
    assert records[-1] == ["TOTAL", "", "", "", "44.75", "44.75", "0.00", "56"]
    assert records[0] == list(table.columns)
    assert len(records) == len(table.rows) + 2


def test_an_empty_report_has_a_header_and_a_zero_total() -> None:
    # Given no rows
    table = hours_table([])

    # When rendered
    data = render_csv(table)

    # Then the file is a header and a TOTAL row with zeros
    assert parse(data) == [list(table.columns), ["TOTAL", "", "", "", "0.00", "0.00", "0.00", "0"]]


def test_a_table_without_group_columns_is_refused() -> None:
    table = ReportTable(
        report_id="x",
        title="x",
        view="time_fees_hours",
        period=Period(date(2026, 5, 4), date(2026, 5, 4)),
        group_by=(),
        columns=HOURS_COLUMNS,
        metric_columns=HOURS_COLUMNS,
    )
    with pytest.raises(ValueError, match="group column"):
        render_csv(table)


def test_streaming_yields_one_chunk_per_record_and_writes_the_same_bytes() -> None:
    # Given a few thousand rows
    rows = [hours_row(f"Project {index}", f"Person {index}", "1.5", user_id=index) for index in range(5000)]
    table = hours_table(rows)

    # When streamed line by line and written to a stream
    chunks = list(iter_csv_lines(table))
    stream = io.BytesIO()
    written = write_csv(table, stream)

    # Then there is one chunk per record and both ways give the same bytes
    assert len(chunks) == len(rows) + 2
    assert b"".join(chunks) == stream.getvalue() == render_csv(table)
    assert written == len(stream.getvalue())


@given(st.lists(st.text(max_size=30), min_size=1, max_size=8))
def test_any_text_round_trips_and_never_starts_like_a_formula(names: list[str]) -> None:
    # Given arbitrary user text as names
    table = hours_table([hours_row(name, name, "1", user_id=index) for index, name in enumerate(names)])

    # When rendered and read back
    records = parse(render_csv(table))[1:-1]

    # Then each cell is the text, with a quote in front exactly when it started like a formula
    for record, name in zip(records, names, strict=True):
        expected = "'" + name if starts_like_a_formula(name) else name
        assert record[1] == expected
        assert not starts_like_a_formula(record[1])
        assert unneutralised(record[1]) == name
