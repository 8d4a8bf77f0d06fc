"""The edges only translate: the HTTP routes, the web pages and the CLI reach pupil content
through the application's use cases, never by reading the records or a read model
themselves, and the web never calls HTTP code (docs/architecture.md).

Static, like tests/unit/test_layers.py: the source is parsed, not imported. A new edge
module that reads a read model, records a view by hand or reaches into the application's
parts fails here with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EDGES = sorted(
    [*(ROOT / "api" / "http").glob("*.py"), *(ROOT / "api" / "web").glob("*.py")]
    + [p for p in (ROOT / "api").glob("cli*.py")]
)
# Readers of pupil content and of the access streams: only the application layer calls them.
# (Census counts name no one: `chronicle projections census` reads them directly.)
READERS = {
    "record_views",
    "access_records",
    "chronology",
    "due_deadlines",
    "cross_references",
    "awaiting_decision",
    "access_log",
    "RegisterReader",
    "RetentionReader",
    "export_pupil",
    "export_subject_access",
}
# Modules an edge may not import at all.
FORBIDDEN_MODULES = {"api.app.access", "api.app.core", "api.export"}
# The command line's operator verbs over the whole store (init, keys, ledger, projections,
# demo) open the records; none of them reads a pupil's content for a person.
OPERATOR_MODULES = {"cli.py", "cli_projections.py", "cli_common.py", "cli_retention.py"}


def _imports(tree: ast.AST) -> list[tuple[int, str, str | None]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.extend((node.lineno, node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, None) for a in node.names)
    return found


@pytest.mark.parametrize("path", EDGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_an_edge_reads_pupils_only_through_use_cases(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for line, module, name in _imports(tree):
        where = f"{path.relative_to(ROOT)}:{line}"
        if module in FORBIDDEN_MODULES:
            problems.append(f"{where}: imports {module} (the application layer's own)")
        if name in READERS and module.startswith(("projections", "api")):
            problems.append(f"{where}: imports {name} from {module}: call a use case instead")
        if path.parent.name == "web" and module.startswith("api.http"):
            problems.append(f"{where}: the web imports HTTP code ({module})")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "_parts":
            problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: reaches into _parts")
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"records", "ledger"}
            and path.name not in OPERATOR_MODULES
        ):
            problems.append(
                f"{path.relative_to(ROOT)}:{node.lineno}: uses .{node.attr}: an edge holds a "
                "Chronicle, not the records"
            )
    assert problems == []


def test_the_edges_were_found() -> None:
    names = {p.name for p in EDGES}
    assert {"pupils.py", "reads.py", "oversight.py", "cli.py", "cli_reads.py"} <= names
