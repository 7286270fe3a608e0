"""The architecture: core never imports Qt, pyqtgraph or app; core's layers point one way
(import-linter contracts in pyproject.toml); no import cycle between core's packages."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout


def test_importing_core_loads_no_qt():
    code = (
        "import sys, pkgutil, importlib, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('PySide6', 'pyqtgraph', 'app', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core pulled in Qt modules: {result.stdout}"


def test_tests_mirror_the_packages():
    for package in ("core", "app"):
        assert (ROOT / "tests" / package).is_dir(), f"tests/{package} should mirror {package}/"


def _core_graph():
    grimp = pytest.importorskip("grimp")
    return grimp.build_graph("core")


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Every cycle's members (strongly connected components of more than one node), Tarjan's way."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package(module: str, depth: int) -> str:
    return ".".join(module.split(".")[:depth])


@pytest.mark.parametrize("depth", [2, 3])
def test_no_import_cycle_between_core_packages(depth):
    graph = _core_graph()
    edges = {(_package(m, depth), _package(d, depth)) for m in graph.modules
             for d in graph.find_modules_directly_imported_by(m) if d.startswith("core.") and m.startswith("core.")}
    edges = {(a, b) for a, b in edges if a != b and a != "core" and b != "core"}
    assert _cycles(edges) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]


def test_every_core_package_is_in_a_layer():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    layered = {name.strip() for layer in layers for name in layer.split("|")}
    packages = {f"core.{p.name}" for p in (ROOT / "core").iterdir() if (p / "__init__.py").is_file()}
    modules = {f"core.{p.stem}" for p in (ROOT / "core").glob("*.py") if p.stem != "__init__"}
    assert packages == layered, "every package under core/ belongs to one layer of the contract"
    assert modules == set(), "core/ holds packages (layers) only, no loose modules"
