"""Reading report definitions: parse a mapping, load a YAML/JSON file or a catalogue folder, and turn pydantic's
validation errors into one message that names the field and the allowed values.

People write the catalogue in YAML; the build ships it as JSON (`timereports_dev.ship_catalogue`, called by sam.mk),
so a deployed function reads it with the standard library and the layer carries no YAML parser.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import (
    BaseModel,
    ValidationError,
)

from timereports.errors import DefinitionError, UnknownReportError
from timereports.models.definition import LOCATION_TAGS, ReportDefinition
from timereports.models.rules import allowed_values

if TYPE_CHECKING:
    import yaml


def read_definition_data(path: str | Path) -> object:
    """A definition file's content before validation (`.json` as JSON, anything else as YAML)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{source}: cannot read the definition: {exc}") from exc
    try:
        return _parse(text, json_file=source.suffix.lower() == ".json")
    except DefinitionError as exc:
        raise DefinitionError(f"{source}: {exc}") from exc
    except RecursionError:
        raise DefinitionError(f"{source}: nested too deeply to read") from None


def _parse(text: str, *, json_file: bool) -> object:
    """A definition's text as JSON or as YAML; a DefinitionError saying what is wrong with it (its file unnamed)."""
    if json_file:
        try:
            return json.loads(text, object_pairs_hook=refuse_duplicate_keys)
        except DefinitionError as exc:
            raise DefinitionError(f"{exc}; keep one of them") from exc
        except json.JSONDecodeError as exc:
            raise DefinitionError(f"not valid JSON: {exc}") from exc
    try:
        # Deferred: only the command line and the build read YAML; deployed, the catalogue is JSON (sam.mk).
        import yaml
    except ImportError:
        raise DefinitionError(
            "a YAML definition where the functions read JSON: deploy the catalogue through `make build`"
        ) from None
    try:
        return yaml.load(text, Loader=_definition_loader(yaml.SafeLoader))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise DefinitionError(f"not valid YAML: {yaml_problem(exc)}") from exc


def yaml_problem(error: Exception) -> str:
    """PyYAML's error in one line, at the line and column it names (its own text spans lines and quotes the
    document as "<unicode string>"); a tab gets the hint that YAML indents with spaces."""
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    text = f"{where}{problem}"
    if "'\\t'" in str(problem):  # PyYAML quotes the character it stopped at, a tab as '\\t'
        text += " (a tab: YAML indents with spaces)"
    return text


def refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads`'s object_pairs_hook: the object as a dict, or a DefinitionError naming a key it has twice (by
    default the last one silently wins, so a second `to` or filter would replace the first unnoticed)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise DefinitionError(f"{key} appears twice in one object")
        data[key] = value
    return data


@lru_cache(maxsize=1)
def _definition_loader(safe_loader: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """YAML's safe loader, but dates stay text: PyYAML would raise a bare ValueError on `2026-13-01`, while
    the model parses dates itself and names the field that is wrong. And a key that appears twice in one mapping is
    a DefinitionError naming it and its line, where PyYAML would keep the last one silently."""
    resolvers = {
        first: [(tag, pattern) for tag, pattern in found if tag != "tag:yaml.org,2002:timestamp"]
        for first, found in safe_loader.yaml_implicit_resolvers.items()
    }

    def get_single_node(self: yaml.SafeLoader) -> yaml.Node | None:
        node = safe_loader.get_single_node(self)
        if node is not None:
            _refuse_duplicate_yaml_keys(self, node)
        return node

    return type(
        "DefinitionLoader", (safe_loader,), {"yaml_implicit_resolvers": resolvers, "get_single_node": get_single_node}
    )


def _refuse_duplicate_yaml_keys(loader: yaml.SafeLoader, root: yaml.Node) -> None:
    """Raise a DefinitionError for the first key, in document order, that one of the document's mappings has twice.

    Checked on the composed nodes, before construction: there a mapping's own keys are still apart from those a merge
    (`<<: *base`) brings in, which it may override. Two keys are the same when the loaded dict would keep one of
    them (`1` and `1.0`) or when the shipped JSON would write both as the same text (`1` and `"1"`)."""
    # Deferred: as in read_definition_data, only what reads YAML has PyYAML (it is imported there already).
    import yaml

    pending: list[tuple[yaml.Node, str]] = [(root, "")]
    visited: set[int] = set()
    while pending:
        node, path = pending.pop()
        if id(node) in visited:  # an alias: its node is checked where it is anchored
            continue
        visited.add(id(node))
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.SequenceNode):
            children = [(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            lines: dict[object, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # a merge, or a key that cannot be one (the constructor names it)
                key = loader.construct_object(key_node)
                name = f"{path}.{key}" if path else str(key)
                line = key_node.start_mark.line + 1
                same_keys = (key, _key_as_json_text(key))
                for same in same_keys:
                    if same in lines:
                        first = lines[same]
                        raise DefinitionError(
                            f"line {line}: {name} appears twice (first on line {first}); keep one of them"
                        )
                lines.update(dict.fromkeys(same_keys, line))
                children.append((value_node, name))
        pending.extend(reversed(children))


def _key_as_json_text(key: object) -> object:
    """A key as JSON writes it (json.dumps turns a number, true/false or null key into text)."""
    return json.dumps(key) if key is None or isinstance(key, bool | int | float) else key


def load_definition(path: str | Path) -> ReportDefinition:
    """Read and validate one definition file (`.json` as JSON, anything else as YAML)."""
    data = read_definition_data(path)
    try:
        return parse_definition(data)
    except DefinitionError as exc:
        raise DefinitionError(f"{Path(path)}: {exc}") from exc


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


class Catalogue:
    """The report catalogue folder, read on first use and kept: it ships with the deployment and cannot change
    under a warm container."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @cached_property
    def reports(self) -> dict[str, ReportDefinition]:
        return {definition.id: definition for definition in load_catalogue(self.directory)}

    def get(self, report_id: str) -> ReportDefinition:
        """The catalogue's definition of `report_id`, or an UnknownReportError naming the known ids."""
        if report_id not in self.reports:
            known = ", ".join(sorted(self.reports)) or "none"
            raise UnknownReportError(f"report_id: {report_id!r} is not in the catalogue; known reports: {known}")
        return self.reports[report_id]


# --- turning pydantic's errors into one readable message -------------------------------------------------------


def describe_validation_error(error: ValidationError, model: type[BaseModel] = ReportDefinition) -> str:
    """One message for all problems of a definition, each as `field.path: what is wrong; allowed: ...`."""
    return describe_errors(error.errors(include_url=False), model)


def describe_errors(details: Iterable[Mapping[str, Any]], model: type[BaseModel] = ReportDefinition) -> str:
    """`describe_validation_error` for pydantic's error details of `model` (as another validator, such as an HTTP
    framework's, hands them over: locations relative to the model)."""
    problems: list[str] = []
    for detail in details:
        location = [part for part in detail["loc"] if part not in LOCATION_TAGS]
        context = detail.get("ctx") or {}
        path = _format_location(location)
        if context.get("field"):
            extra = str(context["field"])
            path = f"{path}{extra}" if extra.startswith("[") else f"{path}.{extra}" if path else extra
        problems.append(f"{path or 'definition'}: {_problem_text(detail, location, model)}")
    return "; ".join(dict.fromkeys(problems))


def _format_location(location: Sequence[int | str]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _problem_text(detail: Mapping[str, Any], location: Sequence[int | str], model: type[BaseModel]) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(location[:-1], model)
        return "unknown field" + (f"; allowed: {allowed_values(allowed)}" if allowed else "")
    if kind == "missing":
        return "required"
    message = str(detail["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("string_pattern_mismatch", "greater_than", "less_than_equal", "string_too_short", "string_too_long"):
        return f"{message} (got {_shown(detail.get('input'))})"
    return message


# How much of a refused value a message repeats: enough to find it, not a 5,000-character title back.
SHOWN_INPUT_CHARACTERS = 60


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) <= SHOWN_INPUT_CHARACTERS:
        return text
    return f"{text[:SHOWN_INPUT_CHARACTERS]}... ({len(value) if isinstance(value, str) else len(text)} characters)"


def _fields_at(location: Sequence[int | str], root: type[BaseModel]) -> list[str]:
    """The keys a definition accepts at a location (to list them after an unknown one)."""
    model: Any = root
    parts = [part for part in location if not isinstance(part, int)]
    index = 0
    while index < len(parts):
        fields = {(info.alias or name): info.annotation for name, info in model.model_fields.items()}
        annotation = fields.get(str(parts[index]))
        if annotation is None:
            return []
        if get_origin(annotation) is dict:
            index += 1  # the next part is a key of the mapping (e.g. a filter's attribute)
        model = _model_in(annotation)
        if model is None:
            return []
        index += 1
    return [(info.alias or name) for name, info in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


# --- loading ---------------------------------------------------------------------------------------------------


def parse_definition(data: object) -> ReportDefinition:
    """Validate an already-parsed definition (an inline one of a one-off run, or a file's content)."""
    if not isinstance(data, Mapping):
        raise DefinitionError(f"definition: expected a mapping of fields, got {type(data).__name__}")
    try:
        return ReportDefinition.model_validate(dict(data))
    except ValidationError as exc:
        raise DefinitionError(describe_validation_error(exc)) from exc
