"""Imports run one way, from cli down to knobs and backends: a module imports only from
its own package or from a lower layer, and no import cycle exists (type-only imports under
TYPE_CHECKING aside: they do not run). A new package is given
its layer here; an upward import fails this test, so the layering stays what the README
describes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# lowest first; a package may import from its own layer's packages only if listed together
LAYERS: list[set[str]] = [
    {"errors"},
    {"host", "documents"},
    {"knobs.model"},  # the types of a knob, which backends read and write
    {"backends", "control"},  # control: the two-host channel, below what measures over it
    {"knobs"},  # the declarations and the registry
    {"changes", "inspect", "strategies"},
    {"engine", "testbed"},
    {"measure", "apply"},
    {"decide"},
    {"report"},  # pictures of results; reads what measure and decide wrote
    {"api"},
    {"cli"},
    {"__main__", "rxtune"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    tree = ast.parse(path.read_text())
    for block in ast.walk(tree):  # type-only imports (under TYPE_CHECKING) do not run
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
            block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found.update(n for n in names if n.startswith("rxtune"))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rxtune"))
    return found


def layer(module: str) -> tuple[int, str]:
    """(layer, unit): the unit is the most specific entry of LAYERS the module is in."""
    inner = module.removeprefix("rxtune").removeprefix(".") or "rxtune"
    best = None
    for index, units in enumerate(LAYERS):
        for unit in units:
            if (inner == unit or inner.startswith(unit + ".")) and (
                best is None or len(unit) > len(best[1])
            ):
                best = (index, unit)
    if best is None:
        raise AssertionError(f"{module} has no layer: add its package to LAYERS")
    return best


GRAPH = {module_name(p): imports(p) for p in (SRC / "rxtune").rglob("*.py")}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down_or_stay_in_the_package(module):
    here, unit = layer(module)
    for target in GRAPH[module]:
        there, other = layer(target)
        assert there < here or other == unit, f"{module} imports {target}: upward or sideways"


def test_no_import_cycle():
    def known(name: str) -> str | None:
        while name and name not in GRAPH:
            name = name.rpartition(".")[0]
        return name or None

    visiting, done = set(), set()

    def visit(module: str, path: list[str]) -> None:
        if module in done:
            return
        assert module not in visiting, "cycle: " + " -> ".join([*path, module])
        visiting.add(module)
        for target in sorted(GRAPH[module]):
            if (found := known(target)) and found != module:
                visit(found, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
