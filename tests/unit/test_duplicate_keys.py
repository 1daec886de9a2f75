"""A key given twice in one mapping is refused, naming it (and, in YAML, its line), instead of the last one silently
winning: in a definition file (YAML or JSON), in the shipped catalogue, and in a Reports API request body."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from timereports_dev.ship_catalogue import ship_catalogue

from tests.support.reports_requests import refusal
from timereports.errors import DefinitionError
from timereports.models.catalogue import load_catalogue, load_definition, read_definition_data
from timereports.models.reports_api import ReportsQuery, load_request_body

ROOT = Path(__file__).resolve().parents[2]
WEEKLY = ROOT / "reports" / "weekly-hours-by-project.yaml"


def _weekly_with(tmp_path: Path, old: str, new: str, name: str = "bad.yaml") -> Path:
    """The weekly catalogue definition with `old` replaced by `new`, written as `name`."""
    text = WEEKLY.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, text: str, occurrence: int) -> int:
    """The 1-based line of the `occurrence`-th (0-based) line of `path` that starts with `text`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [number for number, line in enumerate(lines, 1) if line.startswith(text)][occurrence]


# --- YAML definitions -------------------------------------------------------------------------------------------


def test_a_nested_yaml_key_given_twice_names_its_path_and_line(tmp_path: Path) -> None:
    # Given the weekly definition with a second `to:` further down its delivery
    bad = _weekly_with(tmp_path, "  owner: it@example.com", "  owner: it@example.com\n  to: [a@example.com]")
    first, second = _line_of(bad, "  to:", 0), _line_of(bad, "  to:", 1)
    # When it is read / Then one line names the file, the second key's line, its path and the first one's line
    with pytest.raises(DefinitionError) as raised:
        load_definition(bad)
    message = str(raised.value)
    assert message == f"{bad}: line {second}: delivery.to appears twice (first on line {first}); keep one of them"
    assert "\n" not in message


def test_a_top_level_yaml_key_given_twice_is_refused(tmp_path: Path) -> None:
    bad = _weekly_with(tmp_path, "compare: previous", "compare: previous\nview: time_fees_hours")
    second = _line_of(bad, "view:", 1)
    with pytest.raises(DefinitionError, match=rf"bad\.yaml: line {second}: view appears twice \(first on line \d+\)"):
        read_definition_data(bad)


def test_a_filter_given_twice_in_a_flow_mapping_is_refused(tmp_path: Path) -> None:
    # Given two `client:` filters, one after the other on one line
    bad = _weekly_with(
        tmp_path,
        "compare: previous",
        'filters: {client: {operation: inclusion, values: ["A"]}, client: {operation: exclusion, values: ["B"]}}',
    )
    line = _line_of(bad, "filters:", 0)
    with pytest.raises(DefinitionError, match=rf"line {line}: filters\.client appears twice \(first on line {line}\)"):
        read_definition_data(bad)


@pytest.mark.parametrize(("first", "second"), [("1", '"1"'), ("1", "1.0"), ("true", '"true"')])
def test_yaml_keys_that_would_load_or_ship_as_one_are_the_same_key(tmp_path: Path, first: str, second: str) -> None:
    # Given two keys PyYAML keeps apart as text but the dict (1 == 1.0) or the shipped JSON ("1") would merge
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"id: bad\nlabels:\n  {first}: a\n  {second}: b\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"line 4: labels\.\S+ appears twice \(first on line 3\)"):
        read_definition_data(bad)


def test_yaml_merges_aliases_and_dates_still_read(tmp_path: Path) -> None:
    # Given a mapping that overrides a key its merge brings in (also where the merged mapping is itself merged later),
    # an alias used twice, and a date that is not one
    good = tmp_path / "good.yaml"
    good.write_text(
        "a:\n  base: &base\n    <<: {k: 0}\n    k: 1\nb:\n  <<: *base\n  k: 2\nc: [*base, *base]\nd: 2026-13-01\n",
        encoding="utf-8",
    )
    # Then none of them is a duplicate, and the date stays text
    assert read_definition_data(good) == {
        "a": {"base": {"k": 1}},
        "b": {"k": 2},
        "c": [{"k": 1}, {"k": 1}],
        "d": "2026-13-01",
    }


def test_the_catalogue_and_its_shipping_refuse_a_definition_with_a_key_given_twice(tmp_path: Path) -> None:
    # Given a copy of the catalogue where one definition names its recipients twice
    source = tmp_path / "reports"
    shutil.copytree(ROOT / "reports", source)
    weekly = source / WEEKLY.name
    weekly.write_text(
        weekly.read_text(encoding="utf-8").replace("  cc: []", "  to: [a@example.com]"),
        encoding="utf-8",
    )
    # When it is loaded or shipped / Then it is refused naming the file and the key, and nothing is written
    pattern = rf"{re.escape(WEEKLY.name)}: line \d+: delivery\.to appears twice"
    with pytest.raises(DefinitionError, match=pattern):
        load_catalogue(source)
    with pytest.raises(DefinitionError, match=pattern):
        ship_catalogue(source, tmp_path / "shipped")
    assert list((tmp_path / "shipped").iterdir()) == []


# --- JSON definitions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"id": "bad", "title": "Bad", "view": "time_fees_hours", "view": "time_fees_hours"}', "view"),
        ('{"id": "bad", "delivery": {"to": ["ceo@example.com"], "to": ["a@example.com"]}}', "to"),
    ],
    ids=["top-level", "nested"],
)
def test_a_json_definition_with_a_key_given_twice_is_refused(tmp_path: Path, text: str, key: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as raised:
        load_definition(bad)
    assert str(raised.value) == f"{bad}: {key} appears twice in one object; keep one of them"


def test_a_json_definition_without_duplicates_still_reads(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"a": {"b": 1}, "c": [{"b": 2}, {"b": 3}]}', encoding="utf-8")
    assert read_definition_data(good) == {"a": {"b": 1}, "c": [{"b": 2}, {"b": 3}]}


# --- a Reports API body -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"view": "time_fees_hours", "view": "time_fees_hours"}', "view"),
        (
            '{"filters": {"client": {"operation": "inclusion", "values": ["A"]},'
            ' "client": {"operation": "exclusion", "values": ["B"]}}}',
            "client",
        ),
    ],
    ids=["view", "filter"],
)
def test_a_request_body_with_a_key_given_twice_is_refused(body: str, key: str) -> None:
    assert refusal(body) == f"body: {key} appears twice in one object; send each parameter once"


def test_a_request_body_without_duplicates_still_parses() -> None:
    body = json.dumps({"view": "time_fees_hours", "filters": {"client": {"operation": "inclusion", "values": ["A"]}}})
    assert ReportsQuery.model_validate(load_request_body(body)).view == "time_fees_hours"
