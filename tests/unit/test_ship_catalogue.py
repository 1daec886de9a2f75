"""The catalogue as the build ships it (timereports_dev.ship_catalogue): validated, as JSON, the same definitions."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from timereports_dev.ship_catalogue import main, ship_catalogue

from timereports.errors import DefinitionError
from timereports.models.catalogue import load_catalogue, load_definition

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "reports"


def _copy_of_the_catalogue(tmp_path: Path) -> Path:
    source = tmp_path / "reports"
    shutil.copytree(CATALOGUE, source)
    return source


def test_the_shipped_catalogue_is_json_and_reads_as_the_same_definitions(tmp_path: Path) -> None:
    # Given the repository's catalogue / When it is shipped
    written = ship_catalogue(CATALOGUE, tmp_path / "shipped")
    # Then each definition is one JSON file, and they read as the definitions people wrote in YAML
    assert sorted(path.name for path in written) == sorted(f"{path.stem}.json" for path in CATALOGUE.glob("*.yaml"))
    assert load_catalogue(tmp_path / "shipped") == load_catalogue(CATALOGUE)


def test_an_invalid_definition_fails_the_build_naming_it_and_nothing_is_written(tmp_path: Path) -> None:
    # Given a catalogue with one definition whose view does not exist
    source = _copy_of_the_catalogue(tmp_path)
    bad = source / "weekly-hours-by-project.yaml"
    bad.write_text(bad.read_text(encoding="utf-8").replace("view: time_fees_hours", "view: hourz"), encoding="utf-8")
    # When it is shipped / Then the error names the file, the field and the allowed values
    with pytest.raises(DefinitionError, match=r"weekly-hours-by-project\.yaml: view: .*allowed: time_fees_hours"):
        ship_catalogue(source, tmp_path / "shipped")
    # And nothing was written
    assert list((tmp_path / "shipped").iterdir()) == []


def test_a_value_json_cannot_carry_is_refused_rather_than_changed_and_nothing_is_written(tmp_path: Path) -> None:
    # Given a valid catalogue plus a definition whose date is a YAML-tagged date (a date object, not text)
    source = _copy_of_the_catalogue(tmp_path)
    text = (CATALOGUE / "weekly-hours-by-project.yaml").read_text(encoding="utf-8")
    custom = "time_frame: {from: !!timestamp 2026-11-02, to: 2026-11-08}"
    tagged = text.replace("time_frame: last_week", custom).replace("id: weekly-hours-by-project", "id: tagged")
    (source / "tagged.yaml").write_text(tagged, encoding="utf-8")
    load_catalogue(source)  # valid as a definition
    # When it is shipped / Then it is refused, naming the file
    with pytest.raises(DefinitionError, match=r"tagged\.yaml: holds a value JSON cannot carry"):
        ship_catalogue(source, tmp_path / "shipped")
    # And not even the convertible definitions were written
    assert list((tmp_path / "shipped").iterdir()) == []


@pytest.mark.parametrize("second", ["weekly.json", "Weekly.yml"])
def test_two_files_of_one_name_are_refused(tmp_path: Path, second: str) -> None:
    # Given weekly.yaml and a second file of the same name, up to case (with another id: the catalogue is valid)
    source = tmp_path / "reports"
    source.mkdir()
    text = (CATALOGUE / "weekly-hours-by-project.yaml").read_text(encoding="utf-8")
    (source / "weekly.yaml").write_text(text, encoding="utf-8")
    ship_catalogue(source, tmp_path / "first")
    json_text = (tmp_path / "first" / "weekly.json").read_text(encoding="utf-8")
    (source / second).write_text(json_text.replace('"weekly-hours-by-project"', '"other"'), encoding="utf-8")
    # When it is shipped / Then both would become one JSON file (on a case-insensitive file system too): refused
    with pytest.raises(DefinitionError, match=r"weekly\.json would also be written for another file"):
        ship_catalogue(source, tmp_path / "shipped")
    assert list((tmp_path / "shipped").iterdir()) == []


def test_the_command_says_what_it_wrote_or_why_not_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(CATALOGUE), str(tmp_path / "ok")]) == 0
    assert "report definitions validated and written as JSON" in capsys.readouterr().out
    source = _copy_of_the_catalogue(tmp_path)
    (source / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    assert main([str(source), str(tmp_path / "no")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("the catalogue cannot ship: ")
    assert "broken.yaml: not valid YAML" in error
    assert "Traceback" not in error


def test_deployed_without_pyyaml_a_yaml_definition_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the layer's Python, which has no PyYAML (an import of it fails)
    monkeypatch.setitem(sys.modules, "yaml", None)
    # When a YAML definition is read (a catalogue that did not go through the build) / Then the error says what to do
    with pytest.raises(DefinitionError, match=r"weekly-hours-by-project\.yaml: .*deploy the catalogue through"):
        load_definition(CATALOGUE / "weekly-hours-by-project.yaml")
