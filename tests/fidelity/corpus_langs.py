"""Seeded fidelity cases for the brace languages, drawn from real code on the machine.

The Python corpus (``corpus.py``) has a sibling here for JavaScript, TypeScript, Go, Rust,
C and C++. Nobody on this project wrote the documents:

* JavaScript and TypeScript: the npm packages the VS Code extension installs
  (``editors/vscode/node_modules``, or ``$M21_FIDELITY_NODE_MODULES``);
* Go: Debian's ``golang-*-dev`` packages (``/usr/share/gocode``);
* Rust: Debian's ``librust-*-dev`` packages (``/usr/share/cargo/registry``);
* C: Debian's ``libstb-dev`` and ``libxxhash-dev`` (header-only libraries, so the
  headers carry the function bodies);
* C++: Debian's ``libgtest-dev`` (``/usr/src/googletest``).

tree-sitter finds the selectable nodes (functions, methods, classes, impl blocks, runs of
statements, expressions inside a line). The two reply families are the Python corpus's:
a reply that repeats what the prompt showed must leave the file unchanged, and a reply
carrying a known transformation (a local renamed, a comment added) must give exactly the
expected file, which is built here by editing the original at positions tree-sitter
gives, never by running the code under test. Replies come in every fence label a model
uses for the language, unlabelled, with the enclosing class/impl/func header repeated,
as the whole file, re-indented with another width or tabs-for-spaces, and with example
blocks after the real one; files come as they are, converted to tabs, or with CRLF.

Everything is decided by ``random.Random(seed)`` over sorted file lists.
"""

from __future__ import annotations

import importlib
import os
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from corpus import THINK, Case
from m21_lsp.pipeline import prompt

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Lang:
    """How one language is drawn: where its files are and what is selectable in them."""

    name: str  # LSP language id
    module: str  # tree-sitter grammar package
    function: str  # the function in it that returns the grammar
    suffixes: tuple[str, ...]
    labels: tuple[str, ...]  # fence labels a model writes for it, the usual one first
    functions: frozenset[str]
    containers: frozenset[str]  # class / impl / struct nodes whose members are selected
    blocks: frozenset[str]  # node types whose named children are statements
    strings: frozenset[str]  # node types that may span lines with significant text
    identifier: str = "identifier"


_JS_FUNCS = frozenset(
    {"function_declaration", "method_definition", "generator_function_declaration"}
)
_JS_STRINGS = frozenset({"template_string", "string", "regex"})
LANGS: dict[str, Lang] = {
    "javascript": Lang(
        "javascript", "tree_sitter_javascript", "language", (".js", ".mjs", ".cjs"),
        ("javascript", "js", "jsx", "node"), _JS_FUNCS, frozenset({"class_declaration"}),
        frozenset({"statement_block"}), _JS_STRINGS,
    ),
    "typescript": Lang(
        "typescript", "tree_sitter_typescript", "language_typescript", (".ts",),
        ("typescript", "ts", "tsx"), _JS_FUNCS, frozenset({"class_declaration"}),
        frozenset({"statement_block"}), _JS_STRINGS,
    ),
    "go": Lang(
        "go", "tree_sitter_go", "language", (".go",), ("go", "golang"),
        frozenset({"function_declaration", "method_declaration"}),
        frozenset({"type_declaration"}), frozenset({"block", "statement_list"}),
        frozenset({"raw_string_literal", "interpreted_string_literal"}),
    ),
    "rust": Lang(
        "rust", "tree_sitter_rust", "language", (".rs",), ("rust", "rs"),
        frozenset({"function_item"}), frozenset({"impl_item", "trait_item", "struct_item"}),
        frozenset({"block"}), frozenset({"string_literal", "raw_string_literal"}),
    ),
    "c": Lang(
        "c", "tree_sitter_c", "language", (".h", ".c"), ("c", "h"),
        frozenset({"function_definition"}), frozenset({"struct_specifier"}),
        frozenset({"compound_statement"}), frozenset({"string_literal", "concatenated_string"}),
    ),
    "cpp": Lang(
        "cpp", "tree_sitter_cpp", "language", (".cc", ".h"), ("cpp", "c++", "cc"),
        frozenset({"function_definition"}), frozenset({"class_specifier"}),
        frozenset({"compound_statement"}),
        frozenset({"string_literal", "raw_string_literal", "concatenated_string"}),
    ),
}  # fmt: skip
LANGUAGES = tuple(LANGS)

PRESENTATIONS = (
    "dedented", "original", "label", "unlabelled", "wrapped", "wholefile", "fences",
    "reindent",
)  # fmt: skip
TRANSFORMS = ("rename", "comment")


