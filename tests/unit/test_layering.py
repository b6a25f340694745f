"""The import contract: `monitor → dashboards → metrics → feeds`, and `sandbox` apart.

The sandbox stands in for a hosted Supabase project, so the monitor may reach it only over the
network (or start it as a child process), and it shares no code with the monitor. Inside the
sandbox no module may import its way back to itself: parts get what they use, not the whole.

Imports are read from the source with `ast`, not by importing, so the test is fast, needs no
database, and sees every import: inside functions, under `if TYPE_CHECKING:`, relative or not.
A lazy or type-only import is still a dependency, so each counts like any other.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("monitor", "dashboards", "metrics", "feeds")  # each may import only those after it
SANDBOX = "sandbox"
ENTRY_POINTS = ("app.py", "wall.py")
# Where the sandbox may be imported from: its own tests and benchmarks drive it in-process.
MAY_IMPORT_SANDBOX = ("sandbox", "tests", "benchmarks")


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository root
    line: int
    importer: str  # dotted module name of the file
    target: str  # dotted module name imported, relative imports resolved

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse(source: str, file: str, attempts: int = 3) -> ast.Module:
    """`ast.parse`, tried again on CPython 3.11.7's spurious "AST constructor recursion depth
    mismatch": before 3.11.8 the converter's depth counter is one per interpreter, so an AST
    built on another thread at the same moment (a library's background thread in this worker)
    trips it (python/cpython gh-106905). The source is fine; a second parse succeeds."""
    for attempt in range(attempts):
        try:
            return ast.parse(source, file)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def imports_of(source: str, file: str, module: str, is_package: bool) -> list[Import]:
    """Every import statement anywhere in `source`, with relative imports made absolute.

    `from pkg import name` counts as importing `pkg.name` when that is a module of ours (it
    usually is in `from . import x`), else `pkg`; `known_module` decides afterwards."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(parse(source, file)):
        if isinstance(node, ast.Import):
            found += [Import(file, node.lineno, module, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                target = candidate if known_module(candidate) else base
                found.append(Import(file, node.lineno, module, target))
    return found


def known_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def python_files() -> list[Path]:
    """Our source files: the packages, the entry points and scripts; not the venv or build."""
    skip = {".venv", ".git", "node_modules", "build", "dist", "__pycache__"}
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if not any(part in skip or part.startswith(".") for part in p.relative_to(ROOT).parts)
    )


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    found: list[Import] = []
    for path in python_files():
        rel = path.relative_to(ROOT).as_posix()
        found += imports_of(path.read_text(), rel, module_name(path), path.name == "__init__.py")
    return found


def top(name: str) -> str:
    return name.split(".", 1)[0]


def test_the_reader_sees_every_kind_of_import():
    """Guards the rest: an import the reader missed would be a rule silently passed."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import feeds.events, os\n"
        "from . import settings\n"
        "from .client import MonitoredClient\n"
        "from .. import metrics\n"
        "if TYPE_CHECKING:\n"
        "    from metrics.store import Store\n"
        "def later():\n"
        "    import dashboards\n"
        "    from monitor.config import load_config\n"
    )
    got = {(i.line, i.target) for i in imports_of(source, "x.py", "feeds.monitor", False)}
    assert {
        (2, "feeds.events"),
        (2, "os"),
        (3, "feeds.settings"),
        (4, "feeds.client"),
        (5, "metrics"),
        (7, "metrics.store"),
        (9, "dashboards"),
        (10, "monitor.config"),
    } <= got
    inside = imports_of("from . import x\nfrom .y import z\n", "s/__init__.py", "s", True)
    assert [i.target for i in inside] == ["s", "s.y"]  # x is no module of ours: s itself


def test_every_layer_has_sources(imports):
    importers = {top(i.importer) for i in imports}
    assert {*LAYERS, SANDBOX} <= importers, importers


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_the_layers_below_it(imports, layer):
    above = set(LAYERS[: LAYERS.index(layer)])
    bad = [i for i in imports if top(i.importer) == layer and top(i.target) in above]
    assert not bad, f"{layer} may not import {', '.join(sorted(above))}:\n" + "\n".join(
        map(str, bad)
    )


def test_nothing_outside_the_sandbox_imports_it(imports):
    bad = [
        i for i in imports if top(i.target) == SANDBOX and top(i.importer) not in MAY_IMPORT_SANDBOX
    ]
    assert not bad, (
        "the monitor reaches the sandbox over the network or as a child process, never by "
        "import:\n" + "\n".join(map(str, bad))
    )


def test_entry_points_are_scanned(imports):
    assert {i.file for i in imports} >= set(ENTRY_POINTS)


def test_the_sandbox_imports_none_of_the_monitor(imports):
    bad = [i for i in imports if top(i.importer) == SANDBOX and top(i.target) in LAYERS]
    assert not bad, "the sandbox shares no code with the monitor:\n" + "\n".join(map(str, bad))


def test_no_import_cycle_inside_the_sandbox(imports):
    edges: dict[str, dict[str, Import]] = {}
    for i in imports:
        if top(i.importer) == SANDBOX and top(i.target) == SANDBOX and i.importer != i.target:
            edges.setdefault(i.importer, {}).setdefault(i.target, i)
    cycles = [c for c in strongly_connected(edges) if len(c) > 1]
    report = []
    for component in cycles:
        path = cycle_within(component, edges)
        steps = [str(edges[a][b]) for a, b in zip(path, path[1:], strict=False)]
        report.append(f"{len(component)} modules in one circle, e.g.:\n    " + "\n    ".join(steps))
    assert not cycles, "import cycles inside sandbox/:\n" + "\n".join(report)


def strongly_connected(edges: dict[str, dict[str, Import]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on a deep import chain)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    out.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, {})))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def cycle_within(component: set[str], edges: dict[str, dict[str, Import]]) -> list[str]:
    """One concrete circle through the component's first module, for the failure message."""
    start = min(component)
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges.get(node, {})):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child in component and child not in previous:
                previous[child] = node
                queue.append(child)
    return [start]
