"""Contract tests of the `sam build` artifacts (.aws-sam/build), which `make test` builds just before pytest.

The build runs pip on a Python 3.11 host for Lambda's python3.13 on arm64, so what can go wrong is exactly what
these check: the wrong platform's wheels, 3.11 bytecode (or none: Lambda's /opt and /var/task are read-only, so a
module without bytecode compiles at every cold start), a second botocore shadowing the runtime's, a handler or
the report catalogue missing from a function zip.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from timereports.models.catalogue import DEFINITION_SUFFIXES, load_catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
LAYER_SITE = BUILD_DIR / "TimereportsLayer" / "python"
PACKAGE_SOURCE = REPO_ROOT / "layers" / "timereports" / "timereports"
REQUIREMENTS = REPO_ROOT / "layers" / "timereports" / "requirements.txt"
FUNCTIONS = {
    "RunReportFunction": "run_report",
    "DispatchFunction": "dispatch",
    "ReportsApiFunction": "reports_api",
    "EmailFeedbackFunction": "email_feedback",
}
# Lambda's limit is 250 MB unzipped for a function and its layers; stay far below it.
LAYER_SIZE_BUDGET_BYTES = 60 * 1024 * 1024
ELF_MACHINE_AARCH64 = 0xB7
# CPython 3.13's bytecode magic (importlib.util.MAGIC_NUMBER under 3.13), and the header flags of a hash-based .pyc
# that is never checked against its source (bit 0 set, bit 1 clear): what sam.mk's compileall writes.
MAGIC_3_13 = (3571).to_bytes(2, "little") + b"\r\n"
UNCHECKED_HASH_FLAGS = (1).to_bytes(4, "little")
RUNTIME_PYTHON = REPO_ROOT / ".venv-runtime" / "bin" / "python3.13"


def _sources() -> list[Path]:
    """Everything the build copies or installs from."""
    patterns = [
        "layers/timereports/timereports/**/*",
        "layers/timereports/requirements.txt",
        "functions/*/*.py",
        "reports/*",
        "dev/timereports_dev/ship_catalogue.py",
        "sam.mk",
        "template.yaml",
    ]
    found = [path for pattern in patterns for path in REPO_ROOT.glob(pattern) if path.is_file()]
    # Importing the package during the tests writes __pycache__ into it; that is no reason to rebuild.
    return [path for path in found if "__pycache__" not in path.parts]


def _skip_unless_fresh_build() -> None:
    built = BUILD_DIR / "template.yaml"
    if not built.is_file():
        pytest.skip("no .aws-sam/build: run `make build` (make test does)")
    newest = max(_sources(), key=lambda path: path.stat().st_mtime)
    if newest.stat().st_mtime > built.stat().st_mtime:
        pytest.skip(f".aws-sam/build is older than {newest.relative_to(REPO_ROOT)}: run `make build`")


@pytest.fixture(autouse=True)
def fresh_build() -> None:
    _skip_unless_fresh_build()


def _python_files(root: Path) -> set[str]:
    return {
        str(path.relative_to(root)) for path in root.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_layer_holds_the_domain_package_as_in_the_repo() -> None:
    # Given the built layer / Then /opt/python/timereports is the repo's package, file for file
    assert (LAYER_SITE / "timereports" / "__init__.py").is_file()
    assert _python_files(LAYER_SITE / "timereports") == _python_files(PACKAGE_SOURCE)


def _artifacts() -> list[Path]:
    return [LAYER_SITE, *(BUILD_DIR / logical_id for logical_id in FUNCTIONS)]


def test_every_shipped_module_has_bytecode_for_the_runtime_and_none_for_another_python() -> None:
    if not RUNTIME_PYTHON.exists() and shutil.which("python3.13") is None:
        pytest.skip("no Python 3.13 on this machine (make runtime-python fetches one): the build ships sources only")
    # Given the layer and the function artifacts
    for artifact in _artifacts():
        compiled = set(artifact.rglob("*.pyc"))
        # Then each module has its 3.13 bytecode beside it, hash-based and unchecked (a zip keeps no timestamps)
        for module in artifact.rglob("*.py"):
            pyc = module.parent / "__pycache__" / f"{module.stem}.cpython-313.pyc"
            assert pyc in compiled, f"no 3.13 bytecode for {module.relative_to(BUILD_DIR)}"
            header = pyc.read_bytes()[:8]
            assert header == MAGIC_3_13 + UNCHECKED_HASH_FLAGS, f"{pyc.relative_to(BUILD_DIR)}: header {header!r}"
        # And nothing else: no bytecode of the build host's Python, none without its source
        sources = {
            module.parent / "__pycache__" / f"{module.stem}.cpython-313.pyc" for module in artifact.rglob("*.py")
        }
        assert sorted(str(path.relative_to(BUILD_DIR)) for path in compiled - sources) == []


def test_native_extensions_are_cpython_3_13_for_arm64() -> None:
    # Given pydantic_core's extension module / Then it is a cp313 aarch64 build (an x86 or 3.11 one fails at import)
    extensions = list((LAYER_SITE / "pydantic_core").glob("_pydantic_core*.so"))
    assert [path.name for path in extensions] == ["_pydantic_core.cpython-313-aarch64-linux-gnu.so"]
    header = extensions[0].read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64
    # And every other extension module in the layer is one too
    for path in LAYER_SITE.rglob("*.so"):
        assert re.search(r"cpython-313-aarch64-linux-gnu\.so$|abi3\.so$", path.name), path.relative_to(LAYER_SITE)


def test_the_layer_installs_the_pinned_versions_and_leaves_the_runtimes_sdk_alone() -> None:
    # Given the pins of layers/timereports/requirements.txt
    pins = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "_", match.group(1)).lower()] = match.group(2)
    installed = {}
    for dist_info in LAYER_SITE.glob("*.dist-info"):
        name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        installed[re.sub(r"[-_.]+", "_", name).lower()] = version
    # Then each is installed at its pinned version
    assert {name: installed.get(name) for name in pins} == pins
    # And boto3/botocore are not: the Lambda runtime's pair is used, never a mix of two versions
    assert not [name for name in installed if name in {"boto3", "botocore", "s3transfer"}]
    assert not (LAYER_SITE / "botocore").exists()


def test_the_layer_stays_small() -> None:
    # Given the layer's unzipped size / Then it leaves most of Lambda's 250 MB to the functions
    size = sum(path.stat().st_size for path in LAYER_SITE.rglob("*") if path.is_file())
    assert size < LAYER_SIZE_BUDGET_BYTES, f"layer is {size / 1e6:.1f} MB"


@pytest.mark.parametrize(("logical_id", "folder"), FUNCTIONS.items())
def test_each_function_ships_its_handler_and_the_catalogue(logical_id: str, folder: str) -> None:
    # Given a function artifact
    artifact = BUILD_DIR / logical_id
    # Then it has the handler module and nothing of the layer (the code lives once, in the layer)
    assert (artifact / "app.py").read_bytes() == (REPO_ROOT / "functions" / folder / "app.py").read_bytes()
    assert not (artifact / "timereports").exists()
    assert [path.name for path in artifact.rglob("__pycache__/*")] in ([], ["app.cpython-313.pyc"])
    # And the report catalogue where CATALOGUE_DIR (/var/task/reports) says, one JSON file per definition
    sources = sorted(path for path in (REPO_ROOT / "reports").glob("*") if path.suffix.lower() in DEFINITION_SUFFIXES)
    assert sorted(path.name for path in (artifact / "reports").iterdir()) == [f"{path.stem}.json" for path in sources]
    # And it reads as the same definitions as the YAML people wrote
    assert load_catalogue(artifact / "reports") == load_catalogue(REPO_ROOT / "reports")


def test_the_layer_ships_no_yaml_parser() -> None:
    # Given the built layer / Then PyYAML is not in it: the functions read the catalogue the build wrote as JSON
    assert not (LAYER_SITE / "yaml").exists()
    assert not [path for path in LAYER_SITE.glob("*.dist-info") if path.name.lower().startswith("pyyaml-")]


DEVELOPMENT_ONLY = ("timereports_dev", "moto", "pytest", "hypothesis", "werkzeug", "flask")
# Longest a shipped module may grow before it is split by responsibility.
MAX_MODULE_LINES = 500


def _imported_roots(path: Path) -> set[str]:
    """The top-level names a module imports, anywhere in it (function-local imports too)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_nothing_of_the_development_package_is_built() -> None:
    # Given every file of the build (the layer and each function)
    built = [path for path in BUILD_DIR.rglob("*") if path.is_file()]
    # Then none of the development package is there: no simulator, data set with its fake tokens, local AWS, CLI, demo
    ours = [path for path in built if "timereports" in path.parts or path.parent.parent == BUILD_DIR]
    names = {path.name for path in ours}
    assert not [path for path in built if "timereports_dev" in path.parts]
    assert not names & {"simulator.py", "dataset.py", "local_aws.py", "fakes.py", "cli.py", "commands.py", "demo.py"}
    # And no development-only distribution was installed into the layer
    installed = {path.name.split("-")[0].lower() for path in LAYER_SITE.glob("*.dist-info")}
    assert not installed & {"moto", "pytest", "hypothesis", "werkzeug", "flask"}


def test_no_shipped_module_imports_development_code() -> None:
    # Given every module of the built layer's package and of the function artifacts
    modules = list((LAYER_SITE / "timereports").rglob("*.py")) + [
        path for name in FUNCTIONS for path in (BUILD_DIR / name).glob("*.py")
    ]
    # Then none imports moto, the development package or a test tool, not even inside a function
    offenders = {
        str(path.relative_to(BUILD_DIR)): sorted(_imported_roots(path) & set(DEVELOPMENT_ONLY)) for path in modules
    }
    assert {path: roots for path, roots in offenders.items() if roots} == {}


def test_no_shipped_module_is_longer_than_the_split_threshold() -> None:
    lengths = {
        str(path.relative_to(LAYER_SITE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in (LAYER_SITE / "timereports").rglob("*.py")
    }
    assert {path: lines for path, lines in lengths.items() if lines > MAX_MODULE_LINES} == {}
