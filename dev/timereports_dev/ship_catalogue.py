"""The report catalogue as the functions ship it: `python -m timereports_dev.ship_catalogue SOURCE DESTINATION`.

sam.mk calls it for each function artifact. It validates the catalogue as the functions read it (every problem in one
error, nothing written), then writes each definition as `<name>.json`, the same data: a deployed function reads the
catalogue with the standard library, so the layer ships no YAML parser and no handler imports one at its cold start,
and a definition that would fail its first run fails the build instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from timereports.errors import DefinitionError
from timereports.models.catalogue import DEFINITION_SUFFIXES, load_catalogue, read_definition_data


def ship_catalogue(source: Path, destination: Path) -> list[Path]:
    """Write `source`'s definitions to `destination` as JSON once all of them are valid and convert; the files written.
    Every problem is named in one DefinitionError, and then nothing is written."""
    destination.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return []  # a deployment without a catalogue: the functions find an empty one
    load_catalogue(source)
    definitions = [
        path for path in sorted(source.iterdir()) if path.is_file() and path.suffix.lower() in DEFINITION_SUFFIXES
    ]
    names = Counter(path.stem.casefold() for path in definitions)
    problems = [
        f"{path}: {path.stem}.json would also be written for another file; keep one file per name"
        for path in definitions
        if names[path.stem.casefold()] > 1
    ]
    texts: dict[Path, str] = {}
    for path in definitions:
        try:
            texts[destination / f"{path.stem}.json"] = _as_json(path)
        except DefinitionError as exc:
            problems.append(str(exc))
    if problems:
        raise DefinitionError("\n".join(problems))
    for target, text in texts.items():
        target.write_text(text, encoding="utf-8")
    return list(texts)


def _as_json(path: Path) -> str:
    """The definition's data as JSON text. JSON has no dates, sets, binary or NaN (YAML tags can make them): those are
    refused rather than changed. Keys that are not text become text, which is how the models read them anyway."""
    try:
        return json.dumps(read_definition_data(path), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{path}: holds a value JSON cannot carry ({exc}); write it as plain text") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m timereports_dev.ship_catalogue", description=__doc__)
    parser.add_argument("source", type=Path, help="the catalogue folder (reports/)")
    parser.add_argument("destination", type=Path, help="the function artifact's reports/ folder")
    args = parser.parse_args(argv)
    try:
        written = ship_catalogue(args.source, args.destination)
    except DefinitionError as exc:
        print(f"the catalogue cannot ship: {exc}", file=sys.stderr)
        return 1
    print(f"{len(written)} report definitions validated and written as JSON to {args.destination}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
