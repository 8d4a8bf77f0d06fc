"""The production code's import graph: no cycles, and dependencies that point inward.

Static: the source is parsed with `ast`, never imported. Every import counts: at module
level, inside functions (a late import is still a cycle) and under `if TYPE_CHECKING:`.
An import names the deepest module of ours it reaches: `from api.http import errors` is
the module `api.http.errors` if that file exists, else the package `api.http`; relative
imports are resolved against the importing module's package. Importing `a.b.c` is not
counted as importing the packages `a` and `a.b` too (Python runs their `__init__` first,
but every submodule would then "import" its package and every package would be a cycle).
The one import not counted is one under `if __name__ == "__main__":`: that block runs only
when the file is run as a script, as the module `__main__`, never when it is imported.

The layers, innermost first:

    domain       imports nothing of ours but domain
    crypto       pure functions and key stores: imports nothing of ours but crypto
    projections  read events: may import domain and crypto, never api
    api          the application layer: may import any of them
    policies     the shipped policy files as package data: imports nothing of ours

A package listed here whose folder holds no `__init__.py` is simply left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "crypto", "projections", "api", "policies")

# What each package may import of ours, besides itself. The strictest rule that holds.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "crypto": frozenset(),
    "projections": frozenset({"domain", "crypto"}),
    "api": frozenset({"domain", "crypto", "projections", "policies"}),
    "policies": frozenset(),
}


@dataclass(frozen=True, order=True)
class Import:
    """One import statement's edge: `importer` (a module, at `path`:`line`) imports
    `imported` (a module of ours)."""

    importer: str
    path: str
    line: int
    imported: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}"


def find_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of the given top-level packages (those that are packages) by name."""
    found: dict[str, Path] = {}
    for package in packages:
        if not (root / package / "__init__.py").is_file():
            continue
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest module of ours that importing `name` reaches (None: not ours)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _base(module: str, path: Path, level: int) -> str:
    """The package a relative import of `level` dots in `module` starts from."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        raise ValueError(f"{path}: relative import beyond the top-level package")
    return ".".join(parts[: len(parts) - (level - 1)])


def imports_of(module: str, path: Path, root: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import of our modules in `module`'s source, wherever it is in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    shown = path.relative_to(root).as_posix()
    found: list[Import] = []

    def edge(line: int, target: str | None) -> None:
        if target is not None:
            found.append(Import(module, shown, line, target))

    for node in _nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                edge(node.lineno, _known(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base(module, path, node.level)
                source = ".".join(p for p in (base, node.module) if p)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}" if source else alias.name
                if alias.name != "*" and submodule in modules:
                    edge(node.lineno, submodule)  # `from pkg import module`
                else:
                    edge(node.lineno, _known(source, modules))  # a name from `source`
    return sorted(set(found))


def _nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node`, except the bodies of `if __name__ == "__main__":`."""
    yield node
    if isinstance(node, ast.If) and _is_main_guard(node.test):
        children: list[ast.AST] = [node.test, *node.orelse]
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _nodes(child)


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def import_graph(root: Path, packages: Iterable[str]) -> list[Import]:
    modules = find_modules(root, packages)
    return [
        edge for name, path in modules.items() for edge in imports_of(name, path, root, modules)
    ]


