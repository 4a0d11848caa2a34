"""The language server's modules depend on each other one way only (issue 19, §6).

Every import between modules of ``m21_lsp.lsp`` counts, including those under
``TYPE_CHECKING``: a cycle there is still two modules that must change together (``apply``
and ``commands`` were one, through ``Run``). Read from the source with ``ast``, so the test
does not depend on what happens to be imported at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import m21_lsp.lsp

LSP_DIR = Path(m21_lsp.lsp.__file__).resolve().parent
PACKAGE = "m21_lsp.lsp"


def _imports(path: Path) -> set[str]:
    """The sibling modules of ``m21_lsp.lsp`` that ``path`` imports, by module name."""
    siblings = {p.stem for p in LSP_DIR.glob("*.py")}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .apply import x
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import apply, lazy
                found.update(alias.name for alias in node.names)
            elif node.level == 0 and (node.module or "").startswith(PACKAGE + "."):
                found.add((node.module or "").split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name.split(".")[2])
    return (found & siblings) - {path.stem, "__init__"}


def _graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p) for p in sorted(LSP_DIR.glob("*.py"))}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read_from_the_source():
    graph = _graph()
    assert "apply" in graph["commands"], graph["commands"]
    assert {"app", "commands"} <= graph["server"], graph["server"]


def test_apply_does_not_import_commands():
    assert "commands" not in _imports(LSP_DIR / "apply.py")


def test_no_import_cycle_between_server_modules():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
