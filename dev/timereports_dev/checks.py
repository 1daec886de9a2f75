"""The command line's checks of what a person gave it: catalogue folders, output paths and ports.

Each turns the OS's refusal into the one-line DefinitionError (exit 2) the person can act on, naming the path or the
port and the OS's reason, before anything is requested or sent. Light on imports: `validate` uses it and starts fast.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from timereports.errors import DefinitionError

if TYPE_CHECKING:
    from timereports.models.definition import ReportDefinition


def reason(exc: OSError) -> str:
    """The OS's reason alone ("Permission denied"), without the errno and the path a str() of it repeats."""
    return exc.strerror or str(exc)


def read_catalogue(directory: Path, *, empty_ok: bool = False) -> list[ReportDefinition]:
    """The definitions of a catalogue folder, checked the way the dispatcher checks its catalogue (`load_catalogue`:
    a path that is not a directory and every invalid definition are one DefinitionError), plus a folder that cannot be
    read, and, unless `empty_ok`, one that holds no definitions (a tick or a validation over it can do nothing)."""
    # Deferred: pydantic and the definition models only for the commands that read definitions.
    from timereports.models.catalogue import DEFINITION_SUFFIXES, load_catalogue

    try:
        definitions = load_catalogue(directory)
    except OSError as exc:
        raise DefinitionError(f"{directory}: cannot read the directory: {reason(exc)}") from exc
    if not definitions and not empty_ok:
        raise DefinitionError(f"{directory}: no report definitions in it (no {', '.join(DEFINITION_SUFFIXES)} files)")
    return definitions


def read_definitions(path: Path) -> list[ReportDefinition]:
    """What `timereports validate PATH` checks: every definition of a folder, or the one definition file."""
    # Deferred: as in read_catalogue.
    from timereports.models.catalogue import load_definition

    try:
        is_dir = path.is_dir()  # raises for a path inside a folder that cannot be searched
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read it: {reason(exc)}") from exc
    return read_catalogue(path) if is_dir else [load_definition(path)]


def output_error(option: str, path: Path, exc: OSError, *, what: str) -> DefinitionError:
    """An output path the OS refused, as the argument error it is: the option, the path and the OS's reason (and the
    path the OS named, when it is another one, such as a parent that is a file)."""
    named = f" ({exc.filename})" if exc.filename and Path(os.fsdecode(exc.filename)) != path else ""
    return DefinitionError(f"{option} {path}: cannot write {what} there: {reason(exc)}{named}")


def prepare_out_dir(option: str, directory: Path, *, what: str) -> None:
    """Create an output directory (with its parents) and prove that a file can be written in it, before the command
    does anything: a report must not be sent and then fail to leave its files."""
    try:
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise output_error(option, directory, exc, what=what) from exc


def prepare_out_file(option: str, path: Path, *, what: str) -> None:
    """Refuse an output file that is a directory, and create its parent directories, before the command does
    anything (the file itself is opened, and truncated, only once there is something to write)."""
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(option, path, exc, what=what) from exc


def listen_error(host: str, port: int, exc: OSError) -> DefinitionError:
    """A port that cannot be listened on (in use, or privileged), naming it: `--port` is the person's to change."""
    return DefinitionError(f"--port {port}: cannot listen on {host}:{port}: {reason(exc)}")
