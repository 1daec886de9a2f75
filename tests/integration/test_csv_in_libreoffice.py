"""The CSV opened by a real spreadsheet: LibreOffice Calc, headless, with formula evaluation switched ON.

If our neutralisation failed, Calc would store a formula; the control file proves that this import does
evaluate an unprotected formula, so the test can fail. Run with `make check-office` (installs LibreOffice).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.unit.test_render_csv import tricky_table
from timereports.render.csv import render_csv

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed"),
]

# CSV import filter tokens: comma (44), double quote (34), UTF-8 (76), from line 1, no column formats,
# language 0, "quoted field as text" off, "detect special numbers" on, 3 export-only tokens, all sheets (-1),
# and "evaluate formulas" ON (token 13): the riskiest way a person could open the file.
CSV_IMPORT_FILTER = "CSV:44,34,76,1,,0,false,true,false,false,false,-1,true"

NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
}
Sheet = list[list[dict[str, str | None]]]
CONTROL_CSV = b"name,hours\r\n=1+1,2\r\n"


def _attribute(namespace: str, name: str) -> str:
    return f"{{{NS[namespace]}}}{name}"


def paragraph_text(element: ElementTree.Element) -> str:
    """The text of an ODF paragraph, with its tab, space-run and line-break elements turned back into characters."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == _attribute("text", "tab"):
            parts.append("\t")
        elif child.tag == _attribute("text", "s"):
            parts.append(" " * int(child.get(_attribute("text", "c"), "1")))
        elif child.tag == _attribute("text", "line-break"):
            parts.append("\n")
        else:
            parts.append(paragraph_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def read_sheet(fods: Path) -> Sheet:
    """Each cell of the first sheet of a flat ODS file, in document order: its text, value type and formula (None when
    none); rows inside `table:table-header-rows` (a header repeated on each printed page) included."""
    root = ElementTree.parse(fods).getroot()  # noqa: S314 - a file LibreOffice just wrote
    sheet = root.find(".//table:table", NS)
    assert sheet is not None
    rows = []
    for row in sheet.iter(_attribute("table", "table-row")):
        cells: list[dict[str, str | None]] = []
        for cell in row.findall("table:table-cell", NS):
            repeat = int(cell.get(_attribute("table", "number-columns-repeated"), "1"))
            paragraphs = [paragraph_text(paragraph) for paragraph in cell.findall("text:p", NS)]
            content = {
                "text": "\n".join(paragraphs),
                "type": cell.get(_attribute("office", "value-type")),
                "formula": cell.get(_attribute("table", "formula")),
            }
            cells.extend([content] * min(repeat, 64))
        rows.append(cells)
    return rows


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sheet]:
    """Our CSV and the control CSV, imported by LibreOffice and saved as flat ODS, read back."""
    work = tmp_path_factory.mktemp("office")
    (work / "report.csv").write_bytes(render_csv(tricky_table()))
    (work / "control.csv").write_bytes(CONTROL_CSV)
    command = [
        "soffice",
        f"-env:UserInstallation={(work / 'profile').as_uri()}",  # its own profile: no clash with a running office
        "--headless",
        "--norestore",
        f"--infilter={CSV_IMPORT_FILTER}",
        "--convert-to",
        "fods",
        "--outdir",
        str(work / "out"),
        str(work / "report.csv"),
        str(work / "control.csv"),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert completed.returncode == 0, completed.stderr
    return {name: read_sheet(work / "out" / f"{name}.fods") for name in ("report", "control")}


def test_the_control_shows_this_import_evaluates_formulas(converted) -> None:
    # Given a CSV with an unprotected formula, imported with formula evaluation on
    control = converted["control"]

    # Then Calc stored it as a formula and computed it: the way our neutralisation must prevent
    assert control[1][0]["formula"] == "of:=1+1"
    assert control[1][0]["text"] == "2"


def test_every_cell_arrives_as_the_intended_text_and_no_formula_runs(converted) -> None:
    # Given our CSV of tricky names, imported by LibreOffice with formula evaluation on
    sheet = converted["report"]
    table = tricky_table()

    # Then no cell anywhere is a formula
    formulas = [cell for row in sheet for cell in row if cell["formula"]]
    assert formulas == []

    # and the header, each name (accents, quotes, commas, newlines, would-be formulas) arrive as text
    assert [cell["text"] for cell in sheet[0][: len(table.columns)]] == list(table.columns)
    for row, record in zip(table.rows, sheet[1:], strict=False):
        name = str(row["user_name"])
        intended = "'" + name if name.startswith(("=", "+", "-", "@", "\t", "\r")) else name
        cell = record[3]
        assert cell["type"] == "string", name
        # Calc turns a lone CR inside a quoted field into a paragraph break as it does for LF
        assert cell["text"] == intended.replace("\r\n", "\n").replace("\r", "\n"), name
    names = {record[3]["text"] for record in sheet[1:]}
    assert "Zoë Ämtmann-Øster" in names
    assert 'Café "Olé", Lisboa' in names
    assert "line one\nline two" in names
    assert '\'=HYPERLINK("http://attacker.example","click")' in names


def test_numbers_arrive_as_numbers_and_the_total_row_last(converted) -> None:
    sheet = converted["report"]
    first, credit, total = sheet[1], sheet[-2], sheet[-1]
    # hours with two decimals are numbers to the spreadsheet, a credit stays a negative number
    assert first[4] == {"text": "0.13", "type": "float", "formula": None}
    assert credit[4]["type"] == "float"
    assert credit[4]["text"] == "-1.5"
    assert total[0]["text"] == "TOTAL"
    assert total[4]["type"] == "float"
    assert total[4]["text"] == "44.75"