def node_modules() -> Path:
    """Where the npm packages are: ``$M21_FIDELITY_NODE_MODULES``, else the extension's."""
    env = os.environ.get("M21_FIDELITY_NODE_MODULES")
    return Path(env) if env else ROOT / "editors" / "vscode" / "node_modules"


def _roots(lang: str) -> list[Path]:
    if lang in ("javascript", "typescript"):
        return [node_modules()]
    return {
        "go": [Path("/usr/share/gocode/src")],
        "rust": [Path("/usr/share/cargo/registry")],
        "c": [Path("/usr/include/stb"), Path("/usr/include/xxhash.h")],
        "cpp": [Path("/usr/src/googletest")],
    }[lang]


def missing_reason(lang: str) -> str | None:
    """Why ``lang`` cannot be drawn on this machine, or ``None`` when it can."""
    spec = LANGS[lang]
    try:
        importlib.import_module(spec.module)
    except ImportError:
        return f"the {spec.module} wheel is not installed"
    if not source_files(lang):
        where = ", ".join(str(r) for r in _roots(lang))
        return f"no {lang} sources under {where} (see the fidelity corpus docstring)"
    return None


@cache
def source_files(lang: str) -> tuple[Path, ...]:
    spec = LANGS[lang]
    files: list[Path] = []
    for root in _roots(lang):
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            for path in root.rglob("*"):
                if path.suffix not in spec.suffixes or path.name.endswith(".d.ts"):
                    continue
                if ".min." in path.name or "test" in path.name.lower():
                    continue
                files.append(path)
    return tuple(sorted(set(files)))


@cache
def _parser(lang: str):  # type: ignore[no-untyped-def]
    from tree_sitter import Language, Parser

    spec = LANGS[lang]
    module = importlib.import_module(spec.module)
    return Parser(Language(getattr(module, spec.function)()))


def parse(lang: str, text: str):  # type: ignore[no-untyped-def]
    return _parser(lang).parse(text.encode("utf-8"))


