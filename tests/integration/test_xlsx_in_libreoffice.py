"""The workbook opened by a real spreadsheet: LibreOffice Calc, headless, converts our XLSX to flat ODS.

Converted back, every cell of the table shows what the CSV holds (the same text, numbers to the cent, dates as
dates), the TOTAL row is live SUM formulas whose results equal the CSV's totals, and no text cell became a formula.
Run with `make check-office` (installs LibreOffice).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal

import pytest

from tests.integration.test_csv_in_libreoffice import Sheet, read_sheet
from tests.unit.test_render_csv import tricky_table
from timereports.engine.aggregate import aggregate
from timereports.models.catalogue import parse_definition
from timereports.models.intervals import ReferenceData, TimeEntry
from timereports.models.report import Period, ReportTable
from timereports.render.csv import render_csv, unneutralised
from timereports.render.xlsx import render_xlsx

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed"),
]


def entry_table() -> ReportTable:
    """An entry view: dates, descriptions with line breaks and a would-be formula, ids, flags and amounts."""
    rows = [
        {"id": 1, "date": "2026-05-04", "time": "1.25", "billable": "t", "hourlyrate": "9", "description": "<p>Go</p>"},
        {"id": 2, "date": "2026-05-05", "time": "2.5", "billable": "f", "description": "Line one<br>Line two"},
        {"id": 3, "date": "2026-05-06", "time": "0.75", "billable": "t", "hourlyrate": "120", "description": "=1+1"},
    ]  # fmt: skip
    common = {
        "personid": 5,
        "person": "Zoë Ämtmann",
        "projectid": 7,
        "project": "Atlas",
        "clientid": 3,
        "client": "Mango",
    }
    entries = [(TimeEntry.model_validate(common | row), None) for row in rows]
    definition = parse_definition(
        {"id": "entries", "title": "Entries & notes", "view": "time_entries", "group_by": ["project_id"]}
    )
    return aggregate(iter(entries), definition, ReferenceData(), Period(date(2026, 5, 4), date(2026, 5, 10)))


TABLES = {"hours": tricky_table, "entries": entry_table}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Sheet, list[list[str]]]]:
    """Each workbook converted by LibreOffice to flat ODS and read back, beside its CSV parsed as text."""
    work = tmp_path_factory.mktemp("office-xlsx")
    for name, build in TABLES.items():
        (work / f"{name}.xlsx").write_bytes(render_xlsx(build()))
    command = [
        "soffice",
        f"-env:UserInstallation={(work / 'profile').as_uri()}",
        "--headless",
        "--norestore",
        "--convert-to",
        "fods",
        "--outdir",
        str(work / "out"),
        *(str(work / f"{name}.xlsx") for name in TABLES),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert completed.returncode == 0, completed.stderr
    result = {}
    for name, build in TABLES.items():
        text = render_csv(build()).decode("utf-8-sig")
        result[name] = (read_sheet(work / "out" / f"{name}.fods"), list(csv.reader(io.StringIO(text, newline=""))))
    return result


def table_part(sheet: Sheet, header: list[str]) -> Sheet:
    """The rows from the header row on (the title, period and "as of" lines sit above it)."""
    start = next(index for index, row in enumerate(sheet) if [cell["text"] for cell in row[:2]] == header[:2])
    return sheet[start:]


def as_in_a_workbook(csv_text: str) -> str:
    """The CSV's text as the workbook shows it: without the apostrophe the CSV puts before a would-be formula."""
    return unneutralised(csv_text)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_workbook_shows_the_csvs_values(converted, name: str) -> None:
    sheet, csv_rows = converted[name]
    cells = table_part(sheet, csv_rows[0])
    width = len(csv_rows[0])
    # Then the header, every row and the TOTAL row show exactly the CSV's text (a lone CR included, which Calc's CSV
    # import would have turned into a line break)
    for csv_row, row in zip(csv_rows, cells, strict=False):
        shown = [cell["text"] for cell in row[:width]]
        shown += [""] * (width - len(shown))
        assert shown == [as_in_a_workbook(text) for text in csv_row]
    assert len(cells) >= len(csv_rows)
    # and the title sits above the table
    assert sheet[0][0]["text"] == TABLES[name]().title


@pytest.mark.parametrize("name", sorted(TABLES))
def test_numbers_are_numbers_dates_are_dates_and_text_is_never_a_formula(converted, name: str) -> None:
    sheet, csv_rows = converted[name]
    header, *rows = table_part(sheet, csv_rows[0])[: len(csv_rows)]
    columns = [cell["text"] for cell in header]
    table = TABLES[name]()
    for row in rows[:-1]:
        for column, cell in zip(columns, row, strict=False):
            if column in table.metric_columns or column.endswith("_id"):
                assert cell["type"] in ("float", None), (column, cell)
            elif column == "date":
                assert cell["type"] == "date", cell
            else:
                assert cell["type"] in ("string", None), (column, cell)
            assert cell["formula"] is None
    text_cells = [cell["text"] for row in rows for cell in row]
    assert "=1+1" in text_cells or '=HYPERLINK("http://attacker.example","click")' in text_cells


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_total_row_is_live_sum_formulas_equal_to_the_csv_totals(converted, name: str) -> None:
    sheet, csv_rows = converted[name]
    cells = table_part(sheet, csv_rows[0])
    total_csv, total = csv_rows[-1], cells[len(csv_rows) - 1]
    table = TABLES[name]()
    assert total[0]["text"] == "TOTAL"
    for index, column in enumerate(csv_rows[0]):
        if column in table.metric_columns:
            assert (total[index]["formula"] or "").startswith("of:=SUM("), (column, total[index])
            assert Decimal(total[index]["text"]) == Decimal(total_csv[index])
