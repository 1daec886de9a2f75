"""Report definitions: the YAML (or JSON) a user writes, validated before any API request.

The vocabulary follows the Resource Management Reports API (views, time frames, group_by, filters,
calc_incurred_using) so that people who know that API know this one. Every invalid input becomes one
`DefinitionError` whose message names the field path and the allowed values, because the person
reading it is editing a YAML file, not reading a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from timereports.errors import DefinitionError
from timereports.models.definition import ReportDefinition, parse_definition


class _DefinitionLoader(yaml.SafeLoader):
    """YAML's safe loader, but dates stay text: PyYAML would raise a bare ValueError on `2026-13-01`, while
    the model parses dates itself and names the field that is wrong."""


_DefinitionLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_definition(path: str | Path) -> ReportDefinition:
    """Read and validate one definition file (`.json` as JSON, anything else as YAML)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{source}: cannot read the definition: {exc}") from exc
    try:
        data = json.loads(text) if source.suffix.lower() == ".json" else yaml.load(text, Loader=_DefinitionLoader)  # noqa: S506
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DefinitionError(f"{source}: not valid {'JSON' if source.suffix == '.json' else 'YAML'}: {exc}") from exc
    try:
        return parse_definition(data)
    except DefinitionError as exc:
        raise DefinitionError(f"{source}: {exc}") from exc


DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


def load_catalogue(directory: str | Path) -> list[ReportDefinition]:
    """Every definition in a directory, sorted by file name; all problems (and repeated ids) in one error."""
    folder = Path(directory)
    if not folder.is_dir():
        raise DefinitionError(f"{folder}: not a directory of report definitions")
    definitions: list[ReportDefinition] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in DEFINITION_SUFFIXES:
            continue
        try:
            definition = load_definition(path)
        except DefinitionError as exc:
            problems.append(str(exc))
            continue
        if definition.id in seen:
            problems.append(f"{path}: id: {definition.id!r} is already used by {seen[definition.id]}; ids are unique")
            continue
        seen[definition.id] = path
        definitions.append(definition)
    if problems:
        raise DefinitionError("\n".join(problems))
    return definitions