def _read(lang: str, path: Path) -> str | None:
    """An ASCII file (byte columns are character columns) that parses cleanly."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not 1_000 <= len(text) <= 400_000 or not text.isascii() or "\r" in text:
        return None
    if "\x00" in text or "\f" in text or max(map(len, text.split("\n"))) > 200:
        return None
    if parse(lang, text).root_node.has_error:
        return None
    return text


def _offsets(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _string_lines(lang: str, root) -> set[int]:  # type: ignore[no-untyped-def]
    """0-based lines that begin inside a multi-line string (their whitespace is content)."""
    inside: set[int] = set()
    stack = [root]
    strings = LANGS[lang].strings
    while stack:
        node = stack.pop()
        if node.type in strings or node.type == "comment":
            if node.end_point.row > node.start_point.row:
                inside.update(range(node.start_point.row + 1, node.end_point.row + 1))
            continue
        stack.extend(node.children)
    return inside


# -------------------------------------------------------------------------- selections


@dataclass(frozen=True)
class Selection:
    kind: str
    start: int
    end: int
    first_row: int
    last_row: int
    chain: tuple[tuple[int, int], ...]  # (header first row, body-open row) of enclosing blocks


def _whole_lines(text: str, lines: list[str], node) -> bool:  # type: ignore[no-untyped-def]
    """The node starts its first line's code and ends its last line's code."""
    a, b = node.start_point, node.end_point
    return not lines[a.row][: a.column].strip() and not lines[b.row][b.column :].strip()


def _open_row(node) -> int | None:  # type: ignore[no-untyped-def]
    """The row of the ``{`` that opens ``node``'s body (the end of its header)."""
    for child in node.children:
        if child.type == "{":
            return child.start_point.row
        if child.type in (
            "class_body", "declaration_list", "field_declaration_list", "block",
            "statement_block", "compound_statement", "type_spec",
        ):  # fmt: skip
            if child.type == "type_spec":
                return _open_row(child)
            for grand in child.children:
                if grand.type == "{":
                    return grand.start_point.row
            return None
        if child.type == "struct_type":
            return _open_row(child)
    return None


def selections(lang: str, text: str, rng: random.Random) -> dict[str, list[Selection]]:
    spec = LANGS[lang]
    tree = parse(lang, text)
    lines = text.split("\n")
    starts = _offsets(text)
    inside = _string_lines(lang, tree.root_node)
    found: dict[str, list[Selection]] = {
        k: [] for k in ("function", "method", "class", "statements", "midline")
    }

    def rows(first: int, last: int) -> tuple[int, int]:
        return starts[first], starts[last + 1] if last + 1 < len(starts) else len(text)

    def add(kind: str, first: int, last: int, chain: tuple[tuple[int, int], ...]) -> None:
        if (
            last - first > 80
            or first in inside
            or last - first < (0 if kind == "statements" else 2)
        ):
            return
        a, b = rows(first, last)
        found[kind].append(Selection(kind, a, b, first, last, chain))

    def walk(node, chain: tuple[tuple[int, int], ...], in_container: bool) -> None:  # type: ignore[no-untyped-def]
        for child in node.named_children:
            inner, contained = chain, in_container
            whole = _whole_lines(text, lines, child)
            if child.type in spec.functions or child.type in spec.containers:
                opened = _open_row(child)
                if whole:
                    kind = (
                        "class"
                        if child.type in spec.containers
                        else "method"
                        if in_container or child.type in ("method_declaration",)
                        else "function"
                    )
                    add(kind, child.start_point.row, child.end_point.row, chain)
                if opened is not None:
                    inner = (*chain, (child.start_point.row, opened))
                contained = child.type in spec.containers
            if child.type in spec.blocks and chain:
                stmts = [s for s in child.named_children if s.type != "comment"]
                if len(stmts) >= 2:
                    i = rng.randrange(len(stmts) - 1)
                    j = min(len(stmts), i + rng.randint(1, 3))
                    run = stmts[i:j]
                    if all(_whole_lines(text, lines, s) for s in run) and (
                        run[0].start_point.row > child.start_point.row
                        and run[-1].end_point.row < child.end_point.row
                        and (j == len(stmts) or stmts[j].start_point.row > run[-1].end_point.row)
                        and (i == 0 or stmts[i - 1].end_point.row < run[0].start_point.row)
                    ):
                        add("statements", run[0].start_point.row, run[-1].end_point.row, chain)
            if child.type in ("call_expression", "binary_expression") and chain:
                a, b = child.start_point, child.end_point
                if a.row == b.row and b.column - a.column >= 8 and lines[a.row][: a.column].strip():
                    if a.row not in inside:
                        base = starts[a.row]
                        found["midline"].append(
                            Selection(
                                "midline", base + a.column, base + b.column, a.row, a.row, chain
                            )
                        )
            walk(child, inner, contained)

    walk(tree.root_node, (), False)
    return found


# -------------------------------------------------------------------------- transforms


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for a, b, new in sorted(edits, reverse=True):
        text = text[:a] + new + text[b:]
    return text


def rename_local(lang: str, text: str, sel: Selection) -> str | None:
    """Every identifier spelled like one in the selection renamed inside the selection,
    when that spelling occurs in the selection only as identifiers (no field, property,
    string or comment of that name) and the new name is nowhere in the file."""
    spec = LANGS[lang]
    tree = parse(lang, text)
    idents: dict[str, list[int]] = {}
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.end_byte <= sel.start or node.start_byte >= sel.end:
            continue
        if node.type == spec.identifier and sel.start <= node.start_byte:
            if node.end_byte <= sel.end:
                idents.setdefault(node.text.decode(), []).append(node.start_byte)
        stack.extend(node.children)
    selected = text[sel.start : sel.end]
    for name in sorted(idents):
        spots = idents[name]
        new = f"{name}Renamed"
        if len(name) < 3 or len(spots) < 2 or new in text:
            continue
        if len(re.findall(rf"(?<![\w$]){re.escape(name)}(?![\w$])", selected)) != len(spots):
            continue
        renamed = _apply(text, [(a, a + len(name), new) for a in spots])
        if parse(lang, renamed).root_node.has_error and not tree.root_node.has_error:
            continue  # a name the grammar treats specially (Go's ``make(map[K]V)``)
        return renamed
    return None


def add_comment(lang: str, text: str, sel: Selection, rng: random.Random) -> str | None:
    """A ``//`` comment line above one line of the selection that starts a statement."""
    if sel.kind == "midline":
        return None
    tree = parse(lang, text)
    inside = _string_lines(lang, tree.root_node)
    lines = text.split("\n")
    spec = LANGS[lang]
    rows: set[int] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in spec.blocks:
            for stmt in node.named_children:
                r = stmt.start_point.row
                if (
                    sel.first_row < r <= sel.last_row
                    and not lines[r][: stmt.start_point.column].strip()
                ):
                    rows.add(r)
        stack.extend(node.children)
    options = sorted(r for r in rows if r not in inside)
    if not options:
        return None
    row = rng.choice(options)
    indent = lines[row][: len(lines[row]) - len(lines[row].lstrip(" \t"))]
    at = _offsets(text)[row]
    return _apply(text, [(at, at, f"{indent}// Reviewed: keep this step.\n")])


def to_tabs(lang: str, text: str) -> str | None:
    """The file with each level of its space indentation as a tab, outside strings and
    comments; ``None`` when it already uses tabs or has no regular width."""
    if re.search(r"(?m)^\t", text):
        return None
    unit = _unit(text)
    if unit is None or unit == "\t":
        return None
    inside = _string_lines(lang, parse(lang, text).root_node)
    out = []
    for k, line in enumerate(text.split("\n")):
        body = line.lstrip(" ")
        width = len(line) - len(body)
        if k in inside or not body:
            out.append(line)
            continue
        tabs, extra = divmod(width, len(unit))
        out.append("\t" * tabs + " " * extra + body)
    return "\n".join(out)


def _unit(text: str) -> str | None:
    """One indentation level of the file, ``None`` when its space widths are not all
    multiples of the smallest (then it is neither converted to tabs nor re-indented)."""
    if len(re.findall(r"(?m)^\t+\S", text)) > len(re.findall(r"(?m)^ +\S", text)):
        return "\t"
    widths = {len(m.group(1)) for m in re.finditer(r"(?m)^( +)[A-Za-z_}]", text)}
    if not widths:
        return "    "
    unit = min(widths)
    if unit not in (2, 3, 4, 8) or any(w % unit for w in widths):
        return None
    return " " * unit


# ------------------------------------------------------------------------ presentations

_SHOWN = re.compile(
    r"Selected code[^\n]*:\n(?P<fence>`{3,})[\w+-]*\n(?P<code>.*?)\n(?P=fence)(?:\n|$)", re.S
)


def shown_selection(lang: str, path: str, text: str, start: int, end: int) -> str:
    """The selection exactly as the real prompt shows it to the model."""
    messages = prompt.refactor_messages(text, start, end, language_id=lang, path=path)
    m = _SHOWN.search(messages[-1]["content"])
    assert m, "the prompt has no selected-code block"
    return m.group("code") + "\n"


def _indent(code: str, prefix: str) -> str:
    return "".join(prefix + ln if ln.strip() else ln for ln in code.splitlines(keepends=True))


def _rewidth(code: str, unit: str, new_unit: str, protected: set[int]) -> str:
    out = []
    for k, line in enumerate(code.split("\n")):
        body = line.lstrip(" \t")
        ws = line[: len(line) - len(body)]
        if k in protected or not body:
            out.append(line)
            continue
        if unit == "\t":
            levels, extra = ws.count("\t"), ws.replace("\t", "")
        else:
            levels, rest = divmod(len(ws.expandtabs(len(unit))), len(unit))
            extra = " " * rest
        out.append(new_unit * levels + extra + body)
    return "\n".join(out)


def _protected_in(lang: str, lf: str, sel: Selection, shown: str) -> bool:
    """Whether a line of the selection begins inside a multi-line string or comment."""
    rows = _string_lines(lang, parse(lang, lf).root_node)
    return any(sel.first_row < k <= sel.first_row + shown.count("\n") for k in rows)


def present(
    lang: str, path: str, text: str, start: int, end: int, sel: Selection, how: str,
    unit: str | None, rng: random.Random,
) -> str | None:  # fmt: skip
    """The model's reply that gives back ``text[start:end]`` presented ``how``."""
    spec = LANGS[lang]
    shown = shown_selection(lang, path, text, start, end)
    lf = text.replace("\r\n", "\n")
    label = spec.labels[0]
    body = shown
    before, after = "Here is the refactored code:\n\n", "\nThis keeps the behaviour the same.\n"
    lines = lf.split("\n")
    if how == "original":
        if sel.kind == "midline":
            return None
        first = text.rfind("\n", 0, start) + 1
        body = text[first:end].replace("\r\n", "\n")
    elif how == "label":
        label = rng.choice(spec.labels[1:])
    elif how == "unlabelled":
        label = ""
    elif how == "wrapped":
        if not sel.chain or sel.kind == "midline" or unit is None:
            return None
        if _protected_in(lang, lf, sel, shown):
            return None  # indenting string content would change what the reply means
        heads: list[str] = []
        base = None
        for level, (first_row, open_row) in enumerate(sel.chain):
            head = [ln for ln in lines[first_row : open_row + 1] if ln.strip()]
            if not head or not head[-1].rstrip().endswith("{"):
                return None
            ws = len(head[0]) - len(head[0].lstrip(" \t"))
            base = ws if base is None else base
            heads.extend(unit * level + ln[ws:] for ln in head)
        closers = [unit * level + "}" for level in reversed(range(len(sel.chain)))]
        body = (
            "\n".join(heads)
            + "\n"
            + _indent(shown, unit * len(sel.chain))
            + "\n".join(closers)
            + "\n"
        )
    elif how == "wholefile":
        if sel.kind == "midline":
            return None
        body = lf if lf.endswith("\n") else lf + "\n"
    elif how == "fences":
        after = (
            f"\nExample usage:\n\n```{label}\nrun();\n```\n\n"
            "Build it with:\n\n```bash\nmake test\n```\n"
        )
    elif how == "reindent":
        if sel.kind == "midline" or unit is None:
            return None
        new_unit = rng.choice([u for u in ("\t", "  ", "    ") if u != unit])
        if _protected_in(lang, lf, sel, shown):
            return None
        body = _rewidth(shown, unit, new_unit, set())
    if not body.endswith("\n"):
        body += "\n"
    return THINK + before + f"```{label}\n" + body + "```\n" + after


# -------------------------------------------------------------------------------- cases


def _to_doc(text: str, lf_offset: int) -> int:
    if "\r\n" not in text:
        return lf_offset
    return lf_offset + text.replace("\r\n", "\n")[:lf_offset].count("\n")


def generate(lang: str, seed: int, count: int) -> list[Case]:
    """``count`` cases for ``lang`` (a selection × presentation × family each), seeded."""
    rng = random.Random(f"{lang}:{seed}")
    files = list(source_files(lang))
    rng.shuffle(files)
    cases: list[Case] = []
    kinds = ["method", "function", "class", "statements", "midline"]
    # A small pool (C has a handful of large headers) is walked again for other picks.
    for path in files * 3:
        if len(cases) >= count * 2:
            break
        original = _read(lang, path)
        if original is None:
            continue
        roll = rng.random()
        variant, lf_text = "original", original
        if roll < 0.2:
            tabbed = to_tabs(lang, original)
            if tabbed is not None:
                variant, lf_text = "tabs", tabbed
        elif roll < 0.35:
            variant = "crlf"
        found = selections(lang, lf_text, rng)
        picked = []
        for kind in list(kinds):
            if found.get(kind):
                sel = rng.choice(found[kind])
                cases.extend(_cases_for(lang, path, variant, lf_text, sel, rng))
                picked.append(kind)
            if len(picked) == 2:
                break
        kinds = [k for k in kinds if k not in picked] + picked
    rng.shuffle(cases)
    return cases[:count]


def _cases_for(
    lang: str, path: Path, variant: str, lf_text: str, sel: Selection, rng: random.Random
) -> list[Case]:
    crlf = variant == "crlf"
    text = lf_text.replace("\n", "\r\n") if crlf else lf_text
    file_unit = _unit(lf_text)
    doc_path = f"module{path.suffix}"
    start, end = _to_doc(text, sel.start), _to_doc(text, sel.end)
    if sel.kind != "midline" and rng.random() < 0.3:
        line = lf_text[sel.start : lf_text.find("\n", sel.start) + 1]
        start += len(line) - len(line.lstrip(" \t"))
        if text[end - 1 : end] == "\n":
            end -= 2 if crlf else 1
    label = f"{path.name}:{sel.first_row + 1}"
    presentations = list(PRESENTATIONS)
    rng.shuffle(presentations)
    out: list[Case] = []
    for family in ("repeat", rng.choice(TRANSFORMS)):
        expected_lf: str | None = lf_text
        if family == "rename":
            expected_lf = rename_local(lang, lf_text, sel)
        elif family == "comment":
            expected_lf = add_comment(lang, lf_text, sel, rng)
        if expected_lf is None:
            continue
        expected = expected_lf.replace("\n", "\r\n") if crlf else expected_lf
        new_end = end + len(expected) - len(text)
        grown = len(expected_lf) - len(lf_text)
        # The transformations only touch the selection's lines, so rows above it stay.
        moved = Selection(
            sel.kind, sel.start, sel.end + grown, sel.first_row,
            sel.last_row + expected_lf.count("\n") - lf_text.count("\n"), sel.chain,
        )  # fmt: skip
        for how in presentations[:4]:
            reply = present(lang, doc_path, expected, start, new_end, moved, how, file_unit, rng)
            if reply is None:
                continue
            out.append(
                Case(
                    id=f"{lang} {label} {sel.kind} {variant} {family} {how}",
                    kind=sel.kind,
                    presentation=how,
                    family=family,
                    variant=variant,
                    text=text,
                    start=start,
                    end=end,
                    reply=reply,
                    expected=expected,
                    language=lang,
                    path=doc_path,
                )
            )
    return out
