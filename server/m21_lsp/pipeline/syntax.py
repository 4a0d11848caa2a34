"""Tree-sitter syntax checks for edits in languages other than Python.

libcst checks Python candidates; for the other languages people open next to Python the
only thing we can check without a compiler is that the edit does not break the parse. The
check compares the new document with the old one rather than asking for a clean parse,
because real files often already contain constructs a grammar does not know: an edit is
refused only for *new* ``ERROR``/``MISSING`` nodes, or when a top-level declaration outside
the edited region is no longer the same (a dropped brace swallows the functions after it).

Grammars come from the individual ``tree-sitter-<language>`` wheels, which contain the
compiled grammar (nothing is downloaded at run time). ``tree_sitter`` and each grammar are
imported on first use only, so start-up and Python-only refactors pay nothing.
"""

from __future__ import annotations

import importlib
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidSyntax

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

__all__ = [
    "Grammar",
    "check_candidate",
    "check_edit",
    "grammar_for",
    "language_for",
    "language_for_path",
]


@dataclass(frozen=True)
class Grammar:
    """Where a language's compiled grammar lives: module and its ``language`` function."""

    key: str
    name: str  # as the user would say it, for messages
    module: str
    function: str = "language"


_GRAMMARS: dict[str, Grammar] = {
    g.key: g
    for g in (
        Grammar("javascript", "JavaScript", "tree_sitter_javascript"),
        Grammar("typescript", "TypeScript", "tree_sitter_typescript", "language_typescript"),
        Grammar("tsx", "TSX", "tree_sitter_typescript", "language_tsx"),
        Grammar("go", "Go", "tree_sitter_go"),
        Grammar("rust", "Rust", "tree_sitter_rust"),
        Grammar("java", "Java", "tree_sitter_java"),
        Grammar("c", "C", "tree_sitter_c"),
        Grammar("cpp", "C++", "tree_sitter_cpp"),
        Grammar("lua", "Lua", "tree_sitter_lua"),
        Grammar("json", "JSON", "tree_sitter_json"),
        Grammar("toml", "TOML", "tree_sitter_toml"),
        Grammar("yaml", "YAML", "tree_sitter_yaml"),
        Grammar("bash", "Bash", "tree_sitter_bash"),
    )
}

# LSP language ids (what editors send) and file extensions (what the CLI passes as the
# language id, without the dot) to grammar keys. JSX needs no grammar of its own: the
# JavaScript grammar parses it.
_IDS: dict[str, str] = {
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "js": "javascript",
    "jsx": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "mts": "typescript",
    "cts": "typescript",
    "typescriptreact": "tsx",
    "tsx": "tsx",
    "go": "go",
    "golang": "go",
    "rust": "rust",
    "rs": "rust",
    "java": "java",
    "c": "c",
    "h": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cc": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
    "hh": "cpp",
    "hxx": "cpp",
    "lua": "lua",
    "json": "json",
    "jsonc": "json",
    "toml": "toml",
    "yaml": "yaml",
    "yml": "yaml",
    "shellscript": "bash",
    "sh": "bash",
    "bash": "bash",
}


def language_for(language_id: str | None, path: str | None = None) -> str | None:
    """The grammar key for an LSP language id or extension, else from ``path``'s
    extension; ``None`` when no grammar is shipped (the edit is then not syntax-checked)."""
    key = _IDS.get((language_id or "").lower().lstrip("."))
    return key if key is not None else language_for_path(path)


def language_for_path(path: str | None) -> str | None:
    """The grammar key for a file name's extension (``src/main.go`` → ``"go"``)."""
    if not path:
        return None
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return _IDS.get(name.rsplit(".", 1)[-1].lower())


def grammar_for(key: str) -> Grammar:
    return _GRAMMARS[key]


_PARSERS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _parser(key: str) -> Parser:
    """A cached parser for ``key``; the grammar's module is imported here, on first use.

    Parsers are not shared between threads while parsing (the pipeline checks in worker
    threads), so the parse itself is done under the same lock; a parse of a source file
    takes tens of milliseconds.
    """
    parser = _PARSERS.get(key)
    if parser is None:
        from tree_sitter import Language, Parser

        grammar = _GRAMMARS[key]
        module = importlib.import_module(grammar.module)
        parser = Parser(Language(getattr(module, grammar.function)()))
        _PARSERS[key] = parser
    return parser


def _parse(key: str, data: bytes) -> Node:
    with _LOCK:
        return _parser(key).parse(data).root_node


def _problems(root: Node) -> list[Node]:
    """Every ``ERROR`` and ``MISSING`` node, in document order (only error subtrees are
    walked, so a clean file costs one flag test)."""
    found: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            found.append(node)
        if node.has_error:
            stack.extend(reversed(node.children))
    found.sort(key=lambda n: (n.start_byte, n.end_byte))
    return found


def _label(node: Node) -> str:
    return f"missing {node.type}" if node.is_missing else "error"