def cycles(edges: Iterable[Import]) -> list[list[str]]:
    """The strongly connected components with more than one module, and the modules that
    import themselves; each sorted, the list sorted (Tarjan's algorithm, iteratively)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        components.append(sorted(component))
    return sorted(components)


def describe(components: list[list[str]], edges: list[Import]) -> str:
    """Each cycle's modules, then the imports that make it (file, line, module imported):
    removing enough of them to break every loop removes the cycle."""
    lines = []
    for n, members in enumerate(components, 1):
        inside = set(members)
        lines.append(f"cycle {n} ({len(members)} modules): {', '.join(members)}")
        lines += [
            f"    {e}" for e in sorted(edges) if e.importer in inside and e.imported in inside
        ]
    return "\n".join(lines)


def _in_api(module: str) -> bool:
    return module == "api" or module.startswith("api.")


def _package(module: str) -> str:
    return module.partition(".")[0]


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return import_graph(ROOT, PACKAGES)


# ----- the rules ------------------------------------------------------------------------


def test_the_graph_is_read(edges: list[Import]) -> None:
    """Guards the tests below against passing vacuously (a wrong root, nothing parsed)."""
    modules = find_modules(ROOT, PACKAGES)
    assert {"domain", "crypto", "projections", "api"} <= {_package(m) for m in modules}
    pairs = {(e.importer, e.imported) for e in edges}
    assert ("projections.census", "projections.register") in pairs
    assert ("domain.pupil", "domain.pupil.agencies") in pairs  # `from pkg import module`


def test_no_import_cycles_outside_api(edges: list[Import]) -> None:
    found = [c for c in cycles(edges) if not all(_in_api(m) for m in c)]
    assert not found, "import cycles outside api:\n" + describe(found, edges)


def test_no_import_cycles_in_api(edges: list[Import]) -> None:
    found = [c for c in cycles(edges) if all(_in_api(m) for m in c)]
    assert not found, "import cycles within api:\n" + describe(found, edges)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_dependencies_point_inward(edges: list[Import], package: str) -> None:
    allowed = MAY_IMPORT[package] | {package}
    wrong = [e for e in edges if _package(e.importer) == package]
    wrong = [e for e in wrong if _package(e.imported) not in allowed]
    rule = ", ".join(sorted(allowed))
    assert not wrong, f"{package} may import only {rule} of ours:\n" + "\n".join(
        f"    {e}" for e in wrong
    )


def test_every_package_has_a_rule() -> None:
    packages = {_package(m) for m in find_modules(ROOT, PACKAGES)}
    assert packages <= set(MAY_IMPORT)


# ----- the analysis itself, on a made-up tree ----------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


def test_imports_are_resolved_like_python_does(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "top/__init__.py": "from top.sub import thing\n",
            "top/a.py": (
                "import os\n"
                "from typing import TYPE_CHECKING\n"
                "from . import b\n"  # a module: top.b
                "from .sub import helper, deep\n"  # a name (top.sub), a module (top.sub.deep)
                "if TYPE_CHECKING:\n"
                "    import top.sub.deep\n"
                "def late():\n"
                "    from top import missing\n"  # not a module: the package top
            ),
            "top/b.py": "",
            "top/sub/__init__.py": "from .. import b\nfrom . import deep\nfrom .deep import *\n",
            "top/sub/deep.py": "from ..b import x\nimport top.sub.nowhere\n",
            "other/__init__.py": "",
        },
    )
    edges = import_graph(tmp_path, ["top", "other", "absent"])
    got = {(e.importer, e.line, e.imported) for e in edges}
    assert got == {
        ("top", 1, "top.sub"),
        ("top.a", 3, "top.b"),
        ("top.a", 4, "top.sub"),
        ("top.a", 4, "top.sub.deep"),
        ("top.a", 6, "top.sub.deep"),
        ("top.a", 8, "top"),
        ("top.sub", 1, "top.b"),
        ("top.sub", 2, "top.sub.deep"),
        ("top.sub", 3, "top.sub.deep"),
        ("top.sub.deep", 1, "top.b"),
        ("top.sub.deep", 2, "top.sub"),  # the deepest module that exists
    }
    assert {e.path for e in edges if e.importer == "top.sub.deep"} == {"top/sub/deep.py"}


def test_cycles_are_components_and_self_imports(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "p/__init__.py": "",
            "p/a.py": "from p import b\n",
            "p/b.py": "def f():\n    from p.c import g\n",
            "p/c.py": "import typing\nif typing.TYPE_CHECKING:\n    from p.a import A\n",
            "p/d.py": "from p import a\nimport p.d\n",
            "p/e.py": "from p import d\n",
            "p/f.py": "from p import e\nif __name__ == '__main__':\n    from p.f import main\n",
        },
    )
    edges = import_graph(tmp_path, ["p"])
    assert cycles(edges) == [["p.a", "p.b", "p.c"], ["p.d"]]
    report = describe(cycles(edges), edges)
    assert "cycle 1 (3 modules): p.a, p.b, p.c" in report
    assert "p/b.py:2: p.b imports p.c" in report
    assert "p/d.py:2: p.d imports p.d" in report
    assert "p.e" not in report  # imports into a cycle, but is not in one
    assert "p.f" not in report  # a script's own import of its module is no cycle
