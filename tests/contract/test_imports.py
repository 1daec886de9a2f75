"""The import rules import-linter does not check (its contracts are in pyproject.toml, run by `make lint`).

- No import cycles between modules, function-local imports included: a cycle hidden in a function still couples two
  modules both ways and breaks the first time the function runs at import.
- A function-local import only where it defers something heavy or optional, with its reason in a comment right
  above it (or above the group of imports it starts).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"timereports": ROOT / "layers/timereports/timereports", "timereports_dev": ROOT / "dev/timereports_dev"}
# Where the reason rule also holds (no import graph of their own to check for cycles).
REASONED = PACKAGES | {"functions": ROOT / "functions", "tests": ROOT / "tests", "bench": ROOT / "bench"}
IMPORT_PREFIXES = ("import ", "from ")


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_imports_itself_back_through_others(package: str) -> None:
    # Given every import between the package's modules (function-local ones too; `if TYPE_CHECKING:` ones never run)
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    # Then no group of modules imports each other
    assert strongly_connected(edges) == []


def function_local_imports(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line, the lines above it) of each import inside a function."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner.lineno, lines[: inner.lineno - 1]


def has_reason(above: list[str]) -> bool:
    """A comment right above the import, or above the run of imports it belongs to."""
    for line in reversed(above):
        text = line.strip()
        if text.startswith("#"):
            return True
        if not text.startswith(IMPORT_PREFIXES) and not text.startswith(")") and not text.endswith(","):
            return False
    return False


@pytest.mark.parametrize("package", sorted(REASONED))
def test_every_function_local_import_says_why(package: str) -> None:
    missing = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(REASONED[package].rglob("*.py"))
        for line, above in function_local_imports(path)
        if not has_reason(above)
    ]
    assert missing == [], "function-local imports without a reason comment above them"