def _describe(node: Node, data: bytes) -> str:
    """``missing "}"`` or ``unexpected `foo(``` for a message."""
    if node.is_missing:
        return f'missing "{node.type}"'
    snippet = data[node.start_byte : node.end_byte].decode("utf-8", "replace").strip()
    snippet = snippet.splitlines()[0] if snippet else ""
    if len(snippet) > 40:
        snippet = snippet[:40] + "…"
    return f"unexpected `{snippet}`" if snippet else "a syntax error"


def _top_level(root: Node, lo: int, hi: int) -> tuple[list[Node], list[Node]]:
    """The root's named children wholly before byte ``lo`` and wholly after byte ``hi``."""
    before = [n for n in root.named_children if n.end_byte <= lo]
    after = [n for n in root.named_children if n.start_byte >= hi and n.end_byte > hi]
    return before, after


def _signature(nodes: list[Node], data: bytes) -> list[tuple[str, bytes]]:
    return [(n.type, data[n.start_byte : n.end_byte]) for n in nodes]


def _in(node: Node, lo: int, hi: int) -> bool:
    """Whether ``node`` touches the byte range ``[lo, hi]`` (a MISSING node is empty)."""
    return node.start_byte <= hi and node.end_byte >= lo


def check_edit(
    key: str,
    old_text: str,
    old_range: tuple[int, int],
    new_text: str,
    new_spans: list[tuple[int, int]],
) -> None:
    """Raise :class:`InvalidSyntax` unless the edit keeps ``new_text`` parsing as well as
    ``old_text`` did.

    ``old_range`` is the replaced range in ``old_text`` and ``new_spans`` the changed
    pieces of ``new_text`` (string offsets). Problems are compared as counts per kind
    (``error``, ``missing }``…), inside the edited region and in the whole file, so that
    offsets shifting by the edit do not matter; and the top-level declarations before and
    after the region must be the same nodes with the same text.
    """
    grammar = _GRAMMARS[key]
    old_data = old_text.encode("utf-8")
    new_data = new_text.encode("utf-8")
    o_lo = len(old_text[: old_range[0]].encode("utf-8"))
    o_hi = len(old_text[: old_range[1]].encode("utf-8"))
    spans = new_spans or [(old_range[0], old_range[0] + len(new_text) - len(old_text))]
    n_lo = len(new_text[: min(s for s, _ in spans)].encode("utf-8"))
    n_hi = len(new_text[: max(e for _, e in spans)].encode("utf-8"))

    old_root = _parse(key, old_data)
    new_root = _parse(key, new_data)
    old_problems = _problems(old_root)
    new_problems = _problems(new_root)

    def extra(new: list[Node], old: list[Node]) -> Node | None:
        allowed = Counter(_label(n) for n in old)
        for node in new:
            label = _label(node)
            if allowed[label] > 0:
                allowed[label] -= 1
            else:
                return node
        return None

    bad = extra(
        [n for n in new_problems if _in(n, n_lo, n_hi)],
        [n for n in old_problems if _in(n, o_lo, o_hi)],
    ) or extra(new_problems, old_problems)
    if bad is not None:
        line = bad.start_point.row + 1
        raise InvalidSyntax(
            f"line {line}: {_describe(bad, new_data)}",
            detail=f"{grammar.name} parse of the edited document: {bad}",
            line=line,
            language=grammar.name,
        )

    old_before, old_after = _top_level(old_root, o_lo, o_hi)
    new_before, new_after = _top_level(new_root, n_lo, n_hi)
    for old_nodes, new_nodes in ((old_before, new_before), (old_after, new_after)):
        old_sig = _signature(old_nodes, old_data)
        new_sig = _signature(new_nodes, new_data)
        if old_sig == new_sig:
            continue
        where = _first_difference(old_nodes, old_sig, new_sig)
        line = where.start_point.row + 1 if where is not None else None
        at = f"line {line}: " if line is not None else ""
        raise InvalidSyntax(
            f"{at}the edit changes a top-level declaration outside the selection "
            f"({where.type if where is not None else 'declarations'} no longer the same)",
            detail=f"{grammar.name}: {len(old_sig)} vs {len(new_sig)} declarations",
            line=line,
            language=grammar.name,
        )


def _first_difference(
    old_nodes: list[Node], old_sig: list[tuple[str, bytes]], new_sig: list[tuple[str, bytes]]
) -> Node | None:
    """The first old declaration that is not found unchanged in the new document."""
    for i, sig in enumerate(old_sig):
        if i >= len(new_sig) or new_sig[i] != sig:
            return old_nodes[i]
    return old_nodes[-1] if old_nodes else None


def check_candidate(
    key: str,
    old_text: str,
    start: int,
    end: int,
    new_text: str,
    changed_spans: list[tuple[int, int]],
) -> None:
    """:func:`check_edit` for a :class:`~m21_lsp.pipeline.shape.Candidate`'s fields."""
    check_edit(key, old_text, (start, end), new_text, changed_spans)
